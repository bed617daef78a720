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
  pisEmpty,
  pnot,
  pmod,
  precursive,
  pverifyEd25519,
  pserialiseData,
  lam,
  list,
  bs,
  pBool,
  punListData as punListDataTerm,
  type PData,
  type PList,
  type UtilityTermOf,
} from '@harmoniclabs/plu-ts';
import {
  all,
  and,
  bsField,
  check,
  field,
  fieldsOf,
  firstWhere,
  holds,
  iData,
  indexOf,
  inlineDatum,
  intField,
  listField,
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
  upperBoundOf,
  freshTerms,
  hoisted,
  type B,
  type D,
} from './lib/data.js';

/**
 * Cohort state (spending): the head close validator. It guards the output that holds the cohort
 * token and the cohort's inline datum:
 *
 *   CohortDatum = Constr 0 [cohortId: B, membershipPolicy: B,
 *                           terms: Constr 0 [minDeposit, contestationPeriod, finalRound, epochRounds, votingWindow],
 *                           epoch: I, parties: [Party], members: [Party], phase]
 *   Party = Constr 0 [pkh: B, hydraVk: B]
 *   phase = Open 0 [round, aggregateHash] | Closed 1 [round, aggregateHash, deadline, closer]
 *         | Completed 2 [round, aggregateHash] | Premature 3 [votingDeadline]
 *
 * Redeemer:
 *   Join       = Constr 0 []                      (the membership policy checks the new datum)
 *   StartEpoch = Constr 1 []                      (first epoch: parties := members)
 *   Close      = Constr 2 [round, aggregateHash, signatures, closer]
 *   Contest    = Constr 3 [round, aggregateHash, signatures]
 *   Finalize   = Constr 4 []
 *
 * Every transition keeps the cohort token in an output at this same address whose inline datum
 * is exactly the one computed here (no field can be tampered with). Completed and Premature are
 * final: no redeemer spends them.
 */
