// The event log: catalogue, envelopes, the store interface and its adapters, subscriptions.
export * from './catalogue.js';
export * from './envelope.js';
export * from './hydra-output.js';
export * from './event-store.js';
export * from './read-check.js';
export { SqliteEventStore, type SqliteEventStoreOptions } from './sqlite-store.js';
export { PostgresEventStore, type PostgresEventStoreOptions } from './postgres-store.js';
export { openEventStore } from './open-store.js';
export * from './subscription.js';
export * from './checkpoint-store.js';
export * from './simulated-history.js';
