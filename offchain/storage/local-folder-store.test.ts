import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalFolderStore } from './local-folder-store.js';
import { describeObjectStoreBehaviour, expectDmlError } from './object-store.behaviour.js';
import { readObjectGrant } from './read-object-grant.js';
import { type StorageRetryInfo, backoffPatienceMs, describeStorageRetry } from './retry.js';
import { withinBound } from '../testing/index.js';

const roots: string[] = [];
const freshRoot = async (): Promise<string> => {
  const root = await mkdtemp(join(tmpdir(), 'dml-local-store-'));
  roots.push(root);
  return root;
};
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

describeObjectStoreBehaviour('local folder', async () => LocalFolderStore.open(await freshRoot()), {
  largeObjectBytes: 40 * 1024 * 1024,
});

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const crashWriter = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));

/** Runs the crash writer until it is 2 MiB into the put, then kills it with SIGKILL. */
const crashMidPut = async (root: string, key: string, size: number): Promise<void> => {
  const child = spawn(process.execPath, ['--import', 'tsx', crashWriter, root, key, String(size)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  const bound = { detail: () => `stderr: ${stderr}`, onTimeout: () => child.kill('SIGKILL') };
  await withinBound(
    new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('paused')) resolve();
      });
      void exited.then((how) =>
        reject(new Error(`crash writer exited (${String(how)}) before pausing: ${stderr}`)),
      );
    }),
    60_000,
    'the crash writer pausing mid-put',
    bound,
  );
  child.kill('SIGKILL');
  expect(await withinBound(exited, 60_000, 'the killed crash writer exiting', bound)).toBe('SIGKILL');
};

