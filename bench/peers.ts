// npm run bench:peers [-- --pairs N --only mnistEpoch,mnistFedAvg,lmStep --threads N --fed-threads N
//                        --fed-engine simulation|inprocess --ours-round system|lean --lm-lora-rank R
//                        --skip-setup]
// Sets up the peers (bench/peers/setup.sh), then runs each experiment interleaved with ours
// (ours, peer, ours, peer ..., N pairs, default 3) in fresh processes, prints every figure as
// ours / peer with the ratio and appends the figures to bench/results.json. Our side is the
// optional module bench/ours.ts (interface below and in bench/peers/INTERFACE.md); where it or
// one of its functions is missing the peer's figure is printed with "ours: not yet measured".
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  appendRecords,
  compare,
  comparisonRecords,
  describeComparison,
  interleave,
  joinRunNotes,
  parsePeerOutput,
  type FigureSpec,
} from './peers-compare.js';
import type { BenchRecord } from './result.js';

// ---- The interface of our side (bench/ours.ts); keep in step with bench/peers/INTERFACE.md ----

export type OptimizerName = 'sgd' | 'adam' | 'adamw';

/** Options shared by the MNIST experiments. */
export interface MnistOptions {
  /** Threads (cores) the run may use. */
  readonly threads: number;
  readonly seed: number;
  /** Absolute path of the data order JSON (`train`: permutation of 0..59999, `partySize`). */
  readonly orderFile: string;
  /** Hidden layer sizes: 784 -> hidden... -> 10, ReLU between. */
  readonly hidden: readonly number[];
  readonly optimizer: OptimizerName;
  readonly lr: number;
  /** For SGD. */
  readonly momentum: number;
  readonly batchSize: number;
}

export interface MnistEpochOptions extends MnistOptions {
  /** Shard index: images train[party * 5500 .. (party + 1) * 5500) of the order, in that order. */
  readonly party: number;
}

export interface MnistEpochFigures {
  readonly samplesPerSecond: number;
  /** Samples per second of the process's CPU time (user + system) during the epoch. */
  readonly samplesPerCpuSecond: number;
  readonly backend: string;
  readonly note?: string;
}

export interface MnistFedAvgOptions extends MnistOptions {
  readonly parties: number;
  readonly rounds: number;
  /** Local epochs over the party's shard per round. */
  readonly localEpochs: number;
  /** Adapter rank and alpha, for a side that trains adapters. */
  readonly loraRank: number;
  readonly loraAlpha: number;
  /**
   * How the peer runs the parties of a round: in parallel on `threads` cores ('simulation', Ray)
   * or one after another on one thread ('inprocess'); our side does the same.
   */
  readonly engine?: 'simulation' | 'inprocess';
  /**
   * Our side's round: `system` (default) is the whole system's, every party a process running
   * the round loop of `dml train run` against its own node of an embedded Hydra head, with its own
   * sealed store, event log and scoring; `lean` trains, seals, opens and aggregates in one process
   * (no head, no log, no scoring). The peer ignores it. `system` needs engine `simulation`.
   */
  readonly oursRound?: 'system' | 'lean';
}

export interface MnistFedAvgFigures {
  /** Accuracy of every party's final model on the 10,000 test images, party order. */
  readonly partyAccuracy: readonly number[];
  /** Wall time of the whole run, set-up included. */
  readonly wallSeconds: number;
  /** Wall time of each round (training to aggregate), round order. */
  readonly roundSeconds: readonly number[];
  /** Mean bytes one party uploads in one round (payload: the delta or weights as sent). */
  readonly bytesSentPerPartyPerRound: number;
  readonly backend: string;
  readonly note?: string;
}

export interface LmStepOptions {
  readonly threads: number;
  readonly seed: number;
  readonly dModel: number;
  readonly layers: number;
  readonly heads: number;
  readonly context: number;
  readonly mlpRatio: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerName;
  readonly lr: number;
  /** Timed steps, after warmupSteps untimed ones. */
  readonly steps: number;
  readonly warmupSteps: number;
  /** 0: all weights trained; r > 0: only LoRA adapters of rank r (QLoRA on our side). */
  readonly loraRank: number;
  readonly loraAlpha: number;
}

