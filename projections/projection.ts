import type { StoredDmlEvent } from '../offchain/index.js';

/** A read model: a pure fold of the event log. `evolve` never mutates the state it is given. */
export interface Projection<S> {
  readonly name: string;
  readonly initial: S;
  evolve(state: S, event: StoredDmlEvent): S;
}

/** A projection's state with the position of the last event folded into it. */
export interface Checkpointed<S> {
  readonly position: number;
  readonly state: S;
}

/**
 * Folds one event at most once: an event at or below the checkpoint (a redelivery, a replay of
 * what was seen) leaves the state as it is. This is what makes every projection idempotent.
 */
export const applyOnce = <S>(
  projection: Projection<S>,
  current: Checkpointed<S>,
  event: StoredDmlEvent,
): Checkpointed<S> =>
  event.position <= current.position
    ? current
    : { position: event.position, state: projection.evolve(current.state, event) };

export const foldEvents = <S>(
  projection: Projection<S>,
  events: Iterable<StoredDmlEvent>,
  from: Checkpointed<S> = { position: 0, state: projection.initial },
): Checkpointed<S> => {
  let current = from;
  for (const event of events) current = applyOnce(projection, current, event);
  return current;
};

/** Sets `key` of a record to `value`, returning a new record. */
export const put = <V>(record: Readonly<Record<string, V>>, key: string, value: V): Record<string, V> => ({
  ...record,
  [key]: value,
});
