import { describe, expect, it } from '@jest/globals';
import { makeDelta, type Delta } from '../offchain/index.js';
import { LM_SHAPE, SMALL_LM_SHAPE } from '../trainer/index.js';
import { DmlError } from '../offchain/index.js';
import {
  lmCohortRound,
  lmCohortRuleFromOptions,
  lmEvaluationKernelFromOptions,
  lmScriptErrorLine,
  lmShapeFromOptions,
  lmSplitFromOptions,
  numberOption,
} from './lm-options.js';
import { parseArgs } from 'node:util';

// adapters of one layer: A [1, 2] frozen and shared, B [2, 1] trained
const adapters = (b: [number, number]): Delta =>
  makeDelta([
    { name: 'l.lora_A', shape: [1, 2], values: Float32Array.of(0.5, -1) },
    { name: 'l.lora_B', shape: [2, 1], values: Float32Array.of(...b) },
  ]);
const bDelta = (b: [number, number]): Delta =>
  makeDelta([{ name: 'l.lora_B', shape: [2, 1], values: Float32Array.of(...b) }]);
const bOf = (d: Delta): number[] => [...d.tensors.find((t) => t.name === 'l.lora_B')!.values];

describe('lmShapeFromOptions: the transformer shape of scripts/lm-base.ts', () => {
  it('names the documented shapes by size', () => {
    expect(lmShapeFromOptions({})).toEqual({ shape: SMALL_LM_SHAPE, name: 'lm-small' });
    expect(lmShapeFromOptions({ size: 'big' })).toEqual({ shape: LM_SHAPE, name: 'lm-big' });
  });

  it('overrides fields of the size and names the file by the shape', () => {
    const { shape, name } = lmShapeFromOptions({ d: '64', layers: '2', heads: '4', context: '64' });
    expect(shape).toEqual({ ...SMALL_LM_SHAPE, dModel: 64, layers: 2, heads: 4, context: 64 });
    expect(name).toBe('lm-d64-l2-h4-c64');
    const big = lmShapeFromOptions({ size: 'big', context: '64' });
    expect(big.shape).toEqual({ ...LM_SHAPE, context: 64 });
    expect(big.name).toBe('lm-d128-l2-h4-c64');
  });

  it('refuses an unknown size, a non-integer, and d not a multiple of the heads', () => {
    expect(() => lmShapeFromOptions({ size: 'huge' })).toThrow(/--size huge/);
    expect(() => lmShapeFromOptions({ d: '6.5' })).toThrow(/--d 6.5 is not a positive integer/);
    expect(() => lmShapeFromOptions({ layers: '0' })).toThrow(/--layers 0/);
    expect(() => lmShapeFromOptions({ d: '66', heads: '4' })).toThrow(/not a multiple of --heads 4/);
  });
});

describe('lmCohortRound: the cohort step of scripts/lm-results.ts', () => {
  const contributions = [
    { partyId: 'era-a', trainBytes: 3000, delta: bDelta([4, 0]) },
    { partyId: 'era-b', trainBytes: 1000, delta: bDelta([0, 8]) },
  ];
  const global = adapters([1, 1]);

  it('weights B by private bytes or equally; plain averaging keeps no velocity and A unchanged', () => {
    const byBytes = lmCohortRound(lmCohortRuleFromOptions({}), global, null, contributions);
    expect(bOf(byBytes.global)).toEqual([1 + 3, 1 + 2]);
    expect(byBytes.velocity).toBeNull();
    expect([...byBytes.global.tensors[0]!.values]).toEqual([0.5, -1]);
    const equal = lmCohortRound(lmCohortRuleFromOptions({ weighting: 'equal' }), global, null, contributions);
    expect(bOf(equal.global)).toEqual([1 + 2, 1 + 4]);
  });

  it("DiLoCo's outer Nesterov step: v' = mu v + d, update = lr (d + mu v')", () => {
    const rule = lmCohortRuleFromOptions({ weighting: 'equal', 'outer-lr': '0.5', 'outer-momentum': '0.5' });
    const first = lmCohortRound(rule, global, null, contributions);
    // d = [2, 4]; v' = [2, 4]; update = 0.5 ([2, 4] + 0.5 [2, 4]) = [1.5, 3]
    expect(bOf(first.velocity!)).toEqual([2, 4]);
    expect(bOf(first.global)).toEqual([2.5, 4]);
    const second = lmCohortRound(rule, first.global, first.velocity, contributions);
    // v'' = 0.5 [2, 4] + [2, 4] = [3, 6]; update = 0.5 ([2, 4] + 0.5 [3, 6]) = [1.75, 3.5]
    expect(bOf(second.velocity!)).toEqual([3, 6]);
    expect(bOf(second.global)).toEqual([4.25, 7.5]);
  });

  it('refuses bad options', () => {
    expect(() => lmCohortRuleFromOptions({ weighting: 'tokens' })).toThrow(/--weighting tokens/);
    expect(() => lmCohortRuleFromOptions({ 'outer-lr': '0' })).toThrow(/--outer-lr 0/);
    expect(() => lmCohortRuleFromOptions({ 'outer-momentum': '1' })).toThrow(/--outer-momentum 1/);
  });
});

