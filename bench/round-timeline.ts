/**
 * A party's round as a timeline of measured spans, and its split into phases (bench/round.bench.ts).
 *
 * The party process records a span around every call into its ports (the learner's training and
 * scoring, the encrypted store's seal + put, grant and reads, the event log's appends) and around
 * each step of its round loop (`train-and-commit`, `aggregate`, `acknowledge`). What a step spends
 * outside every port it called is the step's own work: the head for `train-and-commit` (post the
 * commitment and wait until a confirmed snapshot holds it) and `acknowledge` (sign the training
 * snapshot, post it, wait for its confirmation), aggregation for `aggregate` (decode, aggregate,
 * advance the global adapter, write it and the aggregate to the party's files).
 */

export type SpanKind =
  | 'train'
  | 'score'
  | 'put'
  | 'share'
  | 'get'
  | 'getShared'
  | 'append'
  | 'step:train-and-commit'
  | 'step:aggregate'
  | 'step:acknowledge';

export interface Span {
  readonly kind: SpanKind;
  /** The round the party's loop was in (its last step's round). */
  readonly round: number;
  /** Milliseconds from the party's start of the round. */
  readonly start: number;
  readonly end: number;
  /** CPU time of the party's process during the span (ms; user + system, every thread). */
  readonly cpu?: number;
}

export interface RoundPhases {
  /** Local training (the learner's `train`: H steps and the local validation). */
  readonly training: number;
  /** Seal + put + read grant of the own delta, and the reads of every delta (fetch, verify, open). */
  readonly storage: number;
  /** Commitment posted until confirmed, and the training snapshot signed, posted and confirmed. */
  readonly head: number;
  /** Decode, aggregate, advance, write the adapters: the `aggregate` step outside its ports. */
  readonly aggregation: number;
  /** The contribution scores (every delta evaluated on the party's validation split). */
  readonly scoring: number;
  /** Appends to the party's SQLite event log. */
  readonly log: number;
  /** The rest of the party's round: connecting, starting the round, waiting for its peers. */
  readonly other: number;
  /** The party's whole round, from its start to the end of its loop. */
  readonly total: number;
  /** CPU time of the party's process in its training and its scoring (ms): what the load does not stretch. */
  readonly trainingCpu: number;
  readonly scoringCpu: number;
}

/** Total length of the union of intervals (overlapping spans, e.g. concurrent reads, count once). */
export const unionLength = (spans: ReadonlyArray<{ start: number; end: number }>): number => {
  const sorted = [...spans].filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  let total = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const s of sorted) {
    if (s.start > to) {
      if (to > from) total += to - from;
      from = s.start;
      to = s.end;
    } else to = Math.max(to, s.end);
  }
  if (to > from) total += to - from;
  return total;
};

const inside = (outer: Span) => (s: Span) =>
  !s.kind.startsWith('step:') && s.start >= outer.start && s.end <= outer.end;

/** A step's own time: its length minus the union of the port calls made inside it. */
const ownTime = (step: Span, spans: readonly Span[]): number =>
  step.end - step.start - unionLength(spans.filter(inside(step)));

/** Splits one party's round (`total` ms long) into phases. */
export const roundPhases = (spans: readonly Span[], total: number): RoundPhases => {
  const of = (...kinds: SpanKind[]) => spans.filter((s) => kinds.includes(s.kind));
  const own = (kind: SpanKind) => of(kind).reduce((sum, step) => sum + ownTime(step, spans), 0);
  const training = unionLength(of('train'));
  const storage = unionLength(of('put', 'share')) + unionLength(of('get', 'getShared'));
  const scoring = unionLength(of('score'));
  const log = unionLength(of('append'));
  const head = own('step:train-and-commit') + own('step:acknowledge');
  const aggregation = own('step:aggregate');
  return {
    training,
    storage,
    head,
    aggregation,
    scoring,
    log,
    other: Math.max(0, total - training - storage - head - aggregation - scoring - log),
    total,
    trainingCpu: of('train').reduce((sum, s) => sum + (s.cpu ?? 0), 0),
    scoringCpu: of('score').reduce((sum, s) => sum + (s.cpu ?? 0), 0),
  };
};

/**
 * A party's rounds, each split into phases: round r runs from `starts[r]` (its first step; the
 * first round from 0, the party's start) to the next round's start, the last one to `end`.
 */
export const phasesByRound = (
  spans: readonly Span[],
  starts: Readonly<Record<number, number>>,
  end: number,
): Map<number, RoundPhases & { readonly start: number; readonly end: number }> => {
  const rounds = Object.keys(starts)
    .map(Number)
    .sort((a, b) => a - b);
  const out = new Map<number, RoundPhases & { start: number; end: number }>();
  rounds.forEach((round, i) => {
    const start = i === 0 ? 0 : starts[round]!;
    const until = i + 1 < rounds.length ? starts[rounds[i + 1]!]! : end;
    out.set(round, {
      ...roundPhases(
        spans.filter((s) => s.round === round),
        until - start,
      ),
      start,
      end: until,
    });
  });
  return out;
};

/** The median (mean of the two middle values for an even count). */
export const median = (values: readonly number[]): number => {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One party's timeline as its process reports it (bench/round-party.ts, `done`). */
export interface PartyTimeline {
  /** The party's start, in milliseconds since the epoch (the machine's clock, shared by all parties). */
  readonly startedAt: number;
  readonly spans: readonly Span[];
  /** Milliseconds from the party's start to the first step of each round. */
  readonly starts: Readonly<Record<number, number>>;
  /** Milliseconds from the party's start to the end of its loop. */
  readonly end: number;
}

/** A round of the whole cohort. */
export interface CohortRound {
  /** From the first party's start of the round to the last party's end of it (one clock), ms. */
  readonly wall: number;
  /** Each party's own round split into phases, in party order. */
  readonly phases: RoundPhases[];
}

/** Rounds 1..`rounds` of a cohort, from its parties' timelines; a party without a round is an error. */
export const cohortRounds = (parties: readonly PartyTimeline[], rounds: number): CohortRound[] => {
  const byParty = parties.map((p) => ({ at: p.startedAt, rounds: phasesByRound(p.spans, p.starts, p.end) }));
  return Array.from({ length: rounds }, (_, i) => {
    const parts = byParty.map((p, index) => {
      const phases = p.rounds.get(i + 1);
      if (!phases) throw new Error(`party ${index + 1} has no step in round ${i + 1}`);
      return { at: p.at, phases };
    });
    const starts = parts.map((p) => p.at + p.phases.start);
    const ends = parts.map((p) => p.at + p.phases.end);
    return { wall: Math.max(...ends) - Math.min(...starts), phases: parts.map((p) => p.phases) };
  });
};
