import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeDelta, hashDelta } from '../offchain/index.js';
import { prepareMnistCohort, selectTrainerBackend, type MnistCohortSetup } from '../trainer/index.js';
import {
  type PartyProcess,
  runCohortRounds,
  startPartyProcesses,
  stopPartyProcesses,
} from './round-cohort.js';

describe('a cohort of party processes running real rounds', () => {
  let setup: MnistCohortSetup;
  let parties: PartyProcess[] = [];
  let home: string;

  beforeAll(async () => {
    await selectTrainerBackend({ log: () => {} });
    setup = await prepareMnistCohort({
      parties: 2,
      shardSize: 64,
      validationSize: 40,
      testSize: 100,
      pretrainSteps: 5,
      rank: 8,
      seed: 3,
    });
    home = await mkdtemp(join(tmpdir(), 'round-cohort-test-'));
  });

  afterAll(async () => {
    await stopPartyProcesses(parties);
    await rm(home, { recursive: true, force: true });
  });

  it('runs 2 parties through 2 rounds against the head: one aggregate, one delta a round, timed rounds', async () => {
    const started = Date.now();
    const loaded = await startPartyProcesses(2);
    parties = loaded.parties;
    expect(loaded.backend).toMatch(/\S/);
    const settings = {
      base: setup.base,
      lora: setup.lora,
      startAdapters: setup.startAdapters,
      shards: setup.shards,
      validations: setup.validations,
      training: { steps: 2, batchSize: 32, learningRate: 1e-2, weightDecay: 0, seed: 5 },
      rounds: 2,
      home,
      prepareSeconds: 60,
      roundsSeconds: 90,
    };
    await expect(runCohortRounds(parties.slice(0, 1), settings)).rejects.toThrow(
      '2 parties need as many processes, got 1',
    );
    const run = await runCohortRounds(parties, settings);
    const elapsed = Date.now() - started;

    expect(run.rounds).toHaveLength(2);
    for (const round of run.rounds) {
      expect(round.phases).toHaveLength(2);
      expect(round.wall).toBeGreaterThan(0);
      expect(round.wall).toBeLessThan(elapsed);
      for (const p of round.phases) {
        // the cohort's round holds each party's own (to the clock's float rounding: the parties'
        // starts are milliseconds since 1970, ~2e12, where a double's step is ~2.4e-4 ms);
        // every party trained and reached the head
        expect(p.total).toBeLessThanOrEqual(round.wall + 0.01);
        expect(p.training).toBeGreaterThan(0);
        expect(p.head).toBeGreaterThan(0);
      }
    }
    // both parties advanced to the same global adapter, away from the start
    const [a, b] = run.parties.map((p) => decodeDelta(p.finalGlobal));
    expect(hashDelta(a!)).toBe(hashDelta(b!));
    expect(hashDelta(a!)).not.toBe(hashDelta(setup.startAdapters));
    expect(run.parties[0]!.aggregateHash).toBe(run.parties[1]!.aggregateHash);
    // one sealed delta a round: B of rank 8 for 784-128-10 is (128 + 10) x 8 floats, sealed
    for (const p of run.parties) {
      expect(p.deltaBytes).toHaveLength(2);
      for (const bytes of p.deltaBytes) {
        expect(bytes).toBeGreaterThan(138 * 8 * 4);
        expect(bytes).toBeLessThan(138 * 8 * 4 + 512);
      }
    }

    await stopPartyProcesses(parties);
    expect(parties.every((p) => p.child.exitCode !== null || p.child.signalCode !== null)).toBe(true);
  }, 120_000);
});
