import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  joinRunNotes,
  advantage,
  appendRecords,
  compare,
  comparisonRecords,
  describeComparison,
  interleave,
  median,
  parsePeerOutput,
} from './peers-compare.js';

const speed = {
  peer: {
    key: 'samplesPerSecond',
    label: 'samples/s',
    unit: 'samples/s',
    better: 'higher' as const,
    pick: (f: { sps: number }) => f.sps,
  },
  ours: (f: { rate: number }) => f.rate,
};
const memory = {
  peer: {
    key: 'rss',
    label: 'peak RSS',
    unit: 'B',
    better: 'lower' as const,
    pick: (f: { sps: number }) => f.sps,
  },
  ours: (f: { rate: number }) => f.rate,
};

describe('interleave', () => {
  it('alternates ours and peer, ours first, for each pair', () => {
    expect(interleave(3, true)).toEqual(['ours', 'peer', 'ours', 'peer', 'ours', 'peer']);
  });
  it('runs only the peer when ours is missing', () => {
    expect(interleave(2, false)).toEqual(['peer', 'peer']);
  });
  it('rejects a pair count that is not a positive integer', () => {
    expect(() => interleave(0, true)).toThrow(/positive integer/);
    expect(() => interleave(1.5, true)).toThrow(/positive integer/);
  });
});

describe('median', () => {
  it('takes the middle value or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });
  it('lies between the smallest and the largest value', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: -1e9, max: 1e9 }), { minLength: 1 }), (xs) => {
        const m = median(xs);
        return m >= Math.min(...xs) && m <= Math.max(...xs);
      }),
    );
  });
});

describe('compare', () => {
  it('gives medians of each side and the median of per-pair ratios', () => {
    const [c] = compare(
      [speed],
      [{ sps: 100 }, { sps: 200 }, { sps: 50 }],
      [{ rate: 150 }, { rate: 100 }, { rate: 100 }],
    );
    expect(c!.peer).toBe(100);
    expect(c!.ours).toBe(100);
    // pairs: 1.5, 0.5, 2 -> median 1.5 (not 100/100): drift between pairs cancels
    expect(c!.ratio).toBe(1.5);
    expect(advantage(c!)).toBe(1.5);
  });
  it('inverts the advantage of a figure where lower is better', () => {
    const [c] = compare([memory], [{ sps: 200 }], [{ rate: 100 }]);
    expect(c!.ratio).toBe(0.5);
    expect(advantage(c!)).toBe(2);
  });
  it('leaves ours out when our side is missing, and says so', () => {
    const [c] = compare([speed], [{ sps: 7 }], undefined);
    expect(c!.ours).toBeUndefined();
    expect(c!.ratio).toBeUndefined();
    expect(describeComparison(c!, 'PyTorch')).toBe('samples/s: ours: not yet measured / PyTorch 7 samples/s');
  });
  it('refuses unpaired runs', () => {
    expect(() => compare([speed], [{ sps: 1 }, { sps: 2 }], [{ rate: 1 }])).toThrow(/unpaired/);
  });
  it('describes a comparison as ours / peer with the ratio', () => {
    const [c] = compare([speed], [{ sps: 200 }], [{ rate: 300 }]);
    expect(describeComparison(c!, 'PyTorch')).toBe(
      'samples/s: ours 300 / PyTorch 200 samples/s = 1.500x (higher is better)',
    );
  });
});

describe('records', () => {
  const ctx = {
    area: 'peers',
    experiment: 'mnist epoch',
    peerName: 'PyTorch',
    peerBackend: 'torch 1.13 cpu',
    oursBackend: 'tfjs-wasm',
    cores: 2,
    date: '2026-11-26T00:00:00.000Z',
    commit: 'abc1234',
    note: 'threads 1',
  };
  it('records only the peer when ours is missing', () => {
    const [c] = compare([speed], [{ sps: 10 }, { sps: 30 }, { sps: 20 }], undefined);
    const records = comparisonRecords(c!, ctx);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      area: 'peers',
      name: 'mnist epoch samples/s (PyTorch)',
      value: 20,
      unit: 'samples/s',
      backend: 'torch 1.13 cpu',
      cores: 2,
      commit: 'abc1234',
    });
    expect(records[0]!.note).toBe('threads 1; median of 3: 10, 30, 20');
  });
  it('records ours and the ratio when both exist', () => {
    const [c] = compare([speed], [{ sps: 10 }], [{ rate: 20 }]);
    const records = comparisonRecords(c!, ctx);
    expect(records.map((r) => [r.name, r.value, r.unit, r.backend])).toEqual([
      ['mnist epoch samples/s (PyTorch)', 10, 'samples/s', 'torch 1.13 cpu'],
      ['mnist epoch samples/s (ours)', 20, 'samples/s', 'tfjs-wasm'],
      ['mnist epoch samples/s ours/PyTorch', 2, 'ratio', undefined],
    ]);
    expect(records[1]!.note).toBe('threads 1; median of 1: 20');
    // what our side said of its runs goes into our record only
    const noted = comparisonRecords(c!, { ...ctx, oursNote: 'QLoRA, NF4 base' });
    expect(noted.map((r) => r.note)).toEqual([
      'threads 1; median of 1: 10',
      'threads 1; median of 1: 20; ours: QLoRA, NF4 base',
      'median of per-pair ratios; higher is better',
    ]);
  });
  it('appends to the existing records and keeps them', () => {
    const [c] = compare([speed], [{ sps: 10 }], undefined);
    const added = comparisonRecords(c!, ctx);
    expect(appendRecords(undefined, added)).toEqual(added);
    const old = [{ ...added[0]!, name: 'old' }];
    expect(appendRecords(old, added).map((r) => r.name)).toEqual(['old', added[0]!.name]);
    expect(() => appendRecords({ not: 'an array' }, added)).toThrow(/array/);
  });
});

describe('parsePeerOutput', () => {
  it('takes the last JSON object line of the output', () => {
    expect(parsePeerOutput('warming up\n{"a": 1}\nnoise {\n{"b": 2}\n')).toEqual({ b: 2 });
  });
  it('fails when there is no figures line', () => {
    expect(() => parsePeerOutput('nothing\n[1, 2]\n{broken')).toThrow(/no JSON object/);
  });
});

describe('joinRunNotes', () => {
  it('says a note every run said once, and each run its own when they differ', () => {
    expect(joinRunNotes([])).toBeUndefined();
    expect(joinRunNotes(['same', 'same', 'same'])).toBe('same');
    expect(joinRunNotes(['a', 'b'])).toBe('run 1: a | run 2: b');
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), (notes) => {
        const joined = joinRunNotes(notes)!;
        // every run's note is in what is said
        for (const n of notes) expect(joined.includes(n)).toBe(true);
        if (new Set(notes).size === 1) expect(joined).toBe(notes[0]);
      }),
    );
  });
});
