// Our side of the side-by-side benchmarks (bench/peers.ts runs each function in a fresh process;
// the contract is the OursModule type there). Same data order (the shared order file), same
// architecture, batch size and optimiser as the peer; what necessarily differs is that we train
// QLoRA adapters on an NF4-quantised base, and every figure's note says so.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Delta,
  EncryptedContentStore,
  LocalFolderStore,
  aggregateDeltas,
  decodeDelta,
  encodeDelta,
} from '../offchain/index.js';
import {
  type LabelledImages,
  type LocalTrainingSettings,
  type LoraSettings,
  type PartyJob,
  type QuantizedMlp,
  applyDelta,
  createPartyPool,
  denseKernelDescription,
  denseKernelOf,
  evaluateQlora,
  initAdapters,
  initMlp,
  loadMnist,
  quantizeMlp,
  selectImages,
  selectTrainerBackend,
  trainMlp,
  trainPartiesInOrder,
  trainQlora,
  initTransformer,
  lmKernelOf,
  loadMobyDick,
  quantizeTransformer,
  trainQloraTransformer,
  trainTransformer,
  transformerKernelDescription,
  type TransformerTrainingSettings,
} from '../trainer/index.js';
import { epochSteps, parseDataOrder, partyIndices, publicIndices } from './ours-order.js';
import { describePhases, systemRounds } from './ours-system-round.js';
import type {
  LmStepFigures,
  LmStepOptions,
  MnistEpochFigures,
  MnistEpochOptions,
  MnistFedAvgFigures,
  MnistFedAvgOptions,
  MnistOptions,
} from './peers.js';
import { type PartyProcess, startPartyProcesses, stopPartyProcesses } from './round-cohort.js';

const log = (line: string): void => void process.stderr.write(`ours: ${line}\n`);

/** The peer's optimiser in our trainer's terms (SGD with momentum, or AdamW without decay). */
const optimizerOf = (o: MnistOptions): LocalTrainingSettings['optimizer'] => {
  if (o.optimizer === 'sgd') return { kind: 'sgd', momentum: o.momentum };
  return { kind: 'adamw' };
};

/**
 * When our trainer decodes the NF4 base: per step (default, QLoRA's memory bound) or once per
 * local round (`DML_BENCH_DECODE_BASE=per-round`: an FP32 copy of the base held for the round).
 */
const decodeBase: 'per-step' | 'per-round' =
  process.env.DML_BENCH_DECODE_BASE === 'per-round' ? 'per-round' : 'per-step';

/** `epochs` passes over `data` in its given order, batches of o.batchSize, the peer's optimiser. */
const epochSettings = (
  o: MnistOptions,
  count: number,
  epochs: number,
  seed: number,
): LocalTrainingSettings => ({
  steps: epochSteps(count, o.batchSize, epochs),
  batchSize: o.batchSize,
  learningRate: o.lr,
  weightDecay: o.optimizer === 'adamw' ? 0.01 : 0,
  seed,
  order: 'given',
  optimizer: optimizerOf(o),
  decodeBase,
});

const decodeNote = (): string =>
  denseKernelOf({}) === 'wasm'
    ? ` on the hand-written dense kernel (the default; DML_DENSE_KERNEL=tfjs for TensorFlow.js products), where it ran: ${denseKernelDescription()}; NF4 decoded inside the products, a row at a time`
    : decodeBase === 'per-round'
      ? '; NF4 base decoded once per local round (an FP32 copy held for the round)'
      : '; NF4 base decoded layer by layer in every step (forward and backward)';

/** Where our MNIST step ran: the dense kernel's products (native or wasm) or TensorFlow.js. */
const mnistBackend = (tfjsBackend: string): string =>
  denseKernelOf({}) === 'wasm' ? `dense kernel: ${denseKernelDescription()}` : `tfjs ${tfjsBackend}`;

const threadNote = (threads: number): string =>
  threads > 1 ? `; TensorFlow.js wasm runs one thread (the run was allowed ${threads})` : '';

const loadSetup = async (o: MnistOptions) => {
  const backend = await selectTrainerBackend({ log });
  const order = parseDataOrder(await readFile(o.orderFile, 'utf8'));
  const mnist = await loadMnist();
  return { backend, order, ...mnist };
};

