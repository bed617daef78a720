import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  aggregateDeltas,
  decodeDelta,
  deltaEncodingOf,
  encodeDelta,
  flagDissimilarDeltas,
  hashDelta,
  makeDelta,
  withDeltaEncoding,
  type Delta,
} from '../delta/index.js';
import { SqliteEventStore, partyStream } from '../events/index.js';
import { ed25519PublicKeyOfSeed } from '../ed25519.js';
import type { HydraUTxO } from '../hydra/index.js';
import { EncryptedContentStore, LocalFolderStore, type StorageRetryInfo } from '../storage/index.js';
import type { HeadSeat } from './head-seat.js';
import type { Learner } from './learner.js';
import { Participant } from './participant.js';
import { type DeltaCommitmentDatum, encodeRoundDatum } from './round-datum.js';

const parties = ['aa'.repeat(28), 'bb'.repeat(28), 'cc'.repeat(28)];
const key = { cohortId: 'ab'.repeat(28), epoch: 1, round: 1 };
const deltaOf = (i: number): Delta =>
  makeDelta([{ name: 'fc1.lora_B', shape: [2, 2], values: Float32Array.from([i, 1, -i, 0.5]) }]);
const T0 = new Date('2026-11-26T10:00:00Z');

/** A learner whose scores are a plain function of the delta: the node's logic is what is tested here. */
const scoringLearner: Learner = {
  train: () => Promise.reject(new Error('not used')),
  score: async (_global, deltas) =>
    deltas.map(({ partyId, delta }) => ({
      partyId,
      loss: 1 + Math.abs(delta.tensors[0]!.values[0]!),
      accuracy: 0.9,
    })),
  advance: (global) => global,
};

/**
 * Three parties, each with its own folder store (its "bucket"); each stores its delta and
 * publishes a read grant in its commitment. `tamper` changes what party i commits or stores.
 */
