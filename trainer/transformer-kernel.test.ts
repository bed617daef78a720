import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DenseKernel } from './dense-kernel.js';
import { gaussian, seededRandom } from './random.js';
import { activate, activationBackward, causalSoftmaxRows, softmaxRowsBackward } from './transformer-wasm.js';
import {
  GEMM_FULL,
  GEMM_LOWER_LEFT,
  GEMM_LOWER_OUTPUT,
  GEMM_UPPER_LEFT,
  GEMM_LOWER_RIGHT,
  type GemmTriangle,
  gemmPanelFloats,
  relaxedSimdAvailable,
  transformerKernel,
  transformerKernelVariant,
} from './transformer-kernel.js';

const f = Math.fround;

/**
 * gemm's arithmetic in plain JS: per output element p = 0..k-1 from +0, then alpha, then acc.
 * Plain: a float32 multiply then a float32 add; fused: a + l r rounded once (the product of two
 * float32 is exact in a double; the double sum may round twice, hence the fused kernel is
 * compared within a tolerance).
 */
const referenceGemm = (
  l: Float32Array,
  m: number,
  k: number,
  r: Float32Array,
  n: number,
  c: Float32Array,
  alpha: number,
  acc: boolean,
  fused = false,
): Float32Array => {
  const out = Float32Array.from(c);
  for (let i = 0; i < m; i++)
    for (let col = 0; col < n; col++) {
      let s = 0;
      for (let p = 0; p < k; p++)
        s = fused ? f(s + l[i * k + p]! * r[p * n + col]!) : f(s + f(l[i * k + p]! * r[p * n + col]!));
      const v = f(f(alpha) * s);
      out[i * n + col] = acc ? f(c[i * n + col]! + v) : v;
    }
  return out;
};

const randomArray = (length: number, seed: number): Float32Array => {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, (_, i) => (i % 17 === 3 ? 0 : i % 23 === 5 ? -0 : gaussian(r)));
};

/** L with its entries outside the triangle `tri` names set to +0 or -0 (2: above the diagonal, 3: below). */
const triangular = (l: Float32Array, m: number, k: number, tri: GemmTriangle): Float32Array =>
  l.map((x, at) => {
    const [i, p] = [Math.floor(at / k), at % k];
    const zero = (tri === GEMM_LOWER_LEFT && p > i) || (tri === GEMM_UPPER_LEFT && p < i);
    return zero ? (at % 2 ? -0 : 0) : x;
  });

/** R [k, n] with its entries above the diagonal set to +0 or -0 when tri is 4. */
const triangularRight = (r: Float32Array, n: number, tri: GemmTriangle): Float32Array =>
  tri === GEMM_LOWER_RIGHT ? r.map((x, at) => (at % n > Math.floor(at / n) ? (at % 2 ? -0 : 0) : x)) : r;

/** Runs one gemm on a fresh kernel memory; returns C after it. */
const runGemm = (
  variant: 'fma' | 'plain',
  l: Float32Array,
  m: number,
  k: number,
  r: Float32Array,
  n: number,
  c: Float32Array,
  alpha: number,
  acc: boolean,
  tri: GemmTriangle,
): Float32Array => {
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
  transformerKernel(kernel.k.memory, variant).gemm(
    at.l,
    m,
    k,
    at.r,
    n,
    at.c,
    alpha,
    acc ? 1 : 0,
    at.panel,
    tri,
  );
  return kernel.f32(at.c, c.length).slice();
};

/** The entries gemm must write: all, or with tri 1 those on and below the diagonal. */
const needed = (tri: GemmTriangle, i: number, j: number): boolean => tri !== GEMM_LOWER_OUTPUT || j <= i;

const variants = (): Array<'fma' | 'plain'> => (relaxedSimdAvailable() ? ['plain', 'fma'] : ['plain']);

