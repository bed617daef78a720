import { DmlError } from '../errors.js';
import { type NewDmlEvent, validateEvent } from '../events/index.js';
import type { BusDelivery, BusSubscribeOptions, BusSubscription, RoundEventBus } from './event-bus.js';

interface Topic {
  readonly log: Array<{ key: string; event: NewDmlEvent }>;
  /** Committed offset per group: the next message to deliver. */
  readonly committed: Map<string, number>;
  readonly active: Set<string>;
  readonly wake: Set<() => void>;
}

/**
 * The in-process bus (the default, parties in one process): the same contract as the Kafka bus
 * with one partition per cohort. Messages are copied through JSON and validated on delivery, as
 * they would be across machines. One active consumer per group.
 */
export class InMemoryRoundEventBus implements RoundEventBus {
  readonly kind = 'memory';
  private readonly topics = new Map<string, Topic>();

  private topic(cohortId: string): Topic {
    let topic = this.topics.get(cohortId);
    if (!topic) {
      topic = { log: [], committed: new Map(), active: new Set(), wake: new Set() };
      this.topics.set(cohortId, topic);
    }
    return topic;
  }

  async publish(cohortId: string, key: string, events: readonly NewDmlEvent[]): Promise<void> {
    const topic = this.topic(cohortId);
    for (const event of events)
      topic.log.push({ key, event: JSON.parse(JSON.stringify(validateEvent(event))) });
    for (const wake of topic.wake) wake();
  }

  async subscribe(options: BusSubscribeOptions): Promise<BusSubscription> {
    const topic = this.topic(options.cohortId);
    if (topic.active.has(options.group))
      throw new DmlError(
        'BUS_GROUP_BUSY',
        `group ${options.group} already has a consumer on cohort ${options.cohortId}`,
      );
    topic.active.add(options.group);
    let stopped = false;
    let wake: (() => void) | undefined;
    const waitForMore = () =>
      new Promise<void>((resolve) => {
        wake = () => {
          topic.wake.delete(wake!);
          wake = undefined;
          resolve();
        };
        topic.wake.add(wake);
      });
    const run = async () => {
      try {
        while (!stopped) {
          const offset = topic.committed.get(options.group) ?? 0;
          const message = topic.log[offset];
          if (!message) {
            await waitForMore();
            continue;
          }
          const delivery: BusDelivery = {
            cohortId: options.cohortId,
            key: message.key,
            event: validateEvent(message.event),
            partition: 0,
            offset: String(offset),
          };
          await options.handler(delivery);
          topic.committed.set(options.group, offset + 1);
          await Promise.resolve();
        }
      } finally {
        topic.active.delete(options.group);
      }
    };
    const done = run();
    done.catch(() => undefined);
    return {
      done,
      async stop() {
        stopped = true;
        wake?.();
        await done.catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    for (const topic of this.topics.values()) for (const wake of [...topic.wake]) wake();
  }
}
