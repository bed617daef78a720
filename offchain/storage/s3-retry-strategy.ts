import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';
import {
  type BackoffPolicy,
  type RetryClock,
  backoffDelayMs,
  DEFAULT_BACKOFF,
  realRetryClock,
} from './retry.js';

/**
 * The AWS SDK's retry hook with our backoff: every S3 request (each part of a multipart upload
 * on its own) is retried on transient errors (connection reset or refused, timeouts, 5xx,
 * throttling) after a full-jitter exponential wait; client errors (4xx: bad signature, missing
 * object) fail at once. The wait happens here, through the injected clock, so tests can drive it.
 */
export class JitteredRetryStrategy implements RetryStrategyV2 {
  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly clock: RetryClock = realRetryClock,
    private readonly onRetry?: (info: { retry: number; delayMs: number; error: unknown }) => void,
  ) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return token(0);
  }

  async refreshRetryTokenForRetry(previous: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retry = previous.getRetryCount() + 1;
    if (info.errorType === 'CLIENT_ERROR' || retry >= this.policy.maxAttempts)
      throw info.error ?? new Error('no retry');
    const delayMs = backoffDelayMs(this.policy, retry, this.clock.random);
    this.onRetry?.({ retry, delayMs, error: info.error });
    await this.clock.sleep(delayMs);
    return token(retry);
  }

  recordSuccess(): void {}
}

const token = (count: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
