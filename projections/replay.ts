import {
  type CheckpointStore,
  type EventStore,
  type ReplayedDmlEvent,
  subscribeToAll,
  type CatchUpSubscription,
  type ReadValidation,
} from '../offchain/index.js';
import { escrowLedgerProjection } from './escrow-ledger.js';
import { headLifecycleProjection } from './head-lifecycle.js';
import { type Checkpointed, type Projection, applyOnce, applyRunOnce } from './projection.js';
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
export const applyToAll = (states: ProjectionStates, event: ReplayedDmlEvent): ProjectionStates => ({
  headLifecycle: applyOnce(ALL_PROJECTIONS.headLifecycle, states.headLifecycle, event),
  escrowLedger: applyOnce(ALL_PROJECTIONS.escrowLedger, states.escrowLedger, event),
  trainingHistory: applyOnce(ALL_PROJECTIONS.trainingHistory, states.trainingHistory, event),
  reputation: applyOnce(ALL_PROJECTIONS.reputation, states.reputation, event),
});

/**
 * Folds a run of events (in increasing positions) into every projection, each event at most once:
 * the same as `applyToAll` event by event, with one checkpoint per projection for the run.
 */
export const applyRunToAll = (
  states: ProjectionStates,
  events: readonly ReplayedDmlEvent[],
): ProjectionStates => ({
  headLifecycle: applyRunOnce(ALL_PROJECTIONS.headLifecycle, states.headLifecycle, events),
  escrowLedger: applyRunOnce(ALL_PROJECTIONS.escrowLedger, states.escrowLedger, events),
  trainingHistory: applyRunOnce(ALL_PROJECTIONS.trainingHistory, states.trainingHistory, events),
  reputation: applyRunOnce(ALL_PROJECTIONS.reputation, states.reputation, events),
});

/** Does this event belong to the cohort? (Every event's data names its cohort.) */
export const belongsToCohort = (event: ReplayedDmlEvent, cohortId: string): boolean =>
  (event.data as { cohortId?: string }).cohortId === cohortId;

const cohortOf = (event: ReplayedDmlEvent): string => (event.data as { cohortId: string }).cohortId;

const maxPosition = <T extends { position: number }>(xs: readonly T[]) =>
  xs.reduce((m, x) => Math.max(m, x.position), 0);

/** Puts per-cohort states side by side into the states of the whole log. */
export const mergeProjectionStates = (parts: readonly ProjectionStates[]): ProjectionStates => {
  const pick = <K extends keyof ProjectionStates>(key: K) => parts.map((p) => p[key]);
  return {
    headLifecycle: {
      position: maxPosition(pick('headLifecycle')),
      state: {
        heads: Object.assign({}, ...pick('headLifecycle').map((c) => c.state.heads)),
        anomalies: pick('headLifecycle').flatMap((c) => c.state.anomalies),
      },
    },
    escrowLedger: {
      position: maxPosition(pick('escrowLedger')),
      state: { cohorts: Object.assign({}, ...pick('escrowLedger').map((c) => c.state.cohorts)) },
    },
    trainingHistory: {
      position: maxPosition(pick('trainingHistory')),
      state: { cohorts: Object.assign({}, ...pick('trainingHistory').map((c) => c.state.cohorts)) },
    },
    reputation: {
      position: maxPosition(pick('reputation')),
      state: { cohorts: Object.assign({}, ...pick('reputation').map((c) => c.state.cohorts)) },
    },
  };
};

/**
 * Every projection, kept per cohort: each cohort's states are folded only with that cohort's
 * events (the folds stay pure and copy only one cohort's data per event), and this table of
 * partitions is the one mutable thing, like the table of a database holding the read models.
 */
export class CohortProjections {
  private readonly partitions = new Map<string, ProjectionStates>();
  /** Last position applied (of any cohort). */
  position = 0;

  apply(event: ReplayedDmlEvent): void {
    const cohortId = cohortOf(event);
    this.partitions.set(
      cohortId,
      applyToAll(this.partitions.get(cohortId) ?? initialProjectionStates(), event),
    );
    if (event.position > this.position) this.position = event.position;
  }

