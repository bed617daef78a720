import { beforeAll, describe, expect, it } from '@jest/globals';
import { selectTrainerBackend } from './backend.js';
import {
  BYTE_VOCABULARY,
  asciiTypography,
  bitsPerByte,
  loadMobyDick,
  loadSotu,
  sotuEra,
  textExamples,
} from './byte-text.js';
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

  it('writes curly quotes, dashes and non-breaking hyphens in ASCII and leaves every other byte alone', async () => {
    const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
    const out = asciiTypography(
      utf8('it\u2019s \u201cfree\u201d \u2018x\u2019 a\u2014b 1\u20132 co\u2011op 40\u00b0 caf\u00e9'),
    );
    expect(Buffer.from(out).toString('utf8')).toBe("it's \"free\" 'x' a--b 1-2 co-op 40\u00b0 caf\u00e9");
    const ascii = utf8('plain ASCII text, with \'quotes\' and "double" -- dashes.');
    expect(Buffer.from(asciiTypography(ascii)).equals(Buffer.from(ascii))).toBe(true);
    // the SOTU speeches: only 2020 and 2021 have curly quotes, and none is left
    const speeches = await loadSotu();
    const curly = (t: Uint8Array) => /[\u2018\u2019\u201c\u201d]/.test(Buffer.from(t).toString('utf8'));
    expect(speeches.filter((s) => curly(s.text)).map((s) => s.year)).toEqual([2020, 2021]);
    expect(speeches.some((s) => curly(asciiTypography(s.text)))).toBe(false);
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
