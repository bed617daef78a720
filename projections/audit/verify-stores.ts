import {
  DmlError,
  type CohortTransition,
  type EventStore,
  type ObjectGrant,
  type ObjectStore,
  type StoredDmlEvent,
  grantNamesKey,
  readAllFrom,
  readObjectGrant,
} from '../../offchain/index.js';
import { type AuditReport, verifyCohort } from './verify-cohort.js';

/**
 * The auditor's own read access to the parties' stores: a store per party (e.g. a read-only S3
 * credential each party gave the auditor for its bucket, or its folder), or one store holding
 * every party's deltas (a shared folder, a replica). Peers' read grants expire within hours; the
 * auditor verifies old cohorts, so it cannot rely on them alone.
 */
export type AuditorStorageAccess =
  ObjectStore | { readonly storeOf: (party: string) => ObjectStore | undefined };

export interface AuditStoreOptions {
  /** The auditor's time, to tell a grant still valid from one expired (default: now). */
  readonly now?: () => Date;
}

const storeFor = (access: AuditorStorageAccess | undefined, party: string | undefined) =>
  access === undefined
    ? undefined
    : 'storeOf' in access
      ? party === undefined
        ? undefined
        : access.storeOf(party)
      : access;

/**
 * Reads a committed delta for the auditor: through the party's published read grant while it is
 * valid (what the peers used), else - expired, refused, or none - with the auditor's own access
 * to the party's store. With neither, the delta cannot be fetched and the report says why.
 */
export const auditObjectFetcher =
  (access: AuditorStorageAccess | undefined, options: AuditStoreOptions = {}) =>
  async (
    key: string,
    committed?: { readonly party: string; readonly readGrant?: ObjectGrant },
  ): Promise<Uint8Array | undefined> => {
    const now = (options.now ?? (() => new Date()))();
    const grant = committed?.readGrant;
    let grantError: unknown;
    if (grant && now.getTime() < Date.parse(grant.expiresAt) && grantNamesKey(grant, key)) {
      try {
        return await readObjectGrant(grant, { now });
      } catch (error) {
        grantError = error;
      }
    }
    const store = storeFor(access, committed?.party);
    if (store) return (await store.stat(key)) ? store.get(key) : undefined;
    if (grantError) throw grantError;
    if (grant)
      throw new DmlError(
        'STORAGE_LINK_EXPIRED',
        `the read grant of party ${committed?.party} expired at ${grant.expiresAt} and the auditor has no read access to its store`,
        { hint: 'ask the party for read access to its bucket (a read-only credential) or for a fresh grant' },
      );
    return undefined;
  };

/**
 * The auditor's I/O boundary: reads the whole log and lets `verifyCohort` fetch objects through
 * the parties' grants or the auditor's own access (`auditObjectFetcher`); with `options.chain`
 * (the cohort's transitions that a chain follower read from layer 1), every `l1.*` event is
 * checked against the chain too.
 */
export const verifyCohortInStores = async (
  log: EventStore,
  access: AuditorStorageAccess | undefined,
  cohortId: string,
  passphrase: string,
  options: AuditStoreOptions & { chain?: readonly CohortTransition[] } = {},
): Promise<AuditReport> => {
  const events: StoredDmlEvent[] = [];
  for await (const event of readAllFrom(log)) events.push(event);
  return verifyCohort(events, cohortId, {
    passphrase,
    // SQLite and PostgreSQL number the log 1, 2, 3, ...; EventStoreDB's positions are offsets.
    densePositions: log.kind === 'sqlite' || log.kind === 'postgres',
    fetchObject: auditObjectFetcher(access, options),
    ...(options.chain ? { chain: options.chain } : {}),
  });
};
