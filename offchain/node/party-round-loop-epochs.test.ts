import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Delta, hashDelta, makeDelta } from '../delta/index.js';
import { ed25519PublicKeyOfSeed } from '../ed25519.js';
import { SqliteEventStore, partyStream } from '../events/index.js';
import { type EmbeddedHeadWithClients, startEmbeddedHeadWithClients } from '../hydra/index.js';
import { EncryptedContentStore, LocalFolderStore } from '../storage/index.js';
import { AdapterFiles } from './adapter-files.js';
import type { Learner } from './learner.js';
import { PartyRoundLoop } from './party-round-loop.js';
import { decodeRoundDatum } from './round-datum.js';

/**
 * An epoch after the first, in process: two parties train epoch 1 (round 1) in one head; a third
 * joins, and epoch 2 (round 2) runs in a new head of three. The two continuing parties start from
 * their own history (their files), the newcomer adopts a peer's carry-over through its grant, and
 * all three train round 2 from the same adapter and compute one aggregate.
 */

const COHORT = 'ef'.repeat(28);
const ids = ['aa'.repeat(28), 'bb'.repeat(28), 'cc'.repeat(28)];
const seeds = ids.map(() => new Uint8Array(randomBytes(32)));

const learnerOf = (index: number): Learner => ({
  train: async (key, global) => ({
    delta: makeDelta([
      {
        name: 'fc1.lora_B',
        shape: [1, 4],
        values: Float32Array.from(
          global.tensors[0]!.values,
          (v, i) => 0.1 * (index + 1) * (i + key.round) - 0.01 * v,
        ),
      },
    ]),
    sampleCount: 10 + index,
    metrics: { loss: 1 / key.round, accuracy: 0.5 },
  }),
  score: async (_global, deltas) => deltas.map(({ partyId }) => ({ partyId, loss: 0.5, accuracy: 0.9 })),
  advance: (global, update) =>
    makeDelta([
      {
        name: 'fc1.lora_B',
        shape: [1, 4],
        values: Float32Array.from(global.tensors[0]!.values, (v, i) => v + update.tensors[0]!.values[i]!),
      },
    ]),
});
const start: Delta = makeDelta([{ name: 'fc1.lora_B', shape: [1, 4], values: new Float32Array(4) }]);

let dir: string;
let heads: EmbeddedHeadWithClients[] = [];
let objects: LocalFolderStore;
let log: SqliteEventStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dml-party-epochs-'));
  objects = await LocalFolderStore.open(join(dir, 'storage'));
  log = new SqliteEventStore(join(dir, 'events.sqlite'));
  heads = [await startEmbeddedHeadWithClients(2), await startEmbeddedHeadWithClients(3)];
  for (const h of heads) await h.open();
});
afterAll(async () => {
  for (const h of heads) await h.stop();
  await log?.close();
  await objects?.close();
  await rm(dir, { recursive: true, force: true });
});

