import { describe, expect, it } from '@jest/globals';
import { createEvent } from './envelope.js';
import { WrongExpectedVersionError, withConcurrencyRetry } from './event-store.js';
import { openEventStore } from './open-store.js';
import { SqliteEventStore } from './sqlite-store.js';

const started = (round: number) =>
  createEvent('training.RoundStarted', {
    cohortId: 'c',
    epoch: 0,
    round,
    globalAdapterHash: 'ef'.repeat(32),
  });

describe('command handlers under optimistic concurrency', () => {
  it('re-read, re-decide and retry after a conflict instead of merging', async () => {
    const store = new SqliteEventStore(':memory:');
    await store.append('cohort-c', [started(1)], { expectedVersion: 'no_stream' });
    // "start the next round": decide from the stream's last round
    let attempts = 0;
    const startNextRound = () =>
      withConcurrencyRetry(async () => {
        attempts++;
        const events = await store.readStream('cohort-c');
        const last = events.at(-1)!;
        const next = (last.data as { round: number }).round + 1;
        if (attempts === 1)
          await store.append('cohort-c', [started(next)], { expectedVersion: last.streamVersion });
        return store.append('cohort-c', [started(next)], { expectedVersion: last.streamVersion });
      });
    await startNextRound();
    expect(attempts).toBe(2);
    expect((await store.readStream('cohort-c')).map((e) => (e.data as { round: number }).round)).toEqual([
      1, 2, 3,
    ]);
    await expect(
      withConcurrencyRetry(() => store.append('cohort-c', [started(9)], { expectedVersion: 0 }), 3),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await store.close();
  });

  it('opens stores by URL and refuses unknown ones with a hint', async () => {
    const store = await openEventStore('sqlite::memory:');
    expect(store.kind).toBe('sqlite');
    await store.close();
    await expect(openEventStore('mysql://x')).rejects.toThrow(/is not an event store URL/);
    await expect(openEventStore('sqlite:')).rejects.toThrow(/names no file/);
  });
});
