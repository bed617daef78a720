import { DmlError } from '../errors.js';
import { EVENT_CATALOGUE, type DmlEventType, isDmlEventType } from './catalogue.js';
import {
  EventValidationError,
  ISO_UTC_TIME,
  type StoredDmlEvent,
  validateEvent,
  validateEventData,
} from './envelope.js';

/**
 * How much a read checks of each event it returns (see design_docs/events.md, "Reading back"):
 * - 'envelope' (the default): the row parses, its type is in the catalogue, its schema version is
 *   the one we read, its data is an object naming its cohort. Cheap (a few comparisons per event):
 *   a store only ever holds events that were validated in full when they were appended, so this
 *   catches a corrupt or foreign row, not a bad producer.
 * - 'full': also the whole zod schema of the data and the envelope's metadata (UUID, ISO time),
 *   as at an append. For an auditor who does not trust the file (`validate: 'full'`).
 */
export type ReadValidation = 'envelope' | 'full';

/** What a fold reads of an event: its type and data, its position and time (no stream, ids or causation). */
export type ReplayedDmlEvent = StoredDmlEvent extends infer E
  ? E extends StoredDmlEvent
    ? Pick<E, 'type' | 'data' | 'schemaVersion' | 'occurredAt' | 'position'>
    : never
  : never;

/** A stored event that cannot be read back as an event of the catalogue: nothing of its page is returned. */
export class StoredEventUnreadableError extends DmlError {
  readonly position: number;
  readonly eventType: string;
  readonly problems: readonly string[];
  constructor(position: number, eventType: string, problems: readonly string[]) {
    super(
      'EVENT_UNREADABLE',
      `event #${position} (${eventType}) in the log cannot be read: ${problems.join('; ')}`,
      {
        hint: 'the log was altered or written by something else than this program; nothing was folded from this page',
      },
    );
    this.name = 'StoredEventUnreadableError';
    this.position = position;
    this.eventType = eventType;
    this.problems = problems;
  }
}

/** Parses a stored event's data (JSON text), naming the event when it does not parse. */
export const parseStoredData = (position: number, type: string, text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new StoredEventUnreadableError(position, type, [`data is not JSON (${(error as Error).message})`]);
  }
};

/**
 * The envelope check of a stored event (see ReadValidation): type and schema version against the
 * catalogue, data an object with a cohort id. Throws StoredEventUnreadableError naming the problem.
 */
export const checkStoredEnvelope = (
  position: number,
  type: string,
  schemaVersion: number,
  data: unknown,
): void => {
  const entry = isDmlEventType(type) ? EVENT_CATALOGUE[type] : undefined;
  if (
    entry !== undefined &&
    entry.version === schemaVersion &&
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { cohortId?: unknown }).cohortId === 'string'
  )
    return;
  const problems: string[] = [];
  if (entry === undefined) problems.push(`type: unknown event type "${type}"`);
  else if (entry.version !== schemaVersion)
    problems.push(`schemaVersion: ${schemaVersion} is not a version we read (${entry.version})`);
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    problems.push(
      `data: ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}, not an object`,
    );
  else if (typeof (data as { cohortId?: unknown }).cohortId !== 'string')
    problems.push('data.cohortId: missing (every event names its cohort)');
  throw new StoredEventUnreadableError(position, type, problems);
};

const unreadable = (position: number, type: string, error: unknown): never => {
  if (error instanceof EventValidationError)
    throw new StoredEventUnreadableError(position, type, error.issues);
  throw error;
};

/** The full check of an event read back (ReadValidation 'full'): the envelope and the data's schema, as at an append. */
export const validateStoredEvent = (event: StoredDmlEvent): StoredDmlEvent => {
  checkStoredEnvelope(event.position, event.type, event.schemaVersion, event.data);
  try {
    const valid = validateEvent(event);
    return { ...valid, stream: event.stream, streamVersion: event.streamVersion, position: event.position };
  } catch (error) {
    return unreadable(event.position, event.type, error);
  }
};

/** The full check of what a replay reads (ReplayedDmlEvent): envelope, time and the data's schema. */
export const validateReplayedEvent = (event: ReplayedDmlEvent): ReplayedDmlEvent => {
  checkStoredEnvelope(event.position, event.type, event.schemaVersion, event.data);
  if (!ISO_UTC_TIME.test(event.occurredAt))
    throw new StoredEventUnreadableError(event.position, event.type, ['occurredAt: must be ISO 8601 UTC']);
  try {
    const data = validateEventData(event.type as DmlEventType, event.data);
    return { ...event, data } as ReplayedDmlEvent;
  } catch (error) {
    return unreadable(event.position, event.type, error);
  }
};
