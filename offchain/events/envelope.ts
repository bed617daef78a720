import { randomUUID } from 'node:crypto';
import { DmlError } from '../errors.js';
import { EVENT_CATALOGUE, type DmlEventData, type DmlEventType, isDmlEventType } from './catalogue.js';

/** An event of the catalogue: its type and its data, typed together. */
export type DmlEvent = {
  [T in DmlEventType]: { readonly type: T; readonly data: DmlEventData<T> };
}[DmlEventType];

/** What every event carries besides its data. */
export interface EventMeta {
  /** Unique id (a UUID); appending the same id twice is refused. */
  readonly eventId: string;
  /** Version of the data's schema (see EVENT_CATALOGUE). */
  readonly schemaVersion: number;
  /** When the fact happened, ISO 8601 UTC. */
  readonly occurredAt: string;
  /** The event (or command) that caused this one. */
  readonly causationId?: string;
  /** The conversation it belongs to (a round, a close, a vote), shared by all its events. */
  readonly correlationId?: string;
}

/** An event ready to append: validated, with its metadata. */
export type NewDmlEvent = DmlEvent & EventMeta;

/** An event as read back from a store. */
export type StoredDmlEvent = NewDmlEvent & {
  readonly stream: string;
  /** 0-based position of the event inside its stream (the stream's version after it). */
  readonly streamVersion: number;
  /** Position in the whole log: strictly increasing in commit order (dense in SQLite and PostgreSQL). */
  readonly position: number;
};

/** An event that fails its schema: the message names the type, the field and the problem. */
export class EventValidationError extends DmlError {
  readonly eventType: string;
  readonly issues: readonly string[];
  constructor(eventType: string, issues: readonly string[]) {
    super('EVENT_INVALID', `event ${eventType} is invalid: ${issues.join('; ')}`, {
      hint: 'the event was not stored; fix the producer or the data',
    });
    this.name = 'EventValidationError';
    this.eventType = eventType;
    this.issues = issues;
  }
}

const formatIssues = (error: {
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>;
}): string[] =>
  error.issues.map(
    (issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(data)'}: ${issue.message}`,
  );

/** Validates `data` against the schema of `type`; returns the parsed data or throws EventValidationError. */
export const validateEventData = <T extends DmlEventType>(type: T, data: unknown): DmlEventData<T> => {
  const entry = EVENT_CATALOGUE[type];
  const parsed = entry.schema.safeParse(data);
  if (!parsed.success) throw new EventValidationError(type, formatIssues(parsed.error));
  return parsed.data as DmlEventData<T>;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO 8601 UTC as `Date.prototype.toISOString` writes it (fractional seconds optional). */
export const ISO_UTC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * Checks a whole envelope that comes from outside (another process, a store, the bus): a known
 * type, the schema version we read, well-formed metadata and valid data. Never returns half a value.
 */
export const validateEvent = (value: unknown): NewDmlEvent => {
  if (typeof value !== 'object' || value === null) throw new EventValidationError('?', ['not an object']);
  const v = value as Record<string, unknown>;
  const type = typeof v.type === 'string' ? v.type : '?';
  if (!isDmlEventType(type)) throw new EventValidationError(type, [`type: unknown event type "${type}"`]);
  const issues: string[] = [];
  if (typeof v.eventId !== 'string' || !UUID.test(v.eventId)) issues.push('eventId: must be a UUID');
  if (v.schemaVersion !== EVENT_CATALOGUE[type].version)
    issues.push(
      `schemaVersion: ${String(v.schemaVersion)} is not a version we read (${EVENT_CATALOGUE[type].version})`,
    );
  if (typeof v.occurredAt !== 'string' || !ISO_UTC_TIME.test(v.occurredAt))
    issues.push('occurredAt: must be ISO 8601 UTC');
  for (const key of ['causationId', 'correlationId'] as const) {
    if (v[key] !== undefined && (typeof v[key] !== 'string' || v[key] === ''))
      issues.push(`${key}: must be a non-empty string`);
  }
  if (issues.length) throw new EventValidationError(type, issues);
  const data = validateEventData(type, v.data);
  return {
    type,
    data,
    eventId: v.eventId as string,
    schemaVersion: v.schemaVersion as number,
    occurredAt: v.occurredAt as string,
    ...(v.causationId !== undefined ? { causationId: v.causationId as string } : {}),
    ...(v.correlationId !== undefined ? { correlationId: v.correlationId as string } : {}),
  } as NewDmlEvent;
};

export interface CreateEventOptions {
  readonly eventId?: string;
  readonly occurredAt?: Date | string;
  /** The event that caused this one: its id becomes the causation id and its correlation id is kept. */
  readonly causedBy?: Pick<EventMeta, 'eventId' | 'correlationId'>;
  readonly causationId?: string;
  readonly correlationId?: string;
}

/** Builds a validated event of the catalogue (throws EventValidationError on bad data). */
export const createEvent = <T extends DmlEventType>(
  type: T,
  data: DmlEventData<T>,
  options: CreateEventOptions = {},
): NewDmlEvent => {
  const occurredAt =
    options.occurredAt === undefined
      ? new Date().toISOString()
      : typeof options.occurredAt === 'string'
        ? options.occurredAt
        : options.occurredAt.toISOString();
  const causationId = options.causationId ?? options.causedBy?.eventId;
  const correlationId = options.correlationId ?? options.causedBy?.correlationId ?? options.causedBy?.eventId;
  return validateEvent({
    type,
    data,
    eventId: options.eventId ?? randomUUID(),
    schemaVersion: EVENT_CATALOGUE[type].version,
    occurredAt,
    ...(causationId !== undefined ? { causationId } : {}),
    ...(correlationId !== undefined ? { correlationId } : {}),
  });
};

// ---------------------------------------------------------------------------------------------
// Streams: per cohort, per head, per party.

const STREAM_PART = /^[A-Za-z0-9._-]+$/;
const part = (what: string, value: string): string => {
  if (!STREAM_PART.test(value) || value.length > 128)
    throw new DmlError(
      'EVENT_STREAM_NAME',
      `${what} "${value}" cannot name a stream (letters, digits, . _ - only)`,
    );
  return value;
};
export const cohortStream = (cohortId: string): string => `cohort-${part('cohort id', cohortId)}`;
export const headStream = (headId: string): string => `head-${part('head id', headId)}`;
export const partyStream = (cohortId: string, party: string): string =>
  `party-${part('cohort id', cohortId)}-${part('party id', party)}`;

const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$/;
export const checkStreamName = (stream: string): string => {
  if (!STREAM_NAME.test(stream))
    throw new DmlError('EVENT_STREAM_NAME', `"${stream}" is not a valid stream name`, {
      hint: 'letters, digits and . _ : - only, starting with a letter or digit, at most 255 characters',
    });
  return stream;
};