const round = async (
  tamper: (
    i: number,
    c: DeltaCommitmentDatum,
    stores: LocalFolderStore[],
  ) => Promise<DeltaCommitmentDatum> = async (_i, c) => c,
) => {
  const dir = await mkdtemp(join(tmpdir(), 'dml-participant-'));
  const stores = await Promise.all(parties.map((_, i) => LocalFolderStore.open(join(dir, `party-${i}`))));
  const log = new SqliteEventStore(join(dir, 'events.sqlite'));
  const content = (i: number) =>
    new EncryptedContentStore(stores[i]!, {
      prefix: `deltas/${parties[i]}`,
      passphrase: 'cohort secret',
      scrypt: { log2N: 10, r: 1, p: 1 },
    });
  const utxo: HydraUTxO = {};
  for (const [i, party] of parties.entries()) {
    const store = content(i);
    const ref = await store.put(encodeDelta(deltaOf(i)));
    const readGrant = await store.share(ref.key, { expiresInSeconds: 600, signedAt: T0 });
    const commitment = await tamper(
      i,
      {
        kind: 'commitment',
        ...key,
        party,
        deltaHash: ref.sha256,
        storageKey: ref.key,
        sampleCount: 10,
        bytes: ref.size,
        metrics: { loss: 0.5, accuracy: 0.8 },
        readGrant,
      },
      stores,
    );
    utxo[`${'0'.repeat(63)}${i}#0`] = {
      address: 'addr_test1vz',
      value: { lovelace: 2_000_000 },
      inlineDatumRaw: encodeRoundDatum(commitment),
    };
  }
  const me = (now: Date, extra: Partial<ConstructorParameters<typeof Participant>[0]> = {}) => {
    const seed = new Uint8Array(randomBytes(32));
    return new Participant({
      identity: {
        id: parties[0]!,
        hydraSk: seed,
        hydraVk: Buffer.from(ed25519PublicKeyOfSeed(seed)).toString('hex'),
      },
      cohortId: key.cohortId,
      rule: { kind: 'fedavg' },
      learner: scoringLearner,
      content: content(0),
      log,
      clock: () => now,
      ...extra,
    });
  };
  const done = async () => {
    await log.close();
    await Promise.all(stores.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  };
  return { dir, stores, log, utxo, me, done, content };
};

describe('participant: peers read deltas only through the grants in the round', () => {
  it('reads every peer through its grant and aggregates them all', async () => {
    const r = await round();
    try {
      const outcome = await r.me(new Date(T0.getTime() + 60_000)).aggregate(key, parties, r.utxo, deltaOf(0));
      expect(outcome.unreadable).toEqual([]);
      expect(outcome.flagged).toEqual([]);
      expect(outcome.scores.map((s) => s.partyId)).toEqual(parties);
      // each score records the delta's direction: its similarity with the leave-one-out median
      // of the others, as flagDissimilarDeltas gives it, and its size in floats
      const expected = flagDissimilarDeltas(
        parties.map((partyId, i) => ({ partyId, sampleCount: 10, delta: deltaOf(i) })),
      );
      const recorded = (await r.log.readStream(partyStream(key.cohortId, parties[0]!))).filter(
        (e) => e.type === 'training.ContributionScored',
      );
      expect(recorded.map((e) => e.data)).toEqual(
        expected.map((d) =>
          expect.objectContaining({
            party: d.partyId,
            scorer: parties[0],
            metrics: { loss: expect.any(Number), accuracy: 0.9, similarity: d.similarity, dimensions: 4 },
          }),
        ),
      );
    } finally {
      await r.done();
    }
  });

  it('flags a peer whose grant expired (STORAGE_LINK_EXPIRED), never a crash', async () => {
    const r = await round();
    try {
      // 601 s after the grants were signed for 600 s: every peer's link expired (own delta: own store)
      const outcome = await r
        .me(new Date(T0.getTime() + 601_000))
        .aggregate(key, parties, r.utxo, deltaOf(0));
      expect(outcome.unreadable.map((u) => [u.party, u.code])).toEqual([
        [parties[1], 'STORAGE_LINK_EXPIRED'],
        [parties[2], 'STORAGE_LINK_EXPIRED'],
      ]);
      expect(outcome.unreadable[0]!.message).toMatch(/expired at 2026-11-26T10:10:00/);
      expect(outcome.flagged).toEqual([parties[1], parties[2]]);
    } finally {
      await r.done();
    }
  });

  it('flags a peer with no grant, a grant naming another object, or a forged grant', async () => {
    const r = await round(async (i, c, stores) => {
      if (i === 1) {
        const { readGrant: _, ...without } = c;
        return without;
      }
      if (i === 2) {
        // a genuine grant of the same store, but for another object than the committed one
        await stores[2]!.put('deltas/other', Buffer.from('x'));
        const other = await stores[2]!.grantRead('deltas/other', { expiresInSeconds: 600, signedAt: T0 });
        return { ...c, readGrant: other };
      }
      return c;
    });
    try {
      const outcome = await r.me(T0).aggregate(key, parties, r.utxo, deltaOf(0));
      expect(outcome.unreadable.map((u) => [u.party, u.code])).toEqual([
        [parties[1], 'STORAGE_NO_GRANT'],
        [parties[2], 'STORAGE_LINK_INVALID'],
      ]);
    } finally {
      await r.done();
    }
    const forged = await round(async (i, c) =>
      i === 1
        ? {
            ...c,
            readGrant: {
              ...c.readGrant!,
              url: c.readGrant!.url.replace(
                /signature=([0-9a-f])/,
                (_, x: string) => `signature=${x === '0' ? '1' : '0'}`,
              ),
            },
          }
        : c,
    );
    try {
      const outcome = await forged.me(T0).aggregate(key, parties, forged.utxo, deltaOf(0));
      expect(outcome.unreadable.map((u) => [u.party, u.code])).toEqual([
        [parties[1], 'STORAGE_LINK_INVALID'],
      ]);
    } finally {
      await forged.done();
    }
  });

  it('leaves a corrupted delta out, flags its committer, and refuses to sign', async () => {
    const r = await round(async (i, c, stores) => {
      if (i === 2) {
        // the third party's stored object is altered after its commitment (one bit)
        const sealed = Buffer.from(await stores[2]!.get(c.storageKey));
        sealed[sealed.length - 5]! ^= 1;
        await stores[2]!.put(c.storageKey, sealed);
      }
      return c;
    });
    try {
      const me = r.me(T0);
      const outcome = await me.aggregate(key, parties, r.utxo, deltaOf(0));
      expect(outcome.flagged).toEqual([parties[2]]);
      expect(outcome.unreadable.map((u) => u.code)).toEqual(['STORAGE_HASH_MISMATCH']);
      expect(me.willSign(outcome)).toBe(false);
      const recorded = await r.log.readStream(partyStream(key.cohortId, parties[0]!));
      const aggregate = recorded.find((e) => e.type === 'training.AggregateComputed');
      expect(aggregate?.data).toMatchObject({
        contributors: [parties[0], parties[1]],
        computedBy: parties[0],
      });
      expect(recorded.filter((e) => e.type === 'training.ContributionScored')).toHaveLength(2);
    } finally {
      await r.done();
    }
  });

  it("waits out a peer's store that is gone for a while (its folder moved away and back)", async () => {
    const r = await round();
    try {
      const peerRoot = r.stores[1]!.root;
      await rename(peerRoot, `${peerRoot}.away`);
      const retries: StorageRetryInfo[] = [];
      const me = r.me(T0, {
        peerReads: {
          backoff: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 },
          // the test drives time: the outage ends when the reader's first retry waits
          retryClock: {
            random: () => 0.5,
            sleep: async () => {
              if (retries.length === 1) await rename(`${peerRoot}.away`, peerRoot);
            },
          },
          onRetry: (info) => retries.push(info),
        },
      });
      const outcome = await me.aggregate(key, parties, r.utxo, deltaOf(0));
      expect(retries).toHaveLength(1);
      expect((retries[0]!.error as { code?: string }).code).toBe('STORAGE_UNREACHABLE');
      expect(outcome.unreadable).toEqual([]);
      expect(outcome.scores).toHaveLength(3);
    } finally {
      await r.done();
    }
  });

  it('still refuses a round where a party did not commit', async () => {
    const r = await round();
    try {
      await expect(r.me(T0).aggregate(key, parties, {}, deltaOf(0))).rejects.toThrow('no commitment from');
    } finally {
      await r.done();
    }
  });
});

