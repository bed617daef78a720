import { data, pfn, pif, pmakeUnit, ptraceError, unit, punBData, pnot, pisEmpty } from '@harmoniclabs/plu-ts';
import { field, TX, tokensOf, txInfoOf, unMap, freshTerms } from './lib/data.js';

/**
 * Escrow (spending). Holds one party's deposit and its claim token.
 * Datum: EscrowDatum = Constr 0 [owner: B (payment key hash), membershipPolicy: B].
 * Redeemer: any (the path is chosen by the membership policy's redeemer).
 *
 * The escrow only requires that the membership policy named in its datum runs in the same
 * transaction (mints or burns some of its tokens). Every rule about who may take a deposit (Claim,
 * Refund, Slash) is checked once, for all escrow inputs of the transaction, by that policy: one
 * O(n) pass instead of one per input. Every path of the policy accounts for every escrow input
 * naming it (the Join path forbids escrow inputs altogether). A deposit is genuine when it holds
 * the owner's claim token, which only the Join path mints, straight into the escrow.
 */
export const escrowValidator = () => {
  freshTerms();
  return pfn(
    [data, data, data],
    unit,
  )((datum, _redeemer, ctx) =>
    pif(unit)
      .$(
        pnot.$(
          pisEmpty.$(
            tokensOf()
              .$(punBData.$(field(datum, 1)))
              .$(unMap(field(txInfoOf(ctx), TX.mint))),
          ),
        ),
      )
      .then(pmakeUnit())
      .else(ptraceError(unit).$('policy-not-run')),
  );
};
