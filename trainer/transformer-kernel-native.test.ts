import { afterEach, describe, expect, it } from '@jest/globals';
import { DenseKernel } from './dense-kernel.js';
import { gaussian, seededRandom } from './random.js';
import {
  GEMM_FULL,
  GEMM_LOWER_LEFT,
  GEMM_LOWER_OUTPUT,
  GEMM_LOWER_RIGHT,
  GEMM_UPPER_LEFT,
  type GemmTriangle,
  type TransformerKernelChoice,
  gemmPanelFloats,
  nativeTransformerKernel,
  transformerKernel,
  transformerKernelChoice,
  transformerKernelDescription,
  transformerKernelVariant,
} from './transformer-kernel.js';
import { initTransformer, type TransformerShape } from './transformer.js';
import { trainTransformer } from './transformer-engine.js';
import { wasmTransformerLossAndGradients } from './transformer-wasm.js';
import {
  machineHasAvx2Fma,
  nativeAddonBuilt as built,
  nativeAddonRequired as required,
} from './testing/index.js';

const native = nativeTransformerKernel();
/** Without the addon the comparisons show as skipped (never as passed). */
const describeNative = native.addon ? describe : describe.skip;

const randomArray = (length: number, seed: number): Float32Array => {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, (_, i) => (i % 17 === 3 ? 0 : gaussian(r)));
};

/** L with its entries outside the triangle `tri` names set to 0 (2: above the diagonal, 3: below). */
const triangularLeft = (l: Float32Array, k: number, tri: GemmTriangle): Float32Array =>
  l.map((x, at) => {
    const [i, p] = [Math.floor(at / k), at % k];
    return (tri === GEMM_LOWER_LEFT && p > i) || (tri === GEMM_UPPER_LEFT && p < i) ? 0 : x;
  });

/** R [k, n] with its entries above the diagonal set to 0 when tri is 4. */
const triangularRight = (r: Float32Array, n: number, tri: GemmTriangle): Float32Array =>
  tri === GEMM_LOWER_RIGHT ? r.map((x, at) => (at % n > Math.floor(at / n) ? 0 : x)) : r;

interface GemmCase {
  m: number;
  k: number;
  n: number;
  alpha: number;
  acc: boolean;
  tri: GemmTriangle;
}

/** One gemm on a fresh kernel memory with the named kernel; C after it. */
const runGemm = (
  choice: TransformerKernelChoice,
  { m, k, n, alpha, acc, tri }: GemmCase,
  l: Float32Array,
  r: Float32Array,
  c: Float32Array,
): Float32Array => {
  const kernel = new DenseKernel();
  const [lAt, rAt, cAt] = [kernel.alloc(m * k), kernel.alloc(k * n), kernel.alloc(m * n)];
  const panel = kernel.alloc(gemmPanelFloats(k));
  kernel.commit();
  kernel.f32(lAt, m * k).set(l);
  kernel.f32(rAt, k * n).set(r);
  kernel.f32(cAt, m * n).set(c);
  transformerKernel(kernel.k.memory, choice).gemm(lAt, m, k, rAt, n, cAt, alpha, acc ? 1 : 0, panel, tri);
  return kernel.f32(cAt, m * n).slice();
};

/**
 * A checker of results against the product in float64, entry by entry: |got - exact| <= 2e-6
 * (|alpha| sum_p |L R| + |C|) + 1e-30 (float32 sums of at most a few thousand terms); with tri 1
 * only the entries j <= i.
 */
const productChecker = (
  { m, k, n, alpha, acc, tri }: GemmCase,
  l: Float32Array,
  r: Float32Array,
  c: Float32Array,
): ((name: string, got: Float32Array) => void) => {
  const exact = new Float64Array(m * n);
  const bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      let size = 0;
      for (let p = 0; p < k; p++) {
        const x = l[i * k + p]! * r[p * n + j]!;
        s += x;
        size += Math.abs(x);
      }
      const before = acc ? c[i * n + j]! : 0;
      exact[i * n + j] = before + Math.fround(alpha) * s;
      bound[i * n + j] = 2e-6 * (Math.abs(alpha) * size + Math.abs(before)) + 1e-30;
    }
  return (name, got) => {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        if (tri === GEMM_LOWER_OUTPUT && j > i) continue;
        if (!(Math.abs(got[i * n + j]! - exact[i * n + j]!) <= bound[i * n + j]!))
          throw new Error(
            `${name} ${JSON.stringify({ m, k, n, alpha, acc, tri })} C[${i}, ${j}] = ${got[i * n + j]}, exact ${exact[i * n + j]}`,
          );
      }
  };
};

const TRIANGLES: readonly GemmTriangle[] = [
  GEMM_FULL,
  GEMM_LOWER_OUTPUT,
  GEMM_LOWER_LEFT,
  GEMM_UPPER_LEFT,
  GEMM_LOWER_RIGHT,
];

