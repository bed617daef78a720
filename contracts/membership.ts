import {
  bool,
  data,
  pfn,
  pif,
  plam,
  plet,
  pmakeUnit,
  ptraceError,
  unit,
  punBData,
  punIData,
  peqData,
  peqBs,
  pnot,
  pconsBs,
  pprepend,
  pListToData,
  papp,
  type Term,
  type PByteString,
  type PData,
  type PList,
  type PPair,
  type UtilityTermOf,
} from '@harmoniclabs/plu-ts';
import {
  all,
  and,
  any,
  every,
  filter,
  lengthOf,
  pairFst,
  pairSnd,
  bData,
  bsField,
  check,
  field,
  fieldsOf,
  firstWhere,
  holds,
  indexOf,
  inlineDatum,
  intField,
  isPubKeyAt,
  isScriptAt,
  listField,
  lovelaceOf,
  lowerBoundOf,
  mkConstr,
  nth,
  outAddress,
  outValue,
  purposeOf,
  resolvedOf,
  signedBy,
  TX,
  inline,
  tokensOf,
  txInfoOf,
  unMap,
  type B,
  type D,
  freshTerms,
} from './lib/data.js';
import { CLAIM_PREFIX, KILL_PREFIX, SIGNAL_PREFIX } from './token-prefixes.js';

type Tokens = UtilityTermOf<PList<PPair<PData, PData>>>;

/**
 * Membership policy (minting): the party tokens, and the rules for every deposit leaving escrow.
 * Parameters: cohortId (data B, the cohort token's policy id), escrowHash (data B) and slashHash
 * (data B, the kill-vote withdrawal script).
 * Redeemer:
 *   Join   = Constr 0 [pkh: B, hydraVk: B]
 *   Claim  = Constr 1 []
 *   Refund = Constr 2 []
 *   Slash  = Constr 3 [accused: B]   (checked by the kill-vote withdrawal script, slash.ts)
 * The cohort's state is the inline CohortDatum of the output holding the cohort token: Join
 * spends it (membership is recorded there), the other paths read it as a reference input.
 */
export const membershipPolicy = () => {
  freshTerms();
  return pfn(
    [data, data, data, data, data],
    unit,
  )((cohortIdData, escrowHashData, slashHashData, redeemer, ctx) =>
    plet(txInfoOf(ctx)).in((txInfo) =>
      plet(punBData.$(field(purposeOf(ctx), 0))).in((own) =>
        plet(punBData.$(cohortIdData)).in((cohortId) =>
          plet(punBData.$(escrowHashData)).in((escrowHash) =>
            plet(
              tokensOf()
                .$(own)
                .$(unMap(field(txInfo, TX.mint))),
            ).in((tokens) =>
              plet(indexOf(redeemer)).in((path) => {
                const inputs = listField(txInfo, TX.inputs);
                const outputs = listField(txInfo, TX.outputs);
                const holdsCohort = (out: D): B => holds(outValue(out), cohortId);
                const body = pif(bool)
                  .$(path.eq(0))
                  .then(
                    join(txInfo, own, cohortId, escrowHash, tokens, redeemer, inputs, outputs, holdsCohort),
                  )
                  .else(
                    pif(bool)
                      .$(path.eq(3))
                      .then(check('slash-vote', slashVoteRuns(txInfo, own, slashHashData, redeemer)))
                      .else(
                        plet(
                          field(
                            inlineDatum(
                              resolvedOf(
                                firstWhere(listField(txInfo, TX.referenceInputs), (r) =>
                                  holdsCohort(resolvedOf(r)),
                                ),
                              ),
                            ),
                            6,
                          ),
                        ).in((phase) =>
                          all(
                            pif(bool)
                              .$(path.eq(1))
                              .then(check('not-completed', indexOf(phase).eq(2)))
                              .else(
                                all(
                                  check('not-premature', indexOf(phase).eq(3)),
                                  check('window-open', lowerBoundOf(txInfo).gt(intField(phase, 0))),
                                ),
                              ),
                            withdrawOwn(txInfo, tokens, escrowInputs(inputs, escrowHash, own), outputs),
                          ),
                        ),
                      ),
                  );
                return pif(unit).$(body).then(pmakeUnit()).else(ptraceError(unit).$('membership'));
              }),
            ),
          ),
        ),
      ),
    ),
  );
};

/**
 * Slash forwards to the kill-vote withdrawal script: the transaction carries a redeemer for a
 * (zero) withdrawal of that script's reward account, naming this policy and the same accused. The
 * ledger runs the script for that redeemer, and the script checks the whole vote against this
 * policy's tokens and escrows (see slash.ts).
 */
const slashVoteRuns = (txInfo: D, own: Term<PByteString>, slashHashData: D, redeemer: D): B =>
  any(unMap(field(txInfo, TX.redeemers)), (r) =>
    all(
      peqData.$(pairFst(r)).$(mkConstr(2, [mkConstr(0, [mkConstr(1, [slashHashData])])])),
      peqBs.$(bsField(pairSnd(r), 1)).$(own),
      peqData.$(field(pairSnd(r), 0)).$(field(redeemer, 0)),
    ),
  );

