import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { denseKernelDescription } from './dense-kernel.js';
import { transformerKernelDescription } from './transformer-kernel.js';

/** The TensorFlow.js backends the trainer can run on, best first. */
export type TrainerBackendName = 'tensorflow' | 'wasm' | 'cpu';
export const TRAINER_BACKENDS: readonly TrainerBackendName[] = ['tensorflow', 'wasm', 'cpu'];

/**
 * Picks the first backend that loads: tfjs-node ('tensorflow', a native library, optional and
 * loaded only if installed), else WebAssembly (SIMD, shipped in @tensorflow/tfjs-backend-wasm),
 * else plain JavaScript ('cpu'). Returns the one in use and logs it, with the kernel of the
 * language model's engine (trainer/transformer-kernel.ts: native AVX2 + FMA or wasm SIMD) and
 * where the MNIST engines' dense products run (trainer/dense-kernel.ts: native or wasm), to
 * `log` on every call, else to stderr once per process and backend (a node or script calling
 * this again says nothing).
 */
const announced = new Set<TrainerBackendName>();

export const selectTrainerBackend = async (
  options: { prefer?: readonly TrainerBackendName[]; log?: (line: string) => void } = {},
): Promise<TrainerBackendName> => {
  const log =
    options.log ??
    ((line: string, name?: TrainerBackendName) => {
      if (name && announced.has(name)) return;
      if (name) announced.add(name);
      process.stderr.write(`${line}\n`);
    });
  const reasons: string[] = [];
  for (const name of options.prefer ?? TRAINER_BACKENDS) {
    try {
      if (name === 'tensorflow') {
        const moduleName = '@tensorflow/tfjs-node';
        await import(/* optional native backend */ moduleName);
      }
      if (tf.getBackend() === name || (await tf.setBackend(name))) {
        await tf.ready();
        log(
          `trainer: TensorFlow.js backend ${name}${reasons.length ? ` (${reasons.join('; ')})` : ''}; ` +
            `LM kernel: ${transformerKernelDescription()}; dense kernel: ${denseKernelDescription()}`,
          name,
        );
        return name;
      }
      reasons.push(`${name} did not initialise`);
    } catch (error) {
      reasons.push(`${name} unavailable: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend loads: ${reasons.join('; ')}`);
};
