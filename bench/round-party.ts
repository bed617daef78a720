/**
 * One party of a benchmark's cohort (bench/round-cohort.ts: bench/round.bench.ts and the system
 * round of bench/ours.ts), a process of its own as `dml train run` is: its round loop
 * (`PartyRoundLoop`, the code `dml train run` runs) against its own endpoint of the embedded
 * head, its own folder store sealed with the cohort passphrase, its own SQLite event log and
 * adapter files, the real MNIST learner; every call into those ports and every step of the loop
 * is timed (bench/round-timeline.ts splits the timeline into phases).
 *
 * Started by the benchmark with an IPC channel (advanced serialisation): it answers `up` once
 * loaded, then for each `round` message prepares the party (`ready`), runs the round on `go`
 * (`done`, with its spans, the size of each delta it stored and its final global adapter), and
 * ends on `exit` or when the benchmark goes away.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AdapterFiles,
  type Delta,
  cohortMasterSalt,
  encodeDelta,
  EncryptedContentStore,
  type EventStore,
  LocalFolderStore,
  type Learner,
  PartyRoundLoop,
  SqliteEventStore,
  ed25519PublicKeyOfSeed,
  headKeyFromSeed,
} from '../offchain/index.js';
import {
  type LabelledImages,
  type LocalTrainingSettings,
  type LoraSettings,
  type QuantizedMlp,
  mnistLearner,
  selectTrainerBackend,
} from '../trainer/index.js';
import type { Span, SpanKind } from './round-timeline.js';

export interface PartyRoundSetup {
  readonly index: number;
  readonly cohortId: string;
  /** Every party's id (payment key hash), in the cohort's order. */
  readonly ids: readonly string[];
  readonly paymentSeed: Uint8Array;
  readonly hydraSeed: Uint8Array;
  readonly endpoint: { readonly host: string; readonly port: number };
  /** The party's own folder: its store, its log, its adapter files. */
  readonly dir: string;
  readonly passphrase: string;
  readonly base: QuantizedMlp;
  readonly lora: LoraSettings;
  readonly startAdapters: Delta;
  readonly shard: LabelledImages;
  readonly validation: LabelledImages;
  readonly training: Omit<LocalTrainingSettings, 'seed'> & { readonly seed: number };
  /** Rounds 1..rounds of one epoch. */
  readonly rounds: number;
}

export type ToParty =
  | { readonly kind: 'round'; readonly setup: PartyRoundSetup }
  | { readonly kind: 'go' }
  | { readonly kind: 'exit' };

export type FromParty =
  | { readonly kind: 'up'; readonly backend: string }
  | { readonly kind: 'ready' }
  | {
      readonly kind: 'done';
      readonly spans: Span[];
      /** Milliseconds from the party's start to the first step of each round. */
      readonly starts: Record<number, number>;
      /** Milliseconds from the party's start to the end of its loop. */
      readonly end: number;
      /** The party's start, in milliseconds since the epoch (the machine's clock). */
      readonly startedAt: number;
      readonly result: string;
      readonly aggregateHash: string;
      /** Each delta the party stored: its round and its size as stored (sealed), in bytes. */
      readonly deltaBytes: ReadonlyArray<{ readonly round: number; readonly bytes: number }>;
      /** The global adapter the party's last round advanced to (encoded), or the start adapter. */
      readonly finalGlobal: Uint8Array;
    }
  | { readonly kind: 'failed'; readonly message: string };

const send = (message: FromParty): void => void process.send!(message);

