import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DmlError } from '../errors.js';
import { DML_EVENT_TYPES, type DmlEventType, EVENT_CATALOGUE } from './catalogue.js';
import { type NewDmlEvent, type StoredDmlEvent } from './envelope.js';
import {
  type ReplayedDmlEvent,
  checkStoredEnvelope,
  parseStoredData,
  validateReplayedEvent,
  validateStoredEvent,
} from './read-check.js';
import {
  type AppendResult,
  DuplicateEventError,
  type EventStore,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadStreamOptions,
  WrongExpectedVersionError,
  checkAppendBatch,
  expectedVersionMatches,
} from './event-store.js';

export interface SqliteEventStoreOptions {
  /**
   * 'full' (default): every append is fsynced before it returns (survives a power cut).
   * 'normal': WAL checkpoints are fsynced, appends are not; still safe against a process crash.
   */
  readonly synchronous?: 'full' | 'normal';
}

interface Row {
  position: number;
  stream: string;
  stream_version: number;
  event_id: string;
  type: string;
  schema_version: number;
  occurred_at: string;
  causation_id: string | null;
  correlation_id: string | null;
  data: string;
}

export const rowToEvent = (row: Row): StoredDmlEvent => {
  const data = parseStoredData(row.position, row.type, row.data);
  checkStoredEnvelope(row.position, row.type, row.schema_version, data);
  const event: Record<string, unknown> = {
    position: row.position,
    stream: row.stream,
    streamVersion: row.stream_version,
    eventId: row.event_id,
    type: row.type,
    schemaVersion: row.schema_version,
    occurredAt: row.occurred_at,
    data,
  };
  if (row.causation_id !== null) event.causationId = row.causation_id;
  if (row.correlation_id !== null) event.correlationId = row.correlation_id;
  return event as unknown as StoredDmlEvent;
};

type RawRow = [number, string, number, string, string, number, string, string | null, string | null, string];
const RAW_COLUMNS =
  'position, stream, stream_version, event_id, type, schema_version, occurred_at, causation_id, correlation_id, data';

/** The same as rowToEvent from a row read with `.raw(true)` (no row object: about a fifth faster). */
const rawToEvent = (r: RawRow): StoredDmlEvent => {
  const data = parseStoredData(r[0], r[4], r[9]);
  checkStoredEnvelope(r[0], r[4], r[5], data);
  const event: Record<string, unknown> = {
    position: r[0],
    stream: r[1],
    streamVersion: r[2],
    eventId: r[3],
    type: r[4],
    schemaVersion: r[5],
    occurredAt: r[6],
    data,
  };
  if (r[7] !== null) event.causationId = r[7];
  if (r[8] !== null) event.correlationId = r[8];
  return event as unknown as StoredDmlEvent;
};

type ReplayRow = [number, string, number, string, string];
const REPLAY_COLUMNS = 'position, type, schema_version, occurred_at, data';

/**
 * What replay reads of a row: five columns, not ten. Each text column read is a string the engine
 * allocates and the collector then traces; the stream name, event id and causation are half of
 * a row's bytes and no fold reads them.
 */
const replayRowToEvent = (r: ReplayRow): ReplayedDmlEvent => {
  const data = parseStoredData(r[0], r[1], r[4]);
  checkStoredEnvelope(r[0], r[1], r[2], data);
  return { position: r[0], type: r[1], schemaVersion: r[2], occurredAt: r[3], data } as ReplayedDmlEvent;
};

/**
 * The replay read of a row as ONE string, `[position, type, schemaVersion, occurredAt, data]`,
 * built by SQLite: one value crosses from the driver per row instead of five (better-sqlite3's
 * cost is per value, not per byte) and one `JSON.parse` builds the row's parts and its data.
 * The text columns go through `json_quote` (a quote inside them cannot shift the fields); the data
 * goes in as stored. A data text that is not exactly one JSON value cannot hide inside the array:
 * anything after that value is a fifth comma (a sixth element) or a syntax error, so "the string
 * parses to an array of exactly five" is "the data alone parses" (see replayRowsFromText).
 * A NULL in a column makes the whole string NULL.
 */
const REPLAY_TEXT =
  "'[' || position || ',' || json_quote(type) || ',' || json_quote(schema_version) || ',' || json_quote(occurred_at) || ',' || data || ']'";

