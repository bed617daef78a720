/**
 * The wall time of one training round for 4 and for 10 parties on this machine, split into
 * phases (training, storage, head, aggregation; and the scoring, the event log and the rest).
 *
 * Parties are processes of their own, as a real cohort on one machine runs them (`dml train run`
 * is one party's process): each runs its round loop (`PartyRoundLoop`, what `dml train run` runs)
 * with its own folder store (AES-256-GCM sealed, read by peers through signed grants), its own
 * SQLite event log and the real MNIST learner (bench/round-party.ts). The embedded Hydra head
 * (a node per party: its ledger, snapshot signatures, the WebSocket API) runs in this process;
 * a party's process connects to its own node's endpoint (bench/round-cohort.ts runs the cohort).
 * The head is opened (Init, commits) before the round and the processes are started and loaded
 * before it: neither is in the round's time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareMnistCohort, selectTrainerBackend, type MnistCohortSetup } from '../trainer/index.js';
import type { BenchFigure } from './result.js';
import {
  type PartyProcess,
  runCohortRounds,
  startPartyProcesses,
  stopPartyProcesses,
} from './round-cohort.js';
import { median, type CohortRound, type RoundPhases } from './round-timeline.js';

const COHORTS = [4, 10] as const;
/** `dml demo`'s MNIST party: 784-128-10 NF4 base, rank 16 FFA-LoRA, 500 private images, batch 64. */
const TRAINING = { steps: 30, batchSize: 64, learningRate: 1e-2, weightDecay: 0, seed: 7919 };
const SHARD = 500;
/**
 * Two rounds of one epoch: the first is a fresh process's (it derives each peer store's scrypt
 * master key when it first opens a peer's delta), the second is every later round's.
 */
const ROUNDS = 2;

const runRound = async (
  n: number,
  parties: readonly PartyProcess[],
  setup: MnistCohortSetup,
  home: string,
): Promise<CohortRound[]> =>
  (
    await runCohortRounds(parties, {
      base: setup.base,
      lora: setup.lora,
      startAdapters: setup.startAdapters,
      shards: setup.shards.slice(0, n),
      validations: setup.validations.slice(0, n),
      training: TRAINING,
      rounds: ROUNDS,
      home,
      prepareSeconds: 120,
      roundsSeconds: 240,
    })
  ).rounds;

const PHASES: ReadonlyArray<[keyof RoundPhases, string]> = [
  [
    'training',
    `local training: ${TRAINING.steps} QLoRA steps of batch ${TRAINING.batchSize} and the validation of the own adapter`,
  ],
  [
    'storage',
    'seal (AES-256-GCM) + put + read grant of the own delta, and every delta fetched through its grant, verified against its commitment and opened',
  ],
  [
    'head',
    "the commitment posted until a confirmed snapshot holds it, and the training snapshot signed, posted and confirmed (layer-2 transactions through the party's own node)",
  ],
  [
    'aggregation',
    "decode the deltas, FFA-LoRA aggregate + SHA-256, advance the global adapter, write it and the aggregate to the party's files",
  ],
  [
    'scoring',
    "contribution scores: every delta applied and evaluated on the party's 300 validation images (part of the aggregate step)",
  ],
  [
    'log',
    "appends to the party's SQLite event log (RoundStarted, DeltaCommitted, AggregateComputed + scores, SnapshotSigned)",
  ],
  [
    'other',
    "the rest of the party's round: connecting to its node, starting the round, waiting for its peers' commitments and acknowledgements",
  ],
];

export default async (): Promise<BenchFigure[]> => {
  const load = () => loadavg()[0]!.toFixed(1);
  const loadBefore = load();
  await selectTrainerBackend({ log: () => {} });
  const setup = await prepareMnistCohort({
    parties: Math.max(...COHORTS),
    shardSize: SHARD,
    rank: 16,
    seed: 1,
  });
  const home = await mkdtemp(join(tmpdir(), 'dml-round-bench-'));
  const rows: BenchFigure[] = [];
  try {
    const { parties, backend } = await startPartyProcesses(Math.max(...COHORTS));
    try {
      for (const n of COHORTS) {
        const [first, steady] = await runRound(n, parties, setup, home);
        const where = `${n} party processes on ${availableParallelism()} cores, load average ${loadBefore} before, ${load()} after`;
        const cpuOf = (phases: readonly RoundPhases[], phase: keyof RoundPhases) =>
          phase === 'training' || phase === 'scoring'
            ? `; the party process's CPU time in it: median ${median(phases.map((p) => p[`${phase}Cpu`])).toFixed(0)} ms`
            : '';
        const spread = (phases: readonly RoundPhases[], phase: keyof RoundPhases) =>
          `min ${Math.min(...phases.map((p) => p[phase])).toFixed(0)}, max ${Math.max(...phases.map((p) => p[phase])).toFixed(0)} ms`;
        rows.push({
          name: `round of ${n} parties (MNIST MLP, ${TRAINING.steps} steps): wall time`,
          value: steady!.wall,
          unit: 'ms',
          backend,
          note: `round 2 of an epoch (every round after a process's first): from the first party's first step of the round to the last party's loop seeing every acknowledgement; ${where}; each party's own round: median ${median(steady!.phases.map((p) => p.total)).toFixed(0)} ms`,
        });
        for (const [phase, what] of PHASES)
          rows.push({
            name: `round of ${n} parties: ${phase} (median across parties)`,
            value: median(steady!.phases.map((p) => p[phase])),
            unit: 'ms',
            backend,
            note: `round 2; ${what}; ${spread(steady!.phases, phase)}${cpuOf(steady!.phases, phase)}`,
          });
        rows.push(
          {
            name: `first round of ${n} fresh party processes: wall time`,
            value: first!.wall,
            unit: 'ms',
            backend,
            note: `round 1, from every party told to start; ${where}; medians: training ${median(first!.phases.map((p) => p.training)).toFixed(0)} ms (the first steps of a process: the wasm kernels compile and warm up), scoring ${median(first!.phases.map((p) => p.scoring)).toFixed(0)} ms, head ${median(first!.phases.map((p) => p.head)).toFixed(0)} ms`,
          },
          {
            name: `first round of ${n} fresh party processes: storage (median across parties)`,
            value: median(first!.phases.map((p) => p.storage)),
            unit: 'ms',
            backend,
            note: `as storage above, plus the scrypt (N=2^15, r=8) of each of the ${n - 1} peers' store master keys, derived once per process at the first read of a peer's delta and cached; ${spread(first!.phases, 'storage')}`,
          },
        );
      }
    } finally {
      await stopPartyProcesses(parties);
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
  return rows;
};
