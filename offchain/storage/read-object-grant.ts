import { DmlError } from '../errors.js';
import { readLocalGrant } from './local-folder-store.js';
import type { ObjectGrant } from './object-store.js';
import { type BackoffPolicy, type RetryClock, retryWithBackoff } from './retry.js';

/**
 * Follows a read grant a peer published: an `http(s)` presigned S3 GET URL, or a signed `file:`
 * URL of a local folder store. An expired link fails with `STORAGE_LINK_EXPIRED`, a link the
 * server refuses with `STORAGE_LINK_REJECTED`; network failures and 5xx are retried with backoff.
 */
export const readObjectGrant = async (
  grant: ObjectGrant,
  options: { readonly now?: Date; readonly backoff?: BackoffPolicy; readonly retryClock?: RetryClock } = {},
): Promise<Buffer> => {
  const now = options.now ?? new Date();
  const url = new URL(grant.url);
  if (url.protocol === 'file:') return readLocalGrant(grant, now);
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
      policy: options.backoff,
      clock: options.retryClock,
      isRetryable: (error) => error instanceof DmlError && error.code !== 'STORAGE_LINK_INVALID',
    },
  );
  if (response.ok) return Buffer.from(await response.arrayBuffer());

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
