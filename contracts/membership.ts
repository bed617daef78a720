import {
  bool,
  bs,
  data,
  pair,
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
  psliceBs,
  pindexBs,
  pdiv,
  pprepend,
  pListToData,
  type Term,
  type PByteString,
  type PData,
  type PList,
  type PPair,
  type UtilityTermOf,
} from '@harmoniclabs/plu-ts';
import {
  all,
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
  tokensOf,
  txInfoOf,
  unMap,
  upperBoundOf,
  type B,
  type D,
  freshTerms,
} from './lib/data.js';

/** Bind without plet: plu-ts merges identical plets of different branches into one evaluated
 * before the branch, which crashes on a redeemer without that field. The term is duplicated instead. */
const inline =
  <T>(x: T) =>
  <R>(f: (x: T) => R): R =>
    f(x);

/** Token name prefixes: claim, kill, signal (the name is prefix byte ++ the party's key hash). */
export const CLAIM_PREFIX = 0x63; // 'c'
export const KILL_PREFIX = 0x6b; // 'k'
export const SIGNAL_PREFIX = 0x73; // 's'

type Tokens = UtilityTermOf<PList<PPair<PData, PData>>>;

/**
 * Membership policy (minting): the party tokens, and the rules for every deposit leaving escrow.
 * Parameters: cohortId (data B, the cohort token's policy id) and escrowHash (data B).
 * Redeemer:
 *   Join   = Constr 0 [pkh: B, hydraVk: B]
 *   Claim  = Constr 1 []
 *   Refund = Constr 2 []
 *   Slash  = Constr 3 [accused: B]
 * The cohort's state is the inline CohortDatum of the output holding the cohort token: Join
 * spends it (membership is recorded there), the other paths read it as a reference input.
 */
export const membershipPolicy = () => {
  freshTerms();
  return pfn(
    [data, data, data, data],
    unit,
  )((cohortIdData, escrowHashData, redeemer, ctx) =>
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
                /** Escrow inputs whose datum names this policy. */
                const escrowIns = inputs.filter(
                  plam(
                    data,
                    bool,
                  )((i) =>
                    isScriptAt()
                      .$(escrowHash)
                      .$(outAddress(resolvedOf(i)))
                      .and(peqBs.$(bsField(inlineDatum(resolvedOf(i)), 1)).$(own)),
                  ),
                );
                const body = pif(bool)
                  .$(path.eq(0))
                  .then(
                    join(txInfo, own, cohortId, escrowHash, tokens, redeemer, inputs, outputs, holdsCohort),
                  )
                  .else(
                    plet(
                      inlineDatum(
                        resolvedOf(
                          firstWhere(listField(txInfo, TX.referenceInputs), (r) =>
                            holdsCohort(resolvedOf(r)),
                          ),
                        ),
                      ),
                    ).in((state) =>
                      plet(field(state, 6)).in((phase) =>
                        pif(bool)
                          .$(path.eq(3))
                          .then(slash(txInfo, state, phase, tokens, redeemer, escrowIns, outputs))
                          .else(
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
                              withdrawOwn(txInfo, tokens, escrowIns, outputs),
                            ),
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

const tokenName = (prefix: number, pkh: Term<PByteString>) => pconsBs.$(prefix).$(pkh);

/** Is a (name, quantity) entry of a token map exactly this name and quantity? */
const tokenIs = (entry: UtilityTermOf<PPair<PData, PData>>, name: Term<PByteString>, qty: number): B =>
  peqBs.$(punBData.$(entry.fst)).$(name).and(punIData.$(entry.snd).eq(qty));

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
          ((t: Tokens) =>
            t.length
              .eq(1)
              .and(peqBs.$(punBData.$(t.head.fst)).$(tokenName(CLAIM_PREFIX, pkh)))
              .and(punIData.$(t.head.snd).eq(1)))(tokensOf().$(own).$(outValue(o))),
        ),
      );
      return all(
        check('cohort-closed', indexOf(field(state, 6)).eq(0)),
        check('party-sig', signedBy(txInfo, pkh)),
        check('already-member', pnot.$(members.some(plam(data, bool)((m) => peqBs.$(bsField(m, 0)).$(pkh))))),
        check('state-out', peqData.$(inlineDatum(stateOut)).$(expectedState)),
        check(
          'tokens',
          all(
            tokens.length.eq(3),
            tokenIs(tokens.head, tokenName(CLAIM_PREFIX, pkh), 1),
            tokenIs(tokens.tail.head, tokenName(KILL_PREFIX, pkh), 1),
            tokenIs(tokens.tail.tail.head, tokenName(SIGNAL_PREFIX, pkh), 1),
          ),
        ),
        check('deposit', outputs.some(escrowOk)),
        check(
          'escrow-input',
          inputs.every(
            plam(
              data,
              bool,
            )((i) =>
              pnot.$(
                isScriptAt()
                  .$(escrowHash)
                  .$(outAddress(resolvedOf(i))),
              ),
            ),
          ),
        ),
      );
    }),
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
        check('one-escrow', escrowIns.length.eq(1)),
        check('owner-sig', signedBy(txInfo, owner)),
        check(
          'burn-claim',
          tokens.length.eq(1).and(tokenIs(tokens.head, tokenName(CLAIM_PREFIX, owner), -1)),
        ),
        check(
          'pay-owner',
          plet(lovelaceOf().$(outValue(escrow))).in((deposit) =>
            outputs.some(
              plam(
                data,
                bool,
              )((o) =>
                isPubKeyAt()
                  .$(owner)
                  .$(outAddress(o))
                  .and(lovelaceOf().$(outValue(o)).gtEq(deposit)),
              ),
            ),
          ),
        ),
      ),
    ),
  );

