import {
  type CheckpointStore,
  type EventStore,
  type StoredDmlEvent,
  subscribeToAll,
  type CatchUpSubscription,
} from '../offchain/index.js';
import { escrowLedgerProjection } from './escrow-ledger.js';
import { headLifecycleProjection } from './head-lifecycle.js';
import { type Checkpointed, type Projection, applyOnce } from './projection.js';
import { reputationProjection } from './reputation.js';
import { trainingHistoryProjection } from './training-history.js';

/** Every projection of the log, by name. */
export const ALL_PROJECTIONS = {
  headLifecycle: headLifecycleProjection,
  escrowLedger: escrowLedgerProjection,
  trainingHistory: trainingHistoryProjection,
  reputation: reputationProjection,
} as const;

type All = typeof ALL_PROJECTIONS;
export type ProjectionStates = {
  [K in keyof All]: All[K] extends Projection<infer S> ? Checkpointed<S> : never;
};

export const initialProjectionStates = (): ProjectionStates =>
  Object.fromEntries(
    Object.entries(ALL_PROJECTIONS).map(([key, p]) => [key, { position: 0, state: p.initial }]),
  ) as ProjectionStates;

/** Folds one event into every projection (each at most once). */
export const applyToAll = (states: ProjectionStates, event: StoredDmlEvent): ProjectionStates => ({
  headLifecycle: applyOnce(ALL_PROJECTIONS.headLifecycle, states.headLifecycle, event),
  escrowLedger: applyOnce(ALL_PROJECTIONS.escrowLedger, states.escrowLedger, event),
  trainingHistory: applyOnce(ALL_PROJECTIONS.trainingHistory, states.trainingHistory, event),
  reputation: applyOnce(ALL_PROJECTIONS.reputation, states.reputation, event),
});

/** Does this event belong to the cohort? (Every event's data names its cohort.) */
export const belongsToCohort = (event: StoredDmlEvent, cohortId: string): boolean =>
  (event.data as { cohortId?: string }).cohortId === cohortId;

export interface ReplayOptions {
  /** Only this cohort's events. */
  readonly cohortId?: string;
  readonly pageSize?: number;
  /** Called after each page with the position reached and the log's head. */
  readonly onProgress?: (position: number, head: number) => void;
}

export interface ReplayResult {
  readonly states: ProjectionStates;
  /** Events folded (after the cohort filter) and events read. */
  readonly folded: number;
  readonly read: number;
  readonly position: number;
}

/** Rebuilds every projection from zero by replaying the whole log. */
export const replayProjections = async (
  store: EventStore,
  options: ReplayOptions = {},
): Promise<ReplayResult> => {
  const pageSize = options.pageSize ?? 10_000;
  const head = await store.headPosition();
  let states = initialProjectionStates();
  let position = 0;
  let folded = 0;
  let read = 0;
  while (true) {
    const page = await store.readAll({ after: position, limit: pageSize });
    for (const event of page) {
      read++;
      position = event.position;
      if (options.cohortId !== undefined && !belongsToCohort(event, options.cohortId)) continue;
      states = applyToAll(states, event);
      folded++;
    }
    options.onProgress?.(position, head);
    if (page.length < pageSize) break;
  }
  return { states, folded, read, position };
};

export interface LiveProjections {
  /** The states as of the last event handled. */
  current(): ProjectionStates;
  readonly subscription: CatchUpSubscription;
  /** Stores the checkpoint now (also done every `saveEvery` events) and stops. */
  stop(): Promise<void>;
}

const CHECKPOINT_NAME = 'projections';

/**
 * Keeps every projection up to date: restores the last checkpoint (states and position), catches
 * up from there and follows live appends, saving a checkpoint every `saveEvery` events.
 */
export const startLiveProjections = async (
  store: EventStore,
  checkpoints: CheckpointStore,
  options: { saveEvery?: number; pollIntervalMs?: number } = {},
): Promise<LiveProjections> => {
  const saved = await checkpoints.load(CHECKPOINT_NAME);
  let states = (saved?.state as ProjectionStates | undefined) ?? initialProjectionStates();
  const after = saved?.position ?? 0;
  const saveEvery = options.saveEvery ?? 1000;
  let sinceSave = 0;
  let saving: Promise<void> = Promise.resolve();
  const save = (position: number) => {
    const snapshot = states;
    saving = saving.then(() => checkpoints.save(CHECKPOINT_NAME, { position, state: snapshot }));
    return saving;
  };
  const subscription = subscribeToAll(store, {
    after,
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    handler: async (event) => {
      states = applyToAll(states, event);
      if (++sinceSave >= saveEvery) {
        sinceSave = 0;
        await save(event.position);
      }
    },
  });
  return {
    current: () => states,
    subscription,
    async stop() {
      await subscription.stop();
      await save(subscription.position);
    },
  };
};
