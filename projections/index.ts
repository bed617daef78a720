// The public face of projections/: read models folded from the event log, and the auditor.
export * from './projection.js';
export * from './head-lifecycle.js';
export * from './escrow-ledger.js';
export * from './training-history.js';
export * from './reputation.js';
export * from './replay.js';
export * from './summary.js';
export * from './audit/index.js';
export * from './report/index.js';
export * from './direction-verdict.js';
