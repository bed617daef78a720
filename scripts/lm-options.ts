/**
 * Options shared by the language-model scripts (scripts/lm-base.ts, scripts/lm-results.ts), as
 * pure functions so that they are tested (scripts/lm-options.test.ts).
 */
import { DmlError, aggregateDeltas, isDmlError, nesterovOuterStep, type Delta } from '../offchain/index.js';
import {
  LM_SHAPE,
  SMALL_LM_SHAPE,
  applyDelta,
  type LmKernelChoice,
  type TransformerShape,
} from '../trainer/index.js';

export interface LmShapeOptions {
  readonly size?: string | undefined;
  readonly d?: string | undefined;
  readonly layers?: string | undefined;
  readonly heads?: string | undefined;
  readonly context?: string | undefined;
}

const positiveInteger = (flag: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new DmlError('LM_OPTION', `--${flag} ${value} is not a positive integer`);
  return n;
};

/**
 * The transformer's shape: `--size small|big` names a documented shape (`SMALL_LM_SHAPE`,
 * `LM_SHAPE`), and `--d`, `--layers`, `--heads`, `--context` override its fields; the base file is
 * named `lm-<size>` for a named shape and `lm-d<d>-l<layers>-h<heads>-c<context>` otherwise.
 */
export const lmShapeFromOptions = (o: LmShapeOptions): { shape: TransformerShape; name: string } => {
  const size = o.size ?? 'small';
  if (size !== 'small' && size !== 'big')
    throw new DmlError('LM_OPTION', `--size ${size} is not small or big`, {
      hint: 'use --size small or --size big',
    });
  const named = size === 'big' ? LM_SHAPE : SMALL_LM_SHAPE;
  const shape: TransformerShape = {
    ...named,
    ...(o.d !== undefined ? { dModel: positiveInteger('d', o.d) } : {}),
    ...(o.layers !== undefined ? { layers: positiveInteger('layers', o.layers) } : {}),
    ...(o.heads !== undefined ? { heads: positiveInteger('heads', o.heads) } : {}),
    ...(o.context !== undefined ? { context: positiveInteger('context', o.context) } : {}),
  };
  if (shape.dModel % shape.heads !== 0)
    throw new DmlError('LM_OPTION', `--d ${shape.dModel} is not a multiple of --heads ${shape.heads}`);
  const custom =
    o.d !== undefined || o.layers !== undefined || o.heads !== undefined || o.context !== undefined;
  return {
    shape,
    name: custom ? `lm-d${shape.dModel}-l${shape.layers}-h${shape.heads}-c${shape.context}` : `lm-${size}`,
  };
};

/** How a cohort round of scripts/lm-results.ts turns the parties' deltas into the next global adapter. */
export interface LmCohortRule {
  /** FedAvg weights: each party's private bytes (`bytes`) or 1 each (`equal`). */
  readonly weighting: 'bytes' | 'equal';
  /** DiLoCo's outer Nesterov step on the averaged delta; learning rate 1, momentum 0 is plain averaging. */
  readonly outerLearningRate: number;
  readonly outerMomentum: number;
}

export const lmCohortRuleFromOptions = (o: {
  readonly weighting?: string | undefined;
  readonly 'outer-lr'?: string | undefined;
  readonly 'outer-momentum'?: string | undefined;
}): LmCohortRule => {
  const weighting = o.weighting ?? 'bytes';
  if (weighting !== 'bytes' && weighting !== 'equal')
    throw new DmlError('LM_OPTION', `--weighting ${weighting} is not bytes or equal`);
  const outerLearningRate = Number(o['outer-lr'] ?? '1');
  const outerMomentum = Number(o['outer-momentum'] ?? '0');
  if (!(outerLearningRate > 0))
    throw new DmlError('LM_OPTION', `--outer-lr ${o['outer-lr']} is not positive`);
  if (!(outerMomentum >= 0 && outerMomentum < 1))
    throw new DmlError('LM_OPTION', `--outer-momentum ${o['outer-momentum']} is not in [0, 1)`);
  return { weighting, outerLearningRate, outerMomentum };
};

/**
 * One cohort round: FFA-LoRA (B averaged, A frozen and shared) weighted as the rule says, then
 * DiLoCo's outer step when it is not plain averaging; returns the next global adapter and velocity.
 */
