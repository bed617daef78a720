// The auditor's verify: every committed delta, aggregate, close, slash and the ledger, checked.
export * from './aggregation-rule-name.js';
export * from './verify-cohort.js';
export * from './verify-stores.js';
