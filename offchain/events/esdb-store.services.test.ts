import { describe } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { EventStoreDbEventStore } from './esdb-store.js';
import { describeEventStoreContract } from './store-contract.js';

/**
 * EventStoreDB cannot run on our machines (no server package in our registries), so this suite
 * runs only when ESDB_URL names a server (e.g. esdb://127.0.0.1:2113?tls=false). Without it the
 * whole suite is reported as skipped by jest: never as passed.
 */
const ESDB_URL = process.env.ESDB_URL;
const describeWhenServer = ESDB_URL ? describe : describe.skip;

describeWhenServer(ESDB_URL ? 'EventStoreDB' : 'EventStoreDB (NOT RUN: ESDB_URL is not set)', () => {
  describeEventStoreContract(
    'EventStoreDB',
    async () => {
      const namespace = `dml_${randomBytes(4).toString('hex')}`;
      const url = `${ESDB_URL!}${ESDB_URL!.includes('?') ? '&' : '?'}namespace=${namespace}`;
      const store = new EventStoreDbEventStore({ connectionString: url });
      return { store, cleanup: () => store.close() };
    },
    { densePositions: false },
  );
});
