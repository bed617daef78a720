import { beforeAll, describe, expect, it } from '@jest/globals';
import { selectTrainerBackend } from './backend.js';
import { loadSotu } from './byte-text.js';
import { lmHeldOut, prepareLmCohort, pretrainLmBase, sotuEras } from './lm-learner.js';
import { sotuSpeechSplit } from './sotu-split.js';
import { initTransformer, quantizeTransformer, type TransformerShape } from './transformer.js';

const tiny: TransformerShape = {
  dModel: 16,
  layers: 1,
  heads: 2,
  context: 8,
  mlpRatio: 2,
  activation: 'gelu',
};
const base = quantizeTransformer(initTransformer(tiny, 3));

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('prepareLmCohort: where the private text of a party lies in its era', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => undefined });
  });

  it('start: the first trainBytes of the era; end: the trainBytes just before the held-out text', async () => {
    const eras = sotuEras(await loadSotu(), 3);
    const common = { parties: 3, base, rank: 2, trainBytes: 5000, heldOutBytes: 1000 } as const;
    const atStart = await prepareLmCohort(common);
    const atEnd = await prepareLmCohort({ ...common, trainAt: 'end' });
    for (const [i, era] of eras.entries()) {
      const s = atStart.parties[i]!;
      const e = atEnd.parties[i]!;
      expect(e.era).toBe(era.label);
      expect(s.train.length).toBe(5000);
      expect(e.train.length).toBe(5000);
      // held out: the era's last 10% (at least heldOutBytes) starts there, wherever the private text is
      const split = Math.max(era.text.length - 1000, Math.floor(era.text.length * 0.9));
      expect(same(s.heldOut, era.text.subarray(split, split + 1000))).toBe(true);
      expect(same(e.heldOut, s.heldOut)).toBe(true);
      // start: from the era's first byte; end: the bytes just before the held-out text (no overlap)
      expect(same(s.train, era.text.subarray(0, 5000))).toBe(true);
      expect(same(e.train, era.text.subarray(split - 5000, split))).toBe(true);
      expect(same(e.train, s.train)).toBe(false);
    }
  });

  it('validationBytes: the bytes just before the held-out text, between it and the private text, never trained on', async () => {
    const eras = sotuEras(await loadSotu(), 3);
    const common = {
      parties: 3,
      base,
      rank: 2,
      trainBytes: 5000,
      heldOutBytes: 1000,
      validationBytes: 700,
    } as const;
    const atEnd = await prepareLmCohort({ ...common, trainAt: 'end' });
    const atStart = await prepareLmCohort(common);
    for (const [i, era] of eras.entries()) {
      const split = Math.max(era.text.length - 1000, Math.floor(era.text.length * 0.9));
      const e = atEnd.parties[i]!;
      expect(same(e.heldOut, era.text.subarray(split, split + 1000))).toBe(true);
      expect(same(e.validation, era.text.subarray(split - 700, split))).toBe(true);
      expect(same(e.train, era.text.subarray(split - 700 - 5000, split - 700))).toBe(true);
      expect(same(atStart.parties[i]!.validation, e.validation)).toBe(true);
      expect(same(atStart.parties[i]!.train, era.text.subarray(0, 5000))).toBe(true);
    }
    // without validationBytes there is no validation text, and evaluating on it is refused
    const none = await prepareLmCohort({ ...common, validationBytes: 0, trainAt: 'end' });
    expect(none.parties[0]!.validation.length).toBe(0);
    expect(() => lmHeldOut(none, 0, none.startAdapters, 'validation')).toThrow(/no validation text/);
    // the two texts give different losses (they are different bytes), the default is the held-out one
    const v = lmHeldOut(atEnd, 0, atEnd.startAdapters, 'validation').loss;
    const h = lmHeldOut(atEnd, 0, atEnd.startAdapters).loss;
    expect(h).toBe(atEnd.baseBitsPerByte[0]);
    expect(v).not.toBe(h);
  });

  it('alpha: the LoRA scale is alpha / rank, default 2 x rank', async () => {
    expect((await prepareLmCohort({ parties: 2, base, rank: 4 })).lora).toEqual({
      rank: 4,
      alpha: 8,
      freezeA: true,
    });
    expect((await prepareLmCohort({ parties: 2, base, rank: 4, alpha: 4 })).lora.alpha).toBe(4);
  });

  it('pretrainLmBase: stopAfter ends at a chunk of 100 steps, with exactly the base that many steps build', async () => {
    const asked: number[] = [];
    const stopped = await pretrainLmBase(tiny, {
      steps: 300,
      batchSize: 2,
      seed: 5,
      stopAfter: (done) => {
        asked.push(done);
        return done >= 100;
      },
    });
    expect(asked).toEqual([100]);
    expect(stopped.steps).toBe(100);
    const hundred = await pretrainLmBase(tiny, { steps: 100, batchSize: 2, seed: 5 });
    expect(hundred.steps).toBe(100);
    expect(stopped.base.hash).toBe(hundred.base.hash);
    // never asked after the last chunk: the full run has its steps
    const full = await pretrainLmBase(tiny, { steps: 200, batchSize: 2, seed: 5, stopAfter: () => false });
    expect(full.steps).toBe(200);
    expect(full.base.hash).not.toBe(hundred.base.hash);
  });
});

describe('prepareLmCohort: the speeches split', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => undefined });
  });

  it('gives every party its era cut by sotuSpeechSplit, with one seed for every era', async () => {
    const eras = sotuEras(await loadSotu(), 3);
    const setup = await prepareLmCohort({
      parties: 3,
      base,
      rank: 2,
      split: 'speeches',
      splitSeed: 2,
      trainBytes: 5000,
      validationBytes: 700,
      heldOutBytes: 1000,
    });
    for (const [i, era] of eras.entries()) {
      const s = sotuSpeechSplit(era.speeches, {
        seed: 2,
        privateBytes: 5000,
        validationBytes: 700,
        heldOutBytes: 1000,
      });
      const p = setup.parties[i]!;
      expect(p.era).toBe(era.label);
      expect(same(p.train, s.train) && same(p.validation, s.validation) && same(p.heldOut, s.heldOut)).toBe(
        true,
      );
      expect(p.speeches).toEqual(s.speeches);
      expect([p.train.length, p.validation.length, p.heldOut.length]).toEqual([5000, 700, 1000]);
    }
    expect(setup.baseBitsPerByte[0]).toBe(lmHeldOut(setup, 0, setup.startAdapters).loss);
    // without trainBytes: every piece of the private speeches
    const all = await prepareLmCohort({ parties: 3, base, rank: 2, split: 'speeches', heldOutBytes: 1000 });
    expect(all.parties[0]!.train.length).toBeGreaterThan(eras[0]!.text.length / 2);
    expect(all.parties[0]!.train.length % 512).toBe(0);
    await expect(
      prepareLmCohort({ parties: 3, base, rank: 2, split: 'speeches', trainAt: 'end' }),
    ).rejects.toThrow(/era-end split only/);
  });
});
