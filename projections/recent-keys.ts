/**
 * A few strings recently used as property keys, to look keys up by content before the engine does.
 *
 * Every string JSON.parse returns is a fresh copy. Using one as a property key makes the engine hash
 * it and look it up in its table of interned strings, once per event: for a fold keyed by 56-digit
 * party ids that was the dearest step after JSON.parse itself. Nearly every event of a run names a
 * party the run has already seen (a cohort has a handful), so comparing the fresh id with those
 * few (a string compare stops at the first differing character) and using the copy already
 * interned is cheaper. The result is always equal to the key given: only which copy is used
 * changes, never a fold's result.
 */
export class RecentKeys {
  private readonly keys: string[] = [];
  private next = 0;

  constructor(private readonly capacity = 16) {}

  /** An equal string seen before (the one already used as a key), else `key`, remembered. */
  get(key: string): string {
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) return keys[i]!;
    if (keys.length < this.capacity) keys.push(key);
    else {
      keys[this.next] = key;
      this.next = (this.next + 1) % this.capacity;
    }
    return key;
  }
}