describe('LocalFolderStore', () => {
  it('shows no partial object after a crash in the middle of a put, and keeps the previous version', async () => {
    const root = await freshRoot();
    const store = await LocalFolderStore.open(root);
    await store.put('deltas/old', Buffer.from('previous version'));
    await crashMidPut(root, 'deltas/new', 8 * 1024 * 1024);
    await crashMidPut(root, 'deltas/old', 8 * 1024 * 1024);

    const reopened = await LocalFolderStore.open(root);
    expect(await reopened.list('')).toEqual([{ key: 'deltas/old', size: 16 }]);
    expect(await reopened.get('deltas/old')).toEqual(Buffer.from('previous version'));
    expect(await reopened.stat('deltas/new')).toBeUndefined();
    await expectDmlError(reopened.get('deltas/new'), 'STORAGE_NOT_FOUND');
    // The partial writes are on disk, but only under tmp/, which nothing lists...
    const leftovers = await readdir(join(root, 'tmp'));
    expect(leftovers).toHaveLength(2);
    for (const name of leftovers)
      expect((await stat(join(root, 'tmp', name))).size).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    // ...and they are swept once old enough.
    expect(await reopened.removeStaleTemporaries(3600_000)).toBe(0);
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    for (const name of leftovers) await utimes(join(root, 'tmp', name), longAgo, longAgo);
    expect(await reopened.removeStaleTemporaries(3600_000)).toBe(2);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('leaves nothing behind when a put fails', async () => {
    const root = await freshRoot();
    const store = await LocalFolderStore.open(root, {
      writeChunkBytes: 1024,
      onWriteProgress: (_key, written) => {
        if (written >= 4096) throw new Error('disk full');
      },
    });
    await expect(store.put('a/b', Buffer.alloc(10_000))).rejects.toThrow('disk full');
    expect(await store.list('')).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('writes objects and the grant key readable by the owner only', async () => {
    const root = await freshRoot();
    const store = await LocalFolderStore.open(root);
    await store.put('k', Buffer.from('x'));
    expect((await stat(join(root, 'objects', 'k'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'grant.key'))).mode & 0o777).toBe(0o600);
  });

  it('refuses a read link whose signature or store does not match', async () => {
    const store = await LocalFolderStore.open(await freshRoot());
    const other = await LocalFolderStore.open(await freshRoot());
    await store.put('a/one', Buffer.from('1'));
    await store.put('a/two', Buffer.from('2'));
    const grant = await store.grantRead('a/one', { expiresInSeconds: 60 });
    // Pointing the link at another object of the same store.
    const swapped = grant.url.replace('/a/one?', '/a/two?');
    await expectDmlError(readObjectGrant({ ...grant, url: swapped }), 'STORAGE_LINK_INVALID', /signature/);
    // Claiming another store signed it.
    const url = new URL(grant.url);
    url.searchParams.set('dml-root', other.root);
    await expectDmlError(readObjectGrant({ ...grant, url: url.toString() }), 'STORAGE_LINK_INVALID');
    // Valid until the clock passes its expiry.
    expect(await readObjectGrant(grant, { now: new Date(Date.parse(grant.expiresAt) - 1000) })).toEqual(
      Buffer.from('1'),
    );
    await expectDmlError(readObjectGrant(grant, { now: new Date(grant.expiresAt) }), 'STORAGE_LINK_EXPIRED');
  });
});

describe('local folder store: the folder unreachable for a while (a mount that disappears)', () => {
  const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 400 };

  it('retries a put while the folder is gone and completes when it is back, saying so', async () => {
    const root = await freshRoot();
    const retries: StorageRetryInfo[] = [];
    const waits: number[] = [];
    const store = await LocalFolderStore.open(root, {
      backoff: policy,
      retryClock: {
        random: () => 0.5,
        // The test drives time: the folder comes back during the second wait.
        sleep: async (ms) => {
          waits.push(ms);
          if (waits.length === 2) await rename(`${root}.away`, root);
        },
      },
      onRetry: (info) => retries.push(info),
    });
    await rename(root, `${root}.away`); // what an unmounted file system looks like to the store
    await store.put('deltas/a/k', Buffer.from('the delta'));
    expect(retries.map((r) => r.retry)).toEqual([1, 2]);
    expect(waits).toEqual([50, 100]);
    expect(describeStorageRetry(retries[0]!, policy)).toMatch(
      /^storage unreachable, retrying \(attempt 2 of 4 in 50 ms\): the store folder .* is not reachable/,
    );
    expect((await store.get('deltas/a/k')).toString()).toBe('the delta');
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('gives up after its patience with STORAGE_UNREACHABLE, leaves nothing, and never rebuilds the store in the bare mount point', async () => {
    const root = await freshRoot();
    const store = await LocalFolderStore.open(root, {
      backoff: policy,
      retryClock: { random: () => 0.99, sleep: async () => undefined },
    });
    await rename(root, `${root}.away`);
    await expectDmlError(store.put('deltas/a/k', Buffer.from('x')), 'STORAGE_UNREACHABLE', /not reachable/);
    await expectDmlError(store.get('deltas/a/k'), 'STORAGE_UNREACHABLE');
    await expect(stat(root)).rejects.toThrow('ENOENT');
    await rename(`${root}.away`, root);
    expect(await store.list('')).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    // the ceiling of its waits: 100 + 200 + 400 ms
    expect(backoffPatienceMs(policy)).toBe(700);
  });

  it('does not retry what is not an outage: a missing object in a reachable store', async () => {
    const root = await freshRoot();
    let retried = 0;
    const store = await LocalFolderStore.open(root, { backoff: policy, onRetry: () => retried++ });
    await expectDmlError(store.get('deltas/none'), 'STORAGE_NOT_FOUND');
    expect(await store.stat('deltas/none')).toBeUndefined();
    expect(retried).toBe(0);
  });

  it("a peer's read through a file grant waits for the owner's folder too", async () => {
    const root = await freshRoot();
    const store = await LocalFolderStore.open(root);
    await store.put('deltas/b/k', Buffer.from('shared'));
    const grant = await store.grantRead('deltas/b/k', { expiresInSeconds: 60 });
    await rename(root, `${root}.away`);
    const retries: StorageRetryInfo[] = [];
    const bytes = await readObjectGrant(grant, {
      backoff: policy,
      retryClock: { random: () => 0, sleep: async () => rename(`${root}.away`, root) },
      onRetry: (info) => retries.push(info),
    });
    expect(bytes.toString()).toBe('shared');
    expect(retries).toHaveLength(1);
  });
});
