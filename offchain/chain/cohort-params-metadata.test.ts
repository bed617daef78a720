import { describe, expect, it } from '@jest/globals';
import {
  COHORT_PARAMS_METADATA_LABEL,
  cohortParamsMetadata,
  readCohortParamsMetadata,
} from './cohort-params-metadata.js';

const base = { model: 'lm-small', aggregation: 'ffa-lora', loraRank: 16 };
const onChain = (value: Record<string, unknown>) => ({ [String(COHORT_PARAMS_METADATA_LABEL)]: value });

describe('cohort parameters in the creation metadata', () => {
  it('writes an f32 cohort as before (no deltaEncoding key) and reads it back as f32 (absent)', () => {
    expect(cohortParamsMetadata(base)).toEqual({ v: 1, ...base });
    expect(cohortParamsMetadata({ ...base, deltaEncoding: 'f32' })).toEqual({ v: 1, ...base });
    expect(readCohortParamsMetadata(onChain(cohortParamsMetadata(base)))).toEqual(base);
  });

  it('round-trips a q8 cohort', () => {
    const q8 = { ...base, deltaEncoding: 'q8' as const };
    expect(cohortParamsMetadata(q8)).toEqual({ v: 1, ...base, deltaEncoding: 'q8' });
    expect(readCohortParamsMetadata(onChain(cohortParamsMetadata(q8)))).toEqual(q8);
  });

  it('reads an explicit f32 as absent and refuses an unknown encoding', () => {
    expect(readCohortParamsMetadata(onChain({ v: 1, ...base, deltaEncoding: 'f32' }))).toEqual(base);
    expect(readCohortParamsMetadata(onChain({ v: 1, ...base, deltaEncoding: 'q4' }))).toBeUndefined();
    expect(readCohortParamsMetadata(onChain({ v: 1, ...base, deltaEncoding: 8 }))).toBeUndefined();
  });
});
