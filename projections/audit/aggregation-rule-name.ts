import { type AggregationRule, DmlError } from '../../offchain/index.js';

const NAT = /^(0|[1-9][0-9]*)$/;

/**
 * How a cohort's `params.aggregation` string names its aggregation rule:
 *
 *   fedavg | ffa-lora | lora-stack | median      the rule of that name
 *   trimmed-mean:K                               trimmed mean dropping K values at each end
 *   krum:F  or  krum:F:M                         Krum tolerating F faulty parties, keeping M (default 1)
 *
 * Anything else is refused with `AUDIT_RULE_UNKNOWN` (the auditor reports it as a finding).
 */
export const parseAggregationRuleName = (text: string): AggregationRule => {
  const [kind, ...args] = text.trim().split(':');
  const ints = args.map((a) => (NAT.test(a) ? Number(a) : NaN));
  const bad = () =>
    new DmlError(
      'AUDIT_RULE_UNKNOWN',
      `aggregation rule ${JSON.stringify(text)} is not one the auditor knows`,
      {
        hint: 'fedavg, ffa-lora, lora-stack, median, trimmed-mean:K, krum:F or krum:F:M',
      },
    );
  if (ints.some((n) => !Number.isSafeInteger(n))) throw bad();
  switch (kind) {
    case 'fedavg':
    case 'ffa-lora':
    case 'lora-stack':
    case 'median':
      if (ints.length) throw bad();
      return { kind };
    case 'trimmed-mean':
      if (ints.length !== 1) throw bad();
      return { kind, trim: ints[0]! };
    case 'krum':
      if (ints.length < 1 || ints.length > 2) throw bad();
      return ints.length === 2
        ? { kind, byzantine: ints[0]!, select: ints[1]! }
        : { kind, byzantine: ints[0]! };
    default:
      throw bad();
  }
};
