import { type EventStore, type ObjectStore, type StoredDmlEvent, readAllFrom } from '../../offchain/index.js';
import { type AuditReport, verifyCohort } from './verify-cohort.js';

/**
 * The auditor's I/O boundary: reads the whole log and lets `verifyCohort` fetch objects from the
 * object store holding the cohort's deltas.
 */
export const verifyCohortInStores = async (
  log: EventStore,
  objects: ObjectStore,
  cohortId: string,
  passphrase: string,
): Promise<AuditReport> => {
  const events: StoredDmlEvent[] = [];
  for await (const event of readAllFrom(log)) events.push(event);
  return verifyCohort(events, cohortId, {
    passphrase,
    // SQLite and PostgreSQL number the log 1, 2, 3, ...; EventStoreDB's positions are offsets.
    densePositions: log.kind === 'sqlite' || log.kind === 'postgres',
    fetchObject: async (key) => ((await objects.stat(key)) ? objects.get(key) : undefined),
  });
};
