import pg from 'pg';
import { DmlError } from '../errors.js';
import { type NewDmlEvent, type StoredDmlEvent } from './envelope.js';
import { type ReadValidation, checkStoredEnvelope, validateStoredEvent } from './read-check.js';
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

export interface PostgresEventStoreOptions {
  readonly connectionString: string;
  /** Database schema holding the tables (created if absent). Default `dml_events`. */
  readonly schema?: string;
  readonly maxConnections?: number;
}

interface Row {
  position: string;
  stream: string;
  stream_version: number;
  event_id: string;
  type: string;
  schema_version: number;
  occurred_at: string;
  causation_id: string | null;
  correlation_id: string | null;
  data: unknown;
}

const toEvent = (row: Row): StoredDmlEvent => {
  checkStoredEnvelope(Number(row.position), row.type, row.schema_version, row.data);
  return {
    position: Number(row.position),
    stream: row.stream,
    streamVersion: row.stream_version,
    eventId: row.event_id,
    type: row.type,
    schemaVersion: row.schema_version,
    occurredAt: row.occurred_at,
    ...(row.causation_id !== null ? { causationId: row.causation_id } : {}),
    ...(row.correlation_id !== null ? { correlationId: row.correlation_id } : {}),
    data: row.data,
  } as StoredDmlEvent;
};
const checked = (rows: readonly Row[], validate: ReadValidation | undefined): StoredDmlEvent[] => {
  const events = rows.map(toEvent);
  return validate === 'full' ? events.map(validateStoredEvent) : events;
};

const COLUMNS = 10;
const MAX_ROWS_PER_INSERT = 5000;

/**
 * The event store on PostgreSQL, for parties on several machines.
 *
 * Every append takes one transaction-scoped advisory lock for the whole log, then checks the
 * stream's version and inserts the batch with positions max+1, max+2, ... So appends are
 * serialised: positions are dense and commit in order, and a reader that has seen position p
 * can never later find a committed event below p (which a plain sequence would allow: two
 * writers take 7 and 8, 8 commits first, a catch-up reader moves past 7 before 7 commits).
 * A UNIQUE (stream, stream_version) constraint backs the version check. Each commit sends a
 * NOTIFY so that subscribers on other machines wake up at once.
 */