/** One local epoch of QLoRA training on party o.party's shard, in the shared order. */
export const mnistEpoch = async (o: MnistEpochOptions): Promise<MnistEpochFigures> => {
  const { backend, order, train } = await loadSetup(o);
  const shard = selectImages(train, partyIndices(order, o.party));
  const lora: LoraSettings = { rank: 8, alpha: 16, freezeA: true };
  // Throughput does not depend on the base's values: a seeded random base, quantised to NF4.
  const base = quantizeMlp(initMlp([784, ...o.hidden, 10], o.seed));
  const adapters: Delta = initAdapters(base, lora, o.seed + 1);
  // Warm up (untimed) on 5 batches of public data, as the peer does.
  const warm = selectImages(train, publicIndices(order).subarray(0, 5 * o.batchSize));
  trainQlora(base, adapters, lora, warm, epochSettings(o, warm.count, 1, o.seed));
  const cpu = process.cpuUsage();
  const { report } = trainQlora(base, adapters, lora, shard, epochSettings(o, shard.count, 1, o.seed));
  const { user, system } = process.cpuUsage(cpu);
  return {
    samplesPerSecond: report.samples / (report.milliseconds / 1000),
    samplesPerCpuSecond: report.samples / ((user + system) / 1e6),
    backend: mnistBackend(backend),
    note:
      `QLoRA: NF4 base frozen, LoRA r ${lora.rank} alpha ${lora.alpha} on every linear layer, ` +
      `FFA-LoRA (only B trained), dense engine${decodeNote()}; the peer trains all FP32 weights` +
      threadNote(o.threads),
  };
};

/** Epochs of the base's pretraining on the public part, as the peer's LoRA run. */
const PRETRAIN_EPOCHS = 5;

const SYSTEM_NOT_INPROCESS =
  "the system round runs its parties as processes on the machine's cores, the peer's in-process " +
  'driver one party after another on one thread: use oursRound lean with engine inprocess';

/** What a mode of our `mnistFedAvg` rounds computes: the figures the rounds decide, and the note. */
interface FedAvgRounds {
  readonly partyAccuracy: number[];
  readonly roundSeconds: number[];
  readonly bytesSentPerPartyPerRound: number;
  /** What a round is, for the figure's note. */
  readonly note: string;
}

/** What both modes start from: the pretrained NF4 base, the starting adapters and the data. */
interface FedAvgStart {
  readonly base: QuantizedMlp;
  readonly lora: LoraSettings;
  readonly start: Delta;
  readonly shards: LabelledImages[];
  readonly test: LabelledImages;
}

/**
 * The lean round, in this process: parties train (worker threads, or one after another), each
 * seals its delta into a local folder store, the aggregator fetches, opens and aggregates them
 * (offchain aggregateDeltas) and applies the aggregate. No head, no event log, no scoring.
 */