export interface LmStepFigures {
  readonly samplesPerSecond: number;
  /** Samples per CPU-second of the process (user + system) over the timed steps. */
  readonly samplesPerCpuSecond: number;
  readonly backend: string;
  readonly note?: string;
}

/** bench/ours.ts: every function is optional; each runs in a fresh process of its own. */
export interface OursModule {
  readonly mnistEpoch?: (options: MnistEpochOptions) => Promise<MnistEpochFigures>;
  readonly mnistFedAvg?: (options: MnistFedAvgOptions) => Promise<MnistFedAvgFigures>;
  readonly lmStep?: (options: LmStepOptions) => Promise<LmStepFigures>;
}

// ---- The harness ----

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const python = join(here, '.venv', 'bin', 'python');
const oursPath = join(here, 'ours.ts');
type ExperimentName = keyof OursModule;
const experimentNames: readonly ExperimentName[] = ['mnistEpoch', 'mnistFedAvg', 'lmStep'];

/** A figures object with the process's peak resident memory, as measured by its harness. */
type Measured<F> = F & { readonly processPeakRssBytes: number };

interface PeerVariant<P> {
  /** The peer's name in the figures, e.g. "Flower FedAvg". */
  readonly name: string;
  readonly backend: (json: Record<string, unknown>) => string;
  readonly select: (json: Record<string, unknown>) => P;
}

interface Experiment<O, P, F> {
  readonly name: ExperimentName;
  readonly title: string;
  readonly script: string;
  readonly options: O;
  readonly peerArgs: (options: O) => string[];
  readonly variants: readonly PeerVariant<P>[];
  readonly specs: ReadonlyArray<{
    readonly peer: FigureSpec<P>;
    readonly ours: (figures: Measured<F>) => number;
  }>;
  readonly note: (options: O) => string;
}

const num = (json: Record<string, unknown>, key: string): number => {
  const value = json[key];
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new Error(`peer figure ${key} is not a number`);
  return value;
};
const obj = (json: Record<string, unknown>, key: string): Record<string, unknown> => {
  const value = json[key];
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`peer figure ${key} is not an object`);
  return value as Record<string, unknown>;
};
const torchBackend = (json: Record<string, unknown>): string => {
  const versions = obj(json, 'versions');
  return `pytorch ${String(versions.torch)} cpu (Debian)`;
};
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const mnistFlags = (o: MnistOptions): string[] => [
  `--threads=${o.threads}`,
  `--seed=${o.seed}`,
  `--order=${o.orderFile}`,
  `--hidden=${o.hidden.join(',')}`,
  `--optimizer=${o.optimizer}`,
  `--lr=${o.lr}`,
  `--momentum=${o.momentum}`,
  `--batch-size=${o.batchSize}`,
];

const mnistNote = (o: MnistOptions): string =>
  `784-${o.hidden.join('-')}-10, ${o.optimizer} lr ${o.lr}` +
  `${o.optimizer === 'sgd' ? ` momentum ${o.momentum}` : ''}, batch ${o.batchSize}, threads ${o.threads}`;

const mnistEpoch = (
  o: MnistEpochOptions,
): Experiment<MnistEpochOptions, Record<string, unknown>, MnistEpochFigures> => ({
  name: 'mnistEpoch',
  title: `MNIST: one local epoch on party ${o.party}'s shard (5,500 images)`,
  script: 'mnist_epoch.py',
  options: o,
  peerArgs: (x) => [...mnistFlags(x), `--party=${x.party}`],
  variants: [{ name: 'PyTorch', backend: torchBackend, select: (json) => json }],
  specs: [
    {
      peer: {
        key: 'samplesPerSecond',
        label: 'samples/s',
        unit: 'samples/s',
        better: 'higher',
        pick: (j) => num(j, 'samplesPerSecond'),
      },
      ours: (f) => f.samplesPerSecond,
    },
    {
      peer: {
        key: 'samplesPerCpuSecond',
        label: 'samples per CPU-second',
        unit: 'samples/cpu-s',
        better: 'higher',
        pick: (j) => num(j, 'samplesPerCpuSecond'),
      },
      ours: (f) => f.samplesPerCpuSecond,
    },
  ],
  note: mnistNote,
});

