import { Kafka, type Consumer, type KafkaMessage, type Producer, logLevel } from 'kafkajs';
import { DmlError } from '../errors.js';
import { type NewDmlEvent, validateEvent } from '../events/index.js';
import type { BusSubscribeOptions, BusSubscription, RoundEventBus } from './event-bus.js';

export interface KafkaBusOptions {
  readonly brokers: readonly string[];
  /** Prefix of topic names (default `dml.`): topic `${prefix}cohort.${cohortId}`. */
  readonly topicPrefix?: string;
  /** Partitions of a new cohort topic (default 3). Events of one party (one key) share a partition. */
  readonly partitions?: number;
  readonly clientId?: string;
}

/**
 * The Kafka bus (kafkajs 2.2.4): one topic per cohort, the party as message key (so one party's
 * events stay in order on one partition), a consumer group per consumer role, auto-commit off:
 * the offset of a message is committed only after the handler returned. A handler that throws
 * is a crash: the consumer leaves the group without committing, and the next consumer of the
 * group is handed the same message again.
 */
export class KafkaRoundEventBus implements RoundEventBus {
  readonly kind = 'kafka';
  private readonly kafka: Kafka;
  private readonly prefix: string;
  private readonly partitions: number;
  private producer: Promise<Producer> | undefined;
  private readonly topicsReady = new Map<string, Promise<void>>();
  private readonly consumers = new Set<Consumer>();

  constructor(options: KafkaBusOptions) {
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'dml',
      brokers: [...options.brokers],
      logLevel: logLevel.NOTHING,
    });
    this.prefix = options.topicPrefix ?? 'dml.';
    this.partitions = options.partitions ?? 3;
  }

  topicOf(cohortId: string): string {
    const topic = `${this.prefix}cohort.${cohortId}`;
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic))
      throw new DmlError(
        'BUS_TOPIC',
        `cohort id "${cohortId}" cannot name a Kafka topic (letters, digits, . _ -)`,
      );
    return topic;
  }

  private ensureTopic(topic: string): Promise<void> {
    let ready = this.topicsReady.get(topic);
    if (!ready) {
      ready = (async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        try {
          await admin.createTopics({
            topics: [{ topic, numPartitions: this.partitions }],
            waitForLeaders: true,
          });
        } finally {
          await admin.disconnect();
        }
      })();
      ready.catch(() => this.topicsReady.delete(topic));
      this.topicsReady.set(topic, ready);
    }
    return ready;
  }

  private getProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return producer;
    })();
    return this.producer;
  }

  async publish(cohortId: string, key: string, events: readonly NewDmlEvent[]): Promise<void> {
    const topic = this.topicOf(cohortId);
    const valid = events.map(validateEvent);
    await this.ensureTopic(topic);
    const producer = await this.getProducer();
    await producer.send({
      topic,
      acks: -1,
      messages: valid.map((event) => ({ key, value: JSON.stringify(event), headers: { type: event.type } })),
    });
  }

  async subscribe(options: BusSubscribeOptions): Promise<BusSubscription> {
    const topic = this.topicOf(options.cohortId);
    await this.ensureTopic(topic);
    const consumer = this.kafka.consumer({ groupId: options.group, allowAutoTopicCreation: false });
    this.consumers.add(consumer);
    let failure: unknown;
    let settle!: { resolve: () => void; reject: (e: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined);
    let stopping: Promise<void> | undefined;
    // The message being handled and committed: a graceful stop lets it finish first.
    let inFlight: Promise<void> = Promise.resolve();
    const shutdown = (): Promise<void> =>
      (stopping ??= (async () => {
        await inFlight;
        await consumer.disconnect().catch(() => undefined);
        this.consumers.delete(consumer);
        if (failure !== undefined) settle.reject(failure);
        else settle.resolve();
      })());

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ partition, message, pause }) => (inFlight = handle(partition, message, pause)),
    });
    async function handle(partition: number, message: KafkaMessage, pause: () => () => void): Promise<void> {
      if (failure !== undefined || stopping) return;
      try {
        const event = validateEvent(JSON.parse(message.value?.toString('utf8') ?? 'null'));
        await options.handler({
          cohortId: options.cohortId,
          key: message.key?.toString('utf8') ?? '',
          event,
          partition,
          offset: message.offset,
        });
      } catch (error) {
        // A crash: stop taking messages, commit nothing, leave the group (outside this callback).
        failure = error;
        pause();
        setImmediate(() => void shutdown());
        return;
      }
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
    }
    return { done, stop: shutdown };
  }

  async close(): Promise<void> {
    for (const consumer of [...this.consumers]) await consumer.disconnect().catch(() => undefined);
    if (this.producer) await (await this.producer).disconnect();
  }
}