const leanRounds = async (o: MnistFedAvgOptions, s: FedAvgStart): Promise<FedAvgRounds> => {
  const { base, lora, shards } = s;
  let global = s.start;
  // Every party seals its delta (scrypt key, AES-GCM) into the content-addressed store, as a
  // node does; the aggregator fetches, decrypts and decodes each before aggregating.
  const folder = await mkdtemp(join(tmpdir(), 'dml-bench-ours-'));
  const roundSeconds: number[] = [];
  const uploads: number[] = [];
  let roundSplit = '';
  try {
    const objects = await LocalFolderStore.open(folder);
    const stores = await Promise.all(
      shards.map(async (_, p) => {
        const store = new EncryptedContentStore(objects, { prefix: `party-${p}`, passphrase: `bench-${p}` });
        await store.ready(); // a node derives its next object key while idle
        return store;
      }),
    );
    // Parties train in parallel worker threads when the peer's do (Flower's simulation on
    // o.threads cores), else one after another in this thread (as Flower's in-process driver).
    const workers = o.engine === 'inprocess' ? 1 : Math.min(o.threads, o.parties);
    const pool = workers > 1 ? await createPartyPool(base, { workers, log }) : undefined;
    const split = { train: 0, seal: 0, open: 0, aggregate: 0 };
    try {
      for (let r = 0; r < o.rounds; r++) {
        const roundStart = performance.now();
        const jobs: PartyJob[] = shards.map((shard, p) => ({
          partyId: `party-${String(p).padStart(2, '0')}`,
          shard,
          settings: epochSettings(o, shard.count, o.localEpochs, o.seed + r * 100 + p),
        }));
        const trained = pool
          ? await pool.train(global, lora, jobs)
          : trainPartiesInOrder(base, global, lora, jobs);
        const sealStart = performance.now();
        const stored = await Promise.all(
          trained.map(async ({ partyId, delta }, p) => {
            const reference = await stores[p]!.put(encodeDelta(delta));
            uploads.push(reference.size);
            return { p, partyId, reference };
          }),
        );
        const openStart = performance.now();
        const contributions = await Promise.all(
          stored.map(async ({ p, partyId, reference }) => ({
            partyId,
            sampleCount: shards[p]!.count,
            delta: decodeDelta(await stores[p]!.get(reference.key, reference.sha256)),
          })),
        );
        const aggregateStart = performance.now();
        global = applyDelta(global, aggregateDeltas({ kind: 'ffa-lora' }, contributions).delta);
        const end = performance.now();
        split.train += sealStart - roundStart;
        split.seal += openStart - sealStart;
        split.open += aggregateStart - openStart;
        split.aggregate += end - aggregateStart;
        roundSeconds.push((end - roundStart) / 1000);
        log(
          `round ${r + 1}: ${roundSeconds[r]!.toFixed(2)} s (training ${((sealStart - roundStart) / 1000).toFixed(2)} s, ` +
            `sealing + storing ${((openStart - sealStart) / 1000).toFixed(3)} s, fetching + opening ` +
            `${((aggregateStart - openStart) / 1000).toFixed(3)} s, aggregation ${((end - aggregateStart) / 1000).toFixed(3)} s)`,
        );
      }
    } finally {
      await pool?.close();
    }
    const perRound = (ms: number): string => `${(ms / 1000 / o.rounds).toFixed(3)} s`;
    roundSplit =
      `mean round: training ${perRound(split.train)}, sealing + storing ${perRound(split.seal)}, ` +
      `fetching + opening ${perRound(split.open)}, aggregation ${perRound(split.aggregate)}`;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  const accuracy = evaluateQlora(base, global, lora, s.test).accuracy;
  return {
    partyAccuracy: shards.map(() => accuracy),
    roundSeconds,
    bytesSentPerPartyPerRound: uploads.reduce((a, b) => a + b, 0) / uploads.length,
    note:
      `lean round (--ours-round lean): parties train ${o.engine === 'inprocess' || o.threads < 2 ? 'one after another in one thread' : `in ${Math.min(o.threads, o.parties)} worker threads`}; ` +
      `a round is training, encryption, local-folder storage, fetch + decryption and aggregation ` +
      `in one process (no Hydra head, no event log, no scoring, no grants, no network); ${roundSplit}`,
  };
};

/** Validation images of the system round's scoring: the first of the public part, not the test set. */
const SYSTEM_VALIDATION = 300;

/**
 * The system round (bench/ours-system-round.ts): every party a process running the round loop of
 * `dml train run` against its own node of the embedded Hydra head, its own sealed store, log and
 * scoring. `processes` were started (and loaded) while this process pretrained the base.
 */
const systemRoundsOf = async (
  o: MnistFedAvgOptions,
  s: FedAvgStart,
  processes: readonly PartyProcess[],
  validation: LabelledImages,
): Promise<FedAvgRounds> => {
  const wallBefore = performance.now();
  const figures = await systemRounds({
    processes,
    base: s.base,
    lora: s.lora,
    startAdapters: s.start,
    shards: s.shards,
    validation,
    test: s.test,
    training: epochSettings(o, s.shards[0]!.count, o.localEpochs, o.seed),
    rounds: o.rounds,
    roundsSeconds: 300 + 120 * o.rounds,
  });
  const rounds = figures.roundSeconds.reduce((a, b) => a + b, 0);
  const outside = (performance.now() - wallBefore) / 1000 - rounds;
  figures.roundSeconds.forEach((seconds, r) =>
    log(
      `round ${r + 1}: ${seconds.toFixed(2)} s (mean per party: ${describePhases(figures.meanPhaseSecondsByRound[r]!)})`,
    ),
  );
  log(`mean per party and round: ${describePhases(figures.meanPhaseSeconds)}`);
  return {
    partyAccuracy: figures.partyAccuracy,
    roundSeconds: figures.roundSeconds,
    bytesSentPerPartyPerRound: figures.deltaBytes.reduce((a, b) => a + b, 0) / figures.deltaBytes.length,
    note:
      `system round (--ours-round system): ${o.parties} party processes on ${availableParallelism()} cores, ` +
      `each running PartyRoundLoop (what \`dml train run\` runs) against its own node of the embedded ` +
      `Hydra head (commitment and signed training snapshot as layer-2 transactions), with its own ` +
      `AES-256-GCM sealed folder store (peers read its delta through a signed grant), its own SQLite ` +
      `event log, and contribution scoring of every delta on ${validation.count} validation images ` +
      `(the first ${validation.count} of the public part, seen by the base in pretraining; not the test set); ` +
      `every party ends with the same global adapter (checked), its test accuracy from it; ` +
      `a round runs from the first party's start of it to the last party's end (round 1 from the ` +
      `loops' start: connecting to their nodes); round times exclude starting and loading the party ` +
      `processes, opening the head and the parties' preparation (in the wall time; opening and ` +
      `closing the head, the parties' preparation and the test evaluation took ${outside.toFixed(1)} s), ` +
      `where Flower's first round includes Ray's actor start-up; mean per party and round: ${describePhases(figures.meanPhaseSeconds)}`,
  };
};

/**
 * The original experiment with our cohort: a base pretrained on the public part (same optimiser,
 * 5 epochs, as the peer's LoRA run), quantised to NF4; every round each party trains its adapter
 * delta for o.localEpochs epochs on its shard, the deltas are aggregated with the protocol's
 * FFA-LoRA rule and applied; all parties end with the same adapters. `o.oursRound` says whose
 * round: the whole system's (`system`, the default) or a lean loop in this process (`lean`).
 */
export const mnistFedAvg = async (o: MnistFedAvgOptions): Promise<MnistFedAvgFigures> => {
  const started = performance.now();
  const mode = o.oursRound ?? 'system';
  if (mode === 'system' && o.engine === 'inprocess') throw new Error(SYSTEM_NOT_INPROCESS);
  const { backend, order, train, test } = await loadSetup(o);
  // the party processes load while this one pretrains the base
  const starting = mode === 'system' ? startPartyProcesses(o.parties) : undefined;
  starting?.catch(() => {}); // awaited below; a failure must not end the process before that
  let rounds: FedAvgRounds;
  try {
    const lora: LoraSettings = { rank: o.loraRank, alpha: o.loraAlpha, freezeA: true };
    const publicIdx = publicIndices(order);
    const publicData = selectImages(train, publicIdx);
    const fp = trainMlp(
      initMlp([784, ...o.hidden, 10], o.seed),
      publicData,
      epochSettings(o, publicData.count, PRETRAIN_EPOCHS, o.seed),
    ).mlp;
    const base = quantizeMlp(fp);
    const start: Delta = initAdapters(base, lora, o.seed + 1);
    log(`base pretrained, NF4 accuracy ${evaluateQlora(base, start, lora, test).accuracy}`);
    const shards: LabelledImages[] = Array.from({ length: o.parties }, (_, p) =>
      selectImages(train, partyIndices(order, p)),
    );
    const fedStart = { base, lora, start, shards, test };
    if (starting) {
      const validation = selectImages(train, publicIdx.subarray(0, SYSTEM_VALIDATION));
      rounds = await systemRoundsOf(o, fedStart, (await starting).parties, validation);
    } else rounds = await leanRounds(o, fedStart);
  } finally {
    if (starting) await stopPartyProcesses((await starting.catch(() => undefined))?.parties ?? []);
  }
  return {
    partyAccuracy: rounds.partyAccuracy,
    wallSeconds: (performance.now() - started) / 1000,
    roundSeconds: rounds.roundSeconds,
    bytesSentPerPartyPerRound: rounds.bytesSentPerPartyPerRound,
    backend: mnistBackend(backend),
    note:
      `QLoRA cohort: NF4 base pretrained ${PRETRAIN_EPOCHS} epochs on the public part, LoRA r ${o.loraRank} ` +
      `alpha ${o.loraAlpha}, FFA-LoRA aggregation (offchain aggregateDeltas); bytes: the sealed delta ` +
      `as stored (B only, encrypted); wall time: the whole run (loading, pretraining${mode === 'system' ? ', starting the party processes, opening the head' : ''}); ` +
      `${rounds.note}; trainer: dense engine${decodeNote()}`,
  };
};

/**
 * Training steps of the byte-level causal transformer with the peer's shape (trainer/transformer.ts:
 * byte embedding as one-hot x matrix, learned positions, pre-LayerNorm blocks, causal multi-head
 * attention, GELU MLP of mlpRatio x d, final LayerNorm, head to 256) on Moby Dick's bytes, window
 * b of step s starting at ((s * batch + b) * context) mod (n - context - 1) as the peer's.
 * loraRank 0: every FP32 weight trained (AdamW, PyTorch's default weight decay 0.01); loraRank > 0:
 * QLoRA, the base in NF4 dequantised layer by layer, LoRA on every linear layer, A and B trained
 * (as PEFT does; the protocol's FFA-LoRA trains B alone, which is cheaper).
 */
export const lmStep = async (o: LmStepOptions): Promise<LmStepFigures> => {
  const backend = await selectTrainerBackend({ log });
  const text = await loadMobyDick();
  const shape = {
    dModel: o.dModel,
    layers: o.layers,
    heads: o.heads,
    context: o.context,
    mlpRatio: o.mlpRatio,
    activation: 'gelu' as const,
  };
  const span = text.length - o.context - 1;
  const startAt =
    (offset: number) =>
    (s: number, b: number): number =>
      (((offset + s) * o.batchSize + b) * o.context) % span;
  const settings = (steps: number, offset: number): TransformerTrainingSettings => ({
    steps,
    batchSize: o.batchSize,
    learningRate: o.lr,
    weightDecay: o.optimizer === 'adamw' ? 0.01 : 0,
    seed: o.seed,
    windowStart: startAt(offset),
  });
  const model = initTransformer(shape, o.seed);
  let seconds: number;
  let loss: number;
  let cpu = { user: 0, system: 0 };
  if (o.loraRank > 0) {
    const base = quantizeTransformer(model);
    const lora: LoraSettings = { rank: o.loraRank, alpha: o.loraAlpha, freezeA: false };
    const start = trainQloraTransformer(
      base,
      initAdapters(base, lora, o.seed + 1),
      lora,
      text,
      settings(o.warmupSteps, 0),
    );
    const cpuStart = process.cpuUsage();
    const { report } = trainQloraTransformer(
      base,
      start.adapters,
      lora,
      text,
      settings(o.steps, o.warmupSteps),
    );
    cpu = process.cpuUsage(cpuStart);
    seconds = report.milliseconds / 1000;
    loss = report.loss;
  } else {
    const warm = trainTransformer(model, text, settings(o.warmupSteps, 0));
    const cpuStart = process.cpuUsage();
    const { report } = trainTransformer(warm.model, text, settings(o.steps, o.warmupSteps));
    cpu = process.cpuUsage(cpuStart);
    seconds = report.milliseconds / 1000;
    loss = report.loss;
  }
  // both steps (QLoRA and all weights) run on the engine DML_LM_KERNEL names, else the default
  const engine = lmKernelOf({});
  log(
    `lmStep: ${(seconds / o.steps).toFixed(3)} s/step, mean loss ${loss.toFixed(3)} nats, engine ${engine}`,
  );
  return {
    samplesPerSecond: (o.steps * o.batchSize) / seconds,
    samplesPerCpuSecond: (o.steps * o.batchSize) / ((cpu.user + cpu.system) / 1e6),
    backend:
      engine === 'wasm'
        ? `LM engine kernel: ${transformerKernelDescription()} (trainer/transformer-kernel.wat, + dense-kernel.wat)`
        : `tfjs ${backend}`,
    note:
      (o.loraRank > 0
        ? `QLoRA: NF4 base, LoRA r ${o.loraRank} alpha ${o.loraAlpha} on every linear layer (A and B trained), `
        : 'all FP32 weights trained, ') +
      `GELU in its tanh form, q/k/v as three d x d layers (the peer: one d x 3d), the optimiser's ` +
      `state reset between warm-up and timed steps` +
      (o.optimizer === 'sgd' ? '; AdamW used (no SGD in the transformer engine)' : '') +
      threadNote(o.threads),
  };
};