const fedAvgSpecs = (
  parties: number,
): Experiment<MnistFedAvgOptions, Record<string, unknown>, MnistFedAvgFigures>['specs'] => {
  const accuracy = (j: Record<string, unknown>): number[] => {
    const values = j.partyAccuracy;
    if (!Array.isArray(values) || values.length !== parties)
      throw new Error('peer partyAccuracy is malformed');
    return values.map(Number);
  };
  return [
    {
      peer: {
        key: 'meanAccuracy',
        label: 'mean party test accuracy',
        unit: 'fraction',
        better: 'higher',
        pick: (j) => mean(accuracy(j)),
      },
      ours: (f) => mean(f.partyAccuracy),
    },
    ...Array.from({ length: parties }, (_, p) => ({
      peer: {
        key: `party${p}Accuracy`,
        label: `party ${p} test accuracy`,
        unit: 'fraction',
        better: 'higher' as const,
        pick: (j: Record<string, unknown>) => accuracy(j)[p]!,
      },
      ours: (f: Measured<MnistFedAvgFigures>) => f.partyAccuracy[p]!,
    })),
    {
      peer: {
        key: 'roundSeconds',
        label: 'round wall time',
        unit: 's',
        better: 'lower',
        pick: (j) => num(j, 'roundsSeconds') / (j.roundSeconds as unknown[]).length,
      },
      ours: (f) => mean(f.roundSeconds),
    },
    {
      peer: {
        key: 'wallSeconds',
        label: 'wall time',
        unit: 's',
        better: 'lower',
        pick: (j) => num(j, 'wallSeconds'),
      },
      ours: (f) => f.wallSeconds,
    },
    {
      peer: {
        key: 'bytesSent',
        label: 'bytes sent per party per round',
        unit: 'B',
        better: 'lower',
        pick: (j) => num(j, 'bytesSentPerPartyPerRound'),
      },
      ours: (f) => f.bytesSentPerPartyPerRound,
    },
  ];
};

const mnistFedAvg = (
  o: MnistFedAvgOptions,
  engine: 'simulation' | 'inprocess',
): Experiment<MnistFedAvgOptions, Record<string, unknown>, MnistFedAvgFigures> => {
  const flowerBackend = (json: Record<string, unknown>): string => {
    const versions = obj(json, 'versions');
    return `flwr ${String(versions.flwr)} ${String(json.engine)}, pytorch ${String(versions.torch)} cpu`;
  };
  return {
    name: 'mnistFedAvg',
    title: `MNIST: ${o.parties} parties, IID shards of 5,500, ${o.rounds} rounds`,
    script: 'mnist_fedavg.py',
    options: o,
    peerArgs: (x) => [
      ...mnistFlags(x),
      `--parties=${x.parties}`,
      `--rounds=${x.rounds}`,
      `--local-epochs=${x.localEpochs}`,
      `--lora-rank=${x.loraRank}`,
      `--lora-alpha=${x.loraAlpha}`,
      `--engine=${engine}`,
    ],
    variants: [
      {
        name: 'Flower FedAvg full weights',
        backend: flowerBackend,
        select: (json) => obj(obj(json, 'runs'), 'full'),
      },
      {
        name: 'Flower+PEFT LoRA',
        backend: (json) => `${flowerBackend(json)}, peft ${String(obj(json, 'versions').peft)}`,
        select: (json) => obj(obj(json, 'runs'), 'lora'),
      },
    ],
    specs: fedAvgSpecs(o.parties),
    note: (x) =>
      `${mnistNote(x)}, ${x.localEpochs} local epoch(s)/round, LoRA r ${x.loraRank} alpha ${x.loraAlpha}, ` +
      `engine ${engine}, ours: ${x.oursRound ?? 'system'} round`,
  };
};

