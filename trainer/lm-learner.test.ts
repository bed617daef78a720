import { beforeAll, describe, expect, it } from '@jest/globals';
import { selectTrainerBackend } from './backend.js';
import { loadSotu } from './byte-text.js';
import { prepareLmCohort, sotuEras } from './lm-learner.js';
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
});
