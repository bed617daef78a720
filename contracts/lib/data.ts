/**
 * Data-level helpers shared by the validators. The validators read the script context as raw
 * `data` (constructor index + field list) rather than through plu-ts typed structs: it keeps the
 * scripts small and every field access explicit. Field numbers follow the Plutus V2 ledger types.
 */
import {
  bool,
  bs,
  data,
  int,
  list,
  pBool,
  pdelay,
  pfn,
  phoist,
  pif,
  plam,
  precursive,
  pStr,
  punBData,
  punConstrData,
  plet,
  papp,
  punIData,
  punListData,
  punMapData,
  pfstPair,
  psndPair,
  pair,
  peqBs,
  pisEmpty,
  lam,
  pprepend,
  pnilData,
  pConstrToData,
  pIntToData,
  pBSToData,
  perror,
  pnot,
  punsafeConvertType,
  pforce,
  pstrictIf,
  ptrace,
  delayed,
  str,
  type PData,
  type PLam,
  type PBool,
  type Term,
  type PList,
  type PInt,
  type PByteString,
  type PPair,
  type UtilityTermOf,
} from '@harmoniclabs/plu-ts';

export type D = Term<PData>;

/**
 * Hoisted helper terms are created once per validator build: plu-ts caches the UPLC of a term,
 * so a term shared between two builds compiles differently depending on what was built before.
 * Every validator factory calls `freshTerms()` first; the helpers below are made on first use.
 */
const cache = new Map<string, unknown>();
export const freshTerms = (): void => cache.clear();
export const hoisted = <T>(key: string, make: () => T): T => {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key) as T;
};
export type B = Term<PBool>;

/** Bind without plet: plu-ts merges identical plets of different branches into one evaluated
 * before the branch, which crashes on a redeemer without that field. The term is duplicated instead. */
export const inline =
  <T>(x: T) =>
  <R>(f: (x: T) => R): R =>
    f(x);

/** Fields of a constructor as a list. */
// `.fst`/`.snd` on the pair from unConstrData would decode its members as data again (plu-ts
// treats it as a pair of data): apply the raw fstPair/sndPair builtins instead.
const constrPair = (d: D) => papp(punConstrData, d) as unknown as Term<PPair<PInt, PList<PData>>>;
export const fieldsOf = (d: D): UtilityTermOf<PList<PData>> =>
  papp(psndPair(int, list(data)), constrPair(d)) as unknown as UtilityTermOf<PList<PData>>;
/** Constructor index. */
export const indexOf = (d: D): UtilityTermOf<PInt> =>
  papp(pfstPair(int, list(data)), constrPair(d)) as unknown as UtilityTermOf<PInt>;

/** The n-th element of a list of data. */
export const nth = (l: Term<PList<PData>>, n: number): D => {
  let rest = l as ReturnType<typeof fieldsOf>;
  for (let i = 0; i < n; i++) rest = rest.tail;
  return rest.head;
};

/** One hoisted accessor per field number: each use is a small application, not a chain of tails. */
const fieldFn = (n: number): Term<PLam<PData, PData>> =>
  hoisted(`field${n}`, () => phoist(plam(data, data)((d) => nth(fieldsOf(d), n))));
export const field = (d: D, n: number): UtilityTermOf<PData> =>
  (fieldFn(n) as unknown as { $: (x: D) => UtilityTermOf<PData> }).$(d);
export const intField = (d: D, n: number) => punIData.$(field(d, n));
export const bsField = (d: D, n: number) => punBData.$(field(d, n));
export const listField = (d: D, n: number) => punListData.$(field(d, n));

/*
 * Boolean combinators, hoisted once per script. plu-ts's `.and`/`.or`/`ptraceIfFalse` inline a
 * lambda at every use; these are one shared function each, applied to the (delayed) operands.
 */
const andFn = () =>
  hoisted('and', () =>
    phoist(
      pfn(
        [bool, delayed(bool)],
        bool,
      )((a, b) =>
        pforce(
          pstrictIf(delayed(bool))
            .$(a)
            .$(b)
            .$(pdelay(pBool(false))),
        ),
      ),
    ),
  );
