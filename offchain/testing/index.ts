// Test helpers of offchain/ that tests in other folders use (only *.test.ts files may import this).
export { CuttableTcpProxy } from '../storage/fixtures/cuttable-tcp-proxy.js';
export { type BoundedRun, runBounded } from './run-bounded.js';
export { withinBound } from './within-bound.js';