export const tokenName = (prefix: number, pkh: Term<PByteString>) => pconsBs.$(prefix).$(pkh);

/** Is a (name, quantity) entry of a token map exactly this name and quantity? */
const tokenIs = (entry: unknown, name: Term<PByteString>, qty: number): B =>
  and(peqBs.$(punBData.$(pairFst(entry))).$(name), punIData.$(pairSnd(entry)).eq(qty));

/** Join: mint signal, claim and kill tokens for the signing party against a deposit in escrow. */
const join = (
  txInfo: D,
  own: Term<PByteString>,
  cohortId: Term<PByteString>,
  escrowHash: Term<PByteString>,
  tokens: Tokens,
  redeemer: D,
  inputs: UtilityTermOf<PList<PData>>,
  outputs: UtilityTermOf<PList<PData>>,
  holdsCohort: (out: D) => B,
) =>
  inline(bsField(redeemer, 0))((pkh) =>
    plet(inlineDatum(resolvedOf(firstWhere(inputs, (i) => holdsCohort(resolvedOf(i)))))).in((state) => {
      const members = listField(state, 5);
      const stateOut = firstWhere(outputs, (o) => holdsCohort(o));
      const f = fieldsOf(state);
      const expectedState = mkConstr(0, [
        nth(f, 0),
        nth(f, 1),
        nth(f, 2),
        nth(f, 3),
        nth(f, 4),
        pListToData.$(
          pprepend(data)
            .$(mkConstr(0, [bData(pkh), field(redeemer, 1)]))
            .$(members),
        ),
        nth(f, 6),
      ]);
      const minDeposit = intField(field(state, 2), 0);
      const escrowOk = plam(
        data,
        bool,
      )((o) =>
        all(
          isScriptAt().$(escrowHash).$(outAddress(o)),
          peqData.$(inlineDatum(o)).$(mkConstr(0, [bData(pkh), bData(own)])),
          lovelaceOf().$(outValue(o)).gtEq(minDeposit),
          ((t: Tokens) => and(lengthOf(t).eq(1), tokenIs(t.head, tokenName(CLAIM_PREFIX, pkh), 1)))(
            tokensOf().$(own).$(outValue(o)),
          ),
        ),
      );
      return all(
        check('cohort-closed', indexOf(field(state, 6)).eq(0)),
        check('party-sig', signedBy(txInfo, pkh)),
        check('already-member', pnot.$(any(members, (m) => peqBs.$(bsField(m, 0)).$(pkh)))),
        check('state-out', peqData.$(inlineDatum(stateOut)).$(expectedState)),
        check(
          'tokens',
          all(
            lengthOf(tokens).eq(3),
            tokenIs(tokens.head, tokenName(CLAIM_PREFIX, pkh), 1),
            tokenIs(tokens.tail.head, tokenName(KILL_PREFIX, pkh), 1),
            tokenIs(tokens.tail.tail.head, tokenName(SIGNAL_PREFIX, pkh), 1),
          ),
        ),
        check(
          'deposit',
          any(outputs, (o) => papp(escrowOk, o)),
        ),
        check(
          'escrow-input',
          every(inputs, (i) =>
            pnot.$(
              isScriptAt()
                .$(escrowHash)
                .$(outAddress(resolvedOf(i))),
            ),
          ),
        ),
      );
    }),
  );

/** Escrow inputs whose datum names this policy. */
export const escrowInputs = (inputs: unknown, escrowHash: Term<PByteString>, own: Term<PByteString>) =>
  filter(inputs, (i) =>
    and(
      isScriptAt()
        .$(escrowHash)
        .$(outAddress(resolvedOf(i))),
      peqBs.$(bsField(inlineDatum(resolvedOf(i)), 1)).$(own),
    ),
  );

/**
 * Claim and Refund: exactly one escrow input of this policy; its owner signs; only the owner's
 * claim token is burnt; an output pays the owner at least the deposit.
 */
const withdrawOwn = (
  txInfo: D,
  tokens: Tokens,
  escrowIns: UtilityTermOf<PList<PData>>,
  outputs: UtilityTermOf<PList<PData>>,
) =>
  plet(resolvedOf(escrowIns.head)).in((escrow) =>
    plet(bsField(inlineDatum(escrow), 0)).in((owner) =>
      all(
        check('one-escrow', lengthOf(escrowIns).eq(1)),
        check('owner-sig', signedBy(txInfo, owner)),
        check(
          'burn-claim',
          and(lengthOf(tokens).eq(1), tokenIs(tokens.head, tokenName(CLAIM_PREFIX, owner), -1)),
        ),
        check(
          'pay-owner',
          plet(lovelaceOf().$(outValue(escrow))).in((deposit) =>
            any(outputs, (o) =>
              and(isPubKeyAt().$(owner).$(outAddress(o)), lovelaceOf().$(outValue(o)).gtEq(deposit)),
            ),
          ),
        ),
      ),
    ),
  );
