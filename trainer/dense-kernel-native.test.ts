import { beforeAll, describe, expect, it } from '@jest/globals';
import { getDeltaTensor } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import {
  DenseKernel,
  type DenseKernelChoice,
  denseKernelChoice,
  denseKernelDescription,
} from './dense-kernel.js';
import { MNIST_PIXELS } from './mnist.js';
import { initAdapters, initMlp, quantizeMlp, type LoraSettings, type QuantizedMlp } from './mlp.js';
import { trainQlora, type LocalTrainingSettings } from './mlp-engine.js';
import { gaussian, seededRandom } from './random.js';
import { nativeTransformerKernel } from './transformer-kernel.js';
import {
  machineHasAvx2Fma,
  nativeAddonBuilt as built,
  nativeAddonRequired as required,
  randomMnistImages as images,
  withRandomB,
  describeNativeDense,
  nativeDenseAvailable,
  expectNativeCloseToWasm,
  restoreDenseNativeAfterEach,
} from './testing/index.js';

const randomArray = (length: number, seed: number): Float32Array => {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, (_, i) => (i % 17 === 3 ? 0 : gaussian(r)));
};

const randomBytes = (length: number, seed: number): Uint8Array => {
  const r = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(r() * 256));
};

/**
 * Runs `call` on a fresh kernel whose products are `choice`, its operands filled from `inputs`
 * (floats, or bytes for NF4 codes); returns the output (`out` floats at the address `call` gives).
 */
const runOn = (
  choice: DenseKernelChoice,
  inputs: readonly (Float32Array | Uint8Array)[],
  outLength: number,
  outInitial: Float32Array,
  call: (k: DenseKernel, at: readonly number[], out: number, buf: number) => void,
): Float32Array => {
  const kernel = new DenseKernel(choice);
  const at = inputs.map((x) => kernel.alloc(x instanceof Uint8Array ? Math.ceil(x.length / 4) : x.length));
  const out = kernel.alloc(outLength);
  const buf = kernel.alloc(4096);
  kernel.commit();
  inputs.forEach((x, i) =>
    x instanceof Uint8Array ? kernel.u8(at[i]!, x.length).set(x) : kernel.f32(at[i]!, x.length).set(x),
  );
  kernel.f32(out, outLength).set(outInitial);
  call(kernel, at, out, buf);
  return Float32Array.from(kernel.f32(out, outLength));
};