const loopOf = (
  i: number,
  epoch: number,
  options: {
    previousAggregateHash?: string;
    lines?: string[];
    adapters?: string;
    patienceMs?: number;
    clock?: () => Date;
  } = {},
) => {
  const head = heads[epoch - 1]!;
  const endpoint = head.head.endpoints[i]!;
  const parties = epoch === 1 ? ids.slice(0, 2) : ids;
  return new PartyRoundLoop({
    identity: {
      id: ids[i]!,
      hydraSk: seeds[i]!,
      hydraVk: Buffer.from(ed25519PublicKeyOfSeed(seeds[i]!)).toString('hex'),
    },
    cohortId: COHORT,
    epoch,
    parties,
    firstRound: epoch,
    lastRound: epoch,
    hydra: { host: endpoint.host, port: endpoint.port },
    headKey: head.users[i]!,
    rule: { kind: 'fedavg' },
    learner: learnerOf(i),
    content: new EncryptedContentStore(objects, {
      prefix: `deltas/${ids[i]}`,
      passphrase: 'cohort secret',
      scrypt: { log2N: 10, r: 1, p: 1 },
    }),
    log,
    adapters: new AdapterFiles(join(dir, options.adapters ?? `adapters-${ids[i]}`)),
    startGlobal: start,
    pollMs: 200,
    ...(options.previousAggregateHash ? { previousAggregateHash: options.previousAggregateHash } : {}),
    ...(options.lines ? { onStep: (line: string) => options.lines!.push(line) } : {}),
    ...(options.patienceMs !== undefined ? { patienceMs: options.patienceMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
};

const startedFrom = async (party: string, epoch: number, round: number) =>
  (await log.readStream(partyStream(COHORT, party)))
    .filter((e) => e.type === 'training.RoundStarted')
    .map((e) => e.data as { epoch: number; round: number; globalAdapterHash: string })
    .find((d) => d.epoch === epoch && d.round === round)?.globalAdapterHash;

describe('PartyRoundLoop: an epoch after the first, with a newcomer', () => {
  it('continuing parties start from their own history, the newcomer adopts a checked carry-over, one aggregate', async () => {
    const epoch1 = await Promise.all([loopOf(0, 1).run(), loopOf(1, 1).run()]);
    expect(epoch1.map((r) => r.kind)).toEqual(['epoch-done', 'epoch-done']);
    const aggregate1 = epoch1[0]!.kind === 'epoch-done' ? epoch1[0]!.aggregateHash : '';
    // what layer 1 would hold after the scheduled close: round 1's aggregate hash

    // without the aggregate layer 1 holds, an epoch after the first does not start
    await expect(loopOf(0, 2).run()).rejects.toMatchObject({ code: 'CARRY_OVER_UNKNOWN' });

    // the newcomer alone: nobody publishes a carry-over; past its patience it stops, naming them
    let t = Date.parse('2026-01-01T00:00:00Z');
    const stalled = await loopOf(2, 2, {
      previousAggregateHash: aggregate1,
      patienceMs: 30_000,
      clock: () => new Date((t += 10_000)),
    }).run();
    expect(stalled).toMatchObject({
      kind: 'stalled',
      round: 2,
      waitingFor: 'starting-adapter',
      missing: ids.slice(0, 2),
    });
    expect(stalled.kind === 'stalled' && stalled.waitedMs).toBeGreaterThan(30_000);

    const lines: string[] = [];
    const newcomer = loopOf(2, 2, { previousAggregateHash: aggregate1, lines });
    const results = await Promise.all([
      loopOf(0, 2, { previousAggregateHash: aggregate1 }).run(),
      loopOf(1, 2, { previousAggregateHash: aggregate1 }).run(),
      newcomer.run(),
    ]);
    expect(results.map((r) => r.kind)).toEqual(['epoch-done', 'epoch-done', 'epoch-done']);
    expect(new Set(results.map((r) => (r.kind === 'epoch-done' ? r.aggregateHash : ''))).size).toBe(1);

    // all three started round 2 from the same adapter: round 1's global advanced by its aggregate
    const round1Start = await startedFrom(ids[0]!, 1, 1);
    const expected = hashDelta(
      learnerOf(0).advance(
        start,
        (await new AdapterFiles(join(dir, `adapters-${ids[0]}`)).load(aggregate1))!,
      ),
    );
    expect(round1Start).toBe(hashDelta(start));
    expect(await Promise.all(ids.map((id) => startedFrom(id, 2, 2)))).toEqual([expected, expected, expected]);
    expect(lines.some((l) => /waiting for a carry-over|the carry-over of/.test(l))).toBe(true);
    expect(lines).toContainEqual(
      expect.stringMatching(/started from global adapter [0-9a-f]{12} \(the carry-over of/),
    );

    // the head of epoch 2 holds one carry-over per party, each naming round 1's aggregate
    const carries = new Map<string, string>();
    for (const o of heads[1]!.received[0]!)
      if (o.tag === 'SnapshotConfirmed')
        for (const out of Object.values(o.snapshot.utxo ?? {})) {
          const d = out.inlineDatumRaw ? decodeRoundDatum(out.inlineDatumRaw) : undefined;
          if (d?.kind === 'carry-over') {
            expect(d.previousAggregateHash).toBe(aggregate1);
            carries.set(d.party, d.globalAdapterHash);
          }
        }
    expect([...carries.keys()].sort()).toEqual([...ids].sort());
    expect(new Set(carries.values())).toEqual(new Set([expected]));
  }, 120_000);
});
