import {
  bool,
  data,
  pfn,
  pif,
  plam,
  pmakeUnit,
  ptraceError,
  unit,
  punBData,
  punIData,
  peqData,
  peqBs,
  pisEmpty,
} from '@harmoniclabs/plu-ts';
import {
  all,
  bsField,
  check,
  field,
  holds,
  indexOf,
  inlineDatum,
  intField,
  isScriptAt,
  listField,
  outAddress,
  outValue,
  TX,
  tokensOf,
  txInfoOf,
  purposeOf,
  unMap,
  freshTerms,
} from './lib/data.js';

/**
 * Cohort token (minting, one-shot). Parameters: the seed output reference (data, a TxOutRef) and
 * the hash of the cohort state validator (data, B). Redeemer: any.
 *
 * Mints exactly one token named "" (the cohort token; its policy id is the cohort id) in the
 * transaction that spends the seed, into an output at the cohort state validator holding a valid
 * initial CohortDatum: cohortId = this policy, epoch 0, no parties, no members, phase Open at round 0.
 * The seed can be spent once, so the policy can mint once: the cohort id is unique. Checking the
 * initial datum here is what lets everyone trust the state output later: from then on the state
 * validator keeps the token at its address and only makes valid transitions.
 * Burning is not allowed: the state output lives for ever (Completed or Premature is final).
 */
export const cohortTokenPolicy = () => {
  freshTerms();
  return pfn(
    [data, data, data, data],
    unit,
  )((seed, stateHash, _redeemer, ctx) => {
    const txInfo = txInfoOf(ctx);
    const own = punBData.$(field(purposeOf(ctx), 0));
    const minted = tokensOf()
      .$(own)
      .$(unMap(field(txInfo, TX.mint)));
    const stateOk = plam(
      data,
      bool,
    )((out) =>
      isScriptAt()
        .$(punBData.$(stateHash))
        .$(outAddress(out))
        .and(holds(outValue(out), own))
        .and(
          ((d) =>
            all(
              peqBs.$(bsField(d, 0)).$(own),
              intField(d, 3).eq(0),
              pisEmpty.$(listField(d, 4)),
              pisEmpty.$(listField(d, 5)),
              indexOf(field(d, 6)).eq(0),
              intField(field(d, 6), 0).eq(0),
            ))(inlineDatum(out)),
        ),
    );
    return pif(unit)
      .$(
        all(
          check(
            'seed',
            listField(txInfo, TX.inputs).some(plam(data, bool)((i) => peqData.$(field(i, 0)).$(seed))),
          ),
          check('one-token', minted.length.eq(1).and(punIData.$(minted.head.snd).eq(1))),
          check('name', punBData.$(minted.head.fst).length.eq(0)),
          check('state-out', listField(txInfo, TX.outputs).some(stateOk)),
        ),
      )
      .then(pmakeUnit())
      .else(ptraceError(unit).$('cohort-token'));
  });
};
