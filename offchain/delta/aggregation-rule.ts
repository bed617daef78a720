import { DmlError } from '../errors.js';
import { hashDelta, type Delta } from './delta-format.js';
import { orderContributions, type DeltaContribution } from './contributions.js';
import { fedAvgDeltas } from './fedavg.js';
import { ffaLoraDeltas } from './ffa-lora.js';
import { krumSelect } from './krum.js';
import { loraStackDeltas } from './lora-stack.js';
import { medianDeltas } from './median.js';
import { trimmedMeanDeltas } from './trimmed-mean.js';

/** The aggregation rule of a cohort (part of its agreement). */
export type AggregationRule =
  | { readonly kind: 'fedavg' }
  | { readonly kind: 'ffa-lora' }
  | { readonly kind: 'lora-stack' }
  | { readonly kind: 'median' }
  | { readonly kind: 'trimmed-mean'; readonly trim: number }
  | { readonly kind: 'krum'; readonly byzantine: number; readonly select?: number };

export const AGGREGATION_RULE_KINDS = [
  'fedavg',
  'ffa-lora',
  'lora-stack',
  'median',
  'trimmed-mean',
  'krum',
] as const;

export interface AggregateResult {
  readonly delta: Delta;
  readonly hash: string;
  /** The parties whose deltas entered the aggregate (all but those Krum left out), in party order. */
  readonly used: readonly string[];
}

/** Aggregates one round's deltas with the cohort's rule; same inputs give the same bytes anywhere. */
export const aggregateDeltas = (
  rule: AggregationRule,
  contributions: readonly DeltaContribution[],
): AggregateResult => {
  const ordered = orderContributions(contributions);
  const all = ordered.map((c) => c.partyId);
  let delta: Delta;
  let used: readonly string[] = all;
  switch (rule.kind) {
    case 'fedavg':
      delta = fedAvgDeltas(ordered);
      break;
    case 'ffa-lora':
      delta = ffaLoraDeltas(ordered);
      break;
    case 'lora-stack':
      delta = loraStackDeltas(ordered);
      break;
    case 'median':
      delta = medianDeltas(ordered);
      break;
    case 'trimmed-mean':
      delta = trimmedMeanDeltas(ordered, rule.trim);
      break;
    case 'krum': {
      const { selected } = krumSelect(ordered, rule.byzantine, rule.select ?? 1);
      used = all.filter((p) => selected.includes(p));
      delta = fedAvgDeltas(ordered.filter((c) => selected.includes(c.partyId)));
      break;
    }
    default:
      throw new DmlError('AGGREGATE_RULE', `unknown aggregation rule ${(rule as { kind: string }).kind}`, {
        hint: `one of ${AGGREGATION_RULE_KINDS.join(', ')}`,
      });
  }
  return { delta, hash: hashDelta(delta), used };
};
