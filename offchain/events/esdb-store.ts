import {
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  BACKWARDS,
  EventStoreDBClient,
  FORWARDS,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError as EsdbWrongExpectedVersionError,
  jsonEvent,
} from '@eventstore/db-client';
import { DmlError } from '../errors.js';
import { type NewDmlEvent, type StoredDmlEvent } from './envelope.js';
import { validateStoredEvent } from './read-check.js';
import {
  type AppendResult,
  DuplicateEventError,
  type EventStore,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadStreamOptions,
  WrongExpectedVersionError,
  checkAppendBatch,
} from './event-store.js';

export interface EventStoreDbOptions {
  /** esdb://host:port?tls=false ; an extra `namespace=NAME` parameter prefixes our stream names. */
  readonly connectionString: string;
}

interface Meta {
  schemaVersion: number;
  occurredAt: string;
  $causationId?: string;
  $correlationId?: string;
}

/**
 * The event store on EventStoreDB through @eventstore/db-client 6.2.1. Stream versions are
 * ESDB revisions, expected versions map to expectedRevision (the server checks them), and the
 * global position is the event's prepare position in the transaction log: strictly increasing,
 * not dense. Our streams are named `NAMESPACE-stream`, and reading $all skips system events and
 * other namespaces. No server runs on our machines: its tests run only when ESDB_URL is set.
 */
export class EventStoreDbEventStore implements EventStore {
  readonly kind = 'esdb';
  private readonly client: EventStoreDBClient;
  private readonly prefix: string;
  private readonly listeners = new Set<() => void>();
  private liveSubscription: { unsubscribe(): Promise<void> } | undefined;

  constructor(options: EventStoreDbOptions) {
    const url = new URL(options.connectionString.replace(/^esdb(\+discover)?:/, 'http:'));
    const namespace = url.searchParams.get('namespace') ?? 'dml';
    if (!/^[A-Za-z0-9_]+$/.test(namespace))
      throw new DmlError('EVENT_STORE_URL', `namespace "${namespace}" must be letters, digits or _`);
    this.prefix = `${namespace}-`;
    const connectionString = options.connectionString
      .replace(/([?&])namespace=[^&]*(&|$)/, (_, a: string, b: string) => (b ? a : ''))
      .replace(/\?$/, '');
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  private toEvent(resolved: AllStreamResolvedEvent | { event?: unknown }): StoredDmlEvent | undefined {
    const e = resolved.event as
      | {
          streamId: string;
          id: string;
          revision: bigint;
          type: string;
          data: unknown;
          metadata: Meta | undefined;
          position?: { prepare: bigint };
        }
      | undefined;
    if (!e || !e.streamId.startsWith(this.prefix) || e.type.startsWith('$')) return undefined;
    const meta = e.metadata ?? ({} as Meta);
    return {
      position: e.position ? Number(e.position.prepare) : -1,
      stream: e.streamId.slice(this.prefix.length),
      streamVersion: Number(e.revision),
      eventId: e.id,
      type: e.type,
      schemaVersion: meta.schemaVersion,
      occurredAt: meta.occurredAt,
      ...(meta.$causationId !== undefined ? { causationId: meta.$causationId } : {}),
      ...(meta.$correlationId !== undefined ? { correlationId: meta.$correlationId } : {}),
      data: e.data,
    } as StoredDmlEvent;
  }

  async append(
    stream: string,
    events: readonly NewDmlEvent[],
    options: { readonly expectedVersion: ExpectedVersion },
  ): Promise<AppendResult> {
    const valid = checkAppendBatch(stream, events, options.expectedVersion);
    const ids = new Set(valid.map((e) => e.eventId));
    if (ids.size !== valid.length)
      throw new DuplicateEventError(
        valid.find((e, i) => valid.findIndex((x) => x.eventId === e.eventId) !== i)!.eventId,
      );
    const expected: AppendExpectedRevision =
      typeof options.expectedVersion === 'number' ? BigInt(options.expectedVersion) : options.expectedVersion;
    try {
      const result = await this.client.appendToStream(
        this.prefix + stream,
        valid.map((e) =>
          jsonEvent({
            id: e.eventId,
            type: e.type,
            data: e.data as never,
            metadata: {
              schemaVersion: e.schemaVersion,
              occurredAt: e.occurredAt,
              ...(e.causationId !== undefined ? { $causationId: e.causationId } : {}),
              ...(e.correlationId !== undefined ? { $correlationId: e.correlationId } : {}),
            },
          }),
        ),
        { expectedRevision: expected },
      );
      for (const listener of this.listeners) listener();
      return {
        nextExpectedVersion: Number(result.nextExpectedRevision),
        lastPosition: result.position ? Number(result.position.prepare) : -1,
      };
    } catch (error) {
      if (error instanceof EsdbWrongExpectedVersionError) {
        const actual = typeof error.actualVersion === 'bigint' ? Number(error.actualVersion) : -1;
        throw new WrongExpectedVersionError(stream, options.expectedVersion, actual);
      }
      throw error;
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredDmlEvent[]> {
    const out: StoredDmlEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(this.prefix + stream, {
        fromRevision: BigInt(options.fromVersion ?? 0),
        direction: FORWARDS,
        ...(options.limit !== undefined ? { maxCount: options.limit } : {}),
      })) {
        const event = this.toEvent(resolved);
        if (event) out.push(event);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return options.validate === 'full' ? out.map(validateStoredEvent) : out;
  }

  async streamVersion(stream: string): Promise<number> {
    try {
      for await (const resolved of this.client.readStream(this.prefix + stream, {
        fromRevision: 'end',
        direction: BACKWARDS,
        maxCount: 1,
      })) {
        if (resolved.event) return Number(resolved.event.revision);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return -1;
      throw error;
    }
    return -1;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredDmlEvent[]> {
    const after = options.after ?? 0;
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const out: StoredDmlEvent[] = [];
    // Positions of one batch share a commit position: start at `after` and drop what is not after it.
    const fromPosition = after === 0 ? START : { commit: BigInt(after), prepare: BigInt(after) };
    for await (const resolved of this.client.readAll({ fromPosition, direction: FORWARDS })) {
      const event = this.toEvent(resolved);
      if (!event || event.position <= after) continue;
      out.push(event);
      if (out.length >= limit) break;
    }
    return options.validate === 'full' ? out.map(validateStoredEvent) : out;
  }

  async headPosition(): Promise<number> {
    for await (const resolved of this.client.readAll({ fromPosition: 'end', direction: BACKWARDS })) {
      const event = this.toEvent(resolved);
      if (event) return event.position;
    }
    return 0;
  }

  onAppended(listener: () => void): () => void {
    const own = () => listener();
    this.listeners.add(own);
    if (!this.liveSubscription) {
      // Live $all subscription from the end: a wake-up call for appends made by other clients.
      const subscription = this.client.subscribeToAll({ fromPosition: 'end' });
      subscription.on('data', () => {
        for (const l of this.listeners) l();
      });
      subscription.on('error', () => undefined);
      this.liveSubscription = subscription;
    }
    return () => this.listeners.delete(own);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.liveSubscription?.unsubscribe().catch(() => undefined);
    await this.client.dispose();
  }
}
