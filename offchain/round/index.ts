// The round protocol: the pure round decider and the training snapshot every party signs.
export * from './round-decider.js';
export { type TrainingSnapshot, trainingSnapshotMessage } from './training-snapshot.js';
