import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DmlError } from '../errors.js';
import { checkObjectKey } from './object-key.js';
import type { GrantOptions, ObjectGrant, ObjectStore, PutOptions, StoredObjectInfo } from './object-store.js';
import { type BackoffPolicy, type RetryClock, DEFAULT_BACKOFF } from './retry.js';
import { JitteredRetryStrategy } from './s3-retry-strategy.js';

/**
 * An object store on any S3-compatible endpoint, addressed path-style (`ENDPOINT/BUCKET/KEY`):
 * the Storj gateway in production, OpenStack Swift's S3 API in the tests.
 *
 * - Objects of `multipartThresholdBytes` or more go up as a multipart upload
 *   (`@aws-sdk/lib-storage`): parts of `partBytes`, `partConcurrency` in flight at once. A
 *   multipart object becomes visible only when the upload is completed, so a failed upload is
 *   never a visible object; on failure the upload is aborted (its parts deleted), and what an
 *   abort could not reach (the server was gone) `abortIncompleteUploads` removes later.
 * - Every request, each part on its own, is retried on transient errors with full-jitter
 *   exponential backoff (`JitteredRetryStrategy`); 4xx errors fail at once.
 * - Errors become `DmlError`s that say what to do (wrong secret, missing bucket, unreachable
 *   endpoint, ...).
 */
export interface S3StoreConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
  /**
   * Objects of this size or more go multipart. Default 100 MiB (AWS's advice: multipart from
   * 100 MB), so a 64 MiB delta is one request, one Storj segment.
   */
  readonly multipartThresholdBytes?: number;
  /**
   * Default 64 MiB: Storj's segment size and its recommended part size (smaller parts make more
   * segments, slower and dearer). S3 and Swift want at least 5 MiB for every part but the last.
   */
  readonly partBytes?: number;
  /** Parts in flight at once; default 4. */
  readonly partConcurrency?: number;
  readonly backoff?: BackoffPolicy;
  readonly retryClock?: RetryClock;
  /** Hears about each retried request (tests use it). */
  readonly onRetry?: (info: { retry: number; delayMs: number; error: unknown }) => void;
  /** Milliseconds to establish a connection; default 5000. */
  readonly connectTimeoutMs?: number;
  /** Milliseconds a request may stay idle on its socket; default 60000. */
  readonly requestTimeoutMs?: number;
}

const MiB = 1024 * 1024;

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const NETWORK_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
];