const orFn = () =>
  hoisted('or', () =>
    phoist(
      pfn(
        [bool, delayed(bool)],
        bool,
      )((a, b) =>
        pforce(
          pstrictIf(delayed(bool))
            .$(a)
            .$(pdelay(pBool(true)))
            .$(b),
        ),
      ),
    ),
  );
const checkFn = () =>
  hoisted('check', () =>
    phoist(
      pfn(
        [str, bool],
        bool,
      )((msg, c) =>
        pforce(
          pstrictIf(delayed(bool))
            .$(c)
            .$(pdelay(pBool(true)))
            .$(pdelay(ptrace(bool).$(msg).$(pBool(false)))),
        ),
      ),
    ),
  );
/** Lazy `a && b`. */
export const and = (a: Term<PBool>, b: Term<PBool>): B => andFn().$(a).$(pdelay(b));
/** Lazy `a || b`. */
export const or = (a: Term<PBool>, b: Term<PBool>): B => orFn().$(a).$(pdelay(b));

/** A check that leaves a short trace when it fails (the trace names the failed rule). */
export const check = (name: string, cond: B): B => checkFn().$(pStr(name)).$(cond);

/** Lazy conjunction of checks, in order. */
export const all = (...conds: B[]): B => conds.reduceRight((acc, c) => and(c, acc));

/** `unMapData` (plu-ts 0.9.0 types it with two arguments; the builtin takes one). */
export const unMap = (d: D): UtilityTermOf<PList<PPair<PData, PData>>> =>
  (punMapData as unknown as { $: (x: D) => UtilityTermOf<PList<PPair<PData, PData>>> }).$(d);

/** Script-context accessors (V2). ScriptContext = Constr 0 [txInfo, purpose]. */
export const txInfoOf = (ctx: D) => field(ctx, 0);
export const purposeOf = (ctx: D) => field(ctx, 1);
export const TX = {
  inputs: 0,
  referenceInputs: 1,
  outputs: 2,
  fee: 3,
  mint: 4,
  validRange: 7,
  signatories: 8,
  redeemers: 9,
} as const;

/** TxOut = Constr 0 [address, value, datum, referenceScript]. */
export const outAddress = (out: D) => field(out, 0);
export const outValue = (out: D) => unMap(field(out, 1));
/** The inline datum of an output (fails on a datum hash or no datum). */
export const inlineDatum = (out: D) => field(field(out, 2), 0);
/** Address = Constr 0 [credential, stake]; credential = PubKey 0 [pkh] | Script 1 [hash]. */
export const credentialOf = (address: D) => field(address, 0);

/** `(hash, address) -> bool`: the address's payment credential is of kind `tag` (0 key, 1 script)
 * with that hash. */
const credentialIs = (name: string, tag: 0 | 1) =>
  hoisted(name, () =>
    phoist(
      pfn(
        [bs, data],
        bool,
      )((hash, address) => {
        const cred = field(address, 0);
        return pif(bool)
          .$(indexOf(cred).eq(tag))
          .then(peqBs.$(punBData.$(fieldsOf(cred).head)).$(hash))
          .else(pBool(false));
      }),
    ),
  );

export const isScriptAt = () => credentialIs('isScriptAt', 1);
export const isPubKeyAt = () => credentialIs('isPubKeyAt', 0);

/** Lovelace of a value map (the ada entry is first in a ledger value; absent means 0). */
export const lovelaceOf = () =>
  hoisted('lovelaceOf', () =>
    phoist(
      pfn(
        [list(pair(data, data))],
        int,
      )((value) =>
        pif(int)
          .$(pisEmpty.$(value))
          .then(0)
          .else(
            pif(int)
              .$(peqBs.$(punBData.$(value.head.fst)).$(new Uint8Array(0) as unknown as Term<PByteString>))
              .then(punIData.$(unMap(value.head.snd).head.snd))
              .else(0),
          ),
      ),
    ),
  );

