import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mnistFedAvg } from './ours.js';
import type { MnistFedAvgOptions } from './peers.js';

/**
 * Our side of `mnistFedAvg`, small: 2 parties of 96 images (3 steps of 32 a round), 2 rounds,
 * the base pretrained on a public part of 1,000 images. The system round (party processes, head,
 * stores, logs, scoring) must compute what the lean round computes.
 */
describe("our mnistFedAvg's system round", () => {
  let dir: string;
  let orderFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ours-system-round-test-'));
    orderFile = join(dir, 'order.json');
    // a permutation of the 60,000 training images (7919 is prime to 60,000)
    const train = Array.from({ length: 60000 }, (_, i) => (i * 7919) % 60000);
    await writeFile(orderFile, JSON.stringify({ train, partySize: 96, publicStart: 59000 }));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = (oursRound: 'system' | 'lean', engine: 'simulation' | 'inprocess'): MnistFedAvgOptions => ({
    threads: 2,
    seed: 1234,
    orderFile,
    hidden: [128],
    optimizer: 'sgd',
    lr: 0.01,
    momentum: 0.9,
    batchSize: 32,
    parties: 2,
    rounds: 2,
    localEpochs: 1,
    loraRank: 8,
    loraAlpha: 16,
    engine,
    oursRound,
  });

  it("runs 2 party processes through 2 rounds to the lean round's model, bytes and sane round times", async () => {
    const system = await mnistFedAvg(options('system', 'simulation'));
    const lean = await mnistFedAvg(options('lean', 'inprocess'));

    expect(system.partyAccuracy).toHaveLength(2);
    // every party holds the same aggregate, the one the lean round computes
    expect(system.partyAccuracy[0]).toBe(system.partyAccuracy[1]);
    expect(system.partyAccuracy[0]).toBeGreaterThan(0.5);
    expect(Math.abs(system.partyAccuracy[0]! - lean.partyAccuracy[0]!)).toBeLessThanOrEqual(0.001);
    // the same sealed delta: B of rank 8 ((128 + 10) x 8 floats) and the sealing's header
    expect(system.bytesSentPerPartyPerRound).toBe(lean.bytesSentPerPartyPerRound);
    expect(system.bytesSentPerPartyPerRound).toBeGreaterThan(138 * 8 * 4);

    expect(system.roundSeconds).toHaveLength(2);
    for (const seconds of system.roundSeconds) expect(seconds).toBeGreaterThan(0);
    // the run holds its rounds, the processes' start-up and the head's opening besides
    expect(system.roundSeconds.reduce((a, b) => a + b, 0)).toBeLessThan(system.wallSeconds);
    for (const phase of ['training', 'storage', 'head', 'aggregation', 'scoring', 'log', 'other'])
      expect(system.note).toMatch(new RegExp(`${phase} \\d+\\.\\d{3} s`));
    expect(system.note).toMatch(/system round/);
    expect(lean.note).toMatch(/lean round/);
  }, 150_000);

  it('refuses the system round against the in-process driver', async () => {
    await expect(mnistFedAvg(options('system', 'inprocess'))).rejects.toThrow(/use oursRound lean/);
  });
});
