import {
  type FollowHead,
  type FollowLayer1,
  type FollowStep,
  decideFollowStep,
} from './cohort-follow-decider.js';
import type { PartyRoundLoopResult } from './party-round-loop.js';

/**
 * A party's own process across the cohort's head epochs (`dml train run`): observe (layer 1, the
 * party's hydra-node), decide (`decideFollowStep`), act (run an epoch's rounds, or wait), until
 * the cohort ends, its final round is acknowledged by all, it is stopped (Ctrl-C), or a wait runs
 * out of patience. The adapters (layer 1, the hydra-node, the round loop) are ports, so that the
 * decisions, the waits and the patience are tested without a chain or a head.
 */
export interface CohortFollowPorts {
  readonly me: string;
  readLayer1(): Promise<FollowLayer1>;
  /** Asked only when layer 1 says this party is a party of an open epoch not done yet. */
  readHead(): Promise<FollowHead>;
  /** Runs one epoch's rounds to its end (the party's `PartyRoundLoop`). */
  runEpoch(step: Extract<FollowStep, { kind: 'train-epoch' }>): Promise<PartyRoundLoopResult>;
  readonly signal?: AbortSignal;
  /** How long a wait lasts before it looks again (ms). */
  readonly pollMs: number;
  /** A wait that does not change for longer than this (by `clock`) ends the follow as `stalled`. */
  readonly patienceMs?: number;
  readonly clock?: () => number;
  /** Sleeps `ms`, or less when `signal` aborts (default: a timer). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A line when the step changes: what it waits for, which epoch it trains. */
  readonly onLine?: (line: string) => void;
}

export type CohortFollowResult =
  | { readonly kind: 'ended'; readonly outcome: 'Completed' | 'Premature'; readonly round: number }
  | {
      readonly kind: 'training-over';
      readonly epoch: number;
      readonly round: number;
      readonly aggregateHash: string;
      readonly parties: number;
    }
  | { readonly kind: 'not-a-member' }
  | { readonly kind: 'stopped'; readonly epoch?: number; readonly round?: number; readonly between: boolean }
  /** A wait between epochs that did not move for longer than the patience. */
  | {
      readonly kind: 'waited-out';
      readonly step: Extract<FollowStep, { kind: 'wait' }>;
      readonly waitedMs: number;
    }
  /** The epoch's round loop refused a round or ran out of patience. */
  | {
      readonly kind: 'epoch-failed';
      readonly epoch: number;
      readonly result: Extract<PartyRoundLoopResult, { kind: 'refused' | 'stalled' }>;
    };

const timerSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });

export const followCohortEpochs = async (ports: CohortFollowPorts): Promise<CohortFollowResult> => {
  const done = new Map<number, number>();
  const aggregates = new Map<number, { aggregateHash: string; parties: number }>();
  const now = ports.clock ?? (() => Date.now());
  const sleep = ports.sleep ?? timerSleep;
  let said = '';
  let waitingSince: number | undefined;
  for (;;) {
    if (ports.signal?.aborted) return { kind: 'stopped', between: true };
    const layer1 = await ports.readLayer1();
    let step = decideFollowStep({ me: ports.me, layer1, done });
    // the hydra-node is asked only once layer 1 says this party trains an epoch not done yet
    if (step.kind === 'wait' && step.for === 'head')
      step = decideFollowStep({ me: ports.me, layer1, done, head: await ports.readHead() });
    const key = JSON.stringify(step);
    if (step.kind !== 'wait' || key !== said) waitingSince = step.kind === 'wait' ? now() : undefined;
    if (key !== said) {
      if (step.kind === 'wait') ports.onLine?.(`waiting for ${step.detail}`);
      said = key;
    }
    switch (step.kind) {
      case 'ended':
      case 'not-a-member':
        return step;
      case 'training-over':
        return { ...step, ...(aggregates.get(step.epoch) ?? { aggregateHash: '', parties: 0 }) };
      case 'wait': {
        const waitedMs = now() - (waitingSince ?? now());
        if (ports.patienceMs !== undefined && waitedMs > ports.patienceMs)
          return { kind: 'waited-out', step, waitedMs };
        await sleep(ports.pollMs, ports.signal);
        break;
      }
      case 'train-epoch': {
        ports.onLine?.(
          `epoch ${step.epoch}: rounds ${step.firstRound}-${step.lastRound}, ${step.parties.length} parties`,
        );
        const result = await ports.runEpoch(step);
        said = '';
        if (result.kind === 'stopped')
          return {
            kind: 'stopped',
            epoch: step.epoch,
            ...(result.at ? { round: result.at.round } : {}),
            between: false,
          };
        if (result.kind === 'refused' || result.kind === 'stalled')
          return { kind: 'epoch-failed', epoch: step.epoch, result };
        done.set(step.epoch, result.round);
        // the epoch's loop has said so ("epoch N done: ..."), so nothing is printed here
        aggregates.set(step.epoch, { aggregateHash: result.aggregateHash, parties: step.parties.length });
        break;
      }
    }
  }
};
