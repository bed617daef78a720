import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, readAllFrom } from '../../offchain/index.js';
import { runDemoStory, type DemoOptions } from './story.js';

const small = (dir: string, scenario: DemoOptions['scenario']): DemoOptions => ({
  dir,
  parties: 3,
  rounds: 2,
  model: 'mnist',
  scenario,
  localSteps: 5,
  shardSize: 200,
  seed: 3,
  progress: () => undefined,
  info: () => undefined,
});

const eventTypes = async (logFile: string) => {
  const log = new SqliteEventStore(logFile);
  const types: string[] = [];
  for await (const e of readAllFrom(log)) types.push(e.type);
  await log.close();
  return types;
};

describe('the main job, small: parties, head, rounds, a fault, a kill vote, a new cohort, claims, audit', () => {
  it('catches a saboteur, slashes it, carries on with a newcomer, and the auditor verifies both cohorts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-demo-'));
    try {
      const result = await runDemoStory(small(dir, 'saboteur'));
      expect(result.cohorts.map((c) => c.outcome)).toEqual(['Premature (party 3 slashed)', 'Completed']);
      for (const c of result.cohorts) expect(c.audit.findings).toEqual([]);
      for (const c of result.cohorts) expect(await readFile(c.reportFile, 'utf8')).toContain('<svg');
      // the auditor's direction evidence never flags an honest party (whatever it says of the
      // saboteur); here no round has more than 3 parties, too few to count (design_docs/trainer.md)
      const saboteur = result.parties.find((p) => p.role === 'saboteur')!.id;
      for (const c of result.cohorts) {
        expect(c.audit.directions.rounds).toBe(0);
        expect(c.audit.directions.flagged.filter((p) => p !== saboteur)).toEqual([]);
        expect(await readFile(c.reportFile, 'utf8')).toContain('data-chart="directions"');
      }
      const byName = Object.fromEntries(result.parties.map((p) => [p.name, p]));
      // the saboteur loses its deposit; the two voters share it; everyone else gets its own back
      expect(byName['party 3']!.depositOut).toBe(0n);
      expect(byName['party 1']!.depositOut + byName['party 2']!.depositOut).toBe(
        byName['party 1']!.depositIn + byName['party 2']!.depositIn + byName['party 3']!.depositIn,
      );
      expect(byName['party 4']!.role).toBe('newcomer');
      expect(byName['party 4']!.depositOut).toBe(byName['party 4']!.depositIn);
      expect(byName['party 4']!.bytesUploaded).toBeGreaterThan(0);
      const types = await eventTypes(result.logFile);
      for (const t of [
        'l1.CohortCreated',
        'l1.PartyJoined',
        'l1.EpochStarted',
        'hydra.OutputReceived',
        'training.DeltaCommitted',
        'training.SnapshotSigned',
        'l1.HeadClosed',
        'l1.HeadFinalized',
        'l1.PartySlashed',
        'l1.DepositClaimed',
      ])
        expect(types).toContain(t);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('a dropout stalls the round; the others close with the last signed round and slash it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-demo-'));
    try {
      const result = await runDemoStory(small(dir, 'dropout'));
      expect(result.cohorts[0]!.outcome).toBe('Premature (party 3 slashed)');
      expect(result.cohorts[0]!.rounds).toBe(1);
      for (const c of result.cohorts) expect(c.audit.ok).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('refuses what it cannot do with a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-demo-'));
    try {
      await expect(
        runDemoStory({ ...small(dir, 'honest'), model: 'gpt' as unknown as DemoOptions['model'] }),
      ).rejects.toThrow('unknown model gpt');
      await expect(runDemoStory({ ...small(dir, 'honest'), parties: 2 })).rejects.toThrow(
        'at least 3 parties',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