/**
 * The events table. Format 2 (files created from this version on) stores each row's replay string
 * (REPLAY_TEXT) as a generated column, `replay_row`: SQLite computes it from the row's own columns
 * when the row is written (and again if a column is ever updated), so it can never disagree with
 * them, and a replay reads it as it is instead of building it per row per read (about a seventh
 * less CPU for the whole read, at the price of the data text stored twice: the file is ~60%
 * larger). Format 1 files (created before; SQLite cannot add a STORED column to an existing table)
 * have no such column and are read exactly as before, the string built by the SELECT: both formats
 * stay readable and writable, and `SqliteEventStore.format` says which one a file is.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position       INTEGER PRIMARY KEY,
  stream         TEXT    NOT NULL,
  stream_version INTEGER NOT NULL,
  event_id       TEXT    NOT NULL UNIQUE,
  type           TEXT    NOT NULL,
  schema_version INTEGER NOT NULL,
  occurred_at    TEXT    NOT NULL,
  causation_id   TEXT,
  correlation_id TEXT,
  data           TEXT    NOT NULL,
  replay_row     TEXT    GENERATED ALWAYS AS (${REPLAY_TEXT}) STORED,
  UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  name     TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  state    TEXT
);
`;

/** The page size of a file this store creates (see the constructor). */
const SQLITE_PAGE_SIZE = 16_384;

/** The storage format of an events table (see SCHEMA): 2 with the stored `replay_row`, 1 without. */
export type SqliteEventFormat = 1 | 2;

/** Each catalogue type name, as the engine's one shared copy of it (the catalogue's own key). */
const CATALOGUE_TYPE = new Map<unknown, DmlEventType>(DML_EVENT_TYPES.map((type) => [type, type]));

/**
 * Turns a page of replay strings into events, with the envelope check of each; undefined when a
 * row is not exactly a five-element array (the caller then reads the page row by row, which
 * names the row and its problem).
 *
 * The check is checkStoredEnvelope's, with its catalogue lookup done once per run of rows of one
 * type (a type text equal to the previous row's is the same type: one short string compare, not a
 * hash of a fresh string and a probe of the catalogue per row). Each event's `type` is the
 * catalogue's own copy of the name, not the fresh string JSON.parse made: the folds' comparisons
 * of it with a type name are then one pointer compare. A row that fails the check sends the page
 * to the column-by-column read, which throws checkStoredEnvelope's precise message from the
 * columns themselves (a stored replay string renders a BLOB column as `null`, so its own values
 * are not the ones to name).
 */
const replayRowsFromText = (texts: readonly (string | null)[]): ReplayedDmlEvent[] | undefined => {
  const events = new Array<ReplayedDmlEvent>(texts.length);
  let lastText: unknown;
  let lastType: DmlEventType | undefined;
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    if (typeof text !== 'string') return undefined;
    let r: unknown;
    try {
      r = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (!Array.isArray(r) || r.length !== 5 || typeof r[0] !== 'number') return undefined;
    if (r[1] !== lastText || lastType === undefined) {
      lastText = r[1];
      lastType = CATALOGUE_TYPE.get(r[1]);
    }
    const data = r[4] as { cohortId?: unknown } | null;
    if (
      lastType === undefined ||
      EVENT_CATALOGUE[lastType].version !== r[2] ||
      typeof data !== 'object' ||
      data === null ||
      typeof data.cohortId !== 'string'
    ) {
      return undefined; // the column-by-column read names the row and its problem
    }
    events[i] = {
      position: r[0],
      type: lastType,
      schemaVersion: r[2],
      occurredAt: r[3],
      data,
    } as ReplayedDmlEvent;
  }
  return events;
};

