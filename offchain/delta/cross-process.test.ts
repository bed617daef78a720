import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { encodeDelta, makeDelta } from './delta-format.js';
import { aggregateDeltas, type AggregationRule } from './aggregation-rule.js';
import { seededRandom } from './test-arbitraries.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

describe('aggregation in separate processes', () => {
  it('two Node processes, given the deltas in different orders, print the same hashes as this one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-delta-'));
    const rnd = seededRandom(42);
    const shared = Float32Array.from({ length: 8 * 64 }, () => rnd() - 0.5);
    const parties = await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const delta = makeDelta([
          { name: 'fc1.lora_A', shape: [8, 64], values: shared },
          {
            name: 'fc1.lora_B',
            shape: [32, 8],
            values: Float32Array.from({ length: 256 }, () => (rnd() - 0.5) / 3),
          },
          { name: 'head.lora_A', shape: [8, 32], values: shared.subarray(0, 256) },
          {
            name: 'head.lora_B',
            shape: [10, 8],
            values: Float32Array.from({ length: 80 }, () => Math.sin(i + rnd())),
          },
        ]);
        const file = join(dir, `p${i}.delta`);
        await writeFile(file, encodeDelta(delta));
        return { partyId: `party-${i}`, sampleCount: 100 + 37 * i, delta, file };
      }),
    );
    const rules: AggregationRule[] = [
      { kind: 'fedavg' },
      { kind: 'ffa-lora' },
      { kind: 'lora-stack' },
      { kind: 'median' },
      { kind: 'trimmed-mean', trim: 2 },
      { kind: 'krum', byzantine: 2, select: 3 },
    ];
    const args = parties.map((p) => `${p.partyId}:${p.sampleCount}:${p.file}`);
    const inOtherProcess = async (order: string[]): Promise<string[]> => {
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', join(here, 'aggregate-files.ts'), JSON.stringify(rules), ...order],
        { env: { ...process.env, NODE_OPTIONS: '' } },
      );
      return stdout.trim().split('\n');
    };
    const [first, second] = await Promise.all([inOtherProcess(args), inOtherProcess([...args].reverse())]);
    const local = rules.map((rule) => aggregateDeltas(rule, parties).hash);
    expect(first).toEqual(local);
    expect(second).toEqual(local);
    // FedAvg and FFA-LoRA agree here (A is shared); every other rule gives its own aggregate
    expect(new Set(local).size).toBe(rules.length - 1);
  });
});
