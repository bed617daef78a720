import { DmlError } from '../errors.js';
import { readLocalGrant } from './local-folder-store.js';
import type { ObjectGrant } from './object-store.js';
import { type BackoffPolicy, type RetryClock, type StorageRetryInfo, retryWithBackoff } from './retry.js';

export interface ReadGrantOptions {
  /** The reader's time: a `file:` grant is checked against it (S3 checks its own clock). */
  readonly now?: Date;
  readonly backoff?: BackoffPolicy;
  readonly retryClock?: RetryClock;
  /** Hears about each retry before its wait (progress: "storage unreachable, retrying"). */
  readonly onRetry?: (info: StorageRetryInfo) => void;
  /** Refuse a body larger than this (a peer's link could name anything); checked before reading. */
  readonly maxBytes?: number;
}

const parseGrantUrl = (grant: ObjectGrant): URL => {
  try {
    return new URL(grant.url);
  } catch {
    throw new DmlError('STORAGE_LINK_INVALID', `the read link ${JSON.stringify(grant.url)} is not a URL`);
  }
};

/**
 * Whether a grant's link names the object `key`: the last segments of its path (an S3
 * path-style URL is `ENDPOINT/BUCKET/KEY`, a file grant `.../objects/KEY`). A peer's reader
 * checks this before following a link from a commitment, so a commitment cannot point peers at
 * some other URL under a key it does not name (the download's hash is checked anyway).
 */
export const grantNamesKey = (grant: ObjectGrant, key: string): boolean => {
  let path: string;
  try {
    path = decodeURIComponent(new URL(grant.url).pathname);
  } catch {
    return false;
  }
  return path.endsWith(`/${key}`);
};

/**
 * Follows a read grant a peer published: an `http(s)` presigned S3 GET URL, or a signed `file:`
 * URL of a local folder store. An expired link fails with `STORAGE_LINK_EXPIRED`, a link the
 * server refuses with `STORAGE_LINK_REJECTED`; network failures and 5xx are retried with backoff.
 */
export const readObjectGrant = async (
  grant: ObjectGrant,
  options: ReadGrantOptions = {},
): Promise<Buffer> => {
  const now = options.now ?? new Date();
  const url = parseGrantUrl(grant);
  const retry = {
    ...(options.backoff ? { policy: options.backoff } : {}),
    ...(options.retryClock ? { clock: options.retryClock } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  };
  if (url.protocol === 'file:') {
    // The owner's folder may be a mount that is gone for a while: retried like a network error.
    const bytes = await retryWithBackoff(() => readLocalGrant(grant, now), {
      ...retry,
      isRetryable: (error) => error instanceof DmlError && error.code === 'STORAGE_UNREACHABLE',
    });
    if (options.maxBytes !== undefined && bytes.length > options.maxBytes)
      throw new DmlError(
        'STORAGE_OBJECT_TOO_LARGE',
        `the object behind the read link is ${bytes.length} bytes, more than the ${options.maxBytes} expected`,
      );
    return bytes;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DmlError('STORAGE_LINK_INVALID', `cannot follow a ${url.protocol} read link: ${grant.url}`);
  const shown = `${url.origin}${url.pathname}`;

  const response = await retryWithBackoff(
    async () => {
      let res: Response;
      try {
        res = await fetch(url);
      } catch (cause) {
        throw new DmlError(
          'STORAGE_UNREACHABLE',
          `could not fetch ${shown}: ${String((cause as Error).cause ?? cause)}`,
          {
            cause,
          },
        );
      }
      if (res.status >= 500) {
        await res.arrayBuffer().catch(() => undefined);
        throw new DmlError('STORAGE_S3_ERROR', `${shown} answered HTTP ${res.status}`);
      }
      return res;
    },
    {
      ...retry,
      isRetryable: (error) => error instanceof DmlError && error.code !== 'STORAGE_LINK_INVALID',
    },
  );
  if (response.ok) {
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (options.maxBytes !== undefined && Number.isFinite(declared) && declared > options.maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw new DmlError(
        'STORAGE_OBJECT_TOO_LARGE',
        `${shown} serves ${declared} bytes, more than the ${options.maxBytes} expected`,
      );
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    if (options.maxBytes !== undefined && bytes.length > options.maxBytes)
      throw new DmlError(
        'STORAGE_OBJECT_TOO_LARGE',
        `${shown} served ${bytes.length} bytes, more than the ${options.maxBytes} expected`,
      );
    return bytes;
  }

  const body = await response.text().catch(() => '');
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? `HTTP ${response.status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? '';
  const expiredByClock = now.getTime() >= Date.parse(grant.expiresAt);
  // Trust the server's reason; the clock only explains a bare AccessDenied.
  const expired =
    /expired/i.test(message) || code === 'RequestExpired' || (code === 'AccessDenied' && expiredByClock);
  if (response.status === 403 && expired)
    throw new DmlError(
      'STORAGE_LINK_EXPIRED',
      `the read link for ${shown} expired at ${grant.expiresAt} (the server said: ${code}${message ? `, ${message}` : ''})`,
      { hint: "ask the object's owner for a fresh link" },
    );
  if (response.status === 404 || code === 'NoSuchKey')
    throw new DmlError('STORAGE_NOT_FOUND', `no object at ${shown} (${code})`);
  throw new DmlError(
    'STORAGE_LINK_REJECTED',
    `${shown} refused the read link: ${code}${message ? ` (${message})` : ''}`,
    { hint: 'the link was altered or its signer lost access' },
  );
};
