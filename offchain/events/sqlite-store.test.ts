import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