/** The token map (name -> quantity) of a policy in a value map, or an empty list. */
export const tokensOf = () =>
  hoisted('tokensOf', () =>
    phoist(
      precursive(
        pfn(
          [lam(bs, lam(list(pair(data, data)), list(pair(data, data)))), bs, list(pair(data, data))],
          list(pair(data, data)),
        )((self, policy, value) =>
          pif(list(pair(data, data)))
            .$(pisEmpty.$(value))
            .then(value)
            .else(
              pif(list(pair(data, data)))
                .$(peqBs.$(punBData.$(value.head.fst)).$(policy))
                .then(unMap(value.head.snd))
                .else(self.$(policy).$(value.tail)),
            ),
        ),
      ),
    ),
  );

export type { PInt, PPair };
export { plam };

/** A list of data built on chain from terms. */
export const mkList = (items: D[]): Term<PList<PData>> =>
  items.reduceRight<Term<PList<PData>>>((acc, x) => pprepend(data).$(x).$(acc), pnilData);
/** `Constr index [fields]` built on chain. */
export const mkConstr = (index: number, items: D[]): D => pConstrToData.$(index).$(mkList(items));
export const iData = (i: Term<PInt>): D => pIntToData.$(i) as unknown as D;
export const bData = (b: Term<PByteString>): D => pBSToData.$(b) as unknown as D;

/** The first element of a list that satisfies a predicate; the script fails if there is none. */
export const firstWhere = (l: unknown, pred: (x: UtilityTermOf<PData>) => B): UtilityTermOf<PData> =>
  find(l, pred);

/** Interval bounds. POSIXTimeRange = Constr 0 [LowerBound, UpperBound]; Bound = Constr 0 [Extended, closed];
 * Extended = NegInf 0 [] | Finite 1 [time] | PosInf 2 []. The time of a finite bound, else the script fails. */
// A hoisted function, so that plu-ts cannot float `head` of the fields out of the `Finite` branch.
const finiteTimeFn = () =>
  hoisted('finiteTime', () =>
    phoist(
      plam(
        data,
        int,
      )((bound) =>
        plet(field(bound, 0)).in((ext) =>
          pif(int)
            .$(indexOf(ext).eq(1))
            .then(punIData.$(fieldsOf(ext).head))
            .else(perror(int)),
        ),
      ),
    ),
  );
export const finiteTime = (bound: D) => finiteTimeFn().$(bound);
export const lowerBoundOf = (txInfo: D) => finiteTime(field(field(txInfo, TX.validRange), 0));
export const upperBoundOf = (txInfo: D) => finiteTime(field(field(txInfo, TX.validRange), 1));

/** Is the key hash among the transaction's signatories? */
const signedByFn = () =>
  hoisted('signedByFn', () =>
    phoist(
      pfn(
        [data, bs],
        bool,
      )((txInfo, pkh) =>
        listField(txInfo, TX.signatories).some(plam(data, bool)((s) => peqBs.$(punBData.$(s)).$(pkh))),
      ),
    ),
  );
export const signedBy = (txInfo: D, pkh: Term<PByteString>): B => signedByFn().$(txInfo).$(pkh);

/** The resolved output of an input (TxInInfo = Constr 0 [outRef, resolved]). */
export const resolvedOf = (input: D) => field(input, 1);
/** Does the value hold at least one token of the policy? */
const holdsFn = () =>
  hoisted('holdsFn', () =>
    phoist(
      pfn(
        [list(pair(data, data)), bs],
        bool,
      )((value, policy) => pnot.$(pisEmpty.$(tokensOf().$(policy).$(value)))),
    ),
  );
export const holds = (value: UtilityTermOf<PList<PPair<PData, PData>>>, policy: Term<PByteString>): B =>
  holdsFn().$(value).$(policy);

/*
 * List helpers, hoisted once per script. plu-ts's own list methods (`.some`, `.every`, `.filter`,
 * `.length`, `.includes`) build a recursion per element type and per use site; these take the
 * predicate as an argument, so one copy of each recursion serves every use. UPLC lists are untyped
 * at run time, so a list of pairs (a token map) goes through the same helper (see `asDataList`).
 */
type DList = UtilityTermOf<PList<PData>>;
export const asDataList = (l: unknown): DList => punsafeConvertType(l as Term<PData>, list(data)) as DList;

