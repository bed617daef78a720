import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  type PlaneShape,
  col2imPlanes,
  flattenPlanes,
  im2colPlanes,
  maxPool2Planes,
  maxPool2PlanesGrad,
  unflattenPlanes,
} from './conv-planes.js';

/** Planes [c, n, h, w] index of image b, row y, column x, channel ch. */
const at = (s: PlaneShape, ch: number, b: number, y: number, x: number): number =>
  ((ch * s.n + b) * s.height + y) * s.width + x;

const shapes = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  height: fc.integer({ min: 1, max: 4 }).map((v) => 2 * v),
  width: fc.integer({ min: 1, max: 4 }).map((v) => 2 * v),
  channels: fc.integer({ min: 1, max: 3 }),
});
const kernels = fc.constantFrom(1, 3, 5);

const valuesFor = (count: number, seed: number): Float32Array =>
  Float32Array.from({ length: count }, (_, i) => Math.fround(Math.sin(seed + i * 1.7) * 3));

describe('conv planes (the wasm conv engine layout)', () => {
  it('im2colPlanes is the definition: patch row (dy, dx, ch) at (b, y, x) is the shifted pixel or 0', () => {
    fc.assert(
      fc.property(shapes, kernels, fc.integer(), (s, k, seed) => {
        const cols = s.n * s.height * s.width;
        const x = valuesFor(s.channels * cols, seed);
        const p = new Float32Array(k * k * s.channels * cols).fill(Number.NaN); // every element written
        im2colPlanes(x, s, k, p);
        const q = (k - 1) / 2;
        for (let dy = 0; dy < k; dy++)
          for (let dx = 0; dx < k; dx++)
            for (let ch = 0; ch < s.channels; ch++)
              for (let b = 0; b < s.n; b++)
                for (let y = 0; y < s.height; y++)
                  for (let xx = 0; xx < s.width; xx++) {
                    const [sy, sx] = [y + dy - q, xx + dx - q];
                    const inside = sy >= 0 && sy < s.height && sx >= 0 && sx < s.width;
                    const want = inside ? x[at(s, ch, b, sy, sx)]! : 0;
                    const row = (dy * k + dx) * s.channels + ch;
                    expect(p[row * cols + (b * s.height + y) * s.width + xx]).toBe(want);
                  }
      }),
      { numRuns: 40 },
    );
  });

  it('col2imPlanes is the adjoint of im2colPlanes: <im2col x, d> = <x, col2im d>', () => {
    fc.assert(
      fc.property(shapes, kernels, fc.integer(), (s, k, seed) => {
        const cols = s.n * s.height * s.width;
        const x = valuesFor(s.channels * cols, seed);
        const d = valuesFor(k * k * s.channels * cols, seed + 1);
        const p = new Float32Array(d.length);
        im2colPlanes(x, s, k, p);
        const back = new Float32Array(x.length).fill(7); // overwritten, not accumulated into
        col2imPlanes(d, s, k, back);
        let left = 0;
        let right = 0;
        for (let i = 0; i < p.length; i++) left += p[i]! * d[i]!;
        for (let i = 0; i < x.length; i++) right += x[i]! * back[i]!;
        expect(Math.abs(left - right)).toBeLessThan(1e-3 * (1 + Math.abs(left)));
      }),
      { numRuns: 40 },
    );
  });

  it('maxPool2Planes takes each 2x2 maximum (the first of equal values) and its gradient goes there', () => {
    fc.assert(
      fc.property(shapes, fc.integer(), fc.boolean(), (s, seed, ties) => {
        const count = s.channels * s.n * s.height * s.width;
        // with ties: few distinct values, so equal maxima in a window are common
        const a = ties
          ? Float32Array.from(valuesFor(count, seed), (v) => Math.round(v))
          : valuesFor(count, seed);
        const outShape = { ...s, height: s.height / 2, width: s.width / 2 };
        const outputs = count / 4;
        const out = new Float32Array(outputs);
        const argmax = new Int32Array(outputs);
        maxPool2Planes(a, s, out, argmax);
        for (let ch = 0; ch < s.channels; ch++)
          for (let b = 0; b < s.n; b++)
            for (let y = 0; y < outShape.height; y++)
              for (let x = 0; x < outShape.width; x++) {
                const window = [
                  at(s, ch, b, 2 * y, 2 * x),
                  at(s, ch, b, 2 * y, 2 * x + 1),
                  at(s, ch, b, 2 * y + 1, 2 * x),
                  at(s, ch, b, 2 * y + 1, 2 * x + 1),
                ];
                const max = Math.max(...window.map((i) => a[i]!));
                const o = at(outShape, ch, b, y, x);
                expect(out[o]).toBe(max);
                expect(argmax[o]).toBe(window.find((i) => a[i] === max));
              }
        const dOut = valuesFor(outputs, seed + 2);
        const da = new Float32Array(count).fill(5);
        maxPool2PlanesGrad(dOut, argmax, outputs, da, count);
        const want = new Float32Array(count);
        for (let o = 0; o < outputs; o++) want[argmax[o]!] = dOut[o]!;
        expect(da).toEqual(want);
      }),
      { numRuns: 40 },
    );
  });

  it('flattenPlanes gives each image its (y, x, c) features as a column; unflattenPlanes inverts it', () => {
    fc.assert(
      fc.property(shapes, fc.integer(), (s, seed) => {
        const count = s.channels * s.n * s.height * s.width;
        const planes = valuesFor(count, seed);
        const flat = new Float32Array(count);
        flattenPlanes(planes, s, flat);
        for (let b = 0; b < s.n; b++)
          for (let y = 0; y < s.height; y++)
            for (let x = 0; x < s.width; x++)
              for (let ch = 0; ch < s.channels; ch++)
                expect(flat[((y * s.width + x) * s.channels + ch) * s.n + b]).toBe(
                  planes[at(s, ch, b, y, x)],
                );
        const back = new Float32Array(count);
        unflattenPlanes(flat, s, back);
        expect(back).toEqual(planes);
      }),
      { numRuns: 40 },
    );
  });
});
