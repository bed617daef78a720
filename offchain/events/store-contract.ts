import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { type NewDmlEvent, type StoredDmlEvent, EventValidationError, createEvent } from './envelope.js';
import {
  DuplicateEventError,
  type EventStore,
  WrongExpectedVersionError,
  readAllFrom,
} from './event-store.js';
import { subscribeToAll } from './subscription.js';

/**
 * The one contract every event store adapter must meet. Each adapter's test file calls this with
 * a factory for a fresh, empty store. Positions are only required to be strictly increasing
 * (EventStoreDB's are not dense); the SQLite and PostgreSQL suites also check density.
 */
export const describeEventStoreContract = (
  name: string,
  open: () => Promise<{ store: EventStore; cleanup: () => Promise<void> }>,
  options: { densePositions: boolean },
): void => {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store, cleanup } = await open());
    });
    afterAll(async () => {
      await cleanup();
    });

    const cohortId = () => `c${randomUUID().slice(0, 8)}`;
    const started = (
      cohort: string,
      round: number,
      meta: { causationId?: string; correlationId?: string } = {},
    ) =>
      createEvent(
        'training.RoundStarted',
        { cohortId: cohort, epoch: 0, round, globalAdapterHash: 'ab'.repeat(32) },
        meta,
      );
    const rounds = (cohort: string, from: number, count: number): NewDmlEvent[] =>
      Array.from({ length: count }, (_, i) => started(cohort, from + i));
    const strip = (e: StoredDmlEvent) => {
      const { stream: _s, streamVersion: _v, position: _p, ...rest } = e;
      return rest;
    };

    it('appends a batch to a new stream and reads it back with versions, positions and metadata', async () => {
      const c = cohortId();
      const first = started(c, 1, { correlationId: 'round-1' });
      const second = started(c, 2, { causationId: first.eventId, correlationId: 'round-1' });
      const result = await store.append(`cohort-${c}`, [first, second], { expectedVersion: 'no_stream' });
      expect(result.nextExpectedVersion).toBe(1);
      const read = await store.readStream(`cohort-${c}`);
      expect(read.map(strip)).toEqual([first, second]);
      expect(read.map((e) => e.streamVersion)).toEqual([0, 1]);
      expect(read.map((e) => e.stream)).toEqual([`cohort-${c}`, `cohort-${c}`]);
      expect(read[1]!.position).toBeGreaterThan(read[0]!.position);
      expect(result.lastPosition).toBe(read[1]!.position);
      expect(read[1]!.causationId).toBe(first.eventId);
      expect(await store.streamVersion(`cohort-${c}`)).toBe(1);
    });

    it('rejects an append with a wrong expected version, with a typed error, and stores nothing', async () => {
      const c = cohortId();
      const stream = `cohort-${c}`;
      await store.append(stream, rounds(c, 1, 3), { expectedVersion: 'no_stream' });
      const attempts: Array<[Parameters<EventStore['append']>[2]['expectedVersion'], number]> = [
        [1, 2],
        [3, 2],
        ['no_stream', 2],
      ];
      for (const [expected, actual] of attempts) {
        const error = await store
          .append(stream, rounds(c, 9, 2), { expectedVersion: expected })
          .catch((e) => e);
        expect(error).toBeInstanceOf(WrongExpectedVersionError);
        expect(error).toMatchObject({ code: 'EVENT_STREAM_VERSION', stream, expected, actual });
      }
      const absent = await store
        .append(`cohort-${cohortId()}`, rounds(c, 1, 1), { expectedVersion: 'stream_exists' })
        .catch((e) => e);
      expect(absent).toBeInstanceOf(WrongExpectedVersionError);
      expect((await store.readStream(stream)).map((e) => e.data)).toEqual(rounds(c, 1, 3).map((e) => e.data));
      await store.append(stream, rounds(c, 4, 1), { expectedVersion: 2 });
      await store.append(stream, rounds(c, 5, 1), { expectedVersion: 'stream_exists' });
      await store.append(stream, rounds(c, 6, 1), { expectedVersion: 'any' });
      expect(await store.streamVersion(stream)).toBe(5);
    });

    it('lets exactly one of several concurrent appends with the same expected version win', async () => {
      const c = cohortId();
      const stream = `cohort-${c}`;
      await store.append(stream, rounds(c, 1, 1), { expectedVersion: 'no_stream' });
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          store.append(stream, rounds(c, 10 + i, 2), { expectedVersion: 0 }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(5);
      for (const r of lost) expect(r.reason).toBeInstanceOf(WrongExpectedVersionError);
      const read = await store.readStream(stream);
      expect(read.map((e) => e.streamVersion)).toEqual([0, 1, 2]);
    });

    it('rejects a batch holding one invalid event with a precise message, storing none of it', async () => {
      const c = cohortId();
      const stream = `cohort-${c}`;
      const bad = {
        ...started(c, 2),
        data: { cohortId: c, epoch: 0, round: -1, globalAdapterHash: 'zz' },
      } as NewDmlEvent;
      const error = await store
        .append(stream, [started(c, 1), bad], { expectedVersion: 'any' })
        .catch((e) => e);
      expect(error).toBeInstanceOf(EventValidationError);
      expect(String(error.message)).toMatch(/training\.RoundStarted.*round: .*globalAdapterHash: /);
      const unknown = { ...started(c, 3), type: 'training.Nope' } as unknown as NewDmlEvent;
      await expect(store.append(stream, [unknown], { expectedVersion: 'any' })).rejects.toThrow(
        /unknown event type/,
      );
      expect(await store.readStream(stream)).toEqual([]);
      expect(await store.streamVersion(stream)).toBe(-1);
    });

    it('refuses an event id that is already in the log, storing nothing of that batch', async () => {
      const c = cohortId();
      const event = started(c, 1);
      await store.append(`cohort-${c}`, [event], { expectedVersion: 'no_stream' });
      const error = await store
        .append(`cohort-${c}-other`, [started(c, 2), event], { expectedVersion: 'any' })
        .catch((e) => e);
      expect(error).toBeInstanceOf(DuplicateEventError);
      expect(error.eventId).toBe(event.eventId);
      expect(await store.readStream(`cohort-${c}-other`)).toEqual([]);
    });

    it('reads a stream from a version with a limit, and an absent stream as empty', async () => {
      const c = cohortId();
      await store.append(`cohort-${c}`, rounds(c, 1, 10), { expectedVersion: 'no_stream' });
      const page = await store.readStream(`cohort-${c}`, { fromVersion: 4, limit: 3 });
      expect(page.map((e) => e.streamVersion)).toEqual([4, 5, 6]);
      expect(page.map((e) => (e.data as { round: number }).round)).toEqual([5, 6, 7]);
      expect(await store.readStream(`cohort-${cohortId()}`)).toEqual([]);
      expect(await store.streamVersion(`cohort-${cohortId()}`)).toBe(-1);
    });

    it('reads all events from a global position in pages, in commit order', async () => {
      const before = await store.headPosition();
      const a = cohortId();
      const b = cohortId();
      await store.append(`cohort-${a}`, rounds(a, 1, 3), { expectedVersion: 'no_stream' });
      await store.append(`cohort-${b}`, rounds(b, 1, 2), { expectedVersion: 'no_stream' });
      await store.append(`cohort-${a}`, rounds(a, 4, 2), { expectedVersion: 2 });
      const head = await store.headPosition();
      const all: StoredDmlEvent[] = [];
      for await (const e of readAllFrom(store, before, 2)) all.push(e);
      expect(all.map((e) => `${e.stream}:${(e.data as { round: number }).round}`)).toEqual([
        `cohort-${a}:1`,
        `cohort-${a}:2`,
        `cohort-${a}:3`,
        `cohort-${b}:1`,
        `cohort-${b}:2`,
        `cohort-${a}:4`,
        `cohort-${a}:5`,
      ]);
      for (let i = 1; i < all.length; i++) expect(all[i]!.position).toBeGreaterThan(all[i - 1]!.position);
      if (options.densePositions)
        expect(all.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => before + i));
      expect(all.at(-1)!.position).toBe(head);
      expect(await store.readAll({ after: head })).toEqual([]);
      const fromMiddle = await store.readAll({ after: all[2]!.position, limit: 2 });
      expect(fromMiddle.map((e) => e.eventId)).toEqual([all[3]!.eventId, all[4]!.eventId]);
    });

    it('catches up from a checkpoint, then follows live appends, and resumes with no gap or duplicate', async () => {
      const c = cohortId();
      const stream = `cohort-${c}`;
      await store.append(stream, rounds(c, 1, 4), { expectedVersion: 'no_stream' });
      const history = await store.readStream(stream);
      const seen: number[] = [];
      const mine = (e: StoredDmlEvent) => {
        if (e.stream === stream) seen.push((e.data as { round: number }).round);
      };
      const first = subscribeToAll(store, { after: history[1]!.position, handler: mine, pageSize: 2 });
      await first.reached(history[3]!.position);
      expect(seen).toEqual([3, 4]);
      const live = await store.append(stream, rounds(c, 5, 3), { expectedVersion: 3 });
      await first.reached(live.lastPosition);
      expect(seen).toEqual([3, 4, 5, 6, 7]);
      await first.stop();
      const checkpoint = first.position;
      expect(checkpoint).toBe(live.lastPosition);

      const more = await store.append(stream, rounds(c, 8, 2), { expectedVersion: 6 });
      const second = subscribeToAll(store, { after: checkpoint, handler: mine });
      await second.reached(more.lastPosition);
      await second.stop();
      expect(seen).toEqual([3, 4, 5, 6, 7, 8, 9]);
    });

    it('stops a subscription whose handler throws, keeping the checkpoint before the failed event', async () => {
      const c = cohortId();
      const stream = `cohort-${c}`;
      const result = await store.append(stream, rounds(c, 1, 3), { expectedVersion: 'no_stream' });
      const events = await store.readStream(stream);
      const sub = subscribeToAll(store, {
        after: events[0]!.position - 1,
        handler: (e) => {
          if (e.eventId === events[1]!.eventId) throw new Error('handler failed');
        },
      });
      await expect(sub.done).rejects.toThrow('handler failed');
      await expect(sub.reached(result.lastPosition)).rejects.toThrow('handler failed');
      expect(sub.position).toBe(events[0]!.position);
    });
  });
};