/** A gemm case: m, k, n, alpha, accumulate, triangle, seed of the random operands. */
const gemmCases = [
  fc.integer({ min: 1, max: 9 }),
  fc.integer({ min: 1, max: 40 }),
  fc.integer({ min: 1, max: 100 }),
  fc.float({ min: -4, max: 4, noNaN: true }),
  fc.boolean(),
  fc.constantFrom<GemmTriangle>(
    GEMM_FULL,
    GEMM_LOWER_OUTPUT,
    GEMM_LOWER_LEFT,
    GEMM_UPPER_LEFT,
    GEMM_LOWER_RIGHT,
  ),
  fc.integer({ min: 0, max: 1000 }),
] as const;

describe('the transformer kernel (trainer/transformer-kernel.wat)', () => {
  it('relaxed SIMD is switched on in this process (Node 20 with the flag set in-process, or Node >= 21)', () => {
    expect(relaxedSimdAvailable()).toBe(true);
    expect(transformerKernelVariant()).toBe(process.env.DML_LM_FMA === '0' ? 'plain' : 'fma');
  });

  it('gemm (plain) gives the bits of the plain-JS product: full and partial panels, = and +=, every triangle', () => {
    fc.assert(
      fc.property(...gemmCases, (m, k, n, alpha, acc, tri, seed) => {
        const l = triangular(randomArray(m * k, seed), m, k, tri);
        const r = triangularRight(randomArray(k * n, seed + 1), n, tri);
        const c = randomArray(m * n, seed + 2);
        const got = runGemm('plain', l, m, k, r, n, c, alpha, acc, tri);
        const want = referenceGemm(l, m, k, r, n, c, alpha, acc);
        for (let i = 0; i < want.length; i++)
          if (needed(tri, Math.floor(i / n), i % n) && !Object.is(got[i], want[i]))
            throw new Error(`element ${i}: kernel ${got[i]} reference ${want[i]}`);
      }),
      { numRuns: 80 },
    );
  });

  it('gemm (fused, relaxed_madd) matches the fused plain-JS product within float tolerance, every triangle', () => {
    if (!relaxedSimdAvailable())
      throw new Error('relaxed SIMD is not available: the fused kernel cannot be tested');
    fc.assert(
      fc.property(...gemmCases, (m, k, n, alpha, acc, tri, seed) => {
        const l = triangular(randomArray(m * k, seed), m, k, tri);
        const r = triangularRight(randomArray(k * n, seed + 1), n, tri);
        const c = randomArray(m * n, seed + 2);
        const got = runGemm('fma', l, m, k, r, n, c, alpha, acc, tri);
        const want = referenceGemm(l, m, k, r, n, c, alpha, acc, true);
        for (let i = 0; i < want.length; i++) {
          if (!needed(tri, Math.floor(i / n), i % n)) continue;
          // the sum's own magnitude bounds its rounding: k terms of |l r| <= ~16 each, alpha <= 4
          if (Math.abs(got[i]! - want[i]!) > 1e-5 * (1 + Math.abs(want[i]!)) * k)
            throw new Error(`element ${i}: kernel ${got[i]} reference ${want[i]}`);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('the fused kernel is deterministic and differs from the plain one only by rounding', () => {
    const [m, k, n] = [8, 128, 64];
    const l = randomArray(m * k, 5);
    const r = randomArray(k * n, 6);
    const zero = new Float32Array(m * n);
    const a = runGemm('fma', l, m, k, r, n, zero, 1, false, GEMM_FULL);
    const b = runGemm('fma', l, m, k, r, n, zero, 1, false, GEMM_FULL);
    const plain = runGemm('plain', l, m, k, r, n, zero, 1, false, GEMM_FULL);
    expect(Array.from(a)).toEqual(Array.from(b));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - plain[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  it('gemm of the shape of a transformer layer (2,048 columns, 64 panels) matches the reference', () => {
    const [m, k, n] = [16, 128, 2048];
    const l = randomArray(m * k, 1);
    const r = randomArray(k * n, 2);
    const got = runGemm('plain', l, m, k, r, n, new Float32Array(m * n), 0.5, false, GEMM_FULL);
    expect(Array.from(got)).toEqual(
      Array.from(referenceGemm(l, m, k, r, n, new Float32Array(m * n), 0.5, false)),
    );
    for (const variant of variants()) {
      const fused = runGemm(variant, l, m, k, r, n, new Float32Array(m * n), 0.5, false, GEMM_FULL);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(fused[i]! - got[i]!));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('layer_norm and its backward match plain-JS LayerNorm (float64) within float tolerance, any n (partial lane groups)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 0, max: 1000 }),
        (d, n, seed) => {
          const x = randomArray(d * n, seed).map((v, i) => v * 3 + (i % 5));
          const da = randomArray(d * n, seed + 1);
          const dx0 = randomArray(d * n, seed + 2);
          const gamma = randomArray(d, seed + 3).map((v) => 1 + v / 4);
          const beta = randomArray(d, seed + 4);
          const kernel = new DenseKernel();
          const at = {
            x: kernel.alloc(d * n),
            a: kernel.alloc(d * n),
            after: kernel.alloc(8),
            mean: kernel.alloc(n + 4),
            rstd: kernel.alloc(n + 4),
            gamma: kernel.alloc(d),
            beta: kernel.alloc(d),
            da: kernel.alloc(d * n),
            dx: kernel.alloc(d * n),
            dg: kernel.alloc(d),
            db: kernel.alloc(d),
            scratch: kernel.alloc(8 * d),
            guard: kernel.alloc(4),
          };
          kernel.commit();
          kernel.f32(at.x, d * n).set(x);
          kernel.f32(at.gamma, d).set(gamma);
          kernel.f32(at.beta, d).set(beta);
          kernel.f32(at.da, d * n).set(da);
          kernel.f32(at.dx, d * n).set(dx0);
          kernel.f32(at.after, 8).fill(7);
          const tk = transformerKernel(kernel.k.memory);
          tk.layer_norm(at.x, at.a, at.mean, at.rstd, at.gamma, at.beta, d, n);
          tk.layer_norm_backward(
            at.x,
            at.da,
            at.mean,
            at.rstd,
            at.gamma,
            at.dx,
            at.dg,
            at.db,
            at.scratch,
            d,
            n,
          );
          // the reference, in float64
          const a = new Float64Array(d * n);
          const dx = Float64Array.from(dx0);
          const dg = new Float64Array(d);
          const db = new Float64Array(d);
          for (let c = 0; c < n; c++) {
            let mean = 0;
            for (let r = 0; r < d; r++) mean += x[r * n + c]!;
            mean /= d;
            let v = 0;
            for (let r = 0; r < d; r++) v += (x[r * n + c]! - mean) ** 2;
            const rstd = 1 / Math.sqrt(v / d + 1e-5);
            let s1 = 0;
            let s2 = 0;
            for (let r = 0; r < d; r++) {
              const xhat = (x[r * n + c]! - mean) * rstd;
              a[r * n + c] = xhat * gamma[r]! + beta[r]!;
              const gd = da[r * n + c]! * gamma[r]!;
              s1 += gd / d;
              s2 += (gd * xhat) / d;
              dg[r] += da[r * n + c]! * xhat;
              db[r] += da[r * n + c]!;
            }
            for (let r = 0; r < d; r++) {
              const xhat = (x[r * n + c]! - mean) * rstd;
              dx[r * n + c] += rstd * (da[r * n + c]! * gamma[r]! - s1 - xhat * s2);
            }
          }
          const close = (what: string, got: Float32Array, want: Float64Array, scale: number) => {
            for (let i = 0; i < want.length; i++)
              if (!(Math.abs(got[i]! - want[i]!) <= 2e-4 * scale * (1 + Math.abs(want[i]!))))
                throw new Error(`${what}[${i}]: kernel ${got[i]} reference ${want[i]}`);
          };
          close('a', kernel.f32(at.a, d * n), a, 1);
          close('dx', kernel.f32(at.dx, d * n), dx, 10);
          close('dgamma', kernel.f32(at.dg, d), dg, n);
          close('dbeta', kernel.f32(at.db, d), db, n);
          expect(Array.from(kernel.f32(at.after, 8))).toEqual(new Array(8).fill(7));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gelu and gelu_backward match the plain-JS GELU (Math.exp) within float tolerance, any count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 1000 }), (count, seed) => {
        // wide inputs: the tanh saturates both ways, e^x clamps
        const z = randomArray(count, seed).map((v, i) => (i % 11 === 0 ? v * 60 : v * 3));
        const d = randomArray(count, seed + 1);
        const kernel = new DenseKernel();
        const at = {
          z: kernel.alloc(count),
          out: kernel.alloc(count),
          tanh: kernel.alloc(count),
          d: kernel.alloc(count),
          after: kernel.alloc(4),
        };
        kernel.commit();
        kernel.f32(at.z, count).set(z);
        kernel.f32(at.d, count).set(d);
        kernel.f32(at.after, 4).fill(7);
        const tk = transformerKernel(kernel.k.memory);
        tk.gelu(at.z, at.out, at.tanh, count);
        tk.gelu_backward(at.z, at.d, at.tanh, count);
        const out = new Float32Array(count);
        const tanh = new Float32Array(count);
        activate(z, out, tanh);
        const dRef = Float32Array.from(d);
        activationBackward(z, dRef, tanh);
        for (const [what, got, want] of [
          ['out', kernel.f32(at.out, count), out],
          ['tanh', kernel.f32(at.tanh, count), tanh],
          ['d', kernel.f32(at.d, count), dRef],
        ] as const)
          for (let i = 0; i < count; i++)
            if (!(Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!))))
              throw new Error(`${what}[${i}] of GELU(${z[i]}): kernel ${got[i]} reference ${want[i]}`);
        expect(Array.from(kernel.f32(at.after, 4))).toEqual([7, 7, 7, 7]);
      }),
      { numRuns: 60 },
    );
  });

  it('causal_softmax and its backward match the plain-JS causal softmax within float tolerance, any t', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 21 }), fc.integer({ min: 0, max: 1000 }), (t, seed) => {
        // above the diagonal: anything (the product there is skipped or stale), here huge values
        const s = randomArray(t * t, seed).map((v, i) => (i % t > Math.floor(i / t) ? 1e30 : v * 4));
        const dp = randomArray(t * t, seed + 1).map((v, i) => (i % t > Math.floor(i / t) ? -1e30 : v));
        const kernel = new DenseKernel();
        const at = { p: kernel.alloc(t * t), dp: kernel.alloc(t * t), after: kernel.alloc(4) };
        kernel.commit();
        kernel.f32(at.p, t * t).set(s);
        kernel.f32(at.dp, t * t).set(dp);
        kernel.f32(at.after, 4).fill(7);
        const tk = transformerKernel(kernel.k.memory);
        tk.causal_softmax(at.p, t);
        tk.causal_softmax_backward(at.p, at.dp, t);
        const p = Float32Array.from(s);
        causalSoftmaxRows(p, t);
        const ds = Float32Array.from(dp);
        softmaxRowsBackward(p, ds, t);
        for (const [what, got, want] of [
          ['P', kernel.f32(at.p, t * t), p],
          ['dS', kernel.f32(at.dp, t * t), ds],
        ] as const)
          for (let i = 0; i < t * t; i++)
            if (!(Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!))))
              throw new Error(`${what}[${i}] (t ${t}): kernel ${got[i]} reference ${want[i]}`);
        expect(Array.from(kernel.f32(at.after, 4))).toEqual([7, 7, 7, 7]);
      }),
      { numRuns: 60 },
    );
  });
});
