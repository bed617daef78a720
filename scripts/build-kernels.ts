/**
 * Builds the trainer's WebAssembly kernels from their text source into committed TypeScript
 * modules (base64), so that running the trainer needs no compiler:
 *
 *   npm run build:kernels
 */
import { writeFile } from 'node:fs/promises';
import {
  DENSE_KERNEL_MODULE,
  TRANSFORMER_KERNEL_MODULE,
  buildDenseKernelModuleText,
  buildTransformerKernelModuleText,
} from './kernels.js';

await writeFile(DENSE_KERNEL_MODULE, await buildDenseKernelModuleText());
process.stdout.write(`wrote ${DENSE_KERNEL_MODULE}\n`);
await writeFile(TRANSFORMER_KERNEL_MODULE, await buildTransformerKernelModuleText());
process.stdout.write(`wrote ${TRANSFORMER_KERNEL_MODULE}\n`);
