import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DenseKernel } from './dense-kernel.js';
import { dequantizeNf4, quantizeNf4, type Nf4Tensor } from './nf4.js';
import { gaussian, seededRandom } from './random.js';

const f = Math.fround;

/** The kernel's arithmetic in plain JS: per output element, p = 0..k-1, float32 mul then add from +0. */
const referenceProduct = (
  left: (i: number, p: number) => number,
  m: number,
  k: number,
  right: Float32Array,
  n: number,
  c: Float32Array,
  alpha: number,
  acc: boolean,
): Float32Array => {
  const out = Float32Array.from(c);
  for (let i = 0; i < m; i++)
    for (let col = 0; col < n; col++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = f(s + f(left(i, p) * right[p * n + col]!));
      const v = f(f(alpha) * s);
      out[i * n + col] = acc ? f(c[i * n + col]! + v) : v;
    }
  return out;
};

const randomArray = (length: number, seed: number): Float32Array => {
  const r = seededRandom(seed);
  // some exact zeros and negative zeros too
  return Float32Array.from({ length }, (_, i) => (i % 17 === 3 ? 0 : i % 23 === 5 ? -0 : gaussian(r)));
};

const same = (actual: Float32Array, expected: Float32Array): void => {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++)
    if (!Object.is(actual[i], expected[i]))
      throw new Error(`element ${i}: kernel ${actual[i]} reference ${expected[i]}`);
};

/** Kernel memory with the given arrays copied in; returns their addresses. */
const setUp = (arrays: Record<string, Float32Array>, extraFloats = 0) => {
  const kernel = new DenseKernel();
  const at: Record<string, number> = {};
  for (const [name, a] of Object.entries(arrays)) at[name] = kernel.alloc(a.length);
  const extra = kernel.alloc(extraFloats);
  kernel.commit();
  for (const [name, a] of Object.entries(arrays)) kernel.f32(at[name]!, a.length).set(a);
  return { kernel, at, extra };
};

/** An NF4 tensor's codes, scale codes and scale scales in kernel memory, its block scales computed there. */
const loadNf4 = (
  kernel: DenseKernel,
  q: Nf4Tensor,
  at: { codes: number; sc: number; ss: number; scales: number },
) => {
  kernel.u8(at.codes, q.codes.length).set(q.codes);
  kernel.i8(at.sc, q.scaleCodes.length).set(q.scaleCodes);
  kernel.f32(at.ss, q.scaleScales.length).set(q.scaleScales);
  kernel.k.nf4_scales(at.sc, at.ss, q.scaleOffset, q.scaleCodes.length, at.scales);
};

const nf4Layout = (kernel: DenseKernel, q: Nf4Tensor) => ({
  codes: kernel.alloc(q.codes.length / 4),
  sc: kernel.alloc(q.scaleCodes.length / 4),
  ss: kernel.alloc(q.scaleScales.length),
  scales: kernel.alloc(q.scaleCodes.length),
});

