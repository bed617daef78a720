// The participant node: a party's round steps through its head seat, its cohort's layer-1 actions.
export {
  type CarryOverDatum,
  type DeltaCommitmentDatum,
  type RoundAcknowledgementDatum,
  type RoundDatum,
  decodeRoundDatum,
  encodeRoundDatum,
} from './round-datum.js';
export { HeadSeat, roundDatumsIn } from './head-seat.js';
export type { Learner } from './learner.js';
export {
  Participant,
  DEFAULT_READ_GRANT_SECONDS,
  poison,
  type ParticipantIdentity,
  type ParticipantOptions,
  type PartyBehaviour,
  type RoundOutcome,
} from './participant.js';
export { CohortChain, type ChainWallet, type CohortTrainingParams } from './cohort-chain.js';
export { AdapterFiles } from './adapter-files.js';
export {
  type EpochCarryOver,
  type HeadRounds,
  type OwnAggregate,
  type PartyAction,
  type PartyObservation,
  type PartyRoundsOwn,
  actionProgress,
  addHeadRounds,
  decidePartyAction,
  emptyHeadRounds,
  emptyPartyRounds,
  flaggedBy,
  foldPartyRounds,
} from './party-round-decider.js';
export { PartyRoundLoop, type PartyRoundLoopOptions, type PartyRoundLoopResult } from './party-round-loop.js';
export { type SignedRoundSnapshot, latestSignedSnapshot } from './signed-snapshot.js';
export {
  type FollowHead,
  type FollowLayer1,
  type FollowObservation,
  type FollowStep,
  type FollowWaitFor,
  decideFollowStep,
  followEpochRounds,
} from './cohort-follow-decider.js';
export { type CohortFollowPorts, type CohortFollowResult, followCohortEpochs } from './cohort-follow.js';