export const cohortStateValidator = () => {
  freshTerms();
  return pfn(
    [data, data, data],
    unit,
  )((datum, redeemer, ctx) =>
    plet(txInfoOf(ctx)).in((txInfo) =>
      plet(fieldsOf(datum)).in((f) =>
        plet(punBData.$(nth(f, 0))).in((cohortId) =>
          plet(nth(f, 6)).in((phase) =>
            plet(indexOf(redeemer)).in((path) => {
              const ownRef = field(purposeOf(ctx), 0);
              const ownIn = resolvedOf(
                firstWhere(listField(txInfo, TX.inputs), (i) => peqData.$(field(i, 0)).$(ownRef)),
              );
              const out = firstWhere(listField(txInfo, TX.outputs), (o) => holds(outValue(o), cohortId));
              const terms = nth(f, 2);
              const epoch = nth(f, 3);
              const parties = nth(f, 4);
              const members = nth(f, 5);
              const stateWith = (e: D, p: D, ph: D) =>
                mkConstr(0, [nth(f, 0), nth(f, 1), terms, e, p, members, ph]);
              const nextEpoch = iData(punIData.$(epoch).add(1));
              /** The continuing output: at the same address, holding the token, with exactly this datum. */
              const continues = (expected: D): B =>
                plet(out).in((o) =>
                  all(
                    check('address', peqData.$(outAddress(o)).$(outAddress(ownIn))),
                    check('datum', peqData.$(inlineDatum(o)).$(expected)),
                  ),
                );
              /** All parties of the epoch signed (cohortId, epoch, round, aggregateHash), in order. */
              const signedByAll = (round: D, hash: D, sigs: D): B =>
                inline(pserialiseData.$(mkConstr(0, [nth(f, 0), epoch, round, hash])))((msg) =>
                  all(
                    check('no-parties', pnot.$(pisEmpty.$(punListDataOf(parties)))),
                    check('signatures', allSigned().$(msg).$(punListDataOf(parties)).$(punListDataOf(sigs))),
                  ),
                );
              const body = pif(bool)
                .$(path.eq(0))
                .then(
                  all(
                    check('not-open', indexOf(phase).eq(0)),
                    check(
                      'no-join',
                      pnot.$(
                        pisEmpty.$(
                          tokensOf()
                            .$(punBData.$(nth(f, 1)))
                            .$(unMap(field(txInfo, TX.mint))),
                        ),
                      ),
                    ),
                    check('address', peqData.$(outAddress(out)).$(outAddress(ownIn))),
                  ),
                )
                .else(
                  pif(bool)
                    .$(path.eq(1))
                    .then(
                      all(
                        check('not-open', indexOf(phase).eq(0)),
                        check('started', pisEmpty.$(punListDataOf(parties))),
                        check('no-members', pnot.$(pisEmpty.$(punListDataOf(members)))),
                        check(
                          'member-sig',
                          punListDataOf(members).some(
                            plam(data, bool)((m) => signedBy(txInfo, bsField(m, 0))),
                          ),
                        ),
                        continues(stateWith(nextEpoch, members, phase)),
                      ),
                    )
                    .else(
                      pif(bool)
                        .$(path.eq(2))
                        .then(
                          inline(field(redeemer, 0))((round) =>
                            all(
                              check('not-open', indexOf(phase).eq(0)),
                              check('old-round', punIData.$(round).gtEq(intField(phase, 0))),
                              signedByAll(round, field(redeemer, 1), field(redeemer, 2)),
                              check(
                                'closer',
                                plet(bsField(redeemer, 3)).in((closer) =>
                                  all(
                                    signedBy(txInfo, closer),
                                    punListDataOf(parties).some(
                                      plam(data, bool)((p) => peqBs.$(bsField(p, 0)).$(closer)),
                                    ),
                                  ),
                                ),
                              ),
                              continues(
                                stateWith(
                                  epoch,
                                  parties,
                                  mkConstr(1, [
                                    round,
                                    field(redeemer, 1),
                                    iData(upperBoundOf(txInfo).add(intField(terms, 1))),
                                    field(redeemer, 3),
                                  ]),
                                ),
                              ),
                            ),
                          ),
                        )
                        .else(
                          plet(intField(phase, 2)).in((deadline) =>
                            pif(bool)
                              .$(path.eq(3))
                              .then(
                                inline(field(redeemer, 0))((round) =>
                                  all(
                                    check('not-closed', indexOf(phase).eq(1)),
                                    check('old-round', punIData.$(round).gt(intField(phase, 0))),
                                    check('deadline', upperBoundOf(txInfo).ltEq(deadline)),
                                    signedByAll(round, field(redeemer, 1), field(redeemer, 2)),
                                    continues(
                                      stateWith(
                                        epoch,
                                        parties,
                                        mkConstr(1, [
                                          round,
                                          field(redeemer, 1),
                                          field(phase, 2),
                                          field(phase, 3),
                                        ]),
                                      ),
                                    ),
                                  ),
                                ),
                              )
                              .else(
                                plet(intField(phase, 0)).in((round) =>
                                  all(
                                    check('finalize', and(path.eq(4), indexOf(phase).eq(1))),
                                    check('too-early', lowerBoundOf(txInfo).gt(deadline)),
                                    continues(
                                      pif(data)
                                        .$(round.gtEq(intField(terms, 2)))
                                        .then(
                                          stateWith(
                                            epoch,
                                            parties,
                                            mkConstr(2, [field(phase, 0), field(phase, 1)]),
                                          ),
                                        )
                                        .else(
                                          pif(data)
                                            .$(pmod.$(round).$(intField(terms, 3)).eq(0))
                                            .then(
                                              stateWith(
                                                nextEpoch,
                                                members,
                                                mkConstr(0, [field(phase, 0), field(phase, 1)]),
                                              ),
                                            )
                                            .else(
                                              stateWith(
                                                epoch,
                                                parties,
                                                mkConstr(3, [iData(deadline.add(intField(terms, 4)))]),
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
              return pif(unit).$(body).then(pmakeUnit()).else(ptraceError(unit).$('cohort-state'));
            }),
          ),
        ),
      ),
    ),
  );
};

const punListDataOf = (d: D): UtilityTermOf<PList<PData>> =>
  (punListDataTerm as unknown as { $: (x: D) => UtilityTermOf<PList<PData>> }).$(d);

/** Zip parties with signatures: every party's Hydra key verifies its signature of msg; same lengths. */
const allSigned = () =>
  hoisted('allSigned', () =>
    precursive(
      pfn(
        [lam(bs, lam(list(data), lam(list(data), bool))), bs, list(data), list(data)],
        bool,
      )((self, msg, parties, sigs) =>
        pif(bool)
          .$(pisEmpty.$(parties))
          .then(pisEmpty.$(sigs))
          .else(
            pif(bool)
              .$(pisEmpty.$(sigs))
              .then(pBool(false))
              .else(
                pverifyEd25519
                  .$(bsField(parties.head, 1))
                  .$(msg)
                  .$(punBData.$(sigs.head))
                  .and(self.$(msg).$(parties.tail).$(sigs.tail)),
              ),
          ),
      ),
    ),
  );
