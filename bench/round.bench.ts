/**
 * The wall time of one training round for 4 and for 10 parties on this machine, split into
 * phases (training, storage, head, aggregation; and the scoring, the event log and the rest).
 *
 * Parties are processes of their own, as a real cohort on one machine runs them (`dml train run`
 * is one party's process): each runs its round loop (`PartyRoundLoop`, what `dml train run` runs)
 * with its own folder store (AES-256-GCM sealed, read by peers through signed grants), its own
 * SQLite event log and the real MNIST learner (bench/round-party.ts). The embedded Hydra head
 * (a node per party: its ledger, snapshot signatures, the WebSocket API) runs in this process;
 * a party's process connects to its own node's endpoint. The head is opened (Init, commits) before
 * the round and the processes are started and loaded before it: neither is in the round's time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EmbeddedHydraHead,
  HydraClient,
  headKeyFromSeed,
  signCardanoTransaction,
  withDmlMallocTunables,
  type LucidEmulatorLayer1,
} from '../offchain/index.js';
import { prepareMnistCohort, selectTrainerBackend, type MnistCohortSetup } from '../trainer/index.js';
import type { BenchFigure } from './result.js';
import type { FromParty, PartyRoundSetup, ToParty } from './round-party.js';
import { median, phasesByRound, type RoundPhases } from './round-timeline.js';

const PARTY_FILE = fileURLToPath(new URL('./round-party.ts', import.meta.url));
const COHORTS = [4, 10] as const;
/** `dml demo`'s MNIST party: 784-128-10 NF4 base, rank 16 FFA-LoRA, 500 private images, batch 64. */
const TRAINING = { steps: 30, batchSize: 64, learningRate: 1e-2, weightDecay: 0, seed: 7919 };
const SHARD = 500;
/**
 * Two rounds of one epoch: the first is a fresh process's (it derives each peer store's scrypt
 * master key when it first opens a peer's delta), the second is every later round's.
 */
const ROUNDS = 2;

interface MeasuredRound {
  /** From the first party's start of the round to the last party's end of it (one clock). */
  readonly wall: number;
  readonly phases: RoundPhases[];
}

interface Party {
  readonly child: ChildProcess;
  output: string;
  readonly messages: FromParty[];
  wake?: () => void;
}

/** Fails naming what it waited for, with the parties' output, when `work` is not done in `seconds`. */
const bounded = async <T>(label: string, parties: readonly Party[], seconds: number, work: Promise<T>) => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `round bench: ${label} not done after ${seconds} s\n${parties.map((p, i) => `party ${i}: ${p.output.slice(-2000)}`).join('\n')}`,
          ),
        ),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
};

