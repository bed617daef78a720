/**
 * The S3 store against the real OpenStack Swift S3 API that .ci/run starts
 * (`bash .ci/services/swift.sh start && eval "$(bash .ci/services/swift.sh env)"`).
 * Swift is shared: every bucket here has a random name and is removed afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DmlError } from '../errors.js';
import { EncryptedContentStore } from './encrypted-content-store.js';
import { CuttableTcpProxy } from './fixtures/cuttable-tcp-proxy.js';
import { describeObjectStoreBehaviour, expectDmlError, TEST_SCRYPT } from './object-store.behaviour.js';
import { S3ObjectStore, type S3StoreConfig } from './s3-object-store.js';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: start Swift with .ci/services/swift.sh start and eval "$(.ci/services/swift.sh env)"`,
    );
  return value;
};

const swiftConfig = (bucket: string, overrides: Partial<S3StoreConfig> = {}): S3StoreConfig => ({
  endpoint: required('S3_ENDPOINT'),
  region: process.env.S3_REGION ?? 'us-east-1',
  accessKeyId: required('S3_ACCESS_KEY_ID'),
  secretAccessKey: required('S3_SECRET_ACCESS_KEY'),
  bucket,
  ...overrides,
});

const buckets: string[] = [];
const newBucket = (): string => {
  const bucket = `dml-storage-test-${randomUUID().slice(0, 12)}`;
  buckets.push(bucket);
  return bucket;
};

/** Empties and deletes every bucket this file made. */
afterAll(async () => {
  if (buckets.length === 0) return;
  for (const bucket of buckets) {
    const store = new S3ObjectStore(swiftConfig(bucket));
    try {
      await store.abortIncompleteUploads('');
      for (const o of await store.list('')) await store.delete(o.key);
      await store.client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch {
      // best effort: a test that failed early may not have created its bucket
    } finally {
      await store.close();
    }
  }
});

/** Names of the S3 commands the behaviour suite's store sent. */
const commandsSent: string[] = [];

describeObjectStoreBehaviour(
  'S3 on OpenStack Swift',
  async () => {
    // The 40 MB multipart object: below the default threshold (100 MiB), so say so.
    const store = new S3ObjectStore(
      swiftConfig(newBucket(), { multipartThresholdBytes: 16 * 1024 * 1024, partBytes: 8 * 1024 * 1024 }),
    );
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        commandsSent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommandNames' },
    );
    await store.ensureBucket();
    return store;
  },
  { largeObjectBytes: 40 * 1024 * 1024 },
);