/** `any` and `every`: one recursion shape, short-circuiting with `or` (any) or `and` (every). */
const quantifierFn = (
  name: 'any' | 'every',
  onEmpty: boolean,
  combine: (head: UtilityTermOf<PBool>, rest: B) => B,
) =>
  hoisted(name, () =>
    phoist(
      precursive(
        pfn(
          [lam(lam(data, bool), lam(list(data), bool)), lam(data, bool), list(data)],
          bool,
        )((self, pred, l) =>
          pif(bool)
            .$(pisEmpty.$(l))
            .then(pBool(onEmpty))
            .else(combine(papp(pred, l.head), self.$(pred).$(l.tail))),
        ),
      ),
    ),
  );
/** Does some element satisfy the predicate? */
export const any = (l: unknown, pred: (x: UtilityTermOf<PData>) => B): B =>
  quantifierFn('any', false, (head, rest) => head.or(rest))
    .$(plam(data, bool)(pred))
    .$(asDataList(l));

/** Does every element satisfy the predicate? */
export const every = (l: unknown, pred: (x: UtilityTermOf<PData>) => B): B =>
  quantifierFn('every', true, (head, rest) => head.and(rest))
    .$(plam(data, bool)(pred))
    .$(asDataList(l));

const findFn = () =>
  hoisted('find', () =>
    phoist(
      precursive(
        pfn(
          [lam(lam(data, bool), lam(list(data), data)), lam(data, bool), list(data)],
          data,
        )((self, pred, l) =>
          plet(l.head).in((x) => pif(data).$(papp(pred, x)).then(x).else(self.$(pred).$(l.tail))),
        ),
      ),
    ),
  );
/** The first element that satisfies the predicate; the script fails if there is none. */
export const find = (l: unknown, pred: (x: UtilityTermOf<PData>) => B): UtilityTermOf<PData> =>
  findFn().$(plam(data, bool)(pred)).$(asDataList(l));

const countFn = () =>
  hoisted('count', () =>
    phoist(
      precursive(
        pfn(
          [lam(lam(data, bool), lam(list(data), int)), lam(data, bool), list(data)],
          int,
        )((self, pred, l) =>
          pif(int)
            .$(pisEmpty.$(l))
            .then(0)
            .else(
              plet(self.$(pred).$(l.tail)).in((rest) =>
                pif(int).$(papp(pred, l.head)).then(rest.add(1)).else(rest),
              ),
            ),
        ),
      ),
    ),
  );
/** How many elements satisfy the predicate. */
export const count = (l: unknown, pred: (x: UtilityTermOf<PData>) => B): UtilityTermOf<PInt> =>
  countFn().$(plam(data, bool)(pred)).$(asDataList(l));

const lengthFn = () =>
  hoisted('length', () =>
    phoist(
      precursive(
        pfn(
          [lam(list(data), int), list(data)],
          int,
        )((self, l) => pif(int).$(pisEmpty.$(l)).then(0).else(self.$(l.tail).add(1))),
      ),
    ),
  );
/** The length of a list. */
export const lengthOf = (l: unknown): UtilityTermOf<PInt> => lengthFn().$(asDataList(l));

const filterFn = () =>
  hoisted('filter', () =>
    phoist(
      precursive(
        pfn(
          [lam(lam(data, bool), lam(list(data), list(data))), lam(data, bool), list(data)],
          list(data),
        )((self, pred, l) =>
          pif(list(data))
            .$(pisEmpty.$(l))
            .then(l)
            .else(
              plet(self.$(pred).$(l.tail)).in((rest) =>
                pif(list(data)).$(papp(pred, l.head)).then(pprepend(data).$(l.head).$(rest)).else(rest),
              ),
            ),
        ),
      ),
    ),
  );
/** The elements that satisfy the predicate, in order. */
export const filter = (l: unknown, pred: (x: UtilityTermOf<PData>) => B): DList =>
  filterFn().$(plam(data, bool)(pred)).$(asDataList(l));

/** First and second of a pair element of a token map (the raw builtins, no re-decoding). */
const asPair = (p: unknown) => punsafeConvertType(p as Term<PData>, pair(data, data));
export const pairFst = (p: unknown): D => papp(pfstPair(data, data), asPair(p)) as unknown as D;
export const pairSnd = (p: unknown): D => papp(psndPair(data, data), asPair(p)) as unknown as D;
