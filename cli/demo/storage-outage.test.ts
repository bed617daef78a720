// The storage-outage fault (issue 8), on the embedded default: a party's store folder disappears
// (what an unmounted or moved mount point looks like: its folders are gone) while the party
// uploads its delta; the store retries with backoff, saying so; the folder comes back; the round
// completes with every party's acknowledgement and no partial object left. The same fault against
// a real S3 server (Swift behind a cut TCP proxy) is storage-outage.services.test.ts.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFolderStore, type StorageRetryInfo, describeStorageRetry } from '../../offchain/index.js';
import { runRoundOverStores } from './fixtures/round-over-stores.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('storage outage: a party’s store folder is gone for a while during its upload', () => {
  it('retries, says so, and the round completes when the folder is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-outage-'));
    dirs.push(dir);
    const policy = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 2000 };
    const progress: string[] = [];
    const roots = [0, 1, 2].map((i) => join(dir, `party-${i + 1}`));
    let outage: { root: string; retries: StorageRetryInfo[] } | undefined;
    const stores = await Promise.all(
      roots.map((root, i) =>
        LocalFolderStore.open(root, {
          backoff: policy,
          retryClock: {
            random: () => 0.5,
            // The test drives time: the mount comes back while the store waits for its third try.
            sleep: async () => {
              if (outage && outage.retries.length === 2) {
                await rename(`${outage.root}.unmounted`, outage.root);
                outage = undefined;
              }
            },
          },
          onRetry: (info) => {
            outage?.retries.push(info);
            progress.push(`party ${i + 1}: ${describeStorageRetry(info, policy)}`);
          },
        }),
      ),
    );
    const retries: StorageRetryInfo[] = [];
    const result = await runRoundOverStores({
      dir,
      stores,
      beforeCommit: async (i) => {
        if (i !== 1) return;
        await rename(roots[1]!, `${roots[1]!}.unmounted`);
        outage = { root: roots[1]!, retries };
      },
    });
    expect(outage).toBeUndefined(); // the folder came back
    expect(retries.map((r) => r.retry)).toEqual([1, 2]);
    expect(progress).toEqual([
      expect.stringMatching(
        /^party 2: storage unreachable, retrying \(attempt 2 of 6 in 100 ms\): the store folder .*party-2 is not reachable/,
      ),
      expect.stringMatching(/^party 2: storage unreachable, retrying \(attempt 3 of 6 in 200 ms\)/),
    ]);
    // every party read every delta, agreed on one aggregate, and acknowledged it in the head
    for (const o of result.outcomes) expect(o.unreadable).toEqual([]);
    expect(new Set(result.outcomes.map((o) => o.aggregateHash)).size).toBe(1);
    expect(result.acknowledgements.map((a) => a.party).sort()).toEqual([...result.partyIds].sort());
    expect(new Set(result.acknowledgements.map((a) => a.aggregateHash))).toEqual(
      new Set([result.outcomes[0]!.aggregateHash]),
    );
    for (const types of result.recorded.values())
      expect(types).toEqual(expect.arrayContaining(['training.DeltaCommitted', 'training.SnapshotSigned']));
    // each party's store holds its one delta, whole, and no write in progress
    for (const [i, store] of stores.entries()) {
      const c = result.commitments[i]!;
      expect(await store.list('')).toEqual([{ key: c.storageKey, size: c.bytes }]);
      expect(await readdir(join(roots[i]!, 'tmp'))).toEqual([]);
      expect(c.readGrant?.url).toMatch(/^file:/);
    }
  }, 300_000);
});
