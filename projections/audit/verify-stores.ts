import {
  type CohortTransition,
  type EventStore,
  type ObjectStore,
  type StoredDmlEvent,
  readAllFrom,
} from '../../offchain/index.js';
import { type AuditReport, verifyCohort } from './verify-cohort.js';

/**
 * The auditor's I/O boundary: reads the whole log and lets `verifyCohort` fetch objects from the
 * object store holding the cohort's deltas; with `chain` (the cohort's transitions that a chain
 * follower read from layer 1), every `l1.*` event is checked against the chain too.
 */
export const verifyCohortInStores = async (
  log: EventStore,
  objects: ObjectStore,
  cohortId: string,
  passphrase: string,
  options: { chain?: readonly CohortTransition[] } = {},
): Promise<AuditReport> => {
  const events: StoredDmlEvent[] = [];
  for await (const event of readAllFrom(log)) events.push(event);
  return verifyCohort(events, cohortId, {
    passphrase,
    // SQLite and PostgreSQL number the log 1, 2, 3, ...; EventStoreDB's positions are offsets.
    densePositions: log.kind === 'sqlite' || log.kind === 'postgres',
    fetchObject: async (key) => ((await objects.stat(key)) ? objects.get(key) : undefined),
    ...(options.chain ? { chain: options.chain } : {}),
  });
};
