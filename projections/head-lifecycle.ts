import type { HydraNormalised, ReplayedDmlEvent } from '../offchain/index.js';
import { Drafts, type Writable } from './draft.js';
import { type Projection, put } from './projection.js';

/** Where a head is in Hydra's lifecycle. Final is terminal (finalized or aborted). */
export type HeadStatus = 'Initializing' | 'Open' | 'Closed' | 'FanoutPossible' | 'Final';

export interface HeadRecord {
  readonly headId: string;
  readonly cohortId: string;
  readonly status: HeadStatus;
  readonly parties: readonly string[];
  readonly committed: readonly string[];
  readonly aborted: boolean;
  readonly validTxs: number;
  readonly invalidTxs: number;
  readonly lastSnapshot: number;
  readonly closedSnapshot?: number;
  readonly contestations: number;
  readonly contestationDeadline?: string;
  readonly initializedAt?: string;
  readonly openedAt?: string;
  readonly closedAt?: string;
  readonly finalizedAt?: string;
}

export interface HeadLifecycleState {
  readonly heads: Readonly<Record<string, HeadRecord>>;
  /** Outputs that do not fit the lifecycle (e.g. a transition out of Final): kept, never applied. */
  readonly anomalies: readonly string[];
}

/** The statuses from which each output may move a head, and where to. */
const TRANSITIONS: Partial<
  Record<HydraNormalised['kind'], { from: readonly HeadStatus[]; to?: HeadStatus }>
> = {
  Committed: { from: ['Initializing'] },
  HeadIsAborted: { from: ['Initializing'], to: 'Final' },
  HeadIsOpen: { from: ['Initializing'], to: 'Open' },
  TxValid: { from: ['Open'] },
  TxInvalid: { from: ['Open'] },
  SnapshotConfirmed: { from: ['Open'] },
  HeadIsClosed: { from: ['Open'], to: 'Closed' },
  HeadIsContested: { from: ['Closed'], to: 'Closed' },
  ReadyToFanout: { from: ['Closed'], to: 'FanoutPossible' },
  HeadIsFinalized: { from: ['Closed', 'FanoutPossible'], to: 'Final' },
};

const anomaly = (state: HeadLifecycleState, event: ReplayedDmlEvent, text: string): HeadLifecycleState => ({
  ...state,
  anomalies: [...state.anomalies, `#${event.position} ${text}`],
});

const evolveHead = (head: HeadRecord, n: HydraNormalised, at: string): HeadRecord => {
  switch (n.kind) {
    case 'Committed':
      return head.committed.includes(n.party) ? head : { ...head, committed: [...head.committed, n.party] };
    case 'HeadIsAborted':
      return { ...head, status: 'Final', aborted: true, finalizedAt: at };
    case 'HeadIsOpen':
      return { ...head, status: 'Open', openedAt: at };
    case 'TxValid':
      return { ...head, validTxs: head.validTxs + 1 };
    case 'TxInvalid':
      return { ...head, invalidTxs: head.invalidTxs + 1 };
    case 'SnapshotConfirmed':
      return { ...head, lastSnapshot: Math.max(head.lastSnapshot, n.snapshotNumber) };
    case 'HeadIsClosed':
      return {
        ...head,
        status: 'Closed',
        closedSnapshot: n.snapshotNumber,
        contestationDeadline: n.contestationDeadline,
        closedAt: at,
      };
    case 'HeadIsContested':
      return {
        ...head,
        closedSnapshot: n.snapshotNumber,
        contestations: head.contestations + 1,
        contestationDeadline: n.contestationDeadline,
      };
    case 'ReadyToFanout':
      return { ...head, status: 'FanoutPossible' };
    case 'HeadIsFinalized':
      return { ...head, status: 'Final', finalizedAt: at };
    default:
      return head;
  }
};

const initializedHead = (
  cohortId: string,
  headId: string,
  parties: readonly string[],
  at: string,
): HeadRecord => ({
  headId,
  cohortId,
  status: 'Initializing',
  parties,
  committed: [],
  aborted: false,
  validTxs: 0,
  invalidTxs: 0,
  lastSnapshot: 0,
  contestations: 0,
  initializedAt: at,
});

/** Head lifecycle per head, from the Hydra outputs. */
export const headLifecycleProjection: Projection<HeadLifecycleState> = {
  name: 'head-lifecycle',
  initial: { heads: {}, anomalies: [] },
  // The same fold as `evolve` over `events`; the state and its table of heads copied once for the run.
  evolveMany(state, events) {
    const drafts = new Drafts();
    let root: Writable<HeadLifecycleState> | undefined;
    let heads: Writable<HeadLifecycleState['heads']> | undefined;
    const noteAnomaly = (event: ReplayedDmlEvent, text: string) => {
      root ??= drafts.object(state);
      (root.anomalies = drafts.array(root.anomalies)).push(`#${event.position} ${text}`);
    };
    const setHead = (record: HeadRecord) => {
      root ??= drafts.object(state);
      heads ??= root.heads = drafts.object(state.heads);
      heads[record.headId] = record;
    };
    for (const event of events) {
      if (event.type !== 'hydra.OutputReceived') continue;
      const n = event.data.normalised;
      if (n.kind === 'Other' || n.kind === 'CommandFailed') continue;
      const head = (heads ?? state.heads)[n.headId];
      if (n.kind === 'HeadIsInitializing') {
        if (head) noteAnomaly(event, `head ${n.headId}: HeadIsInitializing again (status ${head.status})`);
        else setHead(initializedHead(event.data.cohortId, n.headId, n.parties, event.occurredAt));
        continue;
      }
      if (!head) {
        noteAnomaly(event, `head ${n.headId}: ${n.kind} before HeadIsInitializing`);
        continue;
      }
      if (!TRANSITIONS[n.kind]!.from.includes(head.status))
        noteAnomaly(event, `head ${n.headId}: ${n.kind} while ${head.status}`);
      else setHead(evolveHead(head, n, event.occurredAt));
    }
    return root ?? state;
  },
  evolve(state, event) {
    if (event.type !== 'hydra.OutputReceived') return state;
    const n = event.data.normalised;
    if (n.kind === 'Other' || n.kind === 'CommandFailed') return state;
    const head = state.heads[n.headId];
    if (n.kind === 'HeadIsInitializing') {
      if (head)
        return anomaly(state, event, `head ${n.headId}: HeadIsInitializing again (status ${head.status})`);
      const created = initializedHead(event.data.cohortId, n.headId, n.parties, event.occurredAt);
      return { ...state, heads: put(state.heads, n.headId, created) };
    }
    if (!head) return anomaly(state, event, `head ${n.headId}: ${n.kind} before HeadIsInitializing`);
    const rule = TRANSITIONS[n.kind]!;
    if (!rule.from.includes(head.status))
      return anomaly(state, event, `head ${n.headId}: ${n.kind} while ${head.status}`);
    return { ...state, heads: put(state.heads, n.headId, evolveHead(head, n, event.occurredAt)) };
  },
};
