import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  NF4_BLOCK_SIZE,
  NF4_CODEBOOK,
  dequantizeNf4,
  nf4BlockScale,
  nearestNf4Code,
  nf4ByteSize,
  quantizeNf4,
} from './nf4.js';

/** The NF4 levels as printed in the QLoRA paper's appendix / bitsandbytes. */
const PAPER_LEVELS = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];

/**
 * An independent, straightforward scalar reference: per block absmax, argmin over the 16 levels,
 * absmax constants minus their mean quantised to int8 per 256 constants, then w = level * scale.
 */
const referenceRoundTrip = (values: readonly number[]): number[] => {
  const f = Math.fround;
  const blocks: number[][] = [];
  for (let i = 0; i < values.length; i += 64) blocks.push(values.slice(i, i + 64).map(f));
  const absmax = blocks.map((b) => f(Math.max(0, ...b.map(Math.abs))));
  const codes = blocks.map((b, k) =>
    b.map((v) => {
      if (absmax[k] === 0) return 7;
      let best = 0;
      for (let c = 1; c < 16; c++)
        if (Math.abs(v / absmax[k]! - PAPER_LEVELS[c]!) < Math.abs(v / absmax[k]! - PAPER_LEVELS[best]!))
          best = c;
      return best;
    }),
  );
  const mean = f(absmax.reduce((s, a) => s + a, 0) / Math.max(1, absmax.length));
  const scales: number[] = [];
  for (let g = 0; g < absmax.length; g += 256) {
    const group = absmax.slice(g, g + 256);
    const c = f(Math.max(...group.map((a) => Math.abs(a - mean))));
    for (const a of group) {
      const q = c === 0 ? 0 : Math.round((127 * (a - mean)) / c);
      scales.push(f(mean + (c * q) / 127));
    }
  }
  return codes.flatMap((b, k) => b.map((c) => f(f(PAPER_LEVELS[c]!) * scales[k]!)));
};

const gaussian = (n: number, seed: number): Float32Array => {
  let s = seed >>> 0;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return Float32Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * 0.05,
  );
};

