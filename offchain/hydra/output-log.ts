import { createHash } from 'node:crypto';
import { DuplicateEventError, headStream, hydraOutputEvent, type EventStore } from '../events/index.js';
import type { HydraServerOutput } from './messages.js';

/**
 * Appends a hydra-node's server outputs to the event log as `hydra.OutputReceived`, one stream
 * per head (`head-<headId>`), as they arrive.
 *
 * Idempotent by `seq`: an output of the node's history gets an event id derived from the node,
 * its `seq` and its `timestamp` (both are replayed unchanged on every reconnection), so
 * appending it again, after a reconnect or after a restart of the client, is refused by the
 * store as a duplicate and skipped. Nothing is lost either: a restarted client asks for the
 * whole history (`?history=yes`) and appends what the log does not hold yet.
 *
 * Client messages without `seq` (`CommandFailed`, `PostTxOnChainFailed`, …) are never replayed,
 * so they are appended once with a fresh id. `Greetings` is not appended: it is the handshake
 * every connection starts with, not a fact of the head. Outputs without a head id go to the
 * stream of the head the node reported last (else `hydra-node-<node>`).
 */
export interface HydraOutputLogOptions {
  readonly store: EventStore;
  readonly cohortId: string;
  /** Names the node whose history this is (its `seq` is per node); default: host:port. */
  readonly nodeId: string;
}

const STREAM_SAFE = /[^A-Za-z0-9._:-]/g;

/** A UUID (version 8 layout: custom) from a SHA-256 of the node, seq and timestamp. */
export const hydraOutputEventId = (nodeId: string, seq: number, timestamp: string): string => {
  const h = createHash('sha256').update(`hydra-output\0${nodeId}\0${seq}\0${timestamp}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

export class HydraOutputLog {
  private headId: string | undefined;
  /** Outputs appended by this instance, and those found in the log already (duplicates). */
  appended = 0;
  duplicates = 0;

  constructor(private readonly options: HydraOutputLogOptions) {}

  private streamOf(output: HydraServerOutput): string {
    const headId = (output as { headId?: unknown }).headId;
    if (typeof headId === 'string' && headId !== '') this.headId = headId;
    if (output.tag === 'Greetings' && output.hydraHeadId) this.headId = output.hydraHeadId;
    return this.headId
      ? headStream(this.headId)
      : `hydra-node-${this.options.nodeId.replace(STREAM_SAFE, '-')}`;
  }

  /** Appends one output (`raw` is the text as it arrived). Resolves once stored (or found stored). */
  async append(output: HydraServerOutput, raw: string): Promise<void> {
    const stream = this.streamOf(output);
    if (output.tag === 'Greetings') return;
    const message = JSON.parse(raw) as unknown;
    const eventId =
      typeof output.seq === 'number'
        ? hydraOutputEventId(this.options.nodeId, output.seq, String(output.timestamp ?? ''))
        : undefined;
    const event = hydraOutputEvent(this.options.cohortId, message, eventId ? { eventId } : {});
    try {
      await this.options.store.append(stream, [event], { expectedVersion: 'any' });
      this.appended++;
    } catch (error) {
      if (!(error instanceof DuplicateEventError)) throw error;
      this.duplicates++;
    }
  }

  /** The highest `seq` stored for a head (to start a client with `fromSeq`), -1 when none. */
  static async lastStoredSeq(store: EventStore, headId: string): Promise<number> {
    const events = await store.readStream(headStream(headId));
    let last = -1;
    for (const event of events) {
      const seq = (event.data as { raw?: { seq?: unknown } }).raw?.seq;
      if (typeof seq === 'number' && seq > last) last = seq;
    }
    return last;
  }
}
