/**
 * Retries with exponential backoff and full jitter: the n-th retry waits a uniformly random time
 * in [0, min(cap, base * 2^(n-1))] (the "full jitter" of Brooker, AWS Architecture Blog 2015), so
 * that many clients hit by one outage do not retry in lock step. Time and randomness are
 * injected: tests drive them, nothing here reads the clock.
 */
export interface BackoffPolicy {
  /** Attempts in all, the first one included (1 = no retry). */
  readonly maxAttempts: number;
  /** Upper bound of the first retry's wait, in milliseconds. */
  readonly baseDelayMs: number;
  /** No wait is longer than this, in milliseconds. */
  readonly maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 5000 };

export interface RetryClock {
  readonly sleep: (ms: number) => Promise<void>;
  /** A number in [0, 1). */
  readonly random: () => number;
}

export const realRetryClock: RetryClock = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** The wait before retry number `retry` (1 = the first retry). */
export const backoffDelayMs = (policy: BackoffPolicy, retry: number, random: () => number): number => {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
};

/**
 * Runs `operation` until it succeeds, `isRetryable` says no, or the attempts run out; then throws
 * the last error. `onRetry` hears about each retry before its wait.
 */
export const retryWithBackoff = async <T>(
  operation: (attempt: number) => Promise<T>,
  options: {
    readonly policy?: BackoffPolicy;
    readonly clock?: RetryClock;
    readonly isRetryable: (error: unknown) => boolean;
    readonly onRetry?: (info: { retry: number; delayMs: number; error: unknown }) => void;
  },
): Promise<T> => {
  const policy = options.policy ?? DEFAULT_BACKOFF;
  const clock = options.clock ?? realRetryClock;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !options.isRetryable(error)) throw error;
      const delayMs = backoffDelayMs(policy, attempt, clock.random);
      options.onRetry?.({ retry: attempt, delayMs, error });
      await clock.sleep(delayMs);
    }
  }
};

/**
 * The longest a policy waits in all before it gives up: the sum of every retry's wait ceiling
 * (full jitter draws each wait in [0, ceiling), so the expected total is about half of this).
 * The time the attempts themselves take (a refused connection: milliseconds; a dropped one: up
 * to the connect timeout) comes on top.
 */
export const backoffPatienceMs = (policy: BackoffPolicy): number => {
  let total = 0;
  for (let retry = 1; retry < policy.maxAttempts; retry++)
    total += Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return total;
};

/** What a store's retry reports: the attempt that failed, the wait before the next one, why. */
export interface StorageRetryInfo {
  readonly retry: number;
  readonly delayMs: number;
  readonly error: unknown;
}

/**
 * The progress line of a retry, e.g. "storage unreachable, retrying (attempt 2 of 6 in 350 ms):
 * connect ECONNREFUSED 127.0.0.1:9000" - so that an outage is visible, never silent.
 */
export const describeStorageRetry = (
  info: StorageRetryInfo,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): string => {
  return `storage unreachable, retrying (attempt ${info.retry + 1} of ${policy.maxAttempts} in ${info.delayMs} ms): ${describeCause(info.error)}`;
};

/** One line about an error, also from another realm (the SDK's errors are not always `Error`s here). */
const describeCause = (error: unknown): string => {
  if (typeof error === 'string') return error;
  if (typeof error !== 'object' || error === null) return String(error);
  const e = error as { message?: unknown; code?: unknown; name?: unknown; cause?: unknown };
  const message = typeof e.message === 'string' ? (e.message.split('\n')[0] ?? '') : '';
  if (e.name === 'DmlError' && message !== '') return message; // says it all, for a user
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : '';
  const line = message.includes(code) ? message : [code, message].filter((x) => x !== '').join(': ');
  if (line !== '') return line;
  return e.cause !== undefined ? describeCause(e.cause) : 'unknown error';
};
