import type { NewDmlEvent } from '../events/index.js';

/** One event as it reaches a consumer. */
export interface BusDelivery {
  readonly cohortId: string;
  /** The party the event is about (the message key: one party's events keep their order). */
  readonly key: string;
  readonly event: NewDmlEvent;
  readonly partition: number;
  readonly offset: string;
}

export interface BusSubscribeOptions {
  readonly cohortId: string;
  /** Consumer group: each group gets every event once; its offset moves only after the handler succeeds. */
  readonly group: string;
  readonly handler: (delivery: BusDelivery) => Promise<void> | void;
}

export interface BusSubscription {
  /** Leaves the group after the event in hand; committed offsets stay. */
  stop(): Promise<void>;
  /** Settles when the consumer ends: resolves on stop(), rejects with the handler's error (a crash). */
  readonly done: Promise<void>;
}

/**
 * How round events reach trainers: a topic per cohort, a key per party, consumer groups, and
 * offsets committed only after the handler has handled the event (at-least-once delivery: a
 * consumer that crashes gets the unfinished event again). Handlers must be idempotent, which the
 * projections are.
 */
export interface RoundEventBus {
  readonly kind: string;
  publish(cohortId: string, key: string, events: readonly NewDmlEvent[]): Promise<void>;
  subscribe(options: BusSubscribeOptions): Promise<BusSubscription>;
  close(): Promise<void>;
}
