// Test helpers of projections/, kept off its public face: only *.test.ts files may import this
// entry from outside projections/ (a dependency-cruiser rule, `testing-entry-only-from-tests`).
export * from './audit-fixture.js';
export * from './direction-deltas.js';
