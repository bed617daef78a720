// The Hydra part of offchain/: hydra-node 1.3.0's API (messages, codec, client) and the embedded head.
export * from './messages.js';
export * from './codec.js';
