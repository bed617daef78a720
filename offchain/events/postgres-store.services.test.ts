import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { PostgresEventStore } from './postgres-store.js';
import { describeEventStoreContract } from './store-contract.js';
import { createEvent } from './envelope.js';

const PG_URL = process.env.PG_URL;
const requirePgUrl = (): string => {
  if (!PG_URL)
    throw new Error(
      'PG_URL is not set: start PostgreSQL with `bash .ci/services/postgres.sh start && eval "$(bash .ci/services/postgres.sh env)"`',
    );
  return PG_URL;
};

describe('PostgreSQL service', () => {
  it('is configured (PG_URL)', () => {
    expect(requirePgUrl()).toMatch(/^postgres(ql)?:\/\//);
  });
});

describeEventStoreContract(
  'PostgreSQL',
  async () => {
    const store = new PostgresEventStore({
      connectionString: requirePgUrl(),
      schema: `dml_ev_${randomBytes(4).toString('hex')}`,
    });
    return {
      store,
      cleanup: async () => {
        await store.dropSchema();
        await store.close();
      },
    };
  },
  { densePositions: true },
);

describe('PostgreSQL event store across connections', () => {
  it('wakes a subscriber in another store instance through NOTIFY, and keeps positions dense under concurrent writers', async () => {
    const schema = `dml_ev_${randomBytes(4).toString('hex')}`;
    const writer = new PostgresEventStore({ connectionString: requirePgUrl(), schema });
    const reader = new PostgresEventStore({ connectionString: requirePgUrl(), schema });
    try {
      await writer.headPosition();
      let woken = 0;
      const heard = new Promise<void>((resolve) =>
        reader.onAppended(() => {
          woken++;
          resolve();
        }),
      );
      // let the LISTEN connection come up: the wake-up must come from PostgreSQL, not from this process
      await reader.headPosition();
      await new Promise((r) => setImmediate(r));
      const ev = (round: number) =>
        createEvent('training.RoundStarted', {
          cohortId: 'pg',
          epoch: 0,
          round,
          globalAdapterHash: 'cd'.repeat(32),
        });
      for (let attempt = 0; attempt < 50 && woken === 0; attempt++) {
        await writer.append(`cohort-probe-${attempt}`, [ev(attempt)], { expectedVersion: 'no_stream' });
        await Promise.race([heard, new Promise((r) => setTimeout(r, 100))]);
      }
      expect(woken).toBeGreaterThan(0);
      await Promise.all(
        Array.from({ length: 8 }, (_, w) =>
          (async () => {
            for (let i = 0; i < 10; i++)
              await writer.append(`cohort-w${w}`, [ev(i), ev(i + 100)], { expectedVersion: 'any' });
          })(),
        ),
      );
      const all = await reader.readAll();
      expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
      for (let w = 0; w < 8; w++) {
        expect((await reader.readStream(`cohort-w${w}`)).map((e) => e.streamVersion)).toEqual(
          Array.from({ length: 20 }, (_, i) => i),
        );
      }
    } finally {
      await writer.dropSchema();
      await reader.close();
      await writer.close();
    }
  });
});
