import { DmlError } from '../errors.js';
import { type NewDmlEvent, type StoredDmlEvent, checkStreamName, validateEvent } from './envelope.js';
import type { ReadValidation, ReplayedDmlEvent } from './read-check.js';

/**
 * What an append expects of its stream (optimistic concurrency):
 * - a number n >= 0: the stream's version is n (it holds n + 1 events);
 * - 'no_stream': the stream has no event yet;
 * - 'stream_exists': the stream has at least one event;
 * - 'any': no check.
 */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

export interface AppendResult {
  /** The stream's version after the append (the last event's streamVersion). */
  readonly nextExpectedVersion: number;
  /** Global position of the last appended event. */
  readonly lastPosition: number;
}

export interface ReadAllOptions {
  /** Read events whose position is strictly greater than this (0 = from the start). */
  readonly after?: number;
  /** At most this many events (a page). */
  readonly limit?: number;
  /** How much to check of each event read back (default 'envelope'; see ReadValidation). */
  readonly validate?: ReadValidation;
}

export interface ReadStreamOptions {
  /** First stream version to read (default 0). */
  readonly fromVersion?: number;
  readonly limit?: number;
  /** How much to check of each event read back (default 'envelope'; see ReadValidation). */
  readonly validate?: ReadValidation;
}

/** The event log. Appends to one stream are atomic: all events of a batch are stored, or none. */
export interface EventStore {
  /** Which adapter this is ('sqlite', 'postgres', 'esdb'), for messages and benchmarks. */
  readonly kind: string;
  append(
    stream: string,
    events: readonly NewDmlEvent[],
    options: { readonly expectedVersion: ExpectedVersion },
  ): Promise<AppendResult>;
  /** Events of one stream in stream order. An absent stream reads as empty. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredDmlEvent[]>;
  /** The stream's version, or -1 when it has no event. */
  streamVersion(stream: string): Promise<number>;
  /** A page of the whole log in position order. */
  readAll(options?: ReadAllOptions): Promise<StoredDmlEvent[]>;
  /**
   * Optional fast path for replay: the same page as `readAll` with only what the folds read
   * (type, data, schema version, time, position), checked the same way. Adapters without it are
   * replayed through `readAll`.
   */
  readAllForReplay?(options?: ReadAllOptions): Promise<ReplayedDmlEvent[]>;
  /** Position of the last event in the log (0 when empty). */
  headPosition(): Promise<number>;
  /**
   * Calls `listener` after events are appended (by this process, or by others when the adapter
   * can hear them). Only a wake-up call: readers always read the log itself.
   */
  onAppended(listener: () => void): () => void;
  close(): Promise<void>;
}

/** An append whose expected version does not match the stream: the caller re-reads, re-decides and retries. */
export class WrongExpectedVersionError extends DmlError {
  readonly stream: string;
  readonly expected: ExpectedVersion;
  readonly actual: number;
  constructor(stream: string, expected: ExpectedVersion, actual: number) {
    super(
      'EVENT_STREAM_VERSION',
      `stream ${stream} is at version ${actual}, the append expected ${typeof expected === 'number' ? `version ${expected}` : expected}`,
      { hint: 'someone else appended first: read the stream again and retry the command' },
    );
    this.name = 'WrongExpectedVersionError';
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

export const isWrongExpectedVersion = (error: unknown): error is WrongExpectedVersionError =>
  error instanceof WrongExpectedVersionError;

/** An event id that is in the log already. */
export class DuplicateEventError extends DmlError {
  readonly eventId: string;
  constructor(eventId: string) {
    super('EVENT_DUPLICATE', `event ${eventId} is in the log already`);
    this.name = 'DuplicateEventError';
    this.eventId = eventId;
  }
}

/** Checks an expected version against a stream's actual version (-1 = no stream). */
export const expectedVersionMatches = (expected: ExpectedVersion, actual: number): boolean => {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual === -1;
  if (expected === 'stream_exists') return actual >= 0;
  return expected === actual;
};

export const checkExpectedVersion = (expected: ExpectedVersion): void => {
  if (typeof expected === 'number' && (!Number.isSafeInteger(expected) || expected < 0))
    throw new DmlError('EVENT_STREAM_VERSION', `expected version ${expected} must be a non-negative integer`);
};

/**
 * What every adapter checks before it writes a batch: the stream name, the expected version, a
 * non-empty batch, and every event against its schema. Returns the validated events.
 */
export const checkAppendBatch = (
  stream: string,
  events: readonly NewDmlEvent[],
  expectedVersion: ExpectedVersion,
): NewDmlEvent[] => {
  checkStreamName(stream);
  checkExpectedVersion(expectedVersion);
  if (events.length === 0)
    throw new DmlError('EVENT_EMPTY_APPEND', `an append to ${stream} needs at least one event`);
  return events.map(validateEvent);
};

/** Reads the whole log from a position, page by page. */
export async function* readAllFrom(
  store: EventStore,
  after = 0,
  pageSize = 5000,
): AsyncGenerator<StoredDmlEvent> {
  let position = after;
  while (true) {
    const page = await store.readAll({ after: position, limit: pageSize });
    for (const event of page) yield event;
    if (page.length < pageSize) return;
    position = page[page.length - 1]!.position;
  }
}

/**
 * Runs a command that appends with an expected version, retrying on a concurrency conflict:
 * `attempt` must re-read the state it decides on every time it is called.
 */
export const withConcurrencyRetry = async <T>(attempt: () => Promise<T>, maxAttempts = 5): Promise<T> => {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isWrongExpectedVersion(error) || i >= maxAttempts) throw error;
    }
  }
};