/**
 * The embedded event store: one SQLite file in WAL mode. Each append is one IMMEDIATE
 * transaction (the expected-version check and the inserts under the write lock), so a crash
 * leaves the whole batch or none of it, and positions are dense and in commit order.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  /** The file's storage format (see SCHEMA): 2 for files created by this version, 1 for older ones. */
  readonly format: SqliteEventFormat;
  private readonly listeners = new Set<() => void>();
  private readonly stmts;
  private readonly appendTx;

  constructor(file: string, options: SqliteEventStoreOptions = {}) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    try {
      this.db = new Database(file);
    } catch (error) {
      throw new DmlError(
        'EVENT_STORE_OPEN',
        `cannot open the event log ${file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    // Pages of 16 KiB for a new file (SQLite's default is 4 KiB; an existing file keeps its own):
    // a replay steps through every page of the table, and with four times fewer pages (and fewer
    // rows split across pages) reading the table costs about a third less CPU. Only takes effect
    // before the file's first write, hence before WAL mode is set.
    this.db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(SCHEMA);
    this.format = this.db
      .prepare<[], { name: string }>("SELECT name FROM pragma_table_xinfo('events')")
      .all()
      .some((c) => c.name === 'replay_row')
      ? 2
      : 1;
    this.stmts = {
      version: this.db.prepare<[string], { v: number | null }>(
        'SELECT max(stream_version) AS v FROM events WHERE stream = ?',
      ),
      insert: this.db.prepare(
        `INSERT INTO events (stream, stream_version, event_id, type, schema_version, occurred_at, causation_id, correlation_id, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      readStream: this.db
        .prepare<[string, number, number], RawRow>(
          `SELECT ${RAW_COLUMNS} FROM events WHERE stream = ? AND stream_version >= ? ORDER BY stream_version LIMIT ?`,
        )
        .raw(true),
      readAll: this.db
        .prepare<[number, number], RawRow>(
          `SELECT ${RAW_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
        )
        .raw(true),
      readAllForReplay: this.db
        .prepare<[number, number], ReplayRow>(
          `SELECT ${REPLAY_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
        )
        .raw(true),
      readAllForReplayText: this.db
        .prepare<[number, number], string | null>(
          `SELECT ${this.format === 2 ? 'replay_row' : REPLAY_TEXT} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
        )
        .pluck(true),
      head: this.db.prepare<[], { p: number | null }>('SELECT max(position) AS p FROM events'),
    };
    this.appendTx = this.db.transaction(
      (stream: string, events: readonly NewDmlEvent[], expected: ExpectedVersion): AppendResult => {
        const actual = this.stmts.version.get(stream)?.v ?? -1;
        if (!expectedVersionMatches(expected, actual))
          throw new WrongExpectedVersionError(stream, expected, actual);
        let version = actual;
        let position = 0;
        for (const e of events) {
          version += 1;
          const info = this.stmts.insert.run(
            stream,
            version,
            e.eventId,
            e.type,
            e.schemaVersion,
            e.occurredAt,
            e.causationId ?? null,
            e.correlationId ?? null,
            JSON.stringify(e.data),
          );
          position = Number(info.lastInsertRowid);
        }
        return { nextExpectedVersion: version, lastPosition: position };
      },
    );
  }

  async append(
    stream: string,
    events: readonly NewDmlEvent[],
    options: { readonly expectedVersion: ExpectedVersion },
  ): Promise<AppendResult> {
    return this.appendSync(stream, events, options);
  }

  /** The same append, synchronously (for writers that have nothing else to do meanwhile). */
  appendSync(
    stream: string,
    events: readonly NewDmlEvent[],
    options: { readonly expectedVersion: ExpectedVersion },
  ): AppendResult {
    const valid = checkAppendBatch(stream, events, options.expectedVersion);
    let result: AppendResult;
    try {
      result = this.appendTx.immediate(stream, valid, options.expectedVersion);
    } catch (error) {
      const err = error as { code?: string; message?: string };
      if (err.code === 'SQLITE_CONSTRAINT_UNIQUE' && err.message?.includes('event_id')) {
        const ids = new Set<string>();
        const dup = valid.find((e) => (ids.has(e.eventId) ? true : (ids.add(e.eventId), false)));
        throw new DuplicateEventError(dup?.eventId ?? this.findExistingId(valid));
      }
      throw error;
    }
    for (const listener of this.listeners) listener();
    return result;
  }

  private findExistingId(events: readonly NewDmlEvent[]): string {
    const stmt = this.db.prepare<[string], { event_id: string }>(
      'SELECT event_id FROM events WHERE event_id = ?',
    );
    return events.find((e) => stmt.get(e.eventId))?.eventId ?? '?';
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredDmlEvent[]> {
    const events = this.stmts.readStream
      .all(stream, options.fromVersion ?? 0, options.limit ?? -1)
      .map(rawToEvent);
    return options.validate === 'full' ? events.map(validateStoredEvent) : events;
  }

  async streamVersion(stream: string): Promise<number> {
    return this.stmts.version.get(stream)?.v ?? -1;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredDmlEvent[]> {
    return this.readAllSync(options);
  }

  readAllSync(options: ReadAllOptions = {}): StoredDmlEvent[] {
    const events = this.stmts.readAll.all(options.after ?? 0, options.limit ?? -1).map(rawToEvent);
    return options.validate === 'full' ? events.map(validateStoredEvent) : events;
  }

  async readAllForReplay(options: ReadAllOptions = {}): Promise<ReplayedDmlEvent[]> {
    return this.readAllForReplaySync(options);
  }

  /** `readAll` with only what the folds read (see EventStore.readAllForReplay), synchronously. */
  readAllForReplaySync(options: ReadAllOptions = {}): ReplayedDmlEvent[] {
    const after = options.after ?? 0;
    const limit = options.limit ?? -1;
    if (options.validate !== 'full') {
      let texts: (string | null)[] | undefined;
      try {
        texts = this.stmts.readAllForReplayText.all(after, limit);
      } catch {
        texts = undefined; // e.g. a BLOB where text belongs (json_quote refuses it): read row by row
      }
      const events = texts && replayRowsFromText(texts);
      if (events) return events;
    }
    const events = this.stmts.readAllForReplay.all(after, limit).map(replayRowToEvent);
    return options.validate === 'full' ? events.map(validateReplayedEvent) : events;
  }

  async headPosition(): Promise<number> {
    return this.stmts.head.get()?.p ?? 0;
  }

  onAppended(listener: () => void): () => void {
    const own = () => listener();
    this.listeners.add(own);
    return () => this.listeners.delete(own);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }
}
