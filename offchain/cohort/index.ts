// A cohort's life as the contracts enforce it: the pure cohort decider.
export * from './cohort-decider.js';
