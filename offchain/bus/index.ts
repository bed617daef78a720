// The round-event bus: in process by default, Kafka across machines.
export * from './event-bus.js';
export { InMemoryRoundEventBus } from './memory-bus.js';
export { KafkaRoundEventBus, type KafkaBusOptions } from './kafka-bus.js';
export { openRoundEventBus } from './open-bus.js';
