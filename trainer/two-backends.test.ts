import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { aggregateDeltas, encodeDelta, type AggregationRule, type Delta } from '../offchain/index.js';
import { selectTrainerBackend, type TrainerBackendName } from './backend.js';
import { MNIST_PIXELS, type LabelledImages } from './mnist.js';
import { initAdapters, initMlp, quantizeMlp, type LoraSettings } from './mlp.js';
import { trainLocalDelta } from './local-round.js';
import { seededRandom } from './random.js';

const run = promisify(execFile);
const aggregateScript = fileURLToPath(new URL('../offchain/delta/aggregate-files.ts', import.meta.url));

const images = (count: number, seed: number): LabelledImages => {
  const random = seededRandom(seed);
  return {
    images: Uint8Array.from({ length: count * MNIST_PIXELS }, () => Math.floor(random() * 256)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
  };
};

describe('deltas trained on two backends', () => {
  it('aggregate to the same bytes here and in another process', async () => {
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: true };
    const base = quantizeMlp(initMlp([MNIST_PIXELS, 8, 10], 1));
    const start = initAdapters(base, lora, 2);
    const settings = { steps: 5, batchSize: 10, learningRate: 1e-2, weightDecay: 0, seed: 3 };
    const trained: Array<{ backend: TrainerBackendName; delta: Delta }> = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectTrainerBackend({ prefer: [backend], log: () => {} });
      trained.push({ backend, delta: trainLocalDelta(base, start, lora, images(30, 4), settings).delta });
    }
    // the same training on two backends gives (nearly) the same delta, not necessarily the same bits
    const [a, b] = trained.map((t) => t.delta.tensors.flatMap((x) => Array.from(x.values)));
    a!.forEach((v, i) => expect(Math.abs(v - b![i]!)).toBeLessThan(1e-4));
    const dir = await mkdtemp(join(tmpdir(), 'dml-backends-'));
    const parties = await Promise.all(
      trained.map(async (t, i) => {
        const file = join(dir, `${t.backend}.delta`);
        await writeFile(file, encodeDelta(t.delta));
        return { partyId: `party-${t.backend}`, sampleCount: 30 + i, delta: t.delta, file };
      }),
    );
    const rules: AggregationRule[] = [{ kind: 'ffa-lora' }, { kind: 'median' }];
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        aggregateScript,
        JSON.stringify(rules),
        ...parties.map((p) => `${p.partyId}:${p.sampleCount}:${p.file}`),
      ],
      { env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(stdout.trim().split('\n')).toEqual(rules.map((r) => aggregateDeltas(r, parties).hash));
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
  });
});