describe('participant: the cohort delta encoding', () => {
  const trained = makeDelta([
    { name: 'fc1.lora_B', shape: [2, 2], values: Float32Array.from([0.123, -0.777, 0.5, 0.001]) },
  ]);
  const trainingLearner: Learner = {
    ...scoringLearner,
    train: async () => ({ delta: trained, sampleCount: 10, metrics: { loss: 0.5, accuracy: 0.8 } }),
  };

  it.each(['f32', 'q8'] as const)(
    'with %s, commits the delta so encoded and aggregates the values its peers decode',
    async (encoding) => {
      const r = await round();
      try {
        const me = r.me(new Date(T0.getTime() + 60_000), {
          learner: trainingLearner,
          deltaEncoding: encoding,
        });
        const posted: DeltaCommitmentDatum[] = [];
        const seat = {
          post: async (d: DeltaCommitmentDatum) => {
            posted.push(d);
            return { txId: 'ef'.repeat(32), snapshotNumber: 1 };
          },
        } as unknown as HeadSeat;
        const commitment = await me.commit(seat, key, deltaOf(0));
        expect(posted).toEqual([commitment]);
        const sent = withDeltaEncoding(trained, encoding);
        // what is stored (sealed) is the encoded delta: version 1 for f32, 2 for q8
        const stored = await r.content(0).get(commitment.storageKey, commitment.deltaHash);
        expect(stored[4]).toBe(encoding === 'q8' ? 2 : 1);
        expect(hashDelta(decodeDelta(stored))).toBe(hashDelta(sent));
        expect(deltaEncodingOf(decodeDelta(stored))).toBe(encoding);
        r.utxo[`${'0'.repeat(63)}0#0`] = {
          address: 'addr_test1vz',
          value: { lovelace: 2_000_000 },
          inlineDatumRaw: encodeRoundDatum(commitment),
        };
        const outcome = await me.aggregate(key, parties, r.utxo, deltaOf(0));
        expect(outcome.unreadable).toEqual([]);
        const expected = aggregateDeltas(
          { kind: 'fedavg' },
          [sent, deltaOf(1), deltaOf(2)].map((delta, i) => ({
            partyId: parties[i]!,
            sampleCount: 10,
            delta,
          })),
        );
        expect(outcome.aggregateHash).toBe(expected.hash);
        const raw = aggregateDeltas(
          { kind: 'fedavg' },
          [trained, deltaOf(1), deltaOf(2)].map((delta, i) => ({
            partyId: parties[i]!,
            sampleCount: 10,
            delta,
          })),
        );
        // q8 is lossy on these values: the aggregate is of what was uploaded, not of the raw delta
        if (encoding === 'q8') expect(outcome.aggregateHash).not.toBe(raw.hash);
        else expect(outcome.aggregateHash).toBe(raw.hash);
      } finally {
        await r.done();
      }
    },
  );
});
