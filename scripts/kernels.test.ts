import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import {
  DENSE_KERNEL_MODULE,
  TRANSFORMER_KERNEL_MODULE,
  buildDenseKernelModuleText,
  buildTransformerKernelModuleText,
} from './kernels.js';

describe('the committed WebAssembly kernels', () => {
  it('trainer/dense-kernel-wasm.ts is what `npm run build:kernels` builds from trainer/dense-kernel.wat', async () => {
    const committed = await readFile(DENSE_KERNEL_MODULE, 'utf8');
    expect(committed).toBe(await buildDenseKernelModuleText());
  });

  it('trainer/transformer-kernel-wasm.ts is what `npm run build:kernels` builds from trainer/transformer-kernel.wat', async () => {
    const committed = await readFile(TRANSFORMER_KERNEL_MODULE, 'utf8');
    expect(committed).toBe(await buildTransformerKernelModuleText());
  });
});
