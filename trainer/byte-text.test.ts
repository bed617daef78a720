import { beforeAll, describe, expect, it } from '@jest/globals';
import { selectTrainerBackend } from './backend.js';
import { BYTE_VOCABULARY, bitsPerByte, loadMobyDick, loadSotu, sotuEra, textExamples } from './byte-text.js';
import { initAdapters, initMlp, quantizeMlp } from './mlp.js';
import { evaluateQlora } from './mlp-engine.js';
import { trainLocalDelta } from './local-round.js';

describe('byte-level text', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
  });

  it('makes causal windows: one-hot context bytes, the next byte as label', () => {
    const text = new TextEncoder().encode('abcdef');
    const ex = textExamples(text, 3);
    expect(ex.count).toBe(3);
    expect(ex.inputs).toBe(3 * BYTE_VOCABULARY);
    const x = new Float32Array(2 * ex.inputs).fill(7);
    const labels = new Int32Array(2);
    ex.fill([0, 2], x, labels);
    expect(Array.from(labels)).toEqual([100, 102]); // 'd', 'f'
    const hot = (row: number): number[] =>
      Array.from(x.subarray(row * ex.inputs, (row + 1) * ex.inputs).entries())
        .filter(([, v]) => v !== 0)
        .map(([i]) => i);
    expect(hot(0)).toEqual([97, 256 + 98, 512 + 99]);
    expect(hot(1)).toEqual([99, 256 + 100, 512 + 101]);
  });

  it('loads Moby Dick and the State of the Union addresses from their packages', async () => {
    const moby = await loadMobyDick();
    expect(moby.length).toBeGreaterThan(1_200_000);
    expect(new TextDecoder().decode(moby.subarray(0, 200))).toContain('Call me Ishmael');
    const sotu = await loadSotu();
    expect(sotu[0]!.year).toBe(1790);
    expect(sotuEra(sotu, 1790, 1800).length).toBeGreaterThan(10_000);
  });

  it('QLoRA fine-tuning lowers the held-out bits per byte of a tiny byte model', () => {
    const text = new TextEncoder().encode('the whale, the whale! '.repeat(60));
    const data = textExamples(text, 2);
    const base = quantizeMlp(initMlp([2 * BYTE_VOCABULARY, 16, BYTE_VOCABULARY], 3));
    const lora = { rank: 4, alpha: 8, freezeA: true };
    const start = initAdapters(base, lora, 4);
    const before = bitsPerByte(evaluateQlora(base, start, lora, data).loss);
    const { adapters } = trainLocalDelta(base, start, lora, data, {
      steps: 60,
      batchSize: 32,
      learningRate: 5e-2,
      weightDecay: 0,
      seed: 1,
    });
    const after = bitsPerByte(evaluateQlora(base, adapters, lora, data).loss);
    expect(before).toBeGreaterThan(7);
    expect(after).toBeLessThan(before * 0.6);
  });
});
