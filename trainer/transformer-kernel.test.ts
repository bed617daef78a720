import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DenseKernel } from './dense-kernel.js';
import { gaussian, seededRandom } from './random.js';
import { gemmPanelFloats, transformerKernel } from './transformer-kernel.js';

const f = Math.fround;

/** gemm's arithmetic in plain JS: per output element p = 0..k-1, float32 mul then add from +0, then alpha, then acc. */
const referenceGemm = (
  l: Float32Array,
  m: number,
  k: number,
  r: Float32Array,
  n: number,
  c: Float32Array,
  alpha: number,
  acc: boolean,
): Float32Array => {
  const out = Float32Array.from(c);
  for (let i = 0; i < m; i++)
    for (let col = 0; col < n; col++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = f(s + f(l[i * k + p]! * r[p * n + col]!));
      const v = f(f(alpha) * s);
      out[i * n + col] = acc ? f(c[i * n + col]! + v) : v;
    }
  return out;
};

const randomArray = (length: number, seed: number): Float32Array => {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, (_, i) => (i % 17 === 3 ? 0 : i % 23 === 5 ? -0 : gaussian(r)));
};

describe('the transformer kernel (trainer/transformer-kernel.wat)', () => {
  it('gemm gives the bits of the plain-JS product, full and partial panels, = and +=', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 100 }),
        fc.float({ min: -4, max: 4, noNaN: true }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (m, k, n, alpha, acc, seed) => {
          const l = randomArray(m * k, seed);
          const r = randomArray(k * n, seed + 1);
          const c = randomArray(m * n, seed + 2);
          const kernel = new DenseKernel();
          const at = {
            l: kernel.alloc(l.length),
            r: kernel.alloc(r.length),
            c: kernel.alloc(c.length),
            panel: kernel.alloc(gemmPanelFloats(k)),
          };
          kernel.commit();
          kernel.f32(at.l, l.length).set(l);
          kernel.f32(at.r, r.length).set(r);
          kernel.f32(at.c, c.length).set(c);
          transformerKernel(kernel.k.memory).gemm(at.l, m, k, at.r, n, at.c, alpha, acc ? 1 : 0, at.panel);
          const got = kernel.f32(at.c, c.length);
          const want = referenceGemm(l, m, k, r, n, c, alpha, acc);
          for (let i = 0; i < want.length; i++)
            if (!Object.is(got[i], want[i]))
              throw new Error(`element ${i}: kernel ${got[i]} reference ${want[i]}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gemm of the shape of a transformer layer (2,048 columns, 64 panels) matches the reference', () => {
    const [m, k, n] = [16, 128, 2048];
    const l = randomArray(m * k, 1);
    const r = randomArray(k * n, 2);
    const kernel = new DenseKernel();
    const at = {
      l: kernel.alloc(l.length),
      r: kernel.alloc(r.length),
      c: kernel.alloc(m * n),
      p: kernel.alloc(gemmPanelFloats(k)),
    };
    kernel.commit();
    kernel.f32(at.l, l.length).set(l);
    kernel.f32(at.r, r.length).set(r);
    transformerKernel(kernel.k.memory).gemm(at.l, m, k, at.r, n, at.c, 0.5, 0, at.p);
    expect(Array.from(kernel.f32(at.c, m * n))).toEqual(
      Array.from(referenceGemm(l, m, k, r, n, new Float32Array(m * n), 0.5, false)),
    );
  });
});
