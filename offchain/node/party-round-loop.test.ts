import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Delta, hashDelta, makeDelta } from '../delta/index.js';
import { ed25519PublicKeyOfSeed } from '../ed25519.js';
import {
  type EventStore,
  type NewDmlEvent,
  type StoredDmlEvent,
  SqliteEventStore,
  partyStream,
} from '../events/index.js';
import { type EmbeddedHeadWithClients, startEmbeddedHeadWithClients } from '../hydra/index.js';
import { type ContentReference, EncryptedContentStore, LocalFolderStore } from '../storage/index.js';
import { AdapterFiles } from './adapter-files.js';
import type { Learner } from './learner.js';
import { PartyRoundLoop, type PartyRoundLoopResult } from './party-round-loop.js';
import { decodeRoundDatum } from './round-datum.js';

/**
 * The resume cases of a party's round loop, each at its exact crash point (the multi-process test
 * in cli/commands/train.test.ts kills a real process at a moment it observes; here the crash is
 * injected where it hurts most): the process dies and a new loop, with nothing in memory, takes
 * over from the log, the head and the files.
 */

class Crash extends Error {
  constructor(where: string) {
    super(`crash: ${where}`);
  }
}

const COHORT = 'cd'.repeat(28);
const EPOCH = 1;

/** A deterministic learner: the delta is a function of the party, the round and the global adapter. */
const learnerOf = (index: number): Learner => ({
  train: async (key, global) => {
    const base = global.tensors[0]!.values;
    return {
      delta: makeDelta([
        {
          name: 'fc1.lora_B',
          shape: [1, 4],
          values: Float32Array.from(base, (v, i) => 0.1 * (index + 1) * (i + key.round) - 0.01 * v),
        },
      ]),
      sampleCount: 10 + index,
      metrics: { loss: 1 / key.round, accuracy: 0.5 },
    };
  },
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

/** An event store that dies once, right after (or before) appending a batch holding `type` of `party`. */
const crashingLog = (
  log: EventStore,
  crash: { type: string; party: string; round: number; after: boolean },
): EventStore => {
  let armed = true;
  const hits = (events: readonly NewDmlEvent[]) =>
    armed &&
    events.some((e) => {
      const d = e.data as { party?: string; computedBy?: string; round?: number };
      return e.type === crash.type && (d.party ?? d.computedBy) === crash.party && d.round === crash.round;
    });
  return {
    kind: log.kind,
    append: async (stream, events, options) => {
      const hit = hits(events);
      if (hit && !crash.after) {
        armed = false;
        throw new Crash(`before appending ${crash.type}`);
      }
      const result = await log.append(stream, events, options);
      if (hit) {
        armed = false;
        throw new Crash(`after appending ${crash.type}`);
      }
      return result;
    },
    readStream: (s, o) => log.readStream(s, o),
    streamVersion: (s) => log.streamVersion(s),
    readAll: (o) => log.readAll(o),
    headPosition: () => log.headPosition(),
    onAppended: (l) => log.onAppended(l),
    close: async () => undefined,
  };
};

/** Content storage that dies once right after storing the sealed delta (before the head post). */
class CrashAfterPut extends EncryptedContentStore {
  armed = true;
  override async put(plaintext: Uint8Array): Promise<ContentReference> {
    const ref = await super.put(plaintext);
    if (this.armed) {
      this.armed = false;
      throw new Crash('after the storage put');
    }
    return ref;
  }
}

let dir: string;
let fixture: EmbeddedHeadWithClients;
let objects: LocalFolderStore;
let log: SqliteEventStore;
const ids = ['aa'.repeat(28), 'bb'.repeat(28), 'cc'.repeat(28)];
const seeds = ids.map(() => new Uint8Array(randomBytes(32)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dml-party-loop-'));
  objects = await LocalFolderStore.open(join(dir, 'storage'));
  log = new SqliteEventStore(join(dir, 'events.sqlite'));
  fixture = await startEmbeddedHeadWithClients(3, { contestationPeriod: 60 });
  await fixture.open();
});
afterAll(async () => {
  await fixture?.stop();
  await log?.close();
  await objects?.close();
  await rm(dir, { recursive: true, force: true });
});

const contentOf = (i: number, Store: typeof EncryptedContentStore = EncryptedContentStore) =>
  new Store(objects, {
    prefix: `deltas/${ids[i]}`,
    passphrase: 'cohort secret',
    scrypt: { log2N: 10, r: 1, p: 1 },
  });

const loopOf = (
  i: number,
  options: {
    log?: EventStore;
    content?: EncryptedContentStore;
    signal?: AbortSignal;
    onStep?: (line: string) => void;
  } = {},
) => {
  const endpoint = fixture.head.endpoints[i]!;
  return new PartyRoundLoop({
    identity: {
      id: ids[i]!,
      hydraSk: seeds[i]!,
      hydraVk: Buffer.from(ed25519PublicKeyOfSeed(seeds[i]!)).toString('hex'),
    },
    cohortId: COHORT,
    epoch: EPOCH,
    parties: ids,
    firstRound: 1,
    lastRound: 2,
    hydra: { host: endpoint.host, port: endpoint.port },
    headKey: fixture.users[i]!,
    rule: { kind: 'fedavg' },
    learner: learnerOf(i),
    content: options.content ?? contentOf(i),
    log: options.log ?? log,
    adapters: new AdapterFiles(join(dir, 'adapters', ids[i]!)),
    startGlobal: start,
    pollMs: 200,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
};

const count = (events: StoredDmlEvent[], type: string, round: number) =>
  events.filter((e) => e.type === type && (e.data as { round: number }).round === round).length;

describe('PartyRoundLoop: a party crashes at every step of a round and resumes', () => {
  it('posts each datum once, records each step once, and ends the epoch with the same aggregate as its peers', async () => {
    const c = 2;
    const peers = [loopOf(0).run(), loopOf(1).run()];
    const crashes: string[] = [];
    const runUntilCrash = async (loop: PartyRoundLoop): Promise<PartyRoundLoopResult | undefined> => {
      try {
        return await loop.run();
      } catch (error) {
        if (!(error instanceof Crash)) throw error;
        crashes.push(error.message);
        return undefined;
      }
    };
    // round 1: dies after storing its delta, before posting it; then after posting, before recording it;
    // then after recording its aggregate, before acknowledging; then after acknowledging, before recording it
    expect(await runUntilCrash(loopOf(c, { content: contentOf(c, CrashAfterPut) }))).toBeUndefined();
    for (const crash of [
      { type: 'training.DeltaCommitted', after: false },
      { type: 'training.AggregateComputed', after: true },
      { type: 'training.SnapshotSigned', after: false },
    ])
      expect(
        await runUntilCrash(loopOf(c, { log: crashingLog(log, { ...crash, party: ids[c]!, round: 1 }) })),
      ).toBeUndefined();
    // round 2: dies after posting its commitment, before recording it; then runs to the end
    expect(
      await runUntilCrash(
        loopOf(c, {
          log: crashingLog(log, { type: 'training.DeltaCommitted', party: ids[c]!, round: 2, after: false }),
        }),
      ),
    ).toBeUndefined();
    // Ctrl-C: the step in hand finishes (its append included), the loop says where it stopped
    const controller = new AbortController();
    const lines: string[] = [];
    const stopped = await loopOf(c, {
      signal: controller.signal,
      onStep: (line) => {
        lines.push(line);
        controller.abort();
      },
    }).run();
    expect(stopped).toMatchObject({ kind: 'stopped', at: { kind: 'record-commitment', round: 2 } });
    expect(lines).toEqual([expect.stringMatching(/^round 2: the head holds this party's commitment/)]);
    const last = await loopOf(c).run();
    const results = [...(await Promise.all(peers)), last];
    expect(crashes).toEqual([
      'crash: after the storage put',
      'crash: before appending training.DeltaCommitted',
      'crash: after appending training.AggregateComputed',
      'crash: before appending training.SnapshotSigned',
      'crash: before appending training.DeltaCommitted',
    ]);
    expect(results.map((r) => r.kind)).toEqual(['epoch-done', 'epoch-done', 'epoch-done']);
    const hashes = results.map((r) => (r.kind === 'epoch-done' ? r.aggregateHash : ''));
    expect(new Set(hashes).size).toBe(1);

    for (const id of ids) {
      const events = await log.readStream(partyStream(COHORT, id));
      for (const round of [1, 2])
        for (const type of [
          'training.RoundStarted',
          'training.DeltaCommitted',
          'training.AggregateComputed',
          'training.SnapshotSigned',
        ])
          expect([id.slice(0, 2), round, type, count(events, type, round)]).toEqual([
            id.slice(0, 2),
            round,
            type,
            1,
          ]);
      // every step was appended at the version read: the stream has no gap and no duplicate
      expect(events.map((e) => e.streamVersion)).toEqual(events.map((_, i) => i));
    }
    // every confirmed snapshot: each party's commitment and acknowledgement of a round sat in one output only
    const outputsOf = new Map<string, Set<string>>();
    for (const o of fixture.received[0]!)
      if (o.tag === 'SnapshotConfirmed')
        for (const [txIn, out] of Object.entries(o.snapshot.utxo ?? {})) {
          const d = out.inlineDatumRaw ? decodeRoundDatum(out.inlineDatumRaw) : undefined;
          if (!d) continue;
          const key = `${d.kind}/${d.party}/${d.round}`;
          outputsOf.set(key, (outputsOf.get(key) ?? new Set()).add(txIn));
        }
    expect(outputsOf.size).toBe(2 * 3 * 2);
    for (const [key, txIns] of outputsOf) expect([key, txIns.size]).toEqual([key, 1]);
    const utxo = await fixture.clients[0]!.getSnapshotUtxo();
    const acks = Object.values(utxo)
      .map((out) => (out.inlineDatumRaw ? decodeRoundDatum(out.inlineDatumRaw) : undefined))
      .filter((d) => d?.kind === 'acknowledgement' && d.round === 2);
    expect(acks).toHaveLength(3);
    // the committed delta of the round-1 retrain is the one recorded (the orphan stays unused)
    const cEvents = await log.readStream(partyStream(COHORT, ids[c]!));
    const committed = cEvents.filter((e) => e.type === 'training.DeltaCommitted').map((e) => e.data);
    expect(committed.map((d) => (d as { round: number }).round)).toEqual([1, 2]);
    // the 2 committed deltas and the orphan of the crash after the put (trained again, posted once)
    expect(await objects.list(`deltas/${ids[c]}`)).toHaveLength(3);
    // the global adapter of round 2 is in the party's folder under the hash its RoundStarted logged
    const started2 = cEvents.find(
      (e) => e.type === 'training.RoundStarted' && (e.data as { round: number }).round === 2,
    )!.data as { globalAdapterHash: string };
    const file = await new AdapterFiles(join(dir, 'adapters', ids[c]!)).load(started2.globalAdapterHash);
    expect(file && hashDelta(file)).toBe(started2.globalAdapterHash);
  }, 120_000);
});