describe('lmSplitFromOptions: how scripts/lm-results.ts cuts each era', () => {
  it('era-end by default, with --train-at start or end; speeches with its seed', () => {
    expect(lmSplitFromOptions({})).toEqual({ split: 'era-end', trainAt: 'start' });
    expect(lmSplitFromOptions({ 'train-at': 'end' })).toEqual({ split: 'era-end', trainAt: 'end' });
    expect(lmSplitFromOptions({ split: 'speeches' })).toEqual({ split: 'speeches', splitSeed: 1 });
    expect(lmSplitFromOptions({ split: 'speeches', 'split-seed': '7' })).toEqual({
      split: 'speeches',
      splitSeed: 7,
    });
  });

  it('refuses an option of the other split, an unknown split or place', () => {
    expect(() => lmSplitFromOptions({ split: 'speeches', 'train-at': 'end' })).toThrow(/--train-at applies/);
    expect(() => lmSplitFromOptions({ 'split-seed': '2' })).toThrow(/--split-seed applies/);
    expect(() => lmSplitFromOptions({ split: 'random' })).toThrow(/--split random/);
    expect(() => lmSplitFromOptions({ 'train-at': 'middle' })).toThrow(/--train-at middle/);
  });
});

describe("the scripts' option errors (lmScriptErrorLine, numberOption, lmEvaluationKernelFromOptions)", () => {
  it("a DmlError is one line with its hint; parseArgs's own errors are one line; anything else is not a user error", () => {
    expect(
      lmScriptErrorLine('lm-results', new DmlError('LM_OPTION', '--x 1 is bad', { hint: 'use 2' })),
    ).toBe('lm-results: --x 1 is bad (use 2)');
    let parseError: unknown;
    try {
      parseArgs({ args: ['--nope'], options: {} });
    } catch (e) {
      parseError = e;
    }
    expect(lmScriptErrorLine('lm-base', parseError)).toMatch(
      /^lm-base: Unknown option '--nope'.*\(--help lists the options\)$/,
    );
    expect(lmScriptErrorLine('lm-base', new TypeError('x is undefined'))).toBeUndefined();
    expect(lmScriptErrorLine('lm-base', 'a string')).toBeUndefined();
  });

  it('numberOption takes finite numbers and refuses the rest', () => {
    expect(numberOption('lr', '1e-2')).toBe(0.01);
    expect(numberOption('rounds', '40')).toBe(40);
    for (const bad of ['sixteen', '', ' ', 'NaN', 'Infinity', undefined])
      expect(() => numberOption('rank', bad)).toThrow(/--rank .*is not a number/);
  });

  it('--eval-kernel is wasm, tfjs or not given', () => {
    expect(lmEvaluationKernelFromOptions({})).toBeUndefined();
    expect(lmEvaluationKernelFromOptions({ 'eval-kernel': 'tfjs' })).toBe('tfjs');
    expect(lmEvaluationKernelFromOptions({ 'eval-kernel': 'wasm' })).toBe('wasm');
    expect(() => lmEvaluationKernelFromOptions({ 'eval-kernel': 'gpu' })).toThrow(DmlError);
  });
});
