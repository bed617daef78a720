/**
 * The storage-outage fault (issue 8) against a real S3 server: OpenStack Swift's S3 API
 * (`bash .ci/services/swift.sh start && eval "$(bash .ci/services/swift.sh env)"`), reached through
 * a TCP proxy this test cuts (connections destroyed, new ones refused) and restores, so the shared
 * Swift is never stopped. A round of real participants (small MNIST QLoRA model, embedded head),
 * each party with a bucket of its own; peers read through the presigned links in the commitments.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  S3ObjectStore,
  type S3StoreConfig,
  type StorageRetryInfo,
  describeStorageRetry,
} from '../../offchain/index.js';
import { CuttableTcpProxy } from '../../offchain/testing/index.js';
import { runRoundOverStores, type RoundOverStoresResult } from './fixtures/round-over-stores.js';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: start Swift with .ci/services/swift.sh start and eval "$(.ci/services/swift.sh env)"`,
    );
  return value;
};

const config = (endpoint: string, bucket: string, extra: Partial<S3StoreConfig> = {}): S3StoreConfig => ({
  endpoint,
  region: process.env.S3_REGION ?? 'us-east-1',
  accessKeyId: required('S3_ACCESS_KEY_ID'),
  secretAccessKey: required('S3_SECRET_ACCESS_KEY'),
  bucket,
  ...extra,
});

/** The retry policy of these stores: 8 attempts, waits up to 0.2, 0.4, 0.8, 1.6, 2, 2, 2 s. */
const policy = { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 2000 };

const buckets: string[] = [];
const dirs: string[] = [];
let proxy: CuttableTcpProxy;

beforeAll(async () => {
  const target = new URL(required('S3_ENDPOINT'));
  proxy = await CuttableTcpProxy.start({ host: target.hostname, port: Number(target.port || 80) });
});

afterAll(async () => {
  await proxy?.close();
  for (const bucket of buckets) {
    const store = new S3ObjectStore(config(required('S3_ENDPOINT'), bucket));
    try {
      await store.abortIncompleteUploads('');
      for (const o of await store.list('')) await store.delete(o.key);
      await store.client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch {
      // best effort: a test that failed early may not have made its bucket
    } finally {
      await store.close();
    }
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Three parties' stores, each its own bucket, all reached through the proxy; retries reported. */
const partyStores = async (onRetry: (party: number, info: StorageRetryInfo) => void) => {
  const suffix = randomUUID().slice(0, 8);
  const stores = [0, 1, 2].map((i) => {
    const bucket = `dml-outage-${suffix}-p${i + 1}`;
    buckets.push(bucket);
    return new S3ObjectStore(
      config(proxy.endpoint, bucket, {
        backoff: policy,
        connectTimeoutMs: 2000,
        onRetry: (info) => onRetry(i, info),
      }),
    );
  });
  for (const s of stores) await s.ensureBucket();
  return stores;
};

/** Every party read every delta, agreed, acknowledged in the head; one whole object per bucket. */
const expectCompletedRound = async (result: RoundOverStoresResult, stores: readonly S3ObjectStore[]) => {
  for (const o of result.outcomes) expect(o.unreadable).toEqual([]);
  expect(new Set(result.outcomes.map((o) => o.aggregateHash)).size).toBe(1);
  expect(result.acknowledgements.map((a) => a.party).sort()).toEqual([...result.partyIds].sort());
  for (const a of result.acknowledgements) expect(a.aggregateHash).toBe(result.outcomes[0]!.aggregateHash);
  for (const [i, store] of stores.entries()) {
    const c = result.commitments[i]!;
    expect(await store.list('')).toEqual([{ key: c.storageKey, size: c.bytes }]);
    expect(await store.incompleteUploads('')).toEqual([]);
    // peers read it through the presigned GET the owner published in its commitment
    expect(c.readGrant?.url).toMatch(
      new RegExp(`^${proxy.endpoint}/${buckets.at(-3 + i)}/deltas/.*X-Amz-Signature=`),
    );
  }
};

describe('storage outage against Swift: the object store is unreachable for a while', () => {
  it('an upload retries while the store is cut, saying so, and the round completes when it returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-outage-s3-'));
    dirs.push(dir);
    const progress: string[] = [];
    let cutting = false;
    const stores = await partyStores((party, info) => {
      progress.push(`party ${party + 1}: ${describeStorageRetry(info, policy)}`);
      // The test restores the store once the party's retry reported two failed attempts.
      if (cutting && progress.length === 2) {
        cutting = false;
        void proxy.restore();
      }
    });
    try {
      const result = await runRoundOverStores({
        dir,
        stores,
        beforeCommit: (i) => {
          if (i !== 1) return;
          proxy.cut(); // the gateway disappears just as party 2 is about to upload
          cutting = true;
        },
      });
      expect(proxy.isUp).toBe(true);
      expect(proxy.cuts).toBeGreaterThanOrEqual(1);
      expect(progress).toEqual([
        expect.stringMatching(
          /^party 2: storage unreachable, retrying \(attempt 2 of 8 in \d+ ms\): .*(ECONNREFUSED|ECONNRESET)/,
        ),
        expect.stringMatching(/^party 2: storage unreachable, retrying \(attempt 3 of 8 in \d+ ms\)/),
      ]);
      await expectCompletedRound(result, stores);
    } finally {
      for (const s of stores) await s.close();
    }
  }, 240_000);

  it("peers' reads through the presigned links retry while the store is cut", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-outage-s3-'));
    dirs.push(dir);
    const progress: string[] = [];
    let cutting = false;
    const report = (who: string, info: StorageRetryInfo) => {
      progress.push(`${who}: ${describeStorageRetry(info, policy)}`);
      if (cutting) {
        cutting = false;
        void proxy.restore();
      }
    };
    const stores = await partyStores((party, info) => report(`party ${party + 1} (own store)`, info));
    try {
      const result = await runRoundOverStores({
        dir,
        stores,
        beforeAggregate: () => {
          proxy.cut(); // every commitment is in the head; the parties now fetch the deltas
          cutting = true;
        },
        peerReads: { backoff: policy, onRetry: (info) => report('a peer read', info) },
      });
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress[0]).toMatch(/storage unreachable, retrying \(attempt 2 of 8/);
      await expectCompletedRound(result, stores);
    } finally {
      for (const s of stores) await s.close();
    }
  }, 240_000);
});
