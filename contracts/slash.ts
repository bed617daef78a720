import {
  data,
  pfn,
  pif,
  plet,
  pmakeUnit,
  ptraceError,
  unit,
  punBData,
  punIData,
  peqBs,
  pnot,
  psliceBs,
  pindexBs,
  pdiv,
  type Term,
  type PByteString,
  type PData,
  type PList,
  type UtilityTermOf,
} from '@harmoniclabs/plu-ts';
import {
  all,
  and,
  any,
  bsField,
  check,
  count,
  every,
  field,
  firstWhere,
  freshTerms,
  holds,
  indexOf,
  inlineDatum,
  intField,
  isPubKeyAt,
  lengthOf,
  listField,
  lovelaceOf,
  or,
  outAddress,
  outValue,
  pairFst,
  pairSnd,
  resolvedOf,
  signedBy,
  TX,
  inline,
  tokensOf,
  txInfoOf,
  unMap,
  upperBoundOf,
  type D,
} from './lib/data.js';
import { escrowInputs, tokenName } from './membership.js';
import { CLAIM_PREFIX, KILL_PREFIX } from './token-prefixes.js';

type Tokens = UtilityTermOf<PList<PData>>;

/**
 * Kill-vote slashing (a withdrawal validator, run through a zero withdrawal of its reward account).
 * Parameters: cohortId (data B) and escrowHash (data B).
 * Redeemer: KillVote = Constr 0 [accused: B, membershipPolicy: B].
 *
 * The membership policy's Slash path only checks that this script runs with a redeemer naming that
 * policy and the same accused (the ledger runs a withdrawal script once per transaction); every rule
 * of the vote is checked here, once, against that policy's burnt tokens and escrow inputs and the
 * cohort state (the reference input holding the cohort token). Splitting the vote out keeps each
 * script under 2 KB; the policy's check means a vote counted here is always one for that policy.
 */
export const slashValidator = () => {
  freshTerms();
  return pfn(
    [data, data, data, data],
    unit,
  )((cohortIdData, escrowHashData, redeemer, ctx) =>
    plet(txInfoOf(ctx)).in((txInfo) =>
      plet(bsField(redeemer, 1)).in((own) => {
        const cohortId = punBData.$(cohortIdData);
        const state = inlineDatum(
          resolvedOf(
            firstWhere(listField(txInfo, TX.referenceInputs), (r) =>
              holds(outValue(resolvedOf(r)), cohortId),
            ),
          ),
        );
        const tokens = tokensOf()
          .$(own)
          .$(unMap(field(txInfo, TX.mint)));
        const escrowIns = escrowInputs(listField(txInfo, TX.inputs), punBData.$(escrowHashData), own);
        return plet(state).in((st) =>
          plet(field(st, 6)).in((phase) =>
            plet(tokens).in((t) =>
              plet(escrowIns).in((e) =>
                pif(unit)
                  .$(
                    slash(
                      txInfo,
                      st,
                      phase,
                      t as unknown as Tokens,
                      redeemer,
                      e,
                      listField(txInfo, TX.outputs),
                    ),
                  )
                  .then(pmakeUnit())
                  .else(ptraceError(unit).$('kill-vote')),
              ),
            ),
          ),
        );
      }),
    ),
  );
};

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
    plet(listField(state, 4)).in((parties) => {
      const nameOf = (t: unknown) => punBData.$(pairFst(t));
      const isKill = (t: unknown) => prefixOf(nameOf(t)).eq(KILL_PREFIX);
      const isClaim = (t: unknown) => prefixOf(nameOf(t)).eq(CLAIM_PREFIX);
      /** Is this key hash a voter (its kill token burnt)? */
      const votes = (pkh: Term<PByteString>) =>
        any(tokens, (u) => peqBs.$(nameOf(u)).$(tokenName(KILL_PREFIX, pkh)));
      return plet(count(tokens, isKill)).in((nVoters) =>
        plet(count(tokens, isClaim)).in((nClaims) => {
          const isParty = (pkh: Term<PByteString>) => any(parties, (p) => peqBs.$(bsField(p, 0)).$(pkh));
          const accusedEscrow = resolvedOf(
            firstWhere(escrowIns, (i) => peqBs.$(bsField(inlineDatum(resolvedOf(i)), 0)).$(accused)),
          );
          return all(
            check('not-premature', indexOf(phase).eq(3)),
            check('window-closed', upperBoundOf(txInfo).ltEq(intField(phase, 0))),
            check(
              'burn-once',
              every(tokens, (t) => punIData.$(pairSnd(t)).eq(-1)),
            ),
            check('burn-other', lengthOf(tokens).eq(nVoters.add(nClaims))),
            check('claims', nClaims.eq(nVoters.add(1))),
            check(
              'claim-owner',
              every(tokens, (t) =>
                or(
                  pnot.$(isClaim(t)),
                  plet(pkhOfName(nameOf(t))).in((c) => or(peqBs.$(c).$(accused), votes(c))),
                ),
              ),
            ),
            check('accused-votes', pnot.$(votes(accused))),
            check('accused-party', isParty(accused)),
            check(
              'voter',
              every(tokens, (t) =>
                or(
                  pnot.$(isKill(t)),
                  plet(pkhOfName(nameOf(t))).in((v) => all(isParty(v), signedBy(txInfo, v))),
                ),
              ),
            ),
            check('majority', nVoters.mult(2).gt(lengthOf(parties).sub(1))),
            check('escrows', lengthOf(escrowIns).eq(nClaims)),
            check(
              'pay-voters',
              plet(pdiv.$(lovelaceOf().$(outValue(accusedEscrow))).$(nVoters)).in((share) =>
                every(escrowIns, (i) =>
                  plet(resolvedOf(i)).in((e) =>
                    plet(bsField(inlineDatum(e), 0)).in((owner) =>
                      or(
                        peqBs.$(owner).$(accused),
                        plet(lovelaceOf().$(outValue(e)).add(share)).in((due) =>
                          any(outputs, (o) =>
                            and(
                              isPubKeyAt().$(owner).$(outAddress(o)),
                              lovelaceOf().$(outValue(o)).gtEq(due),
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
      );
    }),
  );
