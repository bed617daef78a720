import type { StoredDmlEvent } from './envelope.js';
import type { EventStore } from './event-store.js';

export interface CatchUpOptions {
  /** Handle events whose position is greater than this checkpoint (0 = from the start). */
  readonly after: number;
  /** Called once per event, in position order; the next event waits for it. A throw stops the subscription. */
  readonly handler: (event: StoredDmlEvent) => void | Promise<void>;
  readonly pageSize?: number;
  /**
   * When caught up, re-read the log this often even without a wake-up (appends by other
   * processes that the adapter cannot hear). Default 250 ms.
   */
  readonly pollIntervalMs?: number;
}

export interface CatchUpSubscription {
  /** Position of the last event handled (the checkpoint to store). */
  readonly position: number;
  /** Resolves once every event up to `position` is handled (rejects if the subscription failed). */
  reached(position: number): Promise<void>;
  /** Stops after the event in hand; resolves when stopped. */
  stop(): Promise<void>;
  /** Settles when the subscription ends: resolves on stop(), rejects with the handler's error. */
  readonly done: Promise<void>;
}

/**
 * A catch-up subscription to the whole log: reads history from a checkpoint page by page, then
 * follows live appends (woken by the store, and by a poll for writers it cannot hear). Events
 * are handled one at a time, in order; the position only moves after the handler returns.
 */
export const subscribeToAll = (store: EventStore, options: CatchUpOptions): CatchUpSubscription => {
  const pageSize = options.pageSize ?? 1000;
  const pollMs = options.pollIntervalMs ?? 250;
  let position = options.after;
  let stopped = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  let pendingWake = false;
  const waiters: Array<{ position: number; resolve: () => void; reject: (e: unknown) => void }> = [];

  const settleWaiters = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (failure !== undefined) w.reject(failure);
      else if (position >= w.position) w.resolve();
      else continue;
      waiters.splice(i, 1);
    }
  };
  const poke = () => {
    pendingWake = true;
    wake?.();
  };
  const unlisten = store.onAppended(poke);

  const sleep = () =>
    new Promise<void>((resolve) => {
      if (pendingWake || stopped) return resolve();
      const timer = setTimeout(done, pollMs);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const run = async () => {
    try {
      while (!stopped) {
        pendingWake = false;
        const page = await store.readAll({ after: position, limit: pageSize });
        for (const event of page) {
          if (stopped) break;
          await options.handler(event);
          position = event.position;
        }
        settleWaiters();
        if (page.length < pageSize) await sleep();
      }
    } catch (error) {
      failure = error;
      settleWaiters();
      throw error;
    } finally {
      unlisten();
    }
  };
  const done = run();
  done.catch(() => undefined);

  return {
    get position() {
      return position;
    },
    reached(target) {
      return new Promise<void>((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        if (position >= target) return resolve();
        waiters.push({ position: target, resolve, reject });
      });
    },
    async stop() {
      stopped = true;
      wake?.();
      await done.catch(() => undefined);
      for (const w of waiters.splice(0)) w.reject(new Error('subscription stopped'));
    },
    done,
  };
};
