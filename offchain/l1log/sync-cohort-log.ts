import type { CohortTransition } from '../chain/index.js';
import {
  type DmlEventType,
  type EventStore,
  type NewDmlEvent,
  cohortStream,
  isWrongExpectedVersion,
} from '../events/index.js';
import { type OffChainFacts, eventsOfTransition } from './transition-events.js';

export interface CohortLogSync {
  /** The events this sync appended (in chain order). */
  readonly appended: ReadonlyArray<{ type: DmlEventType; txId: string }>;
  /** Transitions the log already recorded. */
  readonly present: number;
  /** Transitions that cannot be recorded (unexplained, or a fact missing), with the reason. */
  readonly skipped: ReadonlyArray<{ txId: string; reason: string }>;
  /** Attempts it took (more than 1 when another writer appended to the stream meanwhile). */
  readonly attempts: number;
}

const L1_TYPES = new Set<string>([
  'l1.CohortCreated',
  'l1.PartyJoined',
  'l1.EpochStarted',
  'l1.HeadClosed',
  'l1.HeadContested',
  'l1.HeadFinalized',
  'l1.PartySlashed',
  'l1.DepositClaimed',
  'l1.DepositRefunded',
]);

/**
 * Brings a cohort's stream up to date with the chain: every `l1.*` event that the followed
 * transitions stand for and that the stream does not hold yet (by type and transaction id) is
 * appended, in chain order, in one batch with the stream's version as expected version. When
 * another writer appended meanwhile (two commands syncing at once), the append fails, the stream is
 * read again and the missing events computed again: one writer wins, the other finds nothing (or
 * only what is still missing) to add. Never a duplicate.
 *
 * `cohortId` is the cohort token's policy id (what the datums and the log name).
 */
export const syncCohortLog = async (options: {
  log: EventStore;
  cohortId: string;
  transitions: readonly CohortTransition[];
  facts?: OffChainFacts;
  maxAttempts?: number;
}): Promise<CohortLogSync> => {
  const { log, cohortId, transitions } = options;
  const stream = cohortStream(cohortId);
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const version = await log.streamVersion(stream);
    const recorded = new Set<string>();
    if (version >= 0)
      for (const e of await log.readStream(stream)) {
        if (!L1_TYPES.has(e.type)) continue;
        const data = e.data as { cohortId?: string; txId?: string };
        if (data.cohortId === cohortId && data.txId) recorded.add(`${e.type} ${data.txId}`);
      }
    const missing: Array<{ type: DmlEventType; txId: string; event: NewDmlEvent }> = [];
    const skipped: Array<{ txId: string; reason: string }> = [];
    let present = 0;
    for (const t of transitions)
      for (const e of eventsOfTransition(cohortId, t, options.facts)) {
        if (!e.ok) skipped.push({ txId: e.txId, reason: e.reason });
        else if (recorded.has(`${e.type} ${e.txId}`)) present++;
        else missing.push(e);
      }
    if (missing.length === 0) return { appended: [], present, skipped, attempts: attempt };
    try {
      await log.append(
        stream,
        missing.map((m) => m.event),
        { expectedVersion: version < 0 ? 'no_stream' : version },
      );
      return {
        appended: missing.map(({ type, txId }) => ({ type, txId })),
        present,
        skipped,
        attempts: attempt,
      };
    } catch (error) {
      if (!isWrongExpectedVersion(error) || attempt >= maxAttempts) throw error;
    }
  }
};
