// The party's log kept in step with layer 1: the cohort's `l1.*` events derived from the chain.
export {
  eventsOfTransition,
  l1EventId,
  type OffChainFacts,
  type TransitionEvent,
} from './transition-events.js';
export { syncCohortLog, type CohortLogSync } from './sync-cohort-log.js';