export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres';
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly channel: string;
  private ready: Promise<void> | undefined;
  private readonly listeners = new Set<() => void>();
  private listener: pg.Client | undefined;
  private listening: Promise<void> | undefined;

  constructor(options: PostgresEventStoreOptions) {
    const schema = options.schema ?? 'dml_events';
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema))
      throw new DmlError('EVENT_STORE_URL', `"${schema}" is not a usable schema name (a-z, 0-9, _)`);
    this.schema = schema;
    this.table = `"${schema}".events`;
    this.channel = `dml_events_${schema}`;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
    });
    this.pool.on('error', () => undefined);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      const client = await this.connect();
      try {
        await client.query('SELECT pg_advisory_lock(hashtext($1))', [`dml-init-${this.schema}`]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
          position       BIGINT  PRIMARY KEY,
          stream         TEXT    NOT NULL,
          stream_version INTEGER NOT NULL,
          event_id       UUID    NOT NULL UNIQUE,
          type           TEXT    NOT NULL,
          schema_version INTEGER NOT NULL,
          occurred_at    TEXT    NOT NULL,
          causation_id   TEXT,
          correlation_id TEXT,
          data           JSON    NOT NULL,
          UNIQUE (stream, stream_version))`);
        await client.query(`CREATE TABLE IF NOT EXISTS "${this.schema}".checkpoints (
          name TEXT PRIMARY KEY, position BIGINT NOT NULL, state JSON)`);
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`dml-init-${this.schema}`]);
      } finally {
        client.release();
      }
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw new DmlError('EVENT_STORE_UNREACHABLE', `cannot reach PostgreSQL: ${(error as Error).message}`, {
        hint: 'check the postgres:// URL of the event store and that the server is running',
        cause: error,
      });
    }
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<R[]> {
    await this.init();
    const client = await this.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      client.release();
    }
  }

  async append(
    stream: string,
    events: readonly NewDmlEvent[],
    options: { readonly expectedVersion: ExpectedVersion },
  ): Promise<AppendResult> {
    const valid = checkAppendBatch(stream, events, options.expectedVersion);
    await this.init();
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`dml-append-${this.schema}`]);
      const [state] = (
        await client.query<{ v: number | null; p: string | null }>(
          `SELECT (SELECT max(stream_version) FROM ${this.table} WHERE stream = $1) AS v,
                  (SELECT max(position) FROM ${this.table}) AS p`,
          [stream],
        )
      ).rows;
      const actual = state?.v ?? -1;
      if (!expectedVersionMatches(options.expectedVersion, actual))
        throw new WrongExpectedVersionError(stream, options.expectedVersion, actual);
      let position = Number(state?.p ?? 0);
      let version = actual;
      for (let start = 0; start < valid.length; start += MAX_ROWS_PER_INSERT) {
        const chunk = valid.slice(start, start + MAX_ROWS_PER_INSERT);
        const params: unknown[] = [];
        const tuples = chunk.map((e, i) => {
          params.push(
            ++position,
            stream,
            ++version,
            e.eventId,
            e.type,
            e.schemaVersion,
            e.occurredAt,
            e.causationId ?? null,
            e.correlationId ?? null,
            JSON.stringify(e.data),
          );
          const b = i * COLUMNS;
          return `($${b + 1},$${b + 2},$${b + 3},$${b + 4},$${b + 5},$${b + 6},$${b + 7},$${b + 8},$${b + 9},$${b + 10})`;
        });
        await client.query(
          `INSERT INTO ${this.table} (position, stream, stream_version, event_id, type, schema_version, occurred_at, causation_id, correlation_id, data) VALUES ${tuples.join(',')}`,
          params,
        );
      }
      await client.query('SELECT pg_notify($1, $2)', [this.channel, String(position)]);
      await client.query('COMMIT');
      for (const listener of this.listeners) listener();
      return { nextExpectedVersion: version, lastPosition: position };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const err = error as { code?: string; constraint?: string; detail?: string };
      if (err.code === '23505' && err.constraint?.includes('event_id')) {
        const id = /\(event_id\)=\(([^)]+)\)/.exec(err.detail ?? '')?.[1] ?? '?';
        throw new DuplicateEventError(id);
      }
      if (err.code === '23505') {
        throw new WrongExpectedVersionError(
          stream,
          options.expectedVersion,
          await this.streamVersion(stream),
        );
      }
      throw error;
    } finally {
      client.release();
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredDmlEvent[]> {
    const rows = await this.query<Row>(
      `SELECT * FROM ${this.table} WHERE stream = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3`,
      [stream, options.fromVersion ?? 0, options.limit ?? null],
    );
    return checked(rows, options.validate);
  }

  async streamVersion(stream: string): Promise<number> {
    const [row] = await this.query<{ v: number | null }>(
      `SELECT max(stream_version) AS v FROM ${this.table} WHERE stream = $1`,
      [stream],
    );
    return row?.v ?? -1;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredDmlEvent[]> {
    const rows = await this.query<Row>(
      `SELECT * FROM ${this.table} WHERE position > $1 ORDER BY position LIMIT $2`,
      [options.after ?? 0, options.limit ?? null],
    );
    return checked(rows, options.validate);
  }

  async headPosition(): Promise<number> {
    const [row] = await this.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${this.table}`, []);
    return Number(row?.p ?? 0);
  }

  onAppended(listener: () => void): () => void {
    const own = () => listener();
    this.listeners.add(own);
    this.listening ??= this.listen().catch(() => (this.listening = undefined));
    return () => this.listeners.delete(own);
  }

  /** One connection that LISTENs for commits by other processes. */
  private async listen(): Promise<void> {
    await this.init();
    const client = new pg.Client({
      connectionString: (this.pool.options as { connectionString: string }).connectionString,
    });
    client.on('error', () => undefined);
    await client.connect();
    client.on('notification', () => {
      for (const listener of this.listeners) listener();
    });
    await client.query(`LISTEN "${this.channel}"`);
    this.listener = client;
  }

  /** Drops this store's schema and everything in it (tests and benchmarks). */
  async dropSchema(): Promise<void> {
    await this.init();
    await this.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`, []);
    this.ready = undefined;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.listening?.catch(() => undefined);
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
