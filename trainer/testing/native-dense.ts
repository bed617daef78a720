import { afterEach, describe, expect } from '@jest/globals';
import { denseKernelChoice } from '../dense-kernel.js';

/**
 * Whether the dense products run natively in this process when DML_DENSE_NATIVE is unset (the
 * addon loads on an AVX2 + FMA CPU); the variable is left as it was.
 */
export const nativeDenseAvailable = ((): boolean => {
  const saved = process.env.DML_DENSE_NATIVE;
  delete process.env.DML_DENSE_NATIVE;
  try {
    return denseKernelChoice() === 'native';
  } finally {
    if (saved !== undefined) process.env.DML_DENSE_NATIVE = saved;
  }
})();

/**
 * `describe` for comparisons that need the native dense products: without the addon they show as
 * skipped (never as passed); each file also has a test that fails when the addon was built or is
 * required (CI) on an AVX2 + FMA machine and still does not load.
 */
export const describeNativeDense = nativeDenseAvailable ? describe : describe.skip;

/** |a - b| <= 1e-5 (largest |b|) + 1e-6 everywhere; names the first element that is not. */
export const expectNativeCloseToWasm = (actual: Float32Array, expected: Float32Array, what: string): void => {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < actual.length; i++)
    if (!(Math.abs(actual[i]! - expected[i]!) <= 1e-5 * scale + 1e-6))
      throw new Error(`${what}[${i}]: native ${actual[i]} wasm ${expected[i]} (largest ${scale})`);
};

/** Inside a `describe`: puts DML_DENSE_NATIVE back as it was after each of its tests. */
export const restoreDenseNativeAfterEach = (): void => {
  const saved = process.env.DML_DENSE_NATIVE;
  afterEach(() => {
    if (saved === undefined) delete process.env.DML_DENSE_NATIVE;
    else process.env.DML_DENSE_NATIVE = saved;
  });
};