const lmStep = (o: LmStepOptions): Experiment<LmStepOptions, Record<string, unknown>, LmStepFigures> => ({
  name: 'lmStep',
  title: `Byte-level LM: training step, d ${o.dModel}, ${o.layers} layers, ${o.heads} heads, context ${o.context}`,
  script: 'lm_step.py',
  options: o,
  peerArgs: (x) => [
    `--threads=${x.threads}`,
    `--seed=${x.seed}`,
    `--d-model=${x.dModel}`,
    `--layers=${x.layers}`,
    `--heads=${x.heads}`,
    `--context=${x.context}`,
    `--mlp-ratio=${x.mlpRatio}`,
    `--batch-size=${x.batchSize}`,
    `--optimizer=${x.optimizer}`,
    `--lr=${x.lr}`,
    `--steps=${x.steps}`,
    `--warmup-steps=${x.warmupSteps}`,
    `--lora-rank=${x.loraRank}`,
    `--lora-alpha=${x.loraAlpha}`,
  ],
  variants: [
    {
      name: 'PyTorch',
      backend: (json) =>
        `${torchBackend(json)}${num(json, 'loraRank') > 0 ? `, peft ${String(obj(json, 'versions').peft)}` : ''}`,
      select: (json) => json,
    },
  ],
  specs: [
    {
      peer: {
        key: 'samplesPerSecond',
        label: 'samples/s',
        unit: 'samples/s',
        better: 'higher',
        pick: (j) => num(j, 'samplesPerSecond'),
      },
      ours: (f) => f.samplesPerSecond,
    },
    {
      peer: {
        key: 'samplesPerCpuSecond',
        label: 'samples per CPU-second',
        unit: 'samples/cpu-s',
        better: 'higher',
        pick: (j) => num(j, 'samplesPerCpuSecond'),
      },
      ours: (f) => f.samplesPerCpuSecond,
    },
    {
      peer: {
        key: 'peakRss',
        label: 'peak RSS of the process',
        unit: 'B',
        better: 'lower',
        pick: (j) => num(j, 'peakRssBytes'),
      },
      ours: (f) => f.processPeakRssBytes,
    },
  ],
  note: (x) =>
    `batch ${x.batchSize}, ${x.optimizer} lr ${x.lr}, ${x.loraRank > 0 ? `LoRA r ${x.loraRank}` : 'all weights'}, ` +
    `${x.steps} timed steps after ${x.warmupSteps}, threads ${x.threads}`,
});

// ---- Processes ----

const run = (command: string, args: readonly string[], timeoutMs: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `${[command, ...args].join(' ')} ended with ${signal ?? `code ${code}`}:\n${stderr.split('\n').slice(-15).join('\n')}`,
          ),
        );
    });
  });

const runPeer = async (script: string, args: readonly string[]): Promise<Record<string, unknown>> =>
  parsePeerOutput(await run(python, [join(here, 'peers', script), ...args], 30 * 60_000));

const runOurs = async <F>(name: ExperimentName, options: unknown): Promise<Measured<F>> => {
  const tsx = join(root, 'node_modules', '.bin', 'tsx');
  const stdout = await run(
    tsx,
    [join(here, 'peers.ts'), '--ours-child', name, JSON.stringify(options)],
    30 * 60_000,
  );
  return parsePeerOutput(stdout) as Measured<F>;
};