describe('the native transformer kernel (trainer/native/transformer-kernel.c)', () => {
  const saved = process.env.DML_LM_NATIVE;
  afterEach(() => {
    if (saved === undefined) delete process.env.DML_LM_NATIVE;
    else process.env.DML_LM_NATIVE = saved;
  });

  it('loads wherever it is built on a CPU with AVX2 + FMA, and must be built in CI', () => {
    if (built && machineHasAvx2Fma())
      expect(native).toEqual({ addon: expect.anything(), reason: 'AVX2 + FMA' });
    if (required && machineHasAvx2Fma()) expect(native.addon).toBeDefined();
    if (!native.addon) expect(native.reason).toMatch(/not built|lacks AVX2|does not load/);
  });

  it('DML_LM_NATIVE=0 selects the wasm kernel and the log line says why', () => {
    process.env.DML_LM_NATIVE = '0';
    expect(transformerKernelChoice()).toBe(transformerKernelVariant());
    expect(transformerKernelDescription()).toMatch(
      /^wasm SIMD, (fma|plain) build \(native kernel: DML_LM_NATIVE=0\)$/,
    );
    delete process.env.DML_LM_NATIVE;
    expect(transformerKernelChoice()).toBe(native.addon ? 'native' : transformerKernelVariant());
    if (!native.addon) {
      process.env.DML_LM_NATIVE = '1';
      expect(() => transformerKernelChoice()).toThrow(/native LM kernel is unavailable/);
    }
  });

  describeNative('with the addon', () => {
    it('gemm equals the float64 product, as the wasm kernel does: odd sizes, every tri, = and +=, alpha != 1', () => {
      const random = seededRandom(11);
      const size = (most: number) => 1 + Math.floor(random() * most);
      const cases: GemmCase[] = [];
      for (const [at, tri] of TRIANGLES.entries()) {
        for (const acc of [false, true])
          cases.push({ m: size(20), k: size(40), n: size(50), alpha: acc ? -0.75 : 1, acc, tri });
        // several K blocks (256), M blocks (144) and partial tiles at once
        cases.push({
          m: 145 + size(20),
          k: 257 + size(40),
          n: 17 + size(30),
          alpha: 0.3,
          acc: at % 2 === 1,
          tri,
        });
      }
      cases.push({ m: 3, k: 0, n: 5, alpha: 2, acc: false, tri: GEMM_FULL });
      cases.push({ m: 3, k: 0, n: 5, alpha: 2, acc: true, tri: GEMM_FULL });
      cases.push({ m: 2, k: 7, n: 2100, alpha: 1, acc: true, tri: GEMM_FULL }); // two N blocks (2,048)
      cases.push({ m: 7, k: 9, n: 2100, alpha: 1, acc: false, tri: GEMM_LOWER_RIGHT });
      for (const [at, x] of cases.entries()) {
        const l = triangularLeft(randomArray(x.m * x.k, 100 + at), x.k, x.tri);
        const r = triangularRight(randomArray(x.k * x.n, 200 + at), x.n, x.tri);
        const c = randomArray(x.m * x.n, 300 + at);
        const check = productChecker(x, l, r, c);
        check('native', runGemm('native', x, l, r, c));
        check('wasm', runGemm(transformerKernelVariant(), x, l, r, c));
      }
    });

    it('layer_norm and its backward match the wasm kernel within float tolerance, any n (partial groups)', () => {
      for (const [d, n] of [
        [16, 1],
        [32, 7],
        [128, 37],
        [64, 2048],
      ] as const) {
        const run = (choice: TransformerKernelChoice) => {
          const kernel = new DenseKernel();
          const [x, a, mean, rstd, gamma, beta, da, dx, dgamma, dbeta, scratch] = [
            d * n,
            d * n,
            n,
            n,
            d,
            d,
            d * n,
            d * n,
            d,
            d,
            8 * d,
          ].map((size) => kernel.alloc(size)) as [
            number,
            number,
            number,
            number,
            number,
            number,
            number,
            number,
            number,
            number,
            number,
          ];
          kernel.alloc(4);
          kernel.commit();
          kernel.f32(x, d * n).set(randomArray(d * n, d + n).map((v, i) => v + (i % 3)));
          kernel.f32(gamma, d).set(randomArray(d, 5).map((v) => 1 + 0.3 * v));
          kernel.f32(beta, d).set(randomArray(d, 6));
          kernel.f32(da, d * n).set(randomArray(d * n, 7));
          kernel.f32(dx, d * n).set(randomArray(d * n, 8));
          const g = transformerKernel(kernel.k.memory, choice);
          g.layer_norm(x, a, mean, rstd, gamma, beta, d, n);
          g.layer_norm_backward(x, da, mean, rstd, gamma, dx, dgamma, dbeta, scratch, d, n);
          return {
            a: kernel.f32(a, d * n).slice(),
            mean: kernel.f32(mean, n).slice(),
            rstd: kernel.f32(rstd, n).slice(),
            dx: kernel.f32(dx, d * n).slice(),
            dgamma: kernel.f32(dgamma, d).slice(),
            dbeta: kernel.f32(dbeta, d).slice(),
          };
        };
        const nat = run('native');
        const wasm = run(transformerKernelVariant());
        for (const key of ['a', 'mean', 'rstd', 'dx', 'dgamma', 'dbeta'] as const) {
          const scale = wasm[key].reduce((most, v) => Math.max(most, Math.abs(v)), 0);
          for (let i = 0; i < nat[key].length; i++)
            if (!(Math.abs(nat[key][i]! - wasm[key][i]!) <= 1e-5 * scale))
              throw new Error(`${key}[${i}] of d ${d} n ${n}: native ${nat[key][i]} wasm ${wasm[key][i]}`);
        }
      }
    });

    it('gelu, causal_softmax and their backwards match the wasm kernel within float tolerance, any size', () => {
      for (const size of [1, 7, 8, 9, 31, 128, 131]) {
        const run = (choice: TransformerKernelChoice) => {
          const kernel = new DenseKernel();
          const count = size * size;
          const at = [0, 1, 2, 3, 4].map(() => kernel.alloc(count));
          kernel.commit();
          const z = randomArray(count, size).map((x) => 3 * x);
          kernel.f32(at[0]!, count).set(z);
          kernel.f32(at[1]!, count).set(randomArray(count, size + 1));
          kernel.f32(at[3]!, count).set(z);
          kernel.f32(at[4]!, count).set(randomArray(count, size + 2));
          const g = transformerKernel(kernel.k.memory, choice);
          g.gelu(at[0]!, at[2]!, at[1]!, count); // out at 2, tanh at 1
          const out = kernel.f32(at[2]!, count).slice();
          const tanh = kernel.f32(at[1]!, count).slice();
          g.gelu_backward(at[0]!, at[4]!, at[1]!, count); // d at 4 (in place)
          const dGelu = kernel.f32(at[4]!, count).slice();
          kernel.f32(at[4]!, count).set(randomArray(count, size + 3));
          g.causal_softmax(at[3]!, size);
          const p = kernel.f32(at[3]!, count).slice();
          g.causal_softmax_backward(at[3]!, at[4]!, size);
          return { out, tanh, dGelu, p, dS: kernel.f32(at[4]!, count).slice() };
        };
        const nat = run('native');
        const wasm = run(transformerKernelVariant());
        for (const key of ['out', 'tanh', 'dGelu', 'p', 'dS'] as const)
          for (let i = 0; i < nat[key].length; i++)
            if (!(Math.abs(nat[key][i]! - wasm[key][i]!) <= 2e-6 * Math.max(1, Math.abs(wasm[key][i]!))))
              throw new Error(`${key}[${i}] of size ${size}: native ${nat[key][i]} wasm ${wasm[key][i]}`);
        // above the diagonal: exact zeros in both
        expect(nat.p[size - 1]).toBe(size === 1 ? 1 : 0);
      }
    });

    it('follows the memory when it grows (the old ArrayBuffer detached) and refuses operands past its end', () => {
      const kernel = new DenseKernel();
      const [m, k, n] = [13, 21, 35];
      const lAt = kernel.alloc(m * k);
      const rAt = kernel.alloc(k * n);
      const cAt = kernel.alloc(m * n);
      const panel = kernel.alloc(gemmPanelFloats(k));
      kernel.commit();
      const memory = kernel.k.memory;
      const g = transformerKernel(memory, 'native');
      const [l, r, c] = [randomArray(m * k, 1), randomArray(k * n, 2), new Float32Array(m * n)];
      kernel.f32(lAt, m * k).set(l);
      kernel.f32(rAt, k * n).set(r);
      g.gemm(lAt, m, k, rAt, n, cAt, 1, 0, panel, GEMM_FULL);
      const x: GemmCase = { m, k, n, alpha: 1, acc: false, tri: GEMM_FULL };
      productChecker(x, l, r, c)('before growing', kernel.f32(cAt, m * n));

      const old = memory.buffer;
      const end = old.byteLength;
      memory.grow(4);
      expect(old.byteLength).toBe(0); // detached
      // operands in the new pages, C straddling nothing old
      const [l2At, r2At, c2At] = [end + 64, end + 64 + 4 * m * k, end + 64 + 4 * (m * k + k * n)];
      const [l2, r2] = [randomArray(m * k, 3), randomArray(k * n, 4)];
      new Float32Array(memory.buffer, l2At, m * k).set(l2);
      new Float32Array(memory.buffer, r2At, k * n).set(r2);
      g.gemm(l2At, m, k, r2At, n, c2At, 0.5, 0, panel, GEMM_FULL);
      const after = productChecker({ ...x, alpha: 0.5 }, l2, r2, c);
      after('after growing', new Float32Array(memory.buffer, c2At, m * n));

      const bytes = memory.buffer.byteLength;
      expect(() => g.gemm(lAt, m, k, rAt, n, bytes - 8, 1, 0, panel, GEMM_FULL)).toThrow(/past the memory/);
      expect(() => g.gemm(bytes - 4, m, k, rAt, n, cAt, 1, 0, panel, GEMM_FULL)).toThrow(/past the memory/);
      expect(() => g.gemm(lAt, m, k, rAt, n, cAt + 2, 1, 0, panel, GEMM_FULL)).toThrow(/aligned/);
      expect(() => g.gemm(lAt, m, k, rAt, n, cAt, 1, 0, panel, 5 as GemmTriangle)).toThrow(/tri/);
      expect(() => g.gemm(-4, m, k, rAt, n, cAt, 1, 0, panel, GEMM_FULL)).toThrow(/unsigned/);
      expect(() => g.gelu(lAt, cAt, bytes - 8, 3)).toThrow(/past the memory/);
      expect(() => g.layer_norm(lAt, cAt, lAt, lAt, lAt, bytes - 4, 2, 1)).toThrow(/past the memory/);
      expect(() => g.layer_norm_backward(lAt, rAt, lAt, lAt, lAt, bytes - 4, lAt, lAt, panel, 2, 1)).toThrow(
        /past the memory/,
      );
      expect(() => g.gelu_backward(lAt, bytes - 4, cAt, 2)).toThrow(/past the memory/);
      expect(() => g.causal_softmax(cAt, 1 << 15)).toThrow(/past the memory/);
      expect(() => g.causal_softmax_backward(cAt, bytes - 4, 2)).toThrow(/past the memory/);
    });

    it("a whole step (loss and every gradient) and a training run on the native kernel are close to the wasm kernel's", () => {
      const shape: TransformerShape = {
        dModel: 32,
        layers: 2,
        heads: 2,
        context: 24,
        mlpRatio: 2,
        activation: 'gelu',
      };
      const model = initTransformer(shape, 5);
      const random = seededRandom(3);
      const text = Uint8Array.from({ length: 6000 }, (_, i) =>
        i % 7 === 0 ? 32 : 97 + Math.floor(random() * 6),
      );
      // 12 windows of 24: the weight gradients' products sum over 288 > 256 columns (two K blocks of
      // the native kernel; below 256 its sums have the order and bits of the wasm kernel's fused build)
      const starts = [0, 100, 2001, 4500, 5900, 17, 333, 1234, 2500, 3100, 3700, 5000];
      process.env.DML_LM_NATIVE = '0';
      const wasm = wasmTransformerLossAndGradients(model, text, starts);
      delete process.env.DML_LM_NATIVE;
      const nat = wasmTransformerLossAndGradients(model, text, starts);
      expect(Math.abs(nat.loss - wasm.loss)).toBeLessThan(1e-5 * wasm.loss);
      let differ = false;
      for (const [name, g] of wasm.grads) {
        const other = nat.grads.get(name)!;
        const scale = g.reduce((most, x) => Math.max(most, Math.abs(x)), 0);
        for (let i = 0; i < g.length; i++) {
          if (!(Math.abs(other[i]! - g[i]!) <= 1e-4 * scale + 1e-9))
            throw new Error(`${name}[${i}]: native ${other[i]} wasm ${g[i]} (max |g| ${scale})`);
          differ ||= other[i] !== g[i];
        }
      }
      // the switch really changes the kernel (another rounding of the products)
      expect(differ).toBe(true);

      const settings = {
        steps: 6,
        batchSize: 5,
        learningRate: 1e-3,
        weightDecay: 0.01,
        seed: 7,
        lmKernel: 'wasm' as const,
      };
      process.env.DML_LM_NATIVE = '0';
      const wasmRun = trainTransformer(model, text, settings);
      delete process.env.DML_LM_NATIVE;
      const nativeRun = trainTransformer(model, text, settings);
      expect(Math.abs(nativeRun.report.loss - wasmRun.report.loss)).toBeLessThan(1e-4 * wasmRun.report.loss);
      for (const [at, linear] of wasmRun.model.linears.entries()) {
        const other = nativeRun.model.linears[at]!.weight;
        for (let i = 0; i < linear.weight.length; i++)
          expect(Math.abs(other[i]! - linear.weight[i]!)).toBeLessThan(1e-4);
      }
    });
  });
});
