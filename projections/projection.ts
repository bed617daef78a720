import type { ReplayedDmlEvent } from '../offchain/index.js';

/** A read model: a pure fold of the event log. `evolve` never mutates the state it is given. */
export interface Projection<S> {
  readonly name: string;
  readonly initial: S;
  evolve(state: S, event: ReplayedDmlEvent): S;
  /**
   * Optional: folds a run of events at once, for replay speed. Must equal folding `evolve` over
   * them in order (a property test checks it), and must not mutate `state` either; it may mutate
   * objects it created itself (a round's records copied once for a run of scores, not per event).
   */
  evolveMany?(state: S, events: readonly ReplayedDmlEvent[]): S;
}

/** Folds events in order with `evolveMany` when the projection has one, else event by event. */
export const evolveAll = <S>(projection: Projection<S>, state: S, events: readonly ReplayedDmlEvent[]): S => {
  if (projection.evolveMany) return projection.evolveMany(state, events);
  let current = state;
  for (const event of events) current = projection.evolve(current, event);
  return current;
};

/**
 * Folds events (in position order) at most once each, like `applyOnce` event by event but with
 * one checkpoint object for the whole run.
 */
export const applyRunOnce = <S>(
  projection: Projection<S>,
  current: Checkpointed<S>,
  events: readonly ReplayedDmlEvent[],
): Checkpointed<S> => {
  let from = 0;
  while (from < events.length && events[from]!.position <= current.position) from++;
  if (from === events.length) return current;
  const run = from === 0 ? events : events.slice(from);
  return { position: run[run.length - 1]!.position, state: evolveAll(projection, current.state, run) };
};

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
  event: ReplayedDmlEvent,
): Checkpointed<S> =>
  event.position <= current.position
    ? current
    : { position: event.position, state: projection.evolve(current.state, event) };

export const foldEvents = <S>(
  projection: Projection<S>,
  events: Iterable<ReplayedDmlEvent>,
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
