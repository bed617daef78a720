// The protocol's delta: its binary format and hash, and every aggregation rule (bit-exact).
export {
  type Delta,
  type DeltaTensor,
  type DeltaValueEncoding,
  DELTA_FORMAT_VERSION,
  DELTA_FORMAT_VERSION_Q8,
  DELTA_MAGIC,
  DELTA_Q8_BLOCK,
  DELTA_VALUE_ENCODINGS,
  deltaEncodingOf,
  parseDeltaValueEncoding,
  compareDeltaNames,
  decodeDelta,
  encodeDelta,
  getDeltaTensor,
  hashDelta,
  hashDeltaBytes,
  makeDelta,
  shapeSize,
  withDeltaEncoding,
} from './delta-format.js';
export { type DeltaContribution, orderContributions } from './contributions.js';
export { fedAvgDeltas } from './fedavg.js';
export { ffaLoraDeltas } from './ffa-lora.js';
export { loraStackDeltas, loraProduct } from './lora-stack.js';
export { medianDeltas } from './median.js';
export { trimmedMeanDeltas } from './trimmed-mean.js';
export { type KrumSelection, krumSelect } from './krum.js';
export { type NesterovOuterSettings, nesterovOuterStep } from './diloco.js';
export { flagDissimilarDeltas, flagOutlierScores } from './contribution-flags.js';
export {
  type CombinedSimilarityScore,
  type RoundSimilarity,
  flagRandomDirectionParties,
} from './random-direction-flags.js';
export { LORA_A_SUFFIX, LORA_B_SUFFIX, isLoraA, isLoraB, loraLayerOf } from './lora-names.js';
export {
  type AggregateResult,
  type AggregationRule,
  AGGREGATION_RULE_KINDS,
  aggregateDeltas,
} from './aggregation-rule.js';
