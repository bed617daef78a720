import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredDmlEvent } from './envelope.js';
import { StoredEventUnreadableError } from './read-check.js';
import { simulateCohortHistory } from './simulated-history.js';
import { SqliteEventStore, type SqliteEventFormat } from './sqlite-store.js';
import { describeEventStoreContract } from './store-contract.js';

describeEventStoreContract(
  'SQLite (file, WAL)',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dml-events-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    return {
      store,
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  { densePositions: true },
);

/** The events table as the versions before format 2 created it (no stored replay row). */
const FORMAT_1_SCHEMA = `
CREATE TABLE events (
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
  UNIQUE (stream, stream_version)
);`;

/** A store on a fresh file of the given format (format 1: a file an older version created). */
const storeOfFormat = (
  format: SqliteEventFormat,
): { store: SqliteEventStore; cleanup: () => Promise<void> } => {
  const dir = mkdtempSync(join(tmpdir(), 'dml-events-format-'));
  const file = join(dir, 'events.sqlite');
  if (format === 1) {
    const db = new Database(file);
    db.exec(FORMAT_1_SCHEMA);
    db.close();
  }
  const store = new SqliteEventStore(file, { synchronous: 'normal' });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

describeEventStoreContract(
  'SQLite (a format 1 file, written before the stored replay row)',
  async () => {
    const opened = storeOfFormat(1);
    expect(opened.store.format).toBe(1);
    return opened;
  },
  { densePositions: true },
);

describe('SQLite storage formats', () => {
  it("a new file is format 2 and stores each row's replay string, computed by SQLite from its columns", async () => {
    const { store, cleanup } = storeOfFormat(2);
    expect(store.format).toBe(2);
    expect(store.db.pragma('page_size', { simple: true })).toBe(16_384);
    for (const b of simulateCohortHistory({ cohortId: 'fmt', parties: 3, rounds: 1 }))
      await store.append(b.stream, b.events, { expectedVersion: 'any' });
    const rows = store.db
      .prepare<[], { position: number; replay_row: string }>('SELECT position, replay_row FROM events')
      .all();
    const events = await store.readAll();
    expect(rows.map((r) => JSON.parse(r.replay_row) as unknown)).toEqual(
      events.map((e) => [e.position, e.type, e.schemaVersion, e.occurredAt, e.data]),
    );
    // a column changed afterwards changes the stored string with it (it cannot go stale)
    store.db.prepare("UPDATE events SET occurred_at = 'changed' WHERE position = 2").run();
    const [second] = await store.readAllForReplay({ after: 1, limit: 1 });
    expect(second!.occurredAt).toBe('changed');
    await cleanup();
  });

  it('a format 1 file stays format 1, readable and writable: replay reads what readAll reads', async () => {
    const { store, cleanup } = storeOfFormat(1);
    for (const b of simulateCohortHistory({ cohortId: 'old', parties: 3, rounds: 2 }))
      await store.append(b.stream, b.events, { expectedVersion: 'any' });
    const reopened = new SqliteEventStore(store.db.name);
    expect(reopened.format).toBe(1);
    expect(reopened.db.pragma('page_size', { simple: true })).toBe(4_096); // an existing file keeps its pages
    const full = await reopened.readAll();
    expect(full.length).toBeGreaterThan(10);
    expect(await reopened.readAllForReplay()).toEqual(
      full.map(({ position, type, schemaVersion, occurredAt, data }) => ({
        position,
        type,
        schemaVersion,
        occurredAt,
        data,
      })),
    );
    await reopened.close();
    await cleanup();
  });
});

describe.each([2, 1] as const)('SQLite reads check what they return (format %i)', (format) => {
  const setUp = async () => {
    const { store } = storeOfFormat(format);
    expect(store.format).toBe(format);
    for (const b of simulateCohortHistory({ cohortId: 'read', parties: 3, rounds: 2 }))
      await store.append(b.stream, b.events, { expectedVersion: 'any' });
    const corrupt = (position: number, column: string, value: string | number) =>
      store.db.prepare(`UPDATE events SET ${column} = ? WHERE position = ?`).run(value, position);
    return { store, corrupt, head: await store.headPosition() };
  };

  it('the replay read returns, for every event, what readAll returns of it', async () => {
    const { store } = await setUp();
    const full = await store.readAll();
    const lean = await store.readAllForReplay();
    expect(lean).toEqual(
      full.map(({ position, type, schemaVersion, occurredAt, data }) => ({
        position,
        type,
        schemaVersion,
        occurredAt,
        data,
      })),
    );
    expect(await store.readAllForReplay({ after: 3, limit: 2 })).toEqual(lean.slice(3, 5));
    expect(await store.readAllForReplay({ validate: 'full' })).toEqual(lean);
    await store.close();
  });

  it('a row whose data is not JSON is refused, naming its position, by every read and by replay', async () => {
    const { store, corrupt } = await setUp();
    corrupt(4, 'data', '{"cohortId":"read","party":');
    const message = /event #4 \(l1\.PartyJoined\) in the log cannot be read: data is not JSON/;
    await expect(store.readAll()).rejects.toThrow(message);
    await expect(store.readAllForReplay()).rejects.toThrow(StoredEventUnreadableError);
    await expect(store.readStream('cohort-read')).rejects.toThrow(message);
    // the rows before it still read
    expect(await store.readAll({ limit: 3 })).toHaveLength(3);
    await store.close();
  });

  it('an unknown type, a schema version we do not read, or data without a cohort are refused', async () => {
    const { store, corrupt } = await setUp();
    corrupt(2, 'type', 'l1.PartyLeft');
    await expect(store.readAllForReplay()).rejects.toThrow(
      'event #2 (l1.PartyLeft) in the log cannot be read: type: unknown event type "l1.PartyLeft"',
    );
    corrupt(2, 'type', 'l1.PartyJoined');
    corrupt(3, 'schema_version', 7);
    await expect(store.readAll()).rejects.toThrow(
      'event #3 (l1.PartyJoined) in the log cannot be read: schemaVersion: 7 is not a version we read (1)',
    );
    corrupt(3, 'schema_version', 1);
    corrupt(4, 'data', '{"party":"ab"}');
    await expect(store.readAllForReplay()).rejects.toThrow(
      'event #4 (l1.PartyJoined) in the log cannot be read: data.cohortId: missing (every event names its cohort)',
    );
    corrupt(4, 'data', '[1,2]');
    await expect(store.readAll()).rejects.toThrow('data: an array, not an object');
    await store.close();
  });

  it("data that breaks its schema passes the envelope check and is refused by validate: 'full', field named", async () => {
    const { store, corrupt } = await setUp();
    const [joined] = (await store.readAll({ after: 1, limit: 1 })) as [StoredDmlEvent];
    expect(joined.type).toBe('l1.PartyJoined');
    corrupt(2, 'data', JSON.stringify({ ...joined.data, deposit: '-5' }));
    expect(await store.readAll({ after: 1, limit: 1 })).toHaveLength(1);
    const message =
      'event #2 (l1.PartyJoined) in the log cannot be read: deposit: an amount of lovelace must be a decimal integer string';
    await expect(store.readAll({ validate: 'full' })).rejects.toThrow(message);
    await expect(store.readAllForReplay({ validate: 'full' })).rejects.toThrow(message);
    await expect(store.readStream('cohort-read', { validate: 'full' })).rejects.toThrow(message);
    corrupt(2, 'data', JSON.stringify(joined.data));
    corrupt(2, 'event_id', 'not-a-uuid');
    await expect(store.readAll({ validate: 'full' })).rejects.toThrow('eventId: must be a UUID');
    await store.close();
  });

  // The replay read builds one string per row, `[position, type, version, time, data]`, and parses
  // it once (see REPLAY_TEXT): it must accept and refuse exactly what reading the row's columns
  // one by one does (readAll), whatever is in the data and text columns.
  const replayAgreesWithReadAll = async (store: SqliteEventStore) => {
    const outcome = async <T>(read: () => Promise<T>) => {
      try {
        return { ok: await read() };
      } catch (error) {
        return { error: (error as Error).message };
      }
    };
    const full = await outcome(() => store.readAll());
    const lean = await outcome(() => store.readAllForReplay());
    if ('error' in full) expect(lean).toEqual(full);
    else
      expect(lean).toEqual({
        ok: full.ok!.map(({ position, type, schemaVersion, occurredAt, data }) => ({
          position,
          type,
          schemaVersion,
          occurredAt,
          data,
        })),
      });
    return lean;
  };

  it('a data text that is not one JSON value cannot hide inside the replay string', async () => {
    const { store, corrupt } = await setUp();
    for (const text of [
      '{"cohortId":"read"}, 1',
      '{"cohortId":"read"}]',
      '{"cohortId":"read"}],[9,"l1.PartyJoined",1,"t",{"cohortId":"read"}',
      '{"cohortId":"read"} {}',
      '',
    ]) {
      corrupt(4, 'data', text);
      expect(await replayAgreesWithReadAll(store)).toEqual({
        error: expect.stringMatching(
          /^event #4 \(l1\.PartyJoined\) in the log cannot be read: data is not JSON/,
        ),
      });
    }
    corrupt(4, 'data', ' {"cohortId":"read"} ');
    expect(await replayAgreesWithReadAll(store)).toHaveProperty('ok');
    await store.close();
  });

  it('quotes, numbers and blobs in the text columns read as they do column by column', async () => {
    const { store, corrupt } = await setUp();
    corrupt(2, 'type', 'l1.PartyJoined",1,"x');
    await replayAgreesWithReadAll(store);
    corrupt(2, 'type', 'l1.PartyJoined');
    corrupt(3, 'occurred_at', 'a "quoted" \\ time');
    expect(await replayAgreesWithReadAll(store)).toHaveProperty('ok');
    corrupt(3, 'occurred_at', 12);
    expect(await replayAgreesWithReadAll(store)).toHaveProperty('ok');
    corrupt(3, 'schema_version', 'one');
    expect(await replayAgreesWithReadAll(store)).toEqual({
      error: expect.stringContaining('schemaVersion: one is not a version we read'),
    });
    corrupt(3, 'schema_version', 1);
    const blobType = () =>
      store.db.prepare('UPDATE events SET type = ? WHERE position = 5').run(Buffer.from('l1.PartyJoined'));
    // format 2: SQLite itself refuses the row (its stored replay string cannot hold a BLOB)
    if (format === 2) expect(blobType).toThrow('JSON cannot hold BLOB values');
    else blobType();
    await replayAgreesWithReadAll(store);
    await store.close();
  });

  // The replay read looks a type up in the catalogue once per run of rows of one type: a row whose
  // type, version or data differs inside such a run must still be refused exactly as readAll does.
  it('property: corrupting the type, version or data of any rows, the replay read agrees with readAll', async () => {
    const { store, corrupt, head } = await setUp();
    const rows = (await store.readAll()).map((e) => ({ ...e }));
    const restore = () => {
      for (const e of rows) {
        corrupt(e.position, 'type', e.type);
        corrupt(e.position, 'schema_version', e.schemaVersion);
        corrupt(e.position, 'data', JSON.stringify(e.data));
      }
    };
    const change = fc.oneof(
      fc.record({
        column: fc.constant('type'),
        value: fc.constantFrom(
          'l1.PartyJoined',
          'training.ContributionScored',
          'l1.PartyJoined ',
          'L1.PartyJoined',
          'l1.PartyJoine\\u0064',
          'constructor',
          '__proto__',
          'hasOwnProperty',
        ),
      }),
      fc.record({
        column: fc.constant('schema_version'),
        value: fc.constantFrom<string | number>(1, 2, 0, '1'),
      }),
      fc.record({
        column: fc.constant('data'),
        value: fc.constantFrom('{"cohortId":"read"}', '{"cohortId":7}', '{}', 'null', '[]', '"read"'),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: head }), change), { maxLength: 4 }),
        async (changes) => {
          restore();
          for (const [position, { column, value }] of changes) corrupt(position, column, value);
          await replayAgreesWithReadAll(store);
        },
      ),
      { numRuns: 150 },
    );
    await store.close();
  });

  it('property: for any data text, the replay read refuses or returns exactly what readAll does', async () => {
    const { store, corrupt } = await setUp();
    const [row] = (await store.readAll({ after: 3, limit: 1 })) as [StoredDmlEvent];
    const valid = JSON.stringify(row.data);
    const fragment = fc.constantFrom(',', ']', '[', '}', '{', '"', '1', ' ', '\\', 'null', ':', '\n');
    const text = fc.oneof(
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify({ cohortId: 'read', v })),
      fc
        .tuple(fc.nat(valid.length), fc.array(fragment, { minLength: 1, maxLength: 3 }), fc.boolean())
        .map(([at, parts, cut]) => valid.slice(0, at) + parts.join('') + (cut ? '' : valid.slice(at))),
      fc.array(fragment, { maxLength: 6 }).map((parts) => valid + parts.join('')),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(text, async (data) => {
        corrupt(4, 'data', data);
        await replayAgreesWithReadAll(store);
      }),
      { numRuns: 300 },
    );
    await store.close();
  });
});