/** In a fresh child process: run one function of bench/ours.ts, print its figures as JSON. */
const oursChild = async (name: string, optionsJson: string): Promise<void> => {
  const ours = (await import(pathToFileURL(oursPath).href)) as OursModule;
  const fn = ours[name as ExperimentName] as ((o: unknown) => Promise<object>) | undefined;
  if (fn === undefined) throw new Error(`bench/ours.ts has no ${name}`);
  const figures = await fn(JSON.parse(optionsJson) as unknown);
  process.stdout.write(
    JSON.stringify({ ...figures, processPeakRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n',
  );
};

const loadOurs = async (): Promise<OursModule | undefined> =>
  existsSync(oursPath) ? ((await import(pathToFileURL(oursPath).href)) as OursModule) : undefined;

const gitCommit = (): string => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

interface Flags {
  readonly pairs: number;
  readonly only: readonly ExperimentName[];
  readonly threads: number;
  readonly fedThreads: number;
  readonly skipSetup: boolean;
  readonly fedEngine: 'simulation' | 'inprocess';
  /** Our side's federated round: the whole system's (default) or the lean one in one process. */
  readonly oursRound: 'system' | 'lean';
  /** LoRA rank of the LM step: 0 trains all weights (the default). */
  readonly lmLoraRank: number;
}

const PEERS_USAGE = `npm run bench:peers -- [options]

Runs the same experiments in our system and in its peers (PyTorch, Flower, PEFT), interleaved
(ours, peer, ours, peer ...), prints ours / peer with the ratio and adds the figures to
bench/results.json. Sets up the peers' Python environment first (bench/peers/setup.sh).

  --only NAMES         experiments, comma-separated (default: all): ${experimentNames.join(', ')}
  --pairs N            interleaved pairs per experiment (default 3)
  --threads N          threads of single-process experiments, both sides (default 1)
  --fed-threads N      CPUs of the federated run (default: all cores)
  --fed-engine E       simulation (Flower's Ray simulation, default) or inprocess
  --ours-round R       our federated round: system (default: party processes running the round
                       loop of \`dml train run\` against an embedded Hydra head, sealed stores,
                       event logs, scoring) or lean (train, seal, open, aggregate in one process;
                       no head, log or scoring); inprocess combines with lean only
  --lm-lora-rank N     train the peer's LM with PEFT LoRA of this rank (default: all weights)
  --skip-setup         do not run bench/peers/setup.sh
  --help               this text
`;

const VALUE_FLAGS = [
  '--only',
  '--pairs',
  '--threads',
  '--fed-threads',
  '--fed-engine',
  '--ours-round',
  '--lm-lora-rank',
];
const SWITCHES = ['--skip-setup', '--help'];

const parseFlags = (argv: readonly string[]): Flags => {
  for (let i = 0; i < argv.length; i++) {
    if (VALUE_FLAGS.includes(argv[i]!)) i++;
    else if (!SWITCHES.includes(argv[i]!))
      throw new Error(`unknown option ${argv[i]} (npm run bench:peers -- --help lists them)`);
  }
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, fallback: number): number => {
    const text = value(name);
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got ${text}`);
    return n;
  };
  const only = (value('--only') ?? experimentNames.join(',')).split(',').filter((s) => s.length > 0);
  const unknown = only.filter((s) => !(experimentNames as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new Error(`unknown experiment ${unknown.join(', ')} (there are: ${experimentNames.join(', ')})`);
  const fedEngine = value('--fed-engine') ?? 'simulation';
  if (fedEngine !== 'simulation' && fedEngine !== 'inprocess')
    throw new Error(`--fed-engine is simulation or inprocess, got ${fedEngine}`);
  const oursRound = value('--ours-round') ?? 'system';
  if (oursRound !== 'system' && oursRound !== 'lean')
    throw new Error(`--ours-round is system or lean, got ${oursRound}`);
  if (oursRound === 'system' && fedEngine === 'inprocess')
    throw new Error(
      "--fed-engine inprocess runs the peer's parties one after another on one thread, our system round runs them as processes on every core: add --ours-round lean",
    );
  return {
    pairs: int('--pairs', 3),
    only: only as ExperimentName[],
    threads: int('--threads', 1),
    fedThreads: int('--fed-threads', availableParallelism()),
    skipSetup: argv.includes('--skip-setup'),
    fedEngine: fedEngine === 'inprocess' ? 'inprocess' : 'simulation',
    oursRound,
    lmLoraRank: value('--lm-lora-rank') === undefined ? 0 : int('--lm-lora-rank', 0),
  };
};

const runExperiment = async <O, F>(
  experiment: Experiment<O, Record<string, unknown>, F>,
  oursPresent: boolean,
  pairs: number,
  context: { cores: number; date: string; commit: string },
): Promise<BenchRecord[]> => {
  process.stderr.write(`\n== ${experiment.title}\n`);
  const oursRuns: Measured<F>[] = [];
  const peerRuns: Record<string, unknown>[] = [];
  for (const [i, side] of interleave(pairs, oursPresent).entries()) {
    const started = Date.now();
    if (side === 'ours') oursRuns.push(await runOurs<F>(experiment.name, experiment.options));
    else peerRuns.push(await runPeer(experiment.script, experiment.peerArgs(experiment.options)));
    process.stderr.write(
      `   run ${i + 1} (${side}) done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }
  const oursBackend =
    oursRuns.length > 0 ? String((oursRuns[0] as { backend?: unknown }).backend) : undefined;
  // what our side says of each run (its round's phases, what differs from the peer)
  const oursNotes = oursRuns
    .map((r) => (r as { note?: unknown }).note)
    .filter((n): n is string => typeof n === 'string');
  const oursNote = joinRunNotes(oursNotes);
  const records: BenchRecord[] = [];
  for (const variant of experiment.variants) {
    const selected = peerRuns.map(variant.select);
    const comparisons = compare(experiment.specs, selected, oursPresent ? oursRuns : undefined);
    process.stdout.write(
      `\n${experiment.title}: ours vs ${variant.name} (${experiment.note(experiment.options)})\n`,
    );
    for (const c of comparisons) process.stdout.write(`  ${describeComparison(c, variant.name)}\n`);
    for (const c of comparisons)
      records.push(
        ...comparisonRecords(c, {
          area: 'peers',
          experiment: experiment.name,
          peerName: variant.name,
          peerBackend: variant.backend(peerRuns[0]!),
          ...(oursBackend === undefined ? {} : { oursBackend }),
          ...(oursNote === undefined ? {} : { oursNote }),
          note: experiment.note(experiment.options),
          ...context,
        }),
      );
  }
  if (oursNote !== undefined) process.stdout.write(`\n  ours: ${oursNote}\n`);
  return records;
};

const main = async (argv: readonly string[]): Promise<number> => {
  if (argv[0] === '--ours-child') {
    await oursChild(argv[1]!, argv[2]!);
    return 0;
  }
  if (argv.includes('--help')) {
    process.stdout.write(PEERS_USAGE);
    return 0;
  }
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (error) {
    process.stderr.write(`bench:peers: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (!flags.skipSetup) execFileSync('bash', [join(here, 'peers', 'setup.sh')], { stdio: 'inherit' });
  const orderFile = (await run(python, [join(here, 'peers', 'common.py'), 'order'], 60_000)).trim();
  const ours = await loadOurs();
  const context = { cores: availableParallelism(), date: new Date().toISOString(), commit: gitCommit() };
  const mnist = {
    seed: 1234,
    orderFile,
    hidden: [128],
    optimizer: 'sgd' as const,
    lr: 0.01,
    momentum: 0.9,
    batchSize: 32,
  };
  const experiments = {
    mnistEpoch: () => mnistEpoch({ ...mnist, threads: flags.threads, party: 0 }),
    mnistFedAvg: () =>
      mnistFedAvg(
        {
          ...mnist,
          threads: flags.fedThreads,
          parties: 4,
          rounds: 5,
          localEpochs: 1,
          loraRank: 8,
          loraAlpha: 16,
          engine: flags.fedEngine,
          oursRound: flags.oursRound,
        },
        flags.fedEngine,
      ),
    lmStep: () =>
      lmStep({
        threads: flags.threads,
        seed: 1234,
        dModel: 128,
        layers: 2,
        heads: 4,
        context: 128,
        mlpRatio: 4,
        batchSize: 16,
        optimizer: 'adamw',
        lr: 1e-3,
        steps: 10,
        warmupSteps: 2,
        loraRank: flags.lmLoraRank,
        loraAlpha: 16,
      }),
  };
  const records: BenchRecord[] = [];
  let failures = 0;
  for (const name of flags.only) {
    const experiment = experiments[name]() as Experiment<unknown, Record<string, unknown>, unknown>;
    try {
      records.push(
        ...(await runExperiment(experiment, typeof ours?.[name] === 'function', flags.pairs, context)),
      );
    } catch (error) {
      failures += 1;
      process.stderr.write(
        `bench:peers: ${name} failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }
  const resultsPath = join(here, 'results.json');
  const existing: unknown = existsSync(resultsPath)
    ? JSON.parse(await readFile(resultsPath, 'utf8'))
    : undefined;
  await writeFile(resultsPath, JSON.stringify(appendRecords(existing, records), null, 2) + '\n');
  process.stderr.write(`\nbench:peers: ${records.length} figures appended to bench/results.json\n`);
  return failures > 0 ? 1 : 0;
};

process.exitCode = await main(process.argv.slice(2));