describe('NF4 with double quantisation', () => {
  it('has the 16 levels of the QLoRA paper, sorted, with exact 0 and +-1', () => {
    expect(Array.from(NF4_CODEBOOK)).toEqual(PAPER_LEVELS.map(Math.fround));
    expect(NF4_CODEBOOK[7]).toBe(0);
    expect(NF4_CODEBOOK[0]).toBe(-1);
    expect(NF4_CODEBOOK[15]).toBe(1);
    for (let i = 1; i < 16; i++) expect(NF4_CODEBOOK[i]!).toBeGreaterThan(NF4_CODEBOOK[i - 1]!);
  });

  it('restores zero exactly, and an all-zero block as zeros', () => {
    const v = gaussian(300, 3);
    v[5] = 0;
    v[200] = 0;
    v.fill(0, 64, 128);
    const back = dequantizeNf4(quantizeNf4(v));
    expect(back[5]).toBe(0);
    expect(back[200]).toBe(0);
    expect(Array.from(back.subarray(64, 128)).every((x) => x === 0)).toBe(true);
  });

  it("restores each block's absmax element up to the scale's own int8 quantisation", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer(), (n, seed) => {
        const v = gaussian(n, seed);
        const q = quantizeNf4(v);
        const back = dequantizeNf4(q);
        for (let b = 0; b * NF4_BLOCK_SIZE < n; b++) {
          let k = b * NF4_BLOCK_SIZE;
          for (let i = k; i < Math.min(n, (b + 1) * NF4_BLOCK_SIZE); i++)
            if (Math.abs(v[i]!) > Math.abs(v[k]!)) k = i;
          const scale = nf4BlockScale(q, b);
          expect(back[k]).toBe(Math.fround(Math.sign(v[k]!) * scale));
          const c = q.scaleScales[Math.floor(b / 256)]!;
          expect(Math.abs(Math.abs(back[k]!) - Math.abs(v[k]!))).toBeLessThanOrEqual(c / 254 + 1e-7);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('round-trips like the independent scalar reference, with bounded error', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.integer(), (n, seed) => {
        const v = gaussian(n, seed);
        const back = dequantizeNf4(quantizeNf4(v));
        const ref = referenceRoundTrip(Array.from(v));
        let mismatches = 0;
        let worst = 0;
        back.forEach((x, i) => {
          if (x !== ref[i]) mismatches++;
          worst = Math.max(worst, Math.abs(x - ref[i]!));
        });
        expect(worst).toBeLessThan(1e-6); // a tie at a midpoint may round either way
        expect(mismatches).toBeLessThanOrEqual(1);
      }),
      { numRuns: 25 },
    );
    const v = gaussian(64 * 256, 9);
    const back = dequantizeNf4(quantizeNf4(v));
    let se = 0;
    let ss = 0;
    v.forEach((x, i) => {
      se += (x - back[i]!) ** 2;
      ss += x * x;
    });
    expect(se / ss).toBeLessThan(0.015); // NF4 on Gaussian weights: ~1% relative squared error
  });

  it("codes every value by itself: the nearest level to it over its block's absmax, two a byte, low nibble first", () => {
    // the per-value rule the block-by-block loop must keep bit for bit (recorded bases are named
    // by the hash of their bytes): odd lengths, all-zero blocks and a lone last value included
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 700 }),
        fc.integer(),
        fc.array(fc.nat(10)),
        (n, seed, zeroBlocks) => {
          const v = gaussian(n, seed);
          for (const b of zeroBlocks) v.fill(0, b * NF4_BLOCK_SIZE, (b + 1) * NF4_BLOCK_SIZE);
          const q = quantizeNf4(v);
          const expected = new Uint8Array(Math.ceil(n / 2));
          for (let i = 0; i < n; i++) {
            const block = Math.floor(i / NF4_BLOCK_SIZE);
            let m = 0;
            for (let j = block * NF4_BLOCK_SIZE; j < Math.min(n, (block + 1) * NF4_BLOCK_SIZE); j++)
              m = Math.max(m, Math.abs(v[j]!));
            const code = m === 0 ? 7 : nearestNf4Code(v[i]! / Math.fround(m));
            expected[i >> 1]! |= (i & 1) === 0 ? code : code << 4;
          }
          if (n % 2 === 1) expected[expected.length - 1]! |= 7 << 4;
          expect(q.codes).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('codes a value by the number of midpoints between levels below it, for any number', () => {
    const midpoints = PAPER_LEVELS.slice(1).map((l, i) => (PAPER_LEVELS[i]! + l) / 2);
    const count = (x: number) => midpoints.filter((m) => x > m).length;
    const specials = [...midpoints, -1, 1, 0, -0, NaN, Infinity, -Infinity, 1e300, -1e300, 2 ** 31];
    for (const x of specials) expect(nearestNf4Code(x)).toBe(count(x));
    // next to every midpoint, on both sides
    for (const m of midpoints)
      for (const x of [m - 1e-12, m + 1e-12, Math.fround(m), m - 2 ** -30, m + 2 ** -30])
        expect(nearestNf4Code(x)).toBe(count(x));
    fc.assert(
      fc.property(fc.oneof(fc.double({ min: -1, max: 1 }), fc.double()), (x) => {
        expect(nearestNf4Code(x)).toBe(count(x));
      }),
      { numRuns: 2000 },
    );
  });

  it('packs two codes a byte: 4.127 bits per parameter', () => {
    const n = 64 * 256 * 16;
    const q = quantizeNf4(gaussian(n, 1), [256, 1024]);
    expect(q.codes.length).toBe(n / 2);
    expect(q.scaleCodes.length).toBe(n / 64);
    expect(q.scaleScales.length).toBe(n / 64 / 256);
    const bits = (8 * nf4ByteSize(q)) / n;
    expect(bits).toBeCloseTo(4.127, 3);
    expect(bits).toBeLessThan(4.1272);
  });
});
