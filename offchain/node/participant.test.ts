import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeDelta, makeDelta, type Delta } from '../delta/index.js';
import { SqliteEventStore, partyStream } from '../events/index.js';
import { ed25519PublicKeyOfSeed } from '../ed25519.js';
import type { HydraUTxO } from '../hydra/index.js';
import { EncryptedContentStore, LocalFolderStore } from '../storage/index.js';
import type { Learner } from './learner.js';
import { Participant } from './participant.js';
import { encodeRoundDatum } from './round-datum.js';

const parties = ['aa'.repeat(28), 'bb'.repeat(28), 'cc'.repeat(28)];
const key = { cohortId: 'ab'.repeat(28), epoch: 1, round: 1 };
const deltaOf = (i: number): Delta =>
  makeDelta([{ name: 'fc1.lora_B', shape: [2, 2], values: Float32Array.from([i, 1, -i, 0.5]) }]);

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

describe('participant: a peer’s delta that does not check is flagged, not a crash', () => {
  it('leaves a corrupted delta out, flags its committer, and refuses to sign', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-participant-'));
    const objects = await LocalFolderStore.open(join(dir, 'storage'));
    const log = new SqliteEventStore(join(dir, 'events.sqlite'));
    try {
      const content = (party: string) =>
        new EncryptedContentStore(objects, {
          prefix: `deltas/${party}`,
          passphrase: 'cohort secret',
          scrypt: { log2N: 10, r: 1, p: 1 },
        });
      const utxo: HydraUTxO = {};
      for (const [i, party] of parties.entries()) {
        const ref = await content(party).put(encodeDelta(deltaOf(i)));
        if (i === 2) {
          // the third party's stored object is altered after its commitment (one bit)
          const sealed = Buffer.from(await objects.get(ref.key));
          sealed[sealed.length - 5]! ^= 1;
          await objects.put(ref.key, sealed);
        }
        utxo[`${'0'.repeat(63)}${i}#0`] = {
          address: 'addr_test1vz',
          value: { lovelace: 2_000_000 },
          inlineDatumRaw: encodeRoundDatum({
            kind: 'commitment',
            ...key,
            party,
            deltaHash: ref.sha256,
            storageKey: ref.key,
            sampleCount: 10,
            bytes: ref.size,
            metrics: { loss: 0.5, accuracy: 0.8 },
          }),
        };
      }
      const seed = new Uint8Array(randomBytes(32));
      const me = new Participant({
        identity: {
          id: parties[0]!,
          hydraSk: seed,
          hydraVk: Buffer.from(ed25519PublicKeyOfSeed(seed)).toString('hex'),
        },
        cohortId: key.cohortId,
        rule: { kind: 'fedavg' },
        learner: scoringLearner,
        content: content(parties[0]!),
        log,
      });
      const outcome = await me.aggregate(key, parties, utxo, deltaOf(0));
      expect(outcome.flagged).toEqual([parties[2]]);
      expect(me.willSign(outcome)).toBe(false);
      const recorded = await log.readStream(partyStream(key.cohortId, parties[0]!));
      const aggregate = recorded.find((e) => e.type === 'training.AggregateComputed');
      expect(aggregate?.data).toMatchObject({
        contributors: [parties[0], parties[1]],
        computedBy: parties[0],
      });
      expect(recorded.filter((e) => e.type === 'training.ContributionScored')).toHaveLength(2);
    } finally {
      await log.close();
      await objects.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('still refuses a round where a party did not commit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-participant-'));
    const objects = await LocalFolderStore.open(join(dir, 'storage'));
    const log = new SqliteEventStore(join(dir, 'events.sqlite'));
    try {
      const me = new Participant({
        identity: { id: parties[0]!, hydraSk: new Uint8Array(32), hydraVk: '00' },
        cohortId: key.cohortId,
        rule: { kind: 'fedavg' },
        learner: scoringLearner,
        content: new EncryptedContentStore(objects, { prefix: 'deltas/a', passphrase: 'x' }),
        log,
      });
      await expect(me.aggregate(key, parties, {}, deltaOf(0))).rejects.toThrow('no commitment from');
    } finally {
      await log.close();
      await objects.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