const networkCode = (error: unknown, depth = 0): string | undefined => {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const e = error as AwsLikeError;
  if (e.code && NETWORK_CODES.includes(e.code)) return e.code;
  if (e.name === 'TimeoutError') return 'timeout';
  // The SDK wraps errors from another realm (e.g. a test VM) into a message.
  const inMessage = NETWORK_CODES.find((code) => e.message?.includes(code));
  return inMessage ?? networkCode(e.cause, depth + 1);
};

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3';
  readonly location: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly threshold: number;
  private readonly partBytes: number;
  private readonly partConcurrency: number;

  constructor(private readonly config: S3StoreConfig) {
    this.bucket = config.bucket;
    this.location = `s3://${config.bucket} at ${config.endpoint}`;
    this.threshold = config.multipartThresholdBytes ?? 100 * MiB;
    this.partBytes = Math.max(5 * MiB, config.partBytes ?? 64 * MiB);
    this.partConcurrency = Math.max(1, config.partConcurrency ?? 4);
    const backoff = config.backoff ?? DEFAULT_BACKOFF;
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: true,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      maxAttempts: backoff.maxAttempts,
      retryStrategy: new JitteredRetryStrategy(backoff, config.retryClock, config.onRetry),
      // S3-compatible gateways (Swift, older Storj gateways) do not all take the flexible
      // checksums newer SDKs add to every request; send them only where S3 requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Options of the SDK's Node HTTP handler (no direct import of @smithy/node-http-handler).
      requestHandler: {
        connectionTimeout: config.connectTimeoutMs ?? 5000,
        requestTimeout: config.requestTimeoutMs ?? 60000,
      },
    });
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (error) {
      const status = (error as AwsLikeError).$metadata?.httpStatusCode;
      if (status === 403) {
        // A HEAD response has no body, so no error code: ask again with a request that has one
        // (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied).
        try {
          await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }));
        } catch (detailed) {
          throw this.translate(detailed, 'check the bucket');
        }
      }
      if (status !== 404) throw this.translate(error, 'check the bucket');
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const name = (error as AwsLikeError).name;
      if (name !== 'BucketAlreadyOwnedByYou') throw this.translate(error, 'create the bucket');
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    checkObjectKey(key);
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (bytes.length < this.threshold) {
      const command = new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentLength: bytes.length,
      });
      const sha256 = options.sha256;
      if (sha256 !== undefined) {
        if (!/^[0-9a-f]{64}$/.test(sha256))
          throw new DmlError('STORAGE_BAD_HASH', `${JSON.stringify(sha256)} is not a lower-case hex SHA-256`);
        // SigV4 signs the payload's SHA-256 (x-amz-content-sha256); the signer hashes the body
        // unless the header is there. A content key's hash is that very value: one pass, not two.
        command.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> };
            if (request.headers) request.headers['x-amz-content-sha256'] = sha256;
            return next(args);
          },
          { step: 'build', name: 'dmlKnownPayloadSha256' },
        );
      }
      try {
        await this.client.send(command);
      } catch (error) {
        throw this.translate(error, `upload ${key}`);
      }
      return;
    }
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: bytes },
      partSize: this.partBytes,
      queueSize: this.partConcurrency,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      // lib-storage has tried to abort; if the server was unreachable, try once more.
      await this.abortIncompleteUploads(key).catch(() => undefined);
      throw this.translate(error, `upload ${key} (multipart, ${bytes.length} bytes)`);
    }
  }

  async get(key: string): Promise<Buffer> {
    checkObjectKey(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!response.Body) throw new DmlError('STORAGE_S3_ERROR', `the response for ${key} has no body`);
      return Buffer.from(await response.Body.transformToByteArray());
    } catch (error) {
      throw this.translate(error, `download ${key}`, key);
    }
  }

  async stat(key: string): Promise<StoredObjectInfo | undefined> {
    checkObjectKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: head.ContentLength ?? 0 };
    } catch (error) {
      if ((error as AwsLikeError).$metadata?.httpStatusCode === 404) return undefined;
      throw this.translate(error, `look up ${key}`);
    }
  }

  async list(prefix: string): Promise<StoredObjectInfo[]> {
    const found: StoredObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const item of page.Contents ?? [])
          if (item.Key) found.push({ key: item.Key, size: item.Size ?? 0 });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.translate(error, `list ${prefix || 'the bucket'}`);
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    checkObjectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if ((error as AwsLikeError).$metadata?.httpStatusCode === 404) return;
      throw this.translate(error, `delete ${key}`);
    }
  }

  /** A presigned GET URL (SigV4 query signature) valid for `expiresInSeconds` (at most 7 days). */
  async grantRead(key: string, options: GrantOptions): Promise<ObjectGrant> {
    checkObjectKey(key);
    const signedAt = options.signedAt ?? new Date();
    const expiresIn = Math.floor(options.expiresInSeconds);
    if (expiresIn < 1 || expiresIn > 604800)
      throw new DmlError('STORAGE_LINK_LIFETIME', `a presigned link lives 1 s to 7 days, not ${expiresIn} s`);
    const url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn,
      signingDate: signedAt,
    });
    return {
      url,
      expiresAt: new Date(Math.floor(signedAt.getTime() / 1000) * 1000 + expiresIn * 1000).toISOString(),
    };
  }

  /** Multipart uploads under `prefix` that were started and never completed or aborted. */
  async incompleteUploads(prefix: string): Promise<Array<{ key: string; uploadId: string }>> {
    try {
      const found: Array<{ key: string; uploadId: string }> = [];
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
        for (const u of page.Uploads ?? [])
          if (u.Key && u.UploadId) found.push({ key: u.Key, uploadId: u.UploadId });
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
      return found;
    } catch (error) {
      throw this.translate(error, `list incomplete uploads under ${prefix}`);
    }
  }

  /** Aborts every incomplete multipart upload under `prefix`, deleting its parts. Returns how many. */
  async abortIncompleteUploads(prefix: string): Promise<number> {
    const uploads = await this.incompleteUploads(prefix);
    for (const u of uploads) {
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.key, UploadId: u.uploadId }),
        );
      } catch (error) {
        if ((error as AwsLikeError).$metadata?.httpStatusCode !== 404)
          throw this.translate(error, `abort the upload of ${u.key}`);
      }
    }
    return uploads.length;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** Turns an SDK or network error into a `DmlError` a user can act on. */
  private translate(error: unknown, doing: string, key?: string): DmlError {
    if (error instanceof DmlError) return error;
    const e = (error ?? {}) as AwsLikeError;
    const name = e.name ?? e.Code ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const where = `${this.config.endpoint} (bucket ${this.bucket})`;
    const network = networkCode(error);
    if (network)
      return new DmlError('STORAGE_UNREACHABLE', `could not ${doing}: ${where} is unreachable (${network})`, {
        hint: 'check MY_S3_ENDPOINT and the network; the request was retried with backoff',
        cause: error,
      });
    if (name === 'SignatureDoesNotMatch')
      return new DmlError(
        'STORAGE_AUTH_FAILED',
        `could not ${doing}: ${where} rejected the request signature (SignatureDoesNotMatch): the secret access key is wrong`,
        { hint: 'check MY_S3_SECRET_ACCESS_KEY', cause: error },
      );
    if (name === 'InvalidAccessKeyId')
      return new DmlError(
        'STORAGE_AUTH_FAILED',
        `could not ${doing}: ${where} does not know the access key id (InvalidAccessKeyId)`,
        {
          hint: 'check MY_S3_ACCESS_KEY_ID',
          cause: error,
        },
      );
    if (name === 'NoSuchBucket')
      return new DmlError(
        'STORAGE_BUCKET_MISSING',
        `could not ${doing}: bucket ${this.bucket} does not exist at ${this.config.endpoint}`,
        {
          hint: 'check MY_BUCKET, or create the bucket',
          cause: error,
        },
      );
    if (name === 'BadDigest' || name === 'XAmzContentSHA256Mismatch')
      return new DmlError(
        'STORAGE_UPLOAD_CORRUPTED',
        `could not ${doing}: ${where} received bytes that do not match their signed SHA-256 (${name}); nothing was stored`,
        { hint: 'the bytes were altered on the way (or in memory); retry the upload', cause: error },
      );
    if (name === 'NoSuchKey' || (status === 404 && key !== undefined))
      return new DmlError('STORAGE_NOT_FOUND', `no object ${key ?? ''} in ${where}`, { cause: error });
    if (name === 'AccessDenied' || status === 403)
      return new DmlError('STORAGE_ACCESS_DENIED', `could not ${doing}: ${where} denied access (${name})`, {
        hint: 'check that the S3 credential may read and write MY_BUCKET',
        cause: error,
      });
    return new DmlError(
      'STORAGE_S3_ERROR',
      `could not ${doing} at ${where}: ${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? ''}`.trim(),
      { cause: error },
    );
  }
}
