/**
 * The cohort's training parameters (model, aggregation rule, LoRA rank, delta encoding) are not in the cohort's
 * datum (the contracts do not need them), but every party's log records them in
 * `l1.CohortCreated`. So that a follower reads them from the chain rather than from whoever
 * writes the log, the creation transaction carries them as transaction metadata under this label
 * (`dml cohort create` attaches it). A creation without it leaves them unknown to the follower.
 */
export const COHORT_PARAMS_METADATA_LABEL = 8_387_661; // "DML" in ASCII as a number

/** How a cohort's parties send their deltas (see offchain/delta/q8.ts); absent means `f32`. */
export type CohortDeltaEncoding = 'f32' | 'q8';

export interface CohortTrainingParamsOnChain {
  readonly model: string;
  readonly aggregation: string;
  readonly loraRank: number;
  /** Absent (older cohorts, and `f32` ones: their metadata is what it always was) means `f32`. */
  readonly deltaEncoding?: CohortDeltaEncoding;
}

/** The metadata value `dml cohort create` attaches (short strings: metadata strings are <= 64 bytes). */
export const cohortParamsMetadata = (
  params: CohortTrainingParamsOnChain,
): Record<string, string | number> => ({
  v: 1,
  model: params.model.slice(0, 64),
  aggregation: params.aggregation.slice(0, 64),
  loraRank: params.loraRank,
  // written only when it is not the default, so that an f32 cohort's creation is unchanged
  ...(params.deltaEncoding === 'q8' ? { deltaEncoding: 'q8' } : {}),
});

/** Reads the parameters back from a transaction's metadata; `undefined` when absent or malformed. */
export const readCohortParamsMetadata = (
  metadata: Readonly<Record<string, unknown>>,
): CohortTrainingParamsOnChain | undefined => {
  const value = metadata[String(COHORT_PARAMS_METADATA_LABEL)] as Record<string, unknown> | undefined;
  if (typeof value !== 'object' || value === null || value['v'] !== 1) return undefined;
  const { model, aggregation, loraRank, deltaEncoding } = value;
  if (typeof model !== 'string' || model === '' || typeof aggregation !== 'string' || aggregation === '')
    return undefined;
  if (typeof loraRank !== 'number' || !Number.isInteger(loraRank) || loraRank < 1) return undefined;
  if (deltaEncoding !== undefined && deltaEncoding !== 'f32' && deltaEncoding !== 'q8') return undefined;
  return { model, aggregation, loraRank, ...(deltaEncoding === 'q8' ? { deltaEncoding } : {}) };
};
