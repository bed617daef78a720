import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import {
  backoffDelayMs,
  backoffPatienceMs,
  describeStorageRetry,
  retryWithBackoff,
  type RetryClock,
} from './retry.js';
import type { SdkError } from '@smithy/types';
import { JitteredRetryStrategy } from './s3-retry-strategy.js';

const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };

/** A clock that records waits instead of sleeping. */
const recordingClock = (random: () => number = () => 0.5): RetryClock & { waits: number[] } => {
  const waits: number[] = [];
  return { waits, random, sleep: async (ms) => void waits.push(ms) };
};

describe('backoffDelayMs', () => {
  it('waits a random time up to base * 2^(retry-1), capped', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (retry, r) => {
          const delay = backoffDelayMs(policy, retry, () => r);
          const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(ceiling);
          expect(delay).toBe(Math.floor(r * ceiling));
        },
      ),
    );
  });

  it('spreads clients out (full jitter)', () => {
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(0);
    expect(backoffDelayMs(policy, 3, () => 0.999)).toBe(399);
    expect(backoffDelayMs(policy, 10, () => 0.999)).toBe(999);
  });
});

describe('retryWithBackoff', () => {
  it('retries transient failures with growing waits until it succeeds', async () => {
    const clock = recordingClock(() => 0.999);
    let calls = 0;
    const result = await retryWithBackoff(
      async (attempt) => {
        calls += 1;
        if (attempt < 4) throw new Error('ECONNRESET');
        return 'done';
      },
      { policy, clock, isRetryable: () => true },
    );
    expect(result).toBe('done');
    expect(calls).toBe(4);
    expect(clock.waits).toEqual([99, 199, 399]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const clock = recordingClock();
    let calls = 0;
    await expect(
      retryWithBackoff(
        async () => {
          calls += 1;
          throw new Error(`failure ${calls}`);
        },
        { policy, clock, isRetryable: () => true },
      ),
    ).rejects.toThrow('failure 5');
    expect(clock.waits).toHaveLength(4);
  });

  it('does not retry what is not retryable', async () => {
    const clock = recordingClock();
    let calls = 0;
    await expect(
      retryWithBackoff(
        async () => {
          calls += 1;
          throw new Error('SignatureDoesNotMatch');
        },
        { policy, clock, isRetryable: () => false },
      ),
    ).rejects.toThrow('SignatureDoesNotMatch');
    expect(calls).toBe(1);
    expect(clock.waits).toEqual([]);
  });
});

describe('JitteredRetryStrategy (the S3 client hook)', () => {
  it('waits through the clock on transient errors and stops at maxAttempts', async () => {
    const clock = recordingClock(() => 0.5);
    const seen: number[] = [];
    const strategy = new JitteredRetryStrategy(
      { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
      clock,
      (r) => seen.push(r.retry),
    );
    const error = Object.assign(new Error('reset'), { $metadata: {} }) as SdkError;
    let token = await strategy.acquireInitialRetryToken();
    token = await strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT', error });
    expect(token.getRetryCount()).toBe(1);
    expect(token.getRetryDelay()).toBe(0);
    token = await strategy.refreshRetryTokenForRetry(token, { errorType: 'SERVER_ERROR', error });
    expect(token.getRetryCount()).toBe(2);
    await expect(strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT', error })).rejects.toBe(
      error,
    );
    expect(clock.waits).toEqual([50, 100]);
    expect(seen).toEqual([1, 2]);
  });

  it('never retries a client error (4xx)', async () => {
    const clock = recordingClock();
    const strategy = new JitteredRetryStrategy(policy, clock);
    const error = Object.assign(new Error('SignatureDoesNotMatch'), {
      name: 'SignatureDoesNotMatch',
      $metadata: {},
    }) as SdkError;
    await expect(
      strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(), {
        errorType: 'CLIENT_ERROR',
        error,
      }),
    ).rejects.toBe(error);
    expect(clock.waits).toEqual([]);
  });
});

describe('patience and progress of a retry policy', () => {
  it('the patience is the sum of the wait ceilings: attempts x backoff, capped', () => {
    expect(backoffPatienceMs({ maxAttempts: 1, baseDelayMs: 200, maxDelayMs: 5000 })).toBe(0);
    expect(backoffPatienceMs({ maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 5000 })).toBe(6200);
    expect(backoffPatienceMs({ maxAttempts: 10, baseDelayMs: 500, maxDelayMs: 30_000 })).toBe(
      500 + 1000 + 2000 + 4000 + 8000 + 16_000 + 30_000 + 30_000 + 30_000,
    );
  });

  it('says which attempt comes next and why, for errors from any realm', () => {
    const policy = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 5000 };
    // what the AWS SDK hands over when a connection is refused (not always an Error here)
    const sdkLike = { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9', name: 'Error' };
    expect(describeStorageRetry({ retry: 1, delayMs: 120, error: sdkLike }, policy)).toBe(
      'storage unreachable, retrying (attempt 2 of 6 in 120 ms): connect ECONNREFUSED 127.0.0.1:9',
    );
    expect(
      describeStorageRetry(
        { retry: 3, delayMs: 0, error: { code: 'ECONNRESET', message: 'socket hang up' } },
        policy,
      ),
    ).toBe('storage unreachable, retrying (attempt 4 of 6 in 0 ms): ECONNRESET: socket hang up');
    expect(
      describeStorageRetry(
        { retry: 1, delayMs: 5, error: new DmlError('STORAGE_UNREACHABLE', 'folder gone') },
        policy,
      ),
    ).toMatch(/: folder gone$/);
    expect(describeStorageRetry({ retry: 1, delayMs: 5, error: {} })).toMatch(/: unknown error$/);
  });
});
