import { DmlError } from '../errors.js';
import type { EventStore } from './event-store.js';
import { PostgresEventStore } from './postgres-store.js';
import { SqliteEventStore } from './sqlite-store.js';

/**
 * Opens the event store named by a URL:
 * - `sqlite:PATH` (or `sqlite::memory:`), optional `?sync=normal`;
 * - `postgres://user:pass@host:port/db?schema=NAME` (or postgresql://);
 * - `esdb://host:port?tls=false` (EventStoreDB).
 */
export const openEventStore = async (url: string): Promise<EventStore> => {
  if (url.startsWith('sqlite:')) {
    const [path, query = ''] = url.slice('sqlite:'.length).split('?', 2) as [string, string?];
    if (!path) throw new DmlError('EVENT_STORE_URL', `"${url}" names no file`, { hint: 'use sqlite:PATH' });
    const sync = new URLSearchParams(query).get('sync');
    return new SqliteEventStore(path, { synchronous: sync === 'normal' ? 'normal' : 'full' });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    return new PostgresEventStore({ connectionString: parsed.toString(), ...(schema ? { schema } : {}) });
  }
  if (url.startsWith('esdb://') || url.startsWith('esdb+discover://')) {
    const { EventStoreDbEventStore } = await import('./esdb-store.js');
    return new EventStoreDbEventStore({ connectionString: url });
  }
  throw new DmlError('EVENT_STORE_URL', `"${url}" is not an event store URL`, {
    hint: 'use sqlite:PATH, postgres://USER:PASS@HOST:PORT/DB or esdb://HOST:PORT',
  });
};