export const lmCohortRound = (
  rule: LmCohortRule,
  global: Delta,
  velocity: Delta | null,
  contributions: ReadonlyArray<{ partyId: string; trainBytes: number; delta: Delta }>,
): { global: Delta; velocity: Delta | null } => {
  const averaged = aggregateDeltas(
    { kind: 'ffa-lora' },
    contributions.map((c) => ({
      partyId: c.partyId,
      sampleCount: rule.weighting === 'equal' ? 1 : c.trainBytes,
      delta: c.delta,
    })),
  ).delta;
  if (rule.outerLearningRate === 1 && rule.outerMomentum === 0)
    return { global: applyDelta(global, averaged), velocity };
  const outer = nesterovOuterStep(averaged, velocity, {
    learningRate: rule.outerLearningRate,
    momentum: rule.outerMomentum,
  });
  return { global: applyDelta(global, outer.update), velocity: outer.velocity };
};

/** How scripts/lm-results.ts cuts each era: `--split era-end|speeches`, `--train-at`, `--split-seed`. */
export type LmSplitChoice =
  | { readonly split: 'era-end'; readonly trainAt: 'start' | 'end' }
  | { readonly split: 'speeches'; readonly splitSeed: number };

export const lmSplitFromOptions = (o: {
  readonly split?: string | undefined;
  readonly 'train-at'?: string | undefined;
  readonly 'split-seed'?: string | undefined;
}): LmSplitChoice => {
  const split = o.split ?? 'era-end';
  if (split === 'era-end') {
    if (o['split-seed'] !== undefined)
      throw new DmlError('LM_OPTION', '--split-seed applies to --split speeches only');
    const trainAt = o['train-at'] ?? 'start';
    if (trainAt !== 'start' && trainAt !== 'end')
      throw new DmlError('LM_OPTION', `--train-at ${trainAt} is not start or end`);
    return { split, trainAt };
  }
  if (split === 'speeches') {
    if (o['train-at'] !== undefined)
      throw new DmlError('LM_OPTION', '--train-at applies to --split era-end only', {
        hint: 'the speeches split draws the private text from the private speeches of the era',
      });
    return { split, splitSeed: positiveInteger('split-seed', o['split-seed'] ?? '1') };
  }
  throw new DmlError('LM_OPTION', `--split ${split} is not era-end or speeches`);
};

/**
 * The one line a script prints for a user's mistake, or undefined for anything else (a bug, whose
 * stack trace is worth seeing): a DmlError (with its hint), or node:util parseArgs's own errors
 * (an unknown option, a missing value, a stray argument).
 */
export const lmScriptErrorLine = (script: string, error: unknown): string | undefined => {
  if (isDmlError(error)) return `${script}: ${error.message}${error.hint ? ` (${error.hint})` : ''}`;
  // by its code, not instanceof Error: Node's own errors may come from another realm (jest's VM)
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_') && typeof message === 'string')
    return `${script}: ${message.split('\n')[0]} (--help lists the options)`;
  return undefined;
};

/**
 * Runs a script's body; a user's mistake (`lmScriptErrorLine`) is printed as one line on stderr
 * and the process exits with 2, anything else is thrown on (with its stack).
 */
export const runLmScript = async (script: string, main: () => Promise<void>): Promise<void> => {
  try {
    await main();
  } catch (error) {
    const line = lmScriptErrorLine(script, error);
    if (line === undefined) throw error;
    process.stderr.write(`${line}\n`);
    process.exit(2);
  }
};

/** A number option (`--lr 1e-2`): a DmlError unless it is a finite number. */
export const numberOption = (flag: string, value: string | undefined): number => {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(n))
    throw new DmlError('LM_OPTION', `--${flag} ${value ?? ''} is not a number`);
  return n;
};

/** `--eval-kernel wasm|tfjs`: the engine of the held-out and validation evaluations (undefined: the training engine's). */
export const lmEvaluationKernelFromOptions = (o: {
  readonly 'eval-kernel'?: string | undefined;
}): LmKernelChoice | undefined => {
  const k = o['eval-kernel'];
  if (k === undefined || k === 'wasm' || k === 'tfjs') return k;
  throw new DmlError('LM_OPTION', `--eval-kernel ${k} is not wasm or tfjs`);
};
