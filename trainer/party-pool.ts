import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DmlError, type Delta } from '../offchain/index.js';
import type { TrainerBackendName } from './backend.js';
import { trainLocalDelta } from './local-round.js';
import type { LabelledImages } from './mnist.js';
import type { LoraSettings, QuantizedMlp } from './mlp.js';
import type { LocalTrainingSettings, TrainingReport } from './mlp-engine.js';

/** One party's local training in a round: its shard and its settings (seed included). */
export interface PartyJob {
  readonly partyId: string;
  readonly shard: LabelledImages;
  readonly settings: LocalTrainingSettings;
}

export interface PartyDelta {
  readonly partyId: string;
  readonly delta: Delta;
  readonly report: TrainingReport;
}

export interface PartyWorkerData {
  readonly base: QuantizedMlp;
  readonly prefer: readonly TrainerBackendName[];
}
export interface PartyJobMessage {
  readonly id: number;
  readonly globalAdapters: Delta;
  readonly lora: LoraSettings;
  readonly shard: LabelledImages;
  readonly settings: LocalTrainingSettings;
}
export type PartyResultMessage =
  | { kind: 'result'; id: number; delta: Delta; report: TrainingReport }
  | { kind: 'error'; id: number; message: string };
type WorkerMessage =
  PartyResultMessage | { kind: 'ready'; backend: TrainerBackendName } | { kind: 'failed'; message: string };

/** The parties of a round trained one after another in this thread (the reference for the pool). */
export const trainPartiesInOrder = (
  base: QuantizedMlp,
  globalAdapters: Delta,
  lora: LoraSettings,
  jobs: readonly PartyJob[],
): PartyDelta[] =>
  jobs.map((job) => {
    const { delta, report } = trainLocalDelta(base, globalAdapters, lora, job.shard, job.settings);
    return { partyId: job.partyId, delta, report };
  });

/**
 * Worker threads that train parties of one base in parallel (TensorFlow.js on wasm uses one
 * thread, so one party per core). Each worker holds the base, picks its backend once
 * (`prefer`, default wasm then cpu: the same backend in every worker, so the deltas are those
 * of `trainPartiesInOrder` bit for bit) and trains the jobs it is given; `train` hands the jobs
 * out as workers free up and returns the results in the jobs' order.
 */
export interface PartyPool {
  readonly workers: number;
  /** The backend every worker uses. */
  readonly backend: TrainerBackendName;
  train(globalAdapters: Delta, lora: LoraSettings, jobs: readonly PartyJob[]): Promise<PartyDelta[]>;
  close(): Promise<void>;
}

const WORKER_ENTRY = new URL('./party-worker.mjs', import.meta.url);

export const createPartyPool = async (
  base: QuantizedMlp,
  options: {
    workers?: number;
    prefer?: readonly TrainerBackendName[];
    log?: (line: string) => void;
  } = {},
): Promise<PartyPool> => {
  const count = Math.max(1, options.workers ?? availableParallelism());
  const prefer = options.prefer ?? ['wasm', 'cpu'];
  const workerData: PartyWorkerData = { base, prefer };
  const workers = Array.from({ length: count }, () => new Worker(WORKER_ENTRY, { workerData }));
  const closeAll = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.terminate()));
  };
  const backends = await Promise.all(
    workers.map(
      (w) =>
        new Promise<TrainerBackendName>((resolve, reject) => {
          const fail = (message: string): void =>
            reject(new DmlError('TRAINER_WORKER', `a party worker did not start: ${message}`));
          w.once('error', (e) => fail(e.message));
          w.once('message', (m: WorkerMessage) =>
            m.kind === 'ready' ? resolve(m.backend) : fail(m.kind === 'failed' ? m.message : m.kind),
          );
        }),
    ),
  ).catch(async (error: unknown) => {
    await closeAll();
    throw error;
  });
  if (new Set(backends).size !== 1) {
    await closeAll();
    throw new DmlError('TRAINER_WORKER', `party workers on different backends: ${backends.join(', ')}`);
  }
  const backend = backends[0]!;
  (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(
    `trainer: ${count} party worker thread${count === 1 ? '' : 's'}, TensorFlow.js backend ${backend}`,
  );
  let nextId = 0;
  return {
    workers: count,
    backend,
    async train(globalAdapters, lora, jobs) {
      const results: PartyDelta[] = new Array<PartyDelta>(jobs.length);
      let next = 0;
      const runOn = async (w: Worker): Promise<void> => {
        while (next < jobs.length) {
          const index = next++;
          const job = jobs[index]!;
          const id = nextId++;
          const message: PartyJobMessage = {
            id,
            globalAdapters,
            lora,
            shard: job.shard,
            settings: job.settings,
          };
          const reply = await new Promise<PartyResultMessage>((resolve, reject) => {
            const onError = (e: Error): void => reject(e);
            w.once('error', onError);
            w.once('message', (m: PartyResultMessage) => {
              w.off('error', onError);
              resolve(m);
            });
            w.postMessage(message);
          });
          if (reply.kind === 'error' || reply.id !== id)
            throw new DmlError(
              'TRAINER_WORKER',
              `party ${job.partyId} failed in a worker: ${reply.kind === 'error' ? reply.message : 'reply out of order'}`,
            );
          results[index] = { partyId: job.partyId, delta: reply.delta, report: reply.report };
        }
      };
      await Promise.all(workers.map(runOn));
      return results;
    },
    close: closeAll,
  };
};

/** Trains the parties of one round in a pool of worker threads made for the call. */
export const trainPartiesInWorkers = async (
  base: QuantizedMlp,
  globalAdapters: Delta,
  lora: LoraSettings,
  jobs: readonly PartyJob[],
  options: { workers?: number; prefer?: readonly TrainerBackendName[]; log?: (line: string) => void } = {},
): Promise<PartyDelta[]> => {
  const pool = await createPartyPool(base, {
    ...options,
    workers: Math.min(options.workers ?? availableParallelism(), jobs.length),
  });
  try {
    return await pool.train(globalAdapters, lora, jobs);
  } finally {
    await pool.close();
  }
};
