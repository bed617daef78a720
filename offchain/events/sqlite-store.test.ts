import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredDmlEvent } from './envelope.js';
import { StoredEventUnreadableError } from './read-check.js';
import { simulateCohortHistory } from './simulated-history.js';
import { SqliteEventStore } from './sqlite-store.js';
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

describe('SQLite reads check what they return', () => {
  const setUp = async () => {
    const store = new SqliteEventStore(':memory:');
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
});