  /**
   * Applies events in position order, a run of consecutive events of one cohort at a time (the
   * same result as `apply` on each, with fewer intermediate states: what replay uses).
   */
  applyMany(events: readonly ReplayedDmlEvent[]): void {
    let start = 0;
    while (start < events.length) {
      const cohortId = cohortOf(events[start]!);
      let end = start + 1;
      while (end < events.length && cohortOf(events[end]!) === cohortId) end++;
      const run = start === 0 && end === events.length ? events : events.slice(start, end);
      this.partitions.set(
        cohortId,
        applyRunToAll(this.partitions.get(cohortId) ?? initialProjectionStates(), run),
      );
      const last = run[run.length - 1]!.position;
      if (last > this.position) this.position = last;
      start = end;
    }
  }

  cohort(cohortId: string): ProjectionStates | undefined {
    return this.partitions.get(cohortId);
  }

  cohortIds(): string[] {
    return [...this.partitions.keys()].sort();
  }

  /** The states of the whole log (cohorts in id order). */
  merged(): ProjectionStates {
    return mergeProjectionStates(this.cohortIds().map((id) => this.partitions.get(id)!));
  }

  toJSON(): { position: number; cohorts: Record<string, ProjectionStates> } {
    return { position: this.position, cohorts: Object.fromEntries(this.partitions) };
  }

  static fromJSON(json: { position: number; cohorts: Record<string, ProjectionStates> }): CohortProjections {
    const table = new CohortProjections();
    table.position = json.position;
    for (const [id, states] of Object.entries(json.cohorts)) table.partitions.set(id, states);
    return table;
  }
}

export interface ReplayOptions {
  /** Only this cohort's events. */
  readonly cohortId?: string;
  /** Events read per page (default 2,000: a page's events die young, before the collector promotes them). */
  readonly pageSize?: number;
  /** How much to check of each event read (default 'envelope'; 'full' re-validates every schema). */
  readonly validate?: ReadValidation;
  /** Called after each page with the position reached and the log's head. */
  readonly onProgress?: (position: number, head: number) => void;
}

export interface ReplayResult {
  /** The states of every cohort replayed, side by side. */
  readonly states: ProjectionStates;
  readonly table: CohortProjections;
  /** Events folded (after the cohort filter) and events read. */
  readonly folded: number;
  readonly read: number;
  readonly position: number;
}

/**
 * Rebuilds every projection from zero by replaying the whole log: page by page, through the
 * store's replay read (`readAllForReplay`: only what the folds read) when it has one.
 */
export const replayProjections = async (
  store: EventStore,
  options: ReplayOptions = {},
): Promise<ReplayResult> => {
  const pageSize = options.pageSize ?? 2_000;
  const validate = options.validate ?? 'envelope';
  const head = await store.headPosition();
  const table = new CohortProjections();
  const readPage = (after: number): Promise<readonly ReplayedDmlEvent[]> =>
    store.readAllForReplay
      ? store.readAllForReplay({ after, limit: pageSize, validate })
      : store.readAll({ after, limit: pageSize, validate });
  let position = 0;
  let folded = 0;
  let read = 0;
  while (true) {
    const page = await readPage(position);
    read += page.length;
    if (page.length) position = page[page.length - 1]!.position;
    const wanted =
      options.cohortId === undefined ? page : page.filter((e) => belongsToCohort(e, options.cohortId!));
    table.applyMany(wanted);
    folded += wanted.length;
    options.onProgress?.(position, head);
    if (page.length < pageSize) break;
  }
  return { states: table.merged(), table, folded, read, position };
};

export interface LiveProjections {
  /** The states as of the last event handled. */
  current(): ProjectionStates;
  readonly table: CohortProjections;
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
  const table = saved
    ? CohortProjections.fromJSON(
        saved.state as { position: number; cohorts: Record<string, ProjectionStates> },
      )
    : new CohortProjections();
  const saveEvery = options.saveEvery ?? 1000;
  let sinceSave = 0;
  let saving: Promise<void> = Promise.resolve();
  const save = (position: number) => {
    const snapshot = JSON.parse(JSON.stringify(table)) as unknown;
    saving = saving.then(() => checkpoints.save(CHECKPOINT_NAME, { position, state: snapshot }));
    return saving;
  };
  const subscription = subscribeToAll(store, {
    after: saved?.position ?? 0,
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    handler: async (event) => {
      table.apply(event);
      if (++sinceSave >= saveEvery) {
        sinceSave = 0;
        await save(event.position);
      }
    },
  });
  return {
    current: () => table.merged(),
    table,
    subscription,
    async stop() {
      await subscription.stop();
      await save(subscription.position);
    },
  };
};