/** The key hash in a party token name (prefix byte ++ 28-byte key hash). */
const pkhOfName = (name: Term<PByteString>) => psliceBs.$(1).$(28).$(name);
const prefixOf = (name: Term<PByteString>) => pindexBs.$(name).$(0);

/**
 * Slash: the voters are the parties whose kill tokens are burnt (one each: a token map has one
 * entry per name, and each quantity must be -1). Checks, in order: the cohort ended Premature and
 * the voting window is open; only kill and claim tokens are burnt, each exactly once; the claim
 * tokens burnt are the voters' and the accused's (so all their escrows are inputs, and no other);
 * the accused is a party of the epoch and not a voter; every voter is a party of the epoch and signs
 * (so every voter names this accused); the voters are a strict majority of the other parties;
 * every voter's escrow pays the voter back its deposit plus an equal share of the accused's.
 */
const slash = (
  txInfo: D,
  state: D,
  phase: D,
  tokens: Tokens,
  redeemer: D,
  escrowIns: UtilityTermOf<PList<PData>>,
  outputs: UtilityTermOf<PList<PData>>,
) =>
  inline(bsField(redeemer, 0))((accused) =>
    plet(listField(state, 4)).in((parties) =>
      plet(
        tokens
          .filter(plam(pair(data, data), bool)((t) => prefixOf(punBData.$(t.fst)).eq(KILL_PREFIX)))
          .map(plam(pair(data, data), bs)((t) => pkhOfName(punBData.$(t.fst)))),
      ).in((voters) =>
        plet(
          tokens
            .filter(plam(pair(data, data), bool)((t) => prefixOf(punBData.$(t.fst)).eq(CLAIM_PREFIX)))
            .map(plam(pair(data, data), bs)((t) => pkhOfName(punBData.$(t.fst)))),
        ).in((claims) =>
          plet(voters.length).in((nVoters) => {
            const isParty = (pkh: Term<PByteString>) =>
              parties.some(plam(data, bool)((p) => peqBs.$(bsField(p, 0)).$(pkh)));
            const accusedEscrow = resolvedOf(
              firstWhere(escrowIns, (i) => peqBs.$(bsField(inlineDatum(resolvedOf(i)), 0)).$(accused)),
            );
            return all(
              check('not-premature', indexOf(phase).eq(3)),
              check('window-closed', upperBoundOf(txInfo).ltEq(intField(phase, 0))),
              check('burn-once', tokens.every(plam(pair(data, data), bool)((t) => punIData.$(t.snd).eq(-1)))),
              check('burn-other', tokens.length.eq(nVoters.add(claims.length))),
              check('claims', claims.length.eq(nVoters.add(1))),
              check(
                'claim-owner',
                claims.every(plam(bs, bool)((c) => peqBs.$(c).$(accused).or(voters.includes(c)))),
              ),
              check('accused-votes', pnot.$(voters.includes(accused))),
              check('accused-party', isParty(accused)),
              check('voter', voters.every(plam(bs, bool)((v) => isParty(v).and(signedBy(txInfo, v))))),
              check('majority', nVoters.mult(2).gt(parties.length.sub(1))),
              check('escrows', escrowIns.length.eq(claims.length)),
              check(
                'pay-voters',
                plet(pdiv.$(lovelaceOf().$(outValue(accusedEscrow))).$(nVoters)).in((share) =>
                  escrowIns.every(
                    plam(
                      data,
                      bool,
                    )((i) =>
                      plet(resolvedOf(i)).in((e) =>
                        plet(bsField(inlineDatum(e), 0)).in((owner) =>
                          peqBs
                            .$(owner)
                            .$(accused)
                            .or(
                              plet(lovelaceOf().$(outValue(e)).add(share)).in((due) =>
                                outputs.some(
                                  plam(
                                    data,
                                    bool,
                                  )((o) =>
                                    isPubKeyAt()
                                      .$(owner)
                                      .$(outAddress(o))
                                      .and(lovelaceOf().$(outValue(o)).gtEq(due)),
                                  ),
                                ),
                              ),
                            ),
                        ),
                      ),
                    ),
                  ),
                ),
              ),
            );
          }),
        ),
      ),
    ),
  );
