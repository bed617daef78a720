import { parentPort, workerData } from 'node:worker_threads';
import { selectTrainerBackend, type TrainerBackendName } from './backend.js';
import { trainLocalDelta } from './local-round.js';
import type { PartyJobMessage, PartyResultMessage, PartyWorkerData } from './party-pool.js';

/** The body of a party worker thread: picks its backend once, then trains the jobs it is sent. */
export const runPartyWorker = async (): Promise<void> => {
  const port = parentPort;
  if (!port) throw new Error('runPartyWorker runs in a worker thread');
  const data = workerData as PartyWorkerData;
  let backend: TrainerBackendName;
  try {
    backend = await selectTrainerBackend({ prefer: data.prefer, log: () => {} });
  } catch (error) {
    port.postMessage({ kind: 'failed', message: (error as Error).message });
    return;
  }
  port.postMessage({ kind: 'ready', backend });
  port.on('message', (job: PartyJobMessage) => {
    let reply: PartyResultMessage;
    try {
      const { delta, report } = trainLocalDelta(
        data.base,
        job.globalAdapters,
        job.lora,
        job.shard,
        job.settings,
      );
      reply = { kind: 'result', id: job.id, delta, report };
    } catch (error) {
      reply = { kind: 'error', id: job.id, message: (error as Error).message };
    }
    port.postMessage(reply);
  });
};
