import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { type NewDmlEvent, createEvent } from '../events/index.js';
import type { BusDelivery, RoundEventBus } from './event-bus.js';

/** Collects deliveries; `until(n)` resolves once n have arrived. */
const collector = () => {
  const got: BusDelivery[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    got,
    push(d: BusDelivery) {
      got.push(d);
      for (const w of waiters.filter((w) => got.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    until(n: number) {
      return new Promise<void>((resolve) => (got.length >= n ? resolve() : waiters.push({ n, resolve })));
    },
  };
};

/** The contract of every round-event bus: run against the in-process bus and the real Kafka broker. */
export const describeRoundEventBusContract = (name: string, open: () => Promise<RoundEventBus>): void => {
  describe(`RoundEventBus contract: ${name}`, () => {
    let bus: RoundEventBus;
    beforeAll(async () => {
      bus = await open();
    });
    afterAll(async () => {
      await bus?.close();
    });

    const cohort = () => `c${randomUUID().slice(0, 8)}`;
    const PARTIES = ['aa01', 'bb02', 'cc03'];
    const scored = (cohortId: string, party: string, round: number): NewDmlEvent =>
      createEvent('training.ContributionScored', {
        cohortId,
        epoch: 0,
        round,
        scorer: 'dd04',
        party,
        score: round,
      });
    const roundOf = (d: BusDelivery) => (d.event.data as { round: number }).round;
    const publishRounds = async (cohortId: string, from: number, to: number) => {
      for (let round = from; round <= to; round++)
        for (const party of PARTIES) await bus.publish(cohortId, party, [scored(cohortId, party, round)]);
    };
    const perKey = (deliveries: BusDelivery[]) =>
      Object.fromEntries(PARTIES.map((p) => [p, deliveries.filter((d) => d.key === p).map(roundOf)]));

    it('keeps the order of each party, and gives every group every event once', async () => {
      const c = cohort();
      await publishRounds(c, 1, 10);
      const a = collector();
      const b = collector();
      const subA = await bus.subscribe({ cohortId: c, group: `${c}-a`, handler: (d) => a.push(d) });
      const subB = await bus.subscribe({ cohortId: c, group: `${c}-b`, handler: (d) => b.push(d) });
      await Promise.all([a.until(30), b.until(30)]);
      const expected = Object.fromEntries(PARTIES.map((p) => [p, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]));
      expect(perKey(a.got)).toEqual(expected);
      expect(perKey(b.got)).toEqual(expected);
      for (const d of a.got) expect(d.event.data).toMatchObject({ party: d.key, cohortId: c });
      await subA.stop();
      await subB.stop();
      await expect(subA.done).resolves.toBeUndefined();
    });

    it('redelivers the event a consumer crashed on to the next consumer of its group, losing nothing', async () => {
      const c = cohort();
      const group = `${c}-trainer`;
      await publishRounds(c, 1, 6);
      const handled: BusDelivery[] = [];
      let seen = 0;
      let crashedEventId = '';
      const crashed = await bus.subscribe({
        cohortId: c,
        group,
        handler: (d) => {
          if (++seen === 8) {
            crashedEventId = d.event.eventId;
            throw new Error(`trainer crashed on ${d.key} round ${roundOf(d)}`);
          }
          handled.push(d);
        },
      });
      await expect(crashed.done).rejects.toThrow(/trainer crashed on/);
      const crashedOn = seen === 8 ? handled.length : -1;
      expect(crashedOn).toBe(7);

      const second = collector();
      const restarted = await bus.subscribe({ cohortId: c, group, handler: (d) => second.push(d) });
      const missing = () => {
        const have = new Set([...handled, ...second.got].map((d) => d.event.eventId));
        return 18 - have.size;
      };
      while (missing() > 0) await second.until(second.got.length + 1);
      await restarted.stop();
      // every event was handled, and each party's events were handled in order by each consumer
      for (const consumer of [handled, second.got]) {
        for (const rounds of Object.values(perKey(consumer)))
          expect(rounds).toEqual([...rounds].sort((x, y) => x - y));
      }
      expect(second.got.map((d) => d.event.eventId)).toContain(crashedEventId);
      expect(handled.map((d) => d.event.eventId)).not.toContain(crashedEventId);
      const all = [...handled, ...second.got];
      expect(new Set(all.map((d) => d.event.eventId)).size).toBe(18);
    });

    it('loses nothing while a consumer is down, and redelivers nothing it committed', async () => {
      const c = cohort();
      const group = `${c}-trainer`;
      await publishRounds(c, 1, 3);
      const first = collector();
      const sub1 = await bus.subscribe({ cohortId: c, group, handler: (d) => first.push(d) });
      await first.until(9);
      await sub1.stop();
      await publishRounds(c, 4, 7);
      const second = collector();
      const sub2 = await bus.subscribe({ cohortId: c, group, handler: (d) => second.push(d) });
      await second.until(12);
      await sub2.stop();
      const ids = [...first.got, ...second.got].map((d) => d.event.eventId);
      expect(ids).toHaveLength(21);
      expect(new Set(ids).size).toBe(21);
      expect(perKey(second.got)).toEqual(Object.fromEntries(PARTIES.map((p) => [p, [4, 5, 6, 7]])));
    });
  });
};