const startParty = (): Party => {
  const child = spawn(process.execPath, ['--import', 'tsx', PARTY_FILE, '--party'], {
    // the allocator settings `dml` runs a party's node with (bin/dml.js)
    env: { ...process.env, GLIBC_TUNABLES: withDmlMallocTunables(process.env.GLIBC_TUNABLES) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  const party: Party = { child, output: '', messages: [] };
  const keep = (d: Buffer) => (party.output += d.toString());
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('message', (m: FromParty) => {
    party.messages.push(m);
    party.wake?.();
  });
  child.once('exit', (code, signal) => {
    party.output += `\n[exited: ${signal ?? code}]`;
    party.wake?.();
  });
  return party;
};

/** The party's next message of `kind`; a failure or an exit before it is an error. */
const next = <K extends FromParty['kind']>(party: Party, kind: K): Promise<Extract<FromParty, { kind: K }>> =>
  new Promise((resolve, reject) => {
    const look = () => {
      const m = party.messages.shift();
      if (m?.kind === kind) {
        party.wake = undefined;
        resolve(m as Extract<FromParty, { kind: K }>);
      } else if (m?.kind === 'failed') reject(new Error(`a party failed: ${m.message}`));
      else if (m) reject(new Error(`a party said ${m.kind} where ${kind} was expected`));
      else if (party.child.exitCode !== null || party.child.signalCode !== null)
        reject(new Error(`a party exited before ${kind}: ${party.output.slice(-2000)}`));
      else party.wake = look;
    };
    look();
  });

const tell = (party: Party, message: ToParty) => party.child.send(message);

/** A head of `n` parties opened on its own emulated layer 1: Init, each party's commit, open. */
const openHead = async (n: number) => {
  const paymentSeeds = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
  const hydraSeeds = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
  const users = paymentSeeds.map(headKeyFromSeed);
  const head = await EmbeddedHydraHead.start({
    parties: hydraSeeds,
    contestationPeriod: 60,
    accounts: users.map((u) => ({ address: u.address, lovelace: 100_000_000n })),
  });
  const clients = head.endpoints.map(
    (e) => new HydraClient({ host: e.host, port: e.port, backoff: { initialMs: 5, maxMs: 100 } }),
  );
  const stop = async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await head.close();
  };
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const layer1 = head.chain.layer1 as LucidEmulatorLayer1;
    const opened = clients.map((c) => c.awaitHeadIsOpen());
    await Promise.all([clients[0]!.init(), ...clients.slice(1).map((c) => c.waitFor('HeadIsInitializing'))]);
    for (const [i, client] of clients.entries()) {
      const utxo = Object.fromEntries(
        layer1
          .utxosAt(users[i]!.address)
          .map((u) => [
            `${u.txHash}#${u.outputIndex}`,
            { address: u.address, value: { lovelace: Number(u.assets['lovelace']) } },
          ]),
      );
      const draft = await client.draftCommit(utxo);
      const committed = client.waitFor('Committed', (o) => o.party.vkey === head.nodes[i]!.party);
      await client.submitL1Transaction({
        cborHex: signCardanoTransaction(draft.cborHex, users[i]!.privateKey),
      });
      await committed;
    }
    await Promise.all(opened);
  } catch (error) {
    await stop();
    throw error;
  }
  return { head, paymentSeeds, hydraSeeds, ids: users.map((u) => u.keyHash), stop };
};

const runRound = async (
  n: number,
  parties: readonly Party[],
  setup: MnistCohortSetup,
  home: string,
): Promise<MeasuredRound[]> => {
  const head = await openHead(n);
  try {
    const cohortId = randomBytes(28).toString('hex');
    const passphrase = randomBytes(18).toString('base64url');
    const mine = parties.slice(0, n);
    const ready = mine.map((p) => next(p, 'ready'));
    mine.forEach((p, i) => {
      const endpoint = head.head.endpoints[i]!;
      const s: PartyRoundSetup = {
        index: i,
        cohortId,
        ids: head.ids,
        paymentSeed: head.paymentSeeds[i]!,
        hydraSeed: head.hydraSeeds[i]!,
        endpoint: { host: endpoint.host, port: endpoint.port },
        dir: join(home, `cohort-${n}`, `party-${i + 1}`),
        passphrase,
        base: setup.base,
        lora: setup.lora,
        startAdapters: setup.startAdapters,
        shard: setup.shards[i]!,
        validation: setup.validations[i]!,
        training: TRAINING,
        rounds: ROUNDS,
      };
      tell(p, { kind: 'round', setup: s });
    });
    await bounded(`the ${n} parties to prepare the round`, mine, 120, Promise.all(ready));
    const done = mine.map((p) => next(p, 'done'));
    for (const p of mine) tell(p, { kind: 'go' });
    const results = await bounded(`${ROUNDS} rounds of ${n} parties`, mine, 240, Promise.all(done));
    const outcomes = new Set(results.map((r) => `${r.result} ${r.aggregateHash}`));
    if (outcomes.size !== 1 || results[0]!.result !== 'epoch-done')
      throw new Error(`${n} parties: the parties ended differently: ${[...outcomes].join('; ')}`);
    const byParty = results.map((r) => ({
      at: r.startedAt,
      rounds: phasesByRound(r.spans, r.starts, r.end),
    }));
    return Array.from({ length: ROUNDS }, (_, i) => {
      const parts = byParty.map((p) => ({ at: p.at, phases: p.rounds.get(i + 1) }));
      if (parts.some((p) => !p.phases))
        throw new Error(`${n} parties: a party has no step in round ${i + 1}`);
      const starts = parts.map((p) => p.at + p.phases!.start);
      const ends = parts.map((p) => p.at + p.phases!.end);
      return { wall: Math.max(...ends) - Math.min(...starts), phases: parts.map((p) => p.phases!) };
    });
  } finally {
    await head.stop();
  }
};

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
  const parties = Array.from({ length: Math.max(...COHORTS) }, startParty);
  const rows: BenchFigure[] = [];
  try {
    const ups = await bounded(
      'the party processes to load',
      parties,
      240,
      Promise.all(parties.map((p) => next(p, 'up'))),
    );
    const backend = ups[0]!.backend;
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
    for (const p of parties) if (p.child.connected) tell(p, { kind: 'exit' });
    await bounded(
      'the party processes to exit',
      parties,
      30,
      Promise.all(
        parties.map((p) =>
          p.child.exitCode !== null || p.child.signalCode !== null
            ? undefined
            : new Promise((resolve) => p.child.once('exit', resolve)),
        ),
      ),
    ).catch((error: unknown) => {
      for (const p of parties) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      throw error;
    });
    await rm(home, { recursive: true, force: true });
  }
  return rows;
};