describe('S3ObjectStore on OpenStack Swift', () => {
  it('sent the 40 MB object as a multipart upload with several parts', () => {
    expect(commandsSent).toContain('CreateMultipartUploadCommand');
    expect(commandsSent.filter((c) => c === 'UploadPartCommand').length).toBeGreaterThanOrEqual(5);
    expect(commandsSent).toContain('CompleteMultipartUploadCommand');
  });

  it('rejects a wrong secret with SignatureDoesNotMatch, without retrying', async () => {
    const bucket = newBucket();
    const good = new S3ObjectStore(swiftConfig(bucket));
    await good.ensureBucket();
    await good.put('k', Buffer.from('v'));
    const retries: number[] = [];
    const bad = new S3ObjectStore(
      swiftConfig(bucket, { secretAccessKey: 'not-the-secret', onRetry: (r) => retries.push(r.retry) }),
    );
    try {
      const error = await expectDmlError(bad.get('k'), 'STORAGE_AUTH_FAILED', /SignatureDoesNotMatch/);
      expect(error.hint).toMatch(/MY_S3_SECRET_ACCESS_KEY/);
      await expectDmlError(bad.ensureBucket(), 'STORAGE_AUTH_FAILED', /SignatureDoesNotMatch/);
      await expectDmlError(bad.put('k2', Buffer.from('v')), 'STORAGE_AUTH_FAILED', /SignatureDoesNotMatch/);
      expect(retries).toEqual([]);
      expect(await good.list('')).toEqual([{ key: 'k', size: 1 }]);
    } finally {
      await good.close();
      await bad.close();
    }
  });

  it('signs a sealed single-request upload with its content hash; the server refuses other bytes', async () => {
    const store = new S3ObjectStore(swiftConfig(newBucket()));
    const signed: Array<{ command: string; sha256: string | undefined }> = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        signed.push({ command: context.commandName ?? '?', sha256: headers['x-amz-content-sha256'] });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordPayloadHash' },
    );
    try {
      await store.ensureBucket();
      const content = new EncryptedContentStore(store, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
      signed.length = 0;
      const ref = await content.put(randomBytes(3 * 1024 * 1024));
      expect(signed).toEqual([{ command: 'PutObjectCommand', sha256: ref.sha256 }]);
      expect(await store.stat(ref.key)).toEqual({ key: ref.key, size: ref.size });
      // Bytes that do not hash to the declared SHA-256 (altered on the way): nothing is stored.
      const body = randomBytes(1000);
      const other = createHash('sha256').update(randomBytes(1000)).digest('hex');
      await expectDmlError(
        store.put('d/altered', body, { sha256: other }),
        'STORAGE_UPLOAD_CORRUPTED',
        /nothing was stored/,
      );
      expect(await store.stat('d/altered')).toBeUndefined();
      await expectDmlError(store.put('d/bad', body, { sha256: 'ABC' }), 'STORAGE_BAD_HASH');
    } finally {
      await store.close();
    }
  });

  it('names a missing bucket clearly', async () => {
    const store = new S3ObjectStore(swiftConfig(`dml-missing-${randomUUID().slice(0, 12)}`));
    try {
      await expectDmlError(store.put('k', Buffer.from('v')), 'STORAGE_BUCKET_MISSING', /does not exist/);
    } finally {
      await store.close();
    }
  });

  describe('through a connection that is cut in the middle of an upload', () => {
    let proxy: CuttableTcpProxy;
    beforeAll(async () => {
      const target = new URL(required('S3_ENDPOINT'));
      proxy = await CuttableTcpProxy.start({ host: target.hostname, port: Number(target.port || 80) });
    });
    afterAll(async () => {
      await proxy?.close();
    });

    const storeThroughProxy = async (
      overrides: Partial<S3StoreConfig>,
    ): Promise<{ store: S3ObjectStore; direct: S3ObjectStore }> => {
      const bucket = newBucket();
      const direct = new S3ObjectStore(swiftConfig(bucket));
      await direct.ensureBucket();
      const store = new S3ObjectStore(
        swiftConfig(bucket, {
          endpoint: proxy.endpoint,
          multipartThresholdBytes: 6 * 1024 * 1024,
          partBytes: 5 * 1024 * 1024,
          partConcurrency: 2,
          ...overrides,
        }),
      );
      return { store, direct };
    };

    it('retries the multipart upload once the server is back, and stores the object exactly once', async () => {
      await proxy.restore();
      const retries: Array<{ retry: number; error: unknown }> = [];
      const { store, direct } = await storeThroughProxy({
        backoff: { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 500 },
        // The server comes back when the client starts retrying.
        onRetry: (info) => {
          retries.push(info);
          void proxy.restore();
        },
      });
      const content = new EncryptedContentStore(store, {
        prefix: 'deltas',
        passphrase: 'pass phrase',
        scrypt: TEST_SCRYPT,
      });
      try {
        const plaintext = randomBytes(12 * 1024 * 1024);
        const cutsBefore = proxy.cuts;
        proxy.cutAfterUpstreamBytes(3 * 1024 * 1024);
        const ref = await content.put(plaintext);
        expect(proxy.cuts).toBe(cutsBefore + 1);
        expect(retries.length).toBeGreaterThanOrEqual(1);
        expect(await direct.list('')).toEqual([{ key: ref.key, size: ref.size }]);
        expect(await direct.incompleteUploads('')).toEqual([]);
        const readBack = new EncryptedContentStore(direct, { prefix: 'deltas', passphrase: 'pass phrase' });
        expect((await readBack.get(ref.key, ref.sha256)).equals(plaintext)).toBe(true);
      } finally {
        await store.close();
        await direct.close();
      }
    });

    it('retries a single-request upload cut mid-body', async () => {
      await proxy.restore();
      const { store, direct } = await storeThroughProxy({
        backoff: { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 500 },
        onRetry: () => void proxy.restore(),
      });
      try {
        const body = randomBytes(2 * 1024 * 1024);
        proxy.cutAfterUpstreamBytes(512 * 1024);
        const cutsBefore = proxy.cuts;
        await store.put('small', body);
        expect(proxy.cuts).toBe(cutsBefore + 1);
        expect((await direct.get('small')).equals(body)).toBe(true);
      } finally {
        await store.close();
        await direct.close();
      }
    });

    it('retries a sealed single-request upload cut mid-body, then leaves nothing when the server stays away', async () => {
      await proxy.restore();
      const { store, direct } = await storeThroughProxy({
        backoff: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
        onRetry: () => void proxy.restore(),
      });
      const content = new EncryptedContentStore(store, {
        prefix: 'deltas',
        passphrase: 'p',
        scrypt: TEST_SCRYPT,
      });
      const readBack = new EncryptedContentStore(direct, { prefix: 'deltas', passphrase: 'p' });
      try {
        const plaintext = randomBytes(2 * 1024 * 1024);
        const cutsBefore = proxy.cuts;
        proxy.cutAfterUpstreamBytes(512 * 1024);
        const ref = await content.put(plaintext);
        expect(proxy.cuts).toBe(cutsBefore + 1);
        expect((await readBack.get(ref.key, ref.sha256)).equals(plaintext)).toBe(true);
      } finally {
        await store.close();
        await direct.close();
      }
      const { store: gone, direct: goneDirect } = await storeThroughProxy({
        backoff: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 50 },
      });
      const failing = new EncryptedContentStore(gone, {
        prefix: 'deltas',
        passphrase: 'p',
        scrypt: TEST_SCRYPT,
      });
      try {
        proxy.cutAfterUpstreamBytes(512 * 1024);
        await expectDmlError(failing.put(randomBytes(2 * 1024 * 1024)), 'STORAGE_UNREACHABLE');
        await proxy.restore();
        expect(await goneDirect.list('')).toEqual([]);
        // The hashing thread was released: the next put works.
        const ref = await failing.put(Buffer.from('after the failure'));
        expect((await goneDirect.get(ref.key)).length).toBe(ref.size);
        expect((await failing.get(ref.key, ref.sha256)).toString()).toBe('after the failure');
      } finally {
        await gone.close();
        await goneDirect.close();
      }
    });

    it('leaves no object when the server stays away, and no parts once it is back', async () => {
      await proxy.restore();
      const { store, direct } = await storeThroughProxy({
        backoff: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
      });
      const content = new EncryptedContentStore(store, {
        prefix: 'deltas',
        passphrase: 'pass phrase',
        scrypt: TEST_SCRYPT,
      });
      try {
        proxy.cutAfterUpstreamBytes(3 * 1024 * 1024);
        const error = await content.put(randomBytes(12 * 1024 * 1024)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DmlError);
        expect((error as DmlError).code).toBe('STORAGE_UNREACHABLE');
        expect((error as DmlError).message).toMatch(/unreachable \((ECONNREFUSED|ECONNRESET|EPIPE)\)/);
        await proxy.restore();
        // No object is visible: a multipart object exists only once completed.
        expect(await direct.list('')).toEqual([]);
        // The same for a single-request upload cut mid-body.
        proxy.cutAfterUpstreamBytes(512 * 1024);
        await expectDmlError(store.put('deltas/single', randomBytes(2 * 1024 * 1024)), 'STORAGE_UNREACHABLE');
        await proxy.restore();
        expect(await direct.list('')).toEqual([]);
        // Parts the failed abort could not reach are swept once the server is back.
        await direct.abortIncompleteUploads('deltas/');
        expect(await direct.incompleteUploads('')).toEqual([]);
        expect(await direct.list('')).toEqual([]);
      } finally {
        await store.close();
        await direct.close();
      }
    });
  });
});