const prepare = async (s: PartyRoundSetup) => {
  const spans: Span[] = [];
  let t0 = 0;
  /** The round of the loop's last step: what the port calls made now belong to. */
  let round = 1;
  const starts: Record<number, number> = {};
  const deltaBytes: Array<{ round: number; bytes: number }> = [];
  let finalGlobal: Delta = s.startAdapters;
  const timed = async <T>(kind: SpanKind, work: () => Promise<T>): Promise<T> => {
    const start = performance.now() - t0;
    const inRound = round;
    const cpu = process.cpuUsage();
    try {
      return await work();
    } finally {
      const used = process.cpuUsage(cpu);
      spans.push({
        kind,
        round: inRound,
        start,
        end: performance.now() - t0,
        cpu: (used.user + used.system) / 1000,
      });
    }
  };
  class TimedContentStore extends EncryptedContentStore {
    override async put(plaintext: Uint8Array) {
      const inRound = round;
      const reference = await timed('put', () => super.put(plaintext));
      deltaBytes.push({ round: inRound, bytes: reference.size });
      return reference;
    }
    override share(...a: Parameters<EncryptedContentStore['share']>) {
      return timed('share', () => super.share(...a));
    }
    override get(...a: Parameters<EncryptedContentStore['get']>) {
      return timed('get', () => super.get(...a));
    }
    override getShared(...a: Parameters<EncryptedContentStore['getShared']>) {
      return timed('getShared', () => super.getShared(...a));
    }
  }
  const objects = await LocalFolderStore.open(join(s.dir, 'storage'));
  const content = new TimedContentStore(objects, {
    prefix: `deltas/${s.ids[s.index]}`,
    passphrase: s.passphrase,
    masterSalt: cohortMasterSalt(s.cohortId),
  });
  await content.ready(); // the store's scrypt master key: once per store, before any round
  const sqlite = new SqliteEventStore(join(s.dir, 'events.sqlite'));
  const log: EventStore = {
    kind: sqlite.kind,
    append: (stream, events, options) => timed('append', () => sqlite.append(stream, events, options)),
    readStream: (stream, options) => sqlite.readStream(stream, options),
    streamVersion: (stream) => sqlite.streamVersion(stream),
    readAll: (options) => sqlite.readAll(options),
    headPosition: () => sqlite.headPosition(),
    onAppended: (listener) => sqlite.onAppended(listener),
    close: () => sqlite.close(),
  };
  const learner = mnistLearner(
    {
      base: s.base,
      lora: s.lora,
      startAdapters: s.startAdapters,
      shards: s.ids.map(() => s.shard),
      validations: s.ids.map(() => s.validation),
      test: s.validation,
      baseAccuracy: 0,
    },
    s.index,
    s.training,
  );
  const timedLearner: Learner = {
    train: (key, global) => timed('train', () => learner.train(key, global)),
    score: (global, deltas) => timed('score', () => learner.score(global, deltas)),
    advance: (global, update) => (finalGlobal = learner.advance(global, update)),
  };
  const headKey = headKeyFromSeed(s.paymentSeed);
  const steps = new Map<string, { start: number; end: number }>();
  const loop = new PartyRoundLoop({
    identity: {
      id: s.ids[s.index]!,
      hydraSk: s.hydraSeed,
      hydraVk: Buffer.from(ed25519PublicKeyOfSeed(s.hydraSeed)).toString('hex'),
    },
    cohortId: s.cohortId,
    epoch: 1,
    parties: s.ids,
    firstRound: 1,
    lastRound: s.rounds,
    hydra: s.endpoint,
    headKey,
    rule: { kind: 'ffa-lora' },
    learner: timedLearner,
    content,
    log,
    adapters: new AdapterFiles(join(s.dir, 'adapters')),
    startGlobal: s.startAdapters,
    pollMs: 5_000, // `dml train run`'s default (--poll 5)
    timeoutMs: 120_000,
    // a step's first line is said when it starts, its last when it is done
    onStep: (_line, action) => {
      const at = performance.now() - t0;
      round = action.round;
      starts[round] ??= at;
      const id = `${action.round} ${action.kind}`;
      const step = steps.get(id);
      if (step) step.end = at;
      else steps.set(id, { start: at, end: at });
    },
  });
  const run = async (): Promise<FromParty> => {
    t0 = performance.now();
    const startedAt = performance.timeOrigin + t0;
    const result = await loop.run();
    const end = performance.now() - t0;
    for (let r = 1; r <= s.rounds; r++)
      for (const kind of ['train-and-commit', 'aggregate', 'acknowledge'] as const) {
        const step = steps.get(`${r} ${kind}`);
        if (step) spans.push({ kind: `step:${kind}`, round: r, ...step });
      }
    await log.close();
    await objects.close();
    return {
      kind: 'done',
      spans,
      starts,
      end,
      startedAt,
      result: result.kind,
      aggregateHash: result.kind === 'epoch-done' ? result.aggregateHash : '',
      deltaBytes,
      finalGlobal: encodeDelta(finalGlobal),
    };
  };
  return run;
};

const serve = async (): Promise<void> => {
  const backend = await selectTrainerBackend({ log: () => {} });
  let run: (() => Promise<FromParty>) | undefined;
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ToParty) => {
    const fail = (error: unknown) =>
      send({
        kind: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    if (message.kind === 'exit') process.exit(0);
    else if (message.kind === 'round')
      prepare(message.setup).then((r) => {
        run = r;
        send({ kind: 'ready' });
      }, fail);
    else if (message.kind === 'go') {
      const r = run;
      run = undefined;
      if (!r) fail(new Error('go before a round was prepared'));
      else r().then(send, fail);
    }
  });
  send({ kind: 'up', backend });
};

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--party') await serve();
