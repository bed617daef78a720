/** A value with its `readonly` modifiers removed (one level): what a draft may change in place. */
export type Writable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Copy-on-write for folding a run of events at once (`Projection.evolveMany`): the first time the
 * run changes an object of the state it was given, it changes a shallow copy instead, and every
 * later change in the same run goes to that copy. Objects the run created itself are changed in
 * place. So a run copies each touched object once, not once per event, and the state it was given
 * is never changed. A `Drafts` lives for one run only: after the run its copies are the new state,
 * immutable like any other.
 */
export class Drafts {
  private readonly own = new Set<object>();

  /** `value` itself if this run made it, else a shallow copy that this run now owns. */
  object<T extends object>(value: T): Writable<T> {
    if (this.own.has(value)) return value as Writable<T>;
    const copy = { ...value };
    this.own.add(copy);
    return copy;
  }

  /** The same for an array. */
  array<T>(value: readonly T[]): T[] {
    if (this.own.has(value)) return value as T[];
    const copy = value.slice();
    this.own.add(copy);
    return copy;
  }

  /** Marks an object this run has just created as its own (changeable in place). */
  fresh<T extends object>(value: T): Writable<T> {
    this.own.add(value);
    return value as Writable<T>;
  }
}