describe('the dense products on the native addon (trainer/native/dense-kernel.c)', () => {
  restoreDenseNativeAfterEach();

  it('are chosen wherever the addon is built on a CPU with AVX2 + FMA, and must be in CI', () => {
    delete process.env.DML_DENSE_NATIVE;
    if (built && machineHasAvx2Fma()) expect(denseKernelChoice()).toBe('native');
    if (required && machineHasAvx2Fma()) expect(nativeDenseAvailable).toBe(true);
    expect(denseKernelDescription()).toMatch(
      nativeDenseAvailable ? /^native \(AVX2 \+ FMA/ : /^wasm SIMD \(native products: /,
    );
  });

  it('DML_DENSE_NATIVE=0 selects the wasm kernel and says so; =1 without the addon is an error', () => {
    process.env.DML_DENSE_NATIVE = '0';
    expect(denseKernelChoice()).toBe('wasm');
    expect(denseKernelDescription()).toBe('wasm SIMD (native products: DML_DENSE_NATIVE=0)');
    process.env.DML_DENSE_NATIVE = '1';
    if (nativeDenseAvailable) expect(denseKernelChoice()).toBe('native');
    else expect(() => denseKernelChoice()).toThrow(/native dense kernel is unavailable/);
  });

  it('the default DenseKernel (the one other engines share) keeps the wasm products', () => {
    // a wasm export prints as native code, the addon's wrappers as their JS source
    expect(String(new DenseKernel().k.rows_times)).toMatch(/\[native code\]/);
    expect(String(new DenseKernel('wasm').k.nf4_cols_times)).toMatch(/\[native code\]/);
    if (nativeDenseAvailable)
      expect(String(new DenseKernel('native').k.rows_times)).toMatch(/addon\.rows_times/);
  });

  describeNativeDense('with the addon', () => {
    // odd sizes: 32-, 8- and 1-column paths, an odd row count (the single-row tail)
    const shapes = [
      { m: 5, k: 37, n: 43 },
      { m: 8, k: 1, n: 71 },
      { m: 3, k: 29, n: 7 },
      { m: 1, k: 64, n: 32 },
      { m: 7, k: 300, n: 83 },
    ];
    for (const acc of [0, 1])
      for (const alpha of [1, -0.75]) {
        it(`rows_times and cols_times equal the wasm ones (acc ${acc}, alpha ${alpha})`, () => {
          shapes.forEach(({ m, k, n }, s) => {
            const seed = 100 * s + 10 * acc;
            const l = randomArray(m * k, seed + 1);
            const r = randomArray(k * n, seed + 2);
            const c = randomArray(m * n, seed + 3);
            const rows = (choice: DenseKernelChoice): Float32Array =>
              runOn(choice, [l, r], m * n, c, (kn, [lAt, rAt], out) =>
                kn.k.rows_times(lAt!, m, k, rAt!, n, out, alpha, acc),
              );
            expectNativeCloseToWasm(rows('native'), rows('wasm'), `rows_times ${m}x${k}x${n}`);
            // cols_times: L [m, k] (here [k, m] reused as L with m' = k rows), R [k, n]: C [m, n]
            const lt = randomArray(k * m, seed + 4);
            const cols = (choice: DenseKernelChoice): Float32Array =>
              runOn(choice, [lt, r], m * n, c, (kn, [lAt, rAt], out, buf) =>
                kn.k.cols_times(lAt!, k, m, rAt!, n, out, alpha, acc, buf),
              );
            expectNativeCloseToWasm(cols('native'), cols('wasm'), `cols_times ${k}x${m}x${n}`);
          });
        });

        it(`nf4_rows_times and nf4_cols_times equal the wasm ones (acc ${acc}, alpha ${alpha})`, () => {
          // cols odd: rows start on odd nibbles and off the 8-weight groups
          for (const [s, { rows, cols, n }] of [
            { rows: 7, cols: 45, n: 35 },
            { rows: 10, cols: 131, n: 9 },
            { rows: 4, cols: 64, n: 40 },
          ].entries()) {
            const seed = 1000 + 100 * s + 10 * acc;
            const codes = randomBytes(Math.ceil((rows * cols) / 2), seed + 1);
            const scales = randomArray(Math.ceil((rows * cols) / 64), seed + 2).map(Math.abs);
            const rRows = randomArray(cols * n, seed + 3);
            const rCols = randomArray(rows * n, seed + 4);
            const nf4Rows = (choice: DenseKernelChoice): Float32Array =>
              runOn(
                choice,
                [codes, scales, rRows],
                rows * n,
                randomArray(rows * n, seed + 5),
                (kn, at, out, buf) =>
                  kn.k.nf4_rows_times(at[0]!, at[1]!, rows, cols, at[2]!, n, out, alpha, acc, buf),
              );
            expectNativeCloseToWasm(
              nf4Rows('native'),
              nf4Rows('wasm'),
              `nf4_rows_times ${rows}x${cols}x${n}`,
            );
            const nf4Cols = (choice: DenseKernelChoice): Float32Array =>
              runOn(
                choice,
                [codes, scales, rCols],
                cols * n,
                randomArray(cols * n, seed + 6),
                (kn, at, out, buf) =>
                  kn.k.nf4_cols_times(at[0]!, at[1]!, rows, cols, at[2]!, n, out, alpha, acc, buf),
              );
            expectNativeCloseToWasm(
              nf4Cols('native'),
              nf4Cols('wasm'),
              `nf4_cols_times ${rows}x${cols}x${n}`,
            );
          }
        });
      }

    it('rows_times and cols_times over a wide R (column blocks) give each 32-column slice’s bits', () => {
      // k 300: blocks of 32 columns of R; n 224 = 7 blocks
      const [m, k, n] = [5, 300, 224];
      const l = randomArray(m * k, 1);
      const lt = randomArray(k * m, 2);
      const r = randomArray(k * n, 3);
      const c = randomArray(m * n, 4);
      const wide = (call: 'rows' | 'cols', cols: number, rr: Float32Array, cc: Float32Array): Float32Array =>
        runOn('native', [call === 'rows' ? l : lt, rr], m * cols, cc, (kn, [lAt, rAt], out, buf) =>
          call === 'rows'
            ? kn.k.rows_times(lAt!, m, k, rAt!, cols, out, 0.5, 1)
            : kn.k.cols_times(lAt!, k, m, rAt!, cols, out, 0.5, 1, buf),
        );
      for (const call of ['rows', 'cols'] as const) {
        const all = wide(call, n, r, c);
        for (let s = 0; s < n / 32; s++) {
          const slice = (x: Float32Array, rows: number): Float32Array =>
            Float32Array.from(
              { length: rows * 32 },
              (_, i) => x[Math.floor(i / 32) * n + s * 32 + (i % 32)]!,
            );
          expect(wide(call, 32, slice(r, k), slice(c, m))).toEqual(slice(all, m));
        }
      }
    });

    it('refuses operands past the memory, misaligned ones and wrong argument counts (a RangeError)', () => {
      const kernel = new DenseKernel('native');
      kernel.alloc(64);
      kernel.commit();
      const size = kernel.k.memory.buffer.byteLength;
      expect(() => kernel.k.rows_times(128, 4, 4, 128, 4, size - 32, 1, 0)).toThrow(
        /kernel: (an operand|an address|wrong number)/,
      );
      expect(() => kernel.k.rows_times(130, 1, 1, 128, 1, 256, 1, 0)).toThrow(
        /kernel: (an operand|an address|wrong number)/,
      );
      expect(() => kernel.k.rows_times(128, 65536, 65536, 128, 65536, 128, 1, 0)).toThrow(
        /kernel: (an operand|an address|wrong number)/,
      );
      expect(() => kernel.k.cols_times(128, 4, 4, 128, 4, 256, 1, 0, size)).toThrow(
        /kernel: (an operand|an address|wrong number)/,
      );
      expect(() => kernel.k.nf4_rows_times(size - 1, 128, 4, 4, 128, 1, 256, 1, 0, 384)).toThrow(
        /dense kernel: /,
      );
      expect(() => kernel.k.nf4_cols_times(128, 128, 4, 4, 128, 1, 256, 1, 0, -4)).toThrow(
        /kernel: (an operand|an address|wrong number)/,
      );
      const addon = nativeTransformerKernel().addon as unknown as Record<
        string,
        (...a: unknown[]) => unknown
      >;
      expect(() => addon.rows_times!(kernel.k.memory.buffer, 128, 1, 1, 128, 1)).toThrow(
        /kernel: (an operand|an address|wrong number)/,
      );
      // in bounds: no throw, and the product is there
      kernel.f32(128, 2).set([2, 3]);
      kernel.k.rows_times(128, 1, 1, 132, 1, 136, 1, 0);
      expect(kernel.f32(136, 1)[0]).toBe(6);
    });
  });
});

describeNativeDense('trainQlora with the native dense products', () => {
  let base: QuantizedMlp;
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
    // 784-72-37-10: two ReLU layers, odd widths (tails everywhere), batch 21 (a 32-wide block never full)
    base = quantizeMlp(initMlp([MNIST_PIXELS, 72, 37, 10], 5));
  });
  restoreDenseNativeAfterEach();

  for (const freezeA of [true, false])
    it(`trains as the wasm kernel does within float tolerance (${freezeA ? 'FFA-LoRA' : 'A and B'})`, () => {
      const lora: LoraSettings = { rank: 5, alpha: 10, freezeA };
      const settings: LocalTrainingSettings = {
        steps: 3,
        batchSize: 21,
        learningRate: 0.01,
        weightDecay: 0.01,
        seed: 2,
        order: 'given',
        denseKernel: 'wasm',
      };
      const data = images(50, 4);
      const start = withRandomB(initAdapters(base, lora, 7), 8);
      process.env.DML_DENSE_NATIVE = '1';
      const native = trainQlora(base, start, lora, data, settings);
      process.env.DML_DENSE_NATIVE = '0';
      const wasm = trainQlora(base, start, lora, data, settings);
      expect(native.report.samples).toBe(wasm.report.samples);
      expect(Math.abs(native.report.loss - wasm.report.loss)).toBeLessThan(1e-5);
      let moved = false;
      for (const t of wasm.adapters.tensors) {
        const got = getDeltaTensor(native.adapters, t.name).values;
        expectNativeCloseToWasm(got, t.values, t.name);
        if (!moved) moved = got.some((v, i) => v !== getDeltaTensor(start, t.name).values[i]);
      }
      expect(moved).toBe(true);
    });
});
