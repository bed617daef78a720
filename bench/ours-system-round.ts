/**
 * The system round of our side of `mnistFedAvg` (bench/ours.ts, `oursRound: 'system'`): the
 * experiment's rounds run by the whole system, not a lean loop. Each party is a process of its
 * own running `PartyRoundLoop` (what `dml train run` runs) against its own node of the embedded
 * Hydra head, with its own sealed folder store (peers read its deltas through grants), its own
 * SQLite event log and the MNIST learner (bench/round-cohort.ts). After the last round every
 * party's final global adapter is checked to be the same and evaluated on the test set.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Delta, decodeDelta, hashDeltaBytes } from '../offchain/index.js';
import {
  type LabelledImages,
  type LocalTrainingSettings,
  type LoraSettings,
  type QuantizedMlp,
  evaluateQlora,
} from '../trainer/index.js';
import { type PartyProcess, runCohortRounds } from './round-cohort.js';
import type { RoundPhases } from './round-timeline.js';

export interface SystemRoundsInput {
  /** The party processes (bench/round-cohort.ts `startPartyProcesses`), at least one per shard. */
  readonly processes: readonly PartyProcess[];
  readonly base: QuantizedMlp;
  readonly lora: LoraSettings;
  readonly startAdapters: Delta;
  /** Party p's private shard. */
  readonly shards: readonly LabelledImages[];
  /** The images every party scores its peers' deltas on (not the test set). */
  readonly validation: LabelledImages;
  readonly test: LabelledImages;
  readonly training: LocalTrainingSettings;
  readonly rounds: number;
  /** Bound of all the rounds, in seconds. */
  readonly roundsSeconds: number;
}

/** The phases a round is split into (bench/round-timeline.ts), in the order the note names them. */
const PHASES = ['training', 'storage', 'head', 'aggregation', 'scoring', 'log', 'other'] as const;

export interface SystemRoundsFigures {
  /** Test accuracy of every party's final global adapter, party order. */
  readonly partyAccuracy: number[];
  /** Each round from the first party's start of it to the last party's end of it, in seconds. */
  readonly roundSeconds: number[];
  /** Every party's sealed delta of every round as stored, in bytes. */
  readonly deltaBytes: number[];
  /** Mean over parties and rounds of each phase of a party's round, in seconds. */
  readonly meanPhaseSeconds: PhaseSeconds;
  /** Mean over parties of each phase, round by round. */
  readonly meanPhaseSecondsByRound: PhaseSeconds[];
}

export type PhaseSeconds = Record<(typeof PHASES)[number], number>;

const meanPhases = (phases: readonly RoundPhases[]): PhaseSeconds =>
  Object.fromEntries(
    PHASES.map((phase) => [phase, phases.reduce((sum, p) => sum + p[phase], 0) / phases.length / 1000]),
  ) as PhaseSeconds;

/** Runs the rounds; every party must end with the same global adapter (else an error). */
export const systemRounds = async (input: SystemRoundsInput): Promise<SystemRoundsFigures> => {
  const home = await mkdtemp(join(tmpdir(), 'dml-bench-system-round-'));
  try {
    const run = await runCohortRounds(input.processes, {
      base: input.base,
      lora: input.lora,
      startAdapters: input.startAdapters,
      shards: input.shards,
      validations: input.shards.map(() => input.validation),
      training: input.training,
      rounds: input.rounds,
      home,
      prepareSeconds: 300,
      roundsSeconds: input.roundsSeconds,
    });
    const finals = run.parties.map((p) => hashDeltaBytes(p.finalGlobal));
    if (new Set(finals).size !== 1)
      throw new Error(`the parties ended with different global adapters: ${finals.join(', ')}`);
    return {
      partyAccuracy: run.parties.map(
        (p) => evaluateQlora(input.base, decodeDelta(p.finalGlobal), input.lora, input.test).accuracy,
      ),
      roundSeconds: run.rounds.map((r) => r.wall / 1000),
      deltaBytes: run.parties.flatMap((p) => p.deltaBytes),
      meanPhaseSeconds: meanPhases(run.rounds.flatMap((r) => r.phases)),
      meanPhaseSecondsByRound: run.rounds.map((r) => meanPhases(r.phases)),
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
};

/** "training 1.23 s, storage 0.04 s, ..." in the phases' order. */
export const describePhases = (seconds: PhaseSeconds): string =>
  PHASES.map((phase) => `${phase} ${seconds[phase].toFixed(3)} s`).join(', ');