const dims = fc.record({
  m: fc.integer({ min: 1, max: 12 }),
  k: fc.integer({ min: 0, max: 40 }),
  n: fc.integer({ min: 1, max: 75 }),
  alpha: fc.constantFrom(1, 2, -0.5, 0.37),
  acc: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

describe('dense wasm kernel: products (bits of the plain-JS reference)', () => {
  it('rows_times: C (=|+=) alpha L R, every width (32-, 4- and 1-column paths)', () => {
    fc.assert(
      fc.property(dims, ({ m, k, n, alpha, acc, seed }) => {
        const L = randomArray(m * k, seed);
        const R = randomArray(k * n, seed + 1);
        const C = randomArray(m * n, seed + 2);
        const { kernel, at } = setUp({ L, R, C });
        kernel.k.rows_times(at.L!, m, k, at.R!, n, at.C!, alpha, acc ? 1 : 0);
        same(
          kernel.f32(at.C!, m * n),
          referenceProduct((i, p) => L[i * k + p]!, m, k, R, n, C, alpha, acc),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('cols_times: C (=|+=) alpha L^T R', () => {
    fc.assert(
      fc.property(dims, ({ m, k, n, alpha, acc, seed }) => {
        const L = randomArray(m * k, seed);
        const R = randomArray(m * n, seed + 1);
        const C = randomArray(k * n, seed + 2);
        const { kernel, at, extra } = setUp({ L, R, C }, m);
        kernel.k.cols_times(at.L!, m, k, at.R!, n, at.C!, alpha, acc ? 1 : 0, extra);
        same(
          kernel.f32(at.C!, k * n),
          referenceProduct((i, p) => L[p * k + i]!, k, m, R, n, C, alpha, acc),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('multiplies 32-sample batches at the 784-wide layer exactly (the MNIST step)', () => {
    const [m, k, n] = [5, 784, 32];
    const L = randomArray(m * k, 1);
    const R = randomArray(k * n, 2);
    const { kernel, at } = setUp({ L, R, C: new Float32Array(m * n) });
    kernel.k.rows_times(at.L!, m, k, at.R!, n, at.C!, 1, 0);
    same(
      kernel.f32(at.C!, m * n),
      referenceProduct((i, p) => L[i * k + p]!, m, k, R, n, new Float32Array(m * n), 1, false),
    );
  });
});

describe('dense wasm kernel: NF4 decoded inside the product', () => {
  const shapes = fc.record({
    rows: fc.integer({ min: 1, max: 20 }),
    cols: fc.integer({ min: 1, max: 150 }),
    n: fc.integer({ min: 1, max: 40 }),
    acc: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1e6 }),
  });

  it('nf4_scales and nf4_decode give dequantizeNf4 bit for bit (odd starts and lengths too)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4_000 }), fc.integer({ min: 0, max: 1e6 }), (length, seed) => {
        const q = quantizeNf4(randomArray(length, seed));
        const kernel = new DenseKernel();
        const layout = nf4Layout(kernel, q);
        const out = kernel.alloc(length);
        kernel.commit();
        loadNf4(kernel, q, layout);
        const expected = dequantizeNf4(q);
        const start = seed % length;
        const count = length - start;
        kernel.k.nf4_decode(layout.codes, layout.scales, start, count, out);
        same(kernel.f32(out, count), expected.subarray(start));
        kernel.k.nf4_decode(layout.codes, layout.scales, 0, length, out);
        same(kernel.f32(out, length), expected);
      }),
      { numRuns: 25 },
    );
  });

  it('nf4_rows_times: C (=|+=) W R with W the dequantised NF4 weight', () => {
    fc.assert(
      fc.property(shapes, ({ rows, cols, n, acc, seed }) => {
        const q = quantizeNf4(randomArray(rows * cols, seed), [rows, cols]);
        const w = dequantizeNf4(q);
        const R = randomArray(cols * n, seed + 1);
        const C = randomArray(rows * n, seed + 2);
        const kernel = new DenseKernel();
        const layout = nf4Layout(kernel, q);
        const [r, c, buf] = [kernel.alloc(R.length), kernel.alloc(C.length), kernel.alloc(cols)];
        kernel.commit();
        loadNf4(kernel, q, layout);
        kernel.f32(r, R.length).set(R);
        kernel.f32(c, C.length).set(C);
        kernel.k.nf4_rows_times(layout.codes, layout.scales, rows, cols, r, n, c, 1, acc ? 1 : 0, buf);
        same(
          kernel.f32(c, C.length),
          referenceProduct((i, p) => w[i * cols + p]!, rows, cols, R, n, C, 1, acc),
        );
      }),
      { numRuns: 40 },
    );
  });

  it('nf4_cols_times: C (=|+=) W^T R', () => {
    fc.assert(
      fc.property(shapes, ({ rows, cols, n, acc, seed }) => {
        const q = quantizeNf4(randomArray(rows * cols, seed), [rows, cols]);
        const w = dequantizeNf4(q);
        const R = randomArray(rows * n, seed + 1);
        const C = randomArray(cols * n, seed + 2);
        const kernel = new DenseKernel();
        const layout = nf4Layout(kernel, q);
        const [r, c, buf] = [kernel.alloc(R.length), kernel.alloc(C.length), kernel.alloc(rows)];
        kernel.commit();
        loadNf4(kernel, q, layout);
        kernel.f32(r, R.length).set(R);
        kernel.f32(c, C.length).set(C);
        kernel.k.nf4_cols_times(layout.codes, layout.scales, rows, cols, r, n, c, 1, acc ? 1 : 0, buf);
        same(
          kernel.f32(c, C.length),
          referenceProduct((i, p) => w[p * cols + i]!, cols, rows, R, n, C, 1, acc),
        );
      }),
      { numRuns: 40 },
    );
  });
});

describe('dense wasm kernel: element-wise parts', () => {
  const sizes = fc.record({
    rows: fc.integer({ min: 1, max: 20 }),
    n: fc.integer({ min: 1, max: 45 }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  });

  it('transpose', () => {
    fc.assert(
      fc.property(sizes, ({ rows, n, seed }) => {
        const A = randomArray(rows * n, seed);
        const { kernel, at } = setUp({ A, T: new Float32Array(rows * n) });
        kernel.k.transpose(at.A!, rows, n, at.T!);
        const expected = new Float32Array(rows * n);
        for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) expected[j * rows + i] = A[i * n + j]!;
        same(kernel.f32(at.T!, rows * n), expected);
      }),
      { numRuns: 30 },
    );
  });

  it('bytes_transposed: bytes through a table, transposed', () => {
    fc.assert(
      fc.property(sizes, ({ rows, n, seed }) => {
        const random = seededRandom(seed);
        const bytes = Uint8Array.from({ length: rows * n }, () => Math.floor(random() * 256));
        const table = randomArray(256, seed + 1);
        const { kernel, at } = setUp({
          table,
          T: new Float32Array(rows * n),
          bytes: new Float32Array(rows * n),
        });
        kernel.u8(at.bytes!, bytes.length).set(bytes);
        kernel.k.bytes_transposed(at.bytes!, rows, n, at.table!, at.T!);
        const expected = new Float32Array(rows * n);
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < n; j++) expected[j * rows + i] = table[bytes[i * n + j]!]!;
        same(kernel.f32(at.T!, rows * n), expected);
      }),
      { numRuns: 30 },
    );
  });

  it('bias_relu: Z += bias per row, A = Z > 0 ? Z : 0; relu_mask: D = Z > 0 ? D : 0', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), ({ rows, n, seed }, relu) => {
        const Z = randomArray(rows * n, seed);
        const bias = randomArray(rows, seed + 1);
        const A = randomArray(rows * n, seed + 2);
        const D = randomArray(rows * n, seed + 3);
        const { kernel, at } = setUp({ Z, bias, A, D });
        kernel.k.bias_relu(at.Z!, rows, n, at.bias!, at.A!, relu ? 1 : 0);
        const z = Float32Array.from(Z, (v, i) => f(v + bias[Math.floor(i / n)]!));
        same(kernel.f32(at.Z!, Z.length), z);
        same(kernel.f32(at.A!, A.length), relu ? Float32Array.from(z, (v) => (v > 0 ? v : 0)) : A);
        kernel.k.relu_mask(at.D!, at.Z!, rows * n);
        same(
          kernel.f32(at.D!, D.length),
          Float32Array.from(D, (d, i) => (z[i]! > 0 ? d : 0)),
        );
      }),
      { numRuns: 30 },
    );
  });
});
