import type { BusSubscription, RoundEventBus } from '../bus/index.js';
import {
  type AggregationRule,
  type Delta,
  type DeltaValueEncoding,
  aggregateDeltas,
  decodeDelta,
  encodeDelta,
  hashDelta,
} from '../delta/index.js';
import { DmlError } from '../errors.js';
import {
  type EventStore,
  type NewDmlEvent,
  type StoredDmlEvent,
  createEvent,
  partyStream,
} from '../events/index.js';
import { type HeadKey, HydraClient, type HydraTxOut, type HydraUTxO } from '../hydra/index.js';
import type { RoundKey } from '../round/index.js';
import { type EncryptedContentStore, hashOfStorageKey } from '../storage/index.js';
import type { AdapterFiles } from './adapter-files.js';
import type { CarryOverDatum, DeltaCommitmentDatum } from './round-datum.js';
import { HeadSeat, roundDatumsIn } from './head-seat.js';
import type { Learner } from './learner.js';
import {
  type EpochCarryOver,
  type HeadRounds,
  type PartyAction,
  addHeadRounds,
  decidePartyAction,
  emptyHeadRounds,
  foldPartyRounds,
} from './party-round-decider.js';
import { DEFAULT_READ_GRANT_SECONDS, Participant, type ParticipantIdentity } from './participant.js';

export interface PartyRoundLoopOptions {
  readonly identity: ParticipantIdentity;
  readonly cohortId: string;
  readonly epoch: number;
  /** The epoch's parties (payment key hashes), in the cohort's order. */
  readonly parties: readonly string[];
  readonly firstRound: number;
  readonly lastRound: number;
  /** This party's hydra-node API. */
  readonly hydra: { readonly host: string; readonly port: number };
  /** The party's layer-2 key and the unit of its signal token (its seat in the head). */
  readonly headKey: HeadKey;
  readonly signalUnit?: string;
  readonly rule: AggregationRule;
  /** How this party sends its deltas: the cohort's `deltaEncoding` (default `f32`). */
  readonly deltaEncoding?: DeltaValueEncoding;
  readonly learner: Learner;
  readonly content: EncryptedContentStore;
  readonly log: EventStore;
  readonly bus?: RoundEventBus;
  readonly adapters: AdapterFiles;
  /**
   * The global adapter the cohort's first round trains from (agreed by every party: the plan).
   * An epoch after the first starts from the previous epoch's last global adapter instead (see
   * `previousAggregateHash`).
   */
  readonly startGlobal: Delta;
  /**
   * For an epoch after the first (`firstRound > 1`): the aggregate hash of round `firstRound - 1`
   * as the cohort's state on layer 1 holds it. The party starts from its own previous global
   * adapter advanced by that aggregate (its files, named by its log), or, a newcomer, adopts a
   * peer's carry-over whose adapter hashes as announced and that names this aggregate.
   */
  readonly previousAggregateHash?: string;
  /** How long the read grant of a carry-over lives (default: a commitment's, 1 hour). */
  readonly readGrantSeconds?: number;
  /** Ends the loop after the step in hand (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** A line per step: round, step, loss. */
  readonly onStep?: (line: string, action: PartyAction) => void;
  /** How long a wait lasts before the party looks again without a wake-up (default 5 s). */
  readonly pollMs?: number;
  /**
   * How long the party waits for the same peers without progress (by `clock`) before it stops
   * with a `stalled` result naming them (default: it waits until stopped).
   */
  readonly patienceMs?: number;
  readonly timeoutMs?: number;
  readonly clock?: () => Date;
}

export type PartyRoundLoopResult =
  | { readonly kind: 'epoch-done'; readonly round: number; readonly aggregateHash: string }
  | { readonly kind: 'stopped'; readonly at: PartyAction | undefined }
  /** This party does not sign the round: its scores flag these peers (or they start elsewhere). */
  | {
      readonly kind: 'refused';
      readonly round: number;
      readonly flagged: readonly string[];
      readonly reason: string;
    }
  /** The peers it waited for posted nothing for longer than the patience. */
  | {
      readonly kind: 'stalled';
      readonly round: number;
      readonly waitingFor: Extract<PartyAction, { kind: 'wait' }>['for'];
      readonly missing: readonly string[];
      readonly waitedMs: number;
    };

const short = (h: string) => h.slice(0, 12);

/**
 * One party's own process for one head epoch, with no orchestrator: observe (its stream in the
 * event log, every round datum the head's confirmed snapshots held), decide
 * (`decidePartyAction`), act, and again. It wakes on the head's `SnapshotConfirmed` outputs, on
 * round events from the bus, and on appends to the log; a wait also ends after `pollMs` as a
 * safety net. Every step is appended to the party's stream with the version it read (a second
 * process of the same party fails instead of writing twice) and published to the bus.
 *
 * The head's history (replayed by hydra-node on connect) is the source of truth for what was
 * committed: a restarted party sees its own and its peers' commitments of the rounds it missed,
 * even those a later datum of the same seat has since replaced in the current UTxO.
 */
export class PartyRoundLoop {
  private head: HeadRounds = emptyHeadRounds();
  /** Every output that held a round datum in a confirmed snapshot (what aggregation reads). */
  private readonly datumOutputs: Record<string, HydraTxOut> = {};
  /** The layer-2 transaction of each datum: `${kind}/${party}/${round}` -> tx id. */
  private readonly datumTx = new Map<string, string>();
  private headOpen = false;
  private version = -1;
  private seat?: HeadSeat;
  private readonly globals = new Map<number, Delta>();
  private wakers: Array<() => void> = [];
  private readonly participant: Participant;
  private readonly stream: string;
  private client?: HydraClient;
  /** `${globalHash}/${aggregateHash}` -> whether both files load (checked once per run). */
  private readonly filesChecked = new Map<string, boolean>();

  constructor(private readonly options: PartyRoundLoopOptions) {
    this.stream = partyStream(options.cohortId, options.identity.id);
    this.participant = new Participant({
      identity: options.identity,
      cohortId: options.cohortId,
      rule: options.rule,
      ...(options.deltaEncoding ? { deltaEncoding: options.deltaEncoding } : {}),
      learner: options.learner,
      content: options.content,
      log: options.log,
      ...(options.clock ? { clock: options.clock } : {}),
      append: (events) => this.append(events),
    });
  }

  private get me(): string {
    return this.options.identity.id;
  }

  private key(round: number): RoundKey {
    return { cohortId: this.options.cohortId, epoch: this.options.epoch, round };
  }

  private wake = (): void => {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  };

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakers.push(done);
    });
  }

  private observeUtxo(utxo: HydraUTxO | undefined): void {
    if (!utxo) return;
    const found = roundDatumsIn(utxo);
    for (const { txIn, datum } of found) {
      const id = `${datum.kind}/${datum.party}/${datum.round}`;
      if (datum.cohortId !== this.options.cohortId || datum.epoch !== this.options.epoch) continue;
      if (!this.datumTx.has(id)) {
        this.datumTx.set(id, txIn.split('#')[0]!);
        this.datumOutputs[txIn] = utxo[txIn]!;
      }
    }
    this.head = addHeadRounds(
      this.head,
      found.map((f) => f.datum),
      this.options,
    );
  }

  /** Appends to the party's stream at the version last read, then publishes to the bus. */
  private async append(events: NewDmlEvent[]): Promise<void> {
    const result = await this.options.log.append(this.stream, events, {
      expectedVersion: this.version < 0 ? 'no_stream' : this.version,
    });
    this.version = result.nextExpectedVersion;
    await this.options.bus?.publish(this.options.cohortId, this.me, events).catch(() => undefined);
  }

  private event: typeof createEvent = (type, data) =>
    createEvent(type, data, { occurredAt: (this.options.clock?.() ?? new Date()).toISOString() });

  async run(): Promise<PartyRoundLoopResult> {
    const o = this.options;
    const client = new HydraClient({
      host: o.hydra.host,
      port: o.hydra.port,
      backoff: { initialMs: 50, maxMs: 1_000 },
      defaultTimeoutMs: o.timeoutMs ?? 120_000,
    });
    this.client = client;
    const stopListening = client.onOutput((output) => {
      if (output.tag === 'SnapshotConfirmed') this.observeUtxo(output.snapshot.utxo);
      if (output.tag === 'HeadIsOpen') this.headOpen = true;
      if (output.tag === 'HeadIsClosed' || output.tag === 'HeadIsFinalized' || output.tag === 'HeadIsAborted')
        this.headOpen = false;
      if (output.tag === 'Greetings') this.headOpen = output.headStatus === 'Open';
      this.wake();
    });
    const onAbort = () => this.wake();
    o.signal?.addEventListener('abort', onAbort);
    const stopAppended = o.log.onAppended(this.wake);
    let subscription: BusSubscription | undefined;
    try {
      await client.connect().catch((error: unknown) => {
        throw new DmlError(
          'HYDRA_UNREACHABLE',
          `no hydra-node answers at ws://${o.hydra.host}:${o.hydra.port}`,
          {
            cause: error,
          },
        );
      });
      if (!this.headOpen)
        throw new DmlError('HEAD_NOT_OPEN', `the head at ws://${o.hydra.host}:${o.hydra.port} is not open`, {
          hint: 'init it and commit every party (`dml head init`, `dml head commit`) first',
        });
      this.observeUtxo(await client.getSnapshotUtxo());
      this.seat = await HeadSeat.take(client, o.headKey, o.signalUnit).catch((error: unknown) => {
        throw new DmlError('NOT_IN_HEAD', `this party (${this.me}) has no output in the head`, {
          hint: 'commit its outputs (the one holding its signal token) with `dml head commit`',
          cause: error,
        });
      });
      if (o.bus)
        subscription = await o.bus.subscribe({
          cohortId: o.cohortId,
          group: `dml-train-${this.me}`,
          handler: () => this.wake(),
        });
      return await this.loop();
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      stopListening();
      stopAppended();
      await subscription?.stop().catch(() => undefined);
      await client.disconnect();
    }
  }

  private async loop(): Promise<PartyRoundLoopResult> {
    const o = this.options;
    let previous = '';
    let last: PartyAction | undefined;
    let waitingSince: number | undefined;
    const now = () => (o.clock?.() ?? new Date()).getTime();
    for (;;) {
      if (o.signal?.aborted) return { kind: 'stopped', at: last };
      const events = await o.log.readStream(this.stream);
      this.version = events.length === 0 ? -1 : events[events.length - 1]!.streamVersion;
      const own = foldPartyRounds(events, { cohortId: o.cohortId, epoch: o.epoch, me: this.me });
      const carryOver = await this.carryOverObserved(events);
      const action = decidePartyAction({
        me: this.me,
        parties: o.parties,
        firstRound: o.firstRound,
        lastRound: o.lastRound,
        headOpen: this.headOpen,
        own,
        head: this.head,
        ...(carryOver ? { carryOver } : {}),
      });
      last = action;
      const said = JSON.stringify(action);
      if (action.kind !== 'wait' || said !== previous)
        waitingSince = action.kind === 'wait' ? now() : undefined;
      const announce = (line: string) => {
        if (said !== previous) o.onStep?.(line, action);
        previous = said;
      };
      const r = action.round;
      switch (action.kind) {
        case 'epoch-done': {
          const aggregateHash = own.aggregated.get(r)?.aggregateHash ?? '';
          announce(
            `epoch ${o.epoch} done: round ${r} acknowledged by all ${o.parties.length} parties${aggregateHash ? `, aggregate ${aggregateHash}` : ''}`,
          );
          return { kind: 'epoch-done', round: r, aggregateHash };
        }
        case 'wait': {
          const waitedMs = now() - (waitingSince ?? now());
          if (o.patienceMs !== undefined && waitedMs > o.patienceMs)
            return { kind: 'stalled', round: r, waitingFor: action.for, missing: action.missing, waitedMs };
          announce(
            action.for === 'starting-adapter'
              ? `round ${r}: waiting for a carry-over of the epoch's starting adapter${action.missing.length > 0 ? ` from ${action.missing.map(short).join(' or ')}` : ''}`
              : `round ${r}: waiting for the ${action.for} of ${action.missing.map(short).join(', ')}`,
          );
          await this.sleep(o.pollMs ?? 5_000);
          if (o.signal?.aborted) continue;
          if (!this.headOpen)
            throw new DmlError(
              'HEAD_NOT_OPEN',
              `round ${r}: the head closed while this party waited for the ${action.for} of ${action.missing.join(', ')}`,
            );
          // a safety net for a missed wake-up: look at the head's current UTxO again
          this.observeUtxo(await this.client!.getSnapshotUtxo().catch(() => undefined));
          break;
        }
        case 'refuse':
          announce(`round ${r}: refused (${action.flagged.map(short).join(', ')})`);
          return {
            kind: 'refused',
            round: r,
            flagged: action.flagged,
            reason: action.reason ?? `this party's scores flag ${action.flagged.join(', ')}`,
          };
        case 'inconsistent':
          throw new DmlError('ROUND_INCONSISTENT', action.reason);
        case 'head-not-open':
          throw new DmlError('HEAD_NOT_OPEN', `round ${r}: the head is no longer open`);
        case 'start-round': {
          const global = action.adopt
            ? await this.adopt(action.adopt)
            : await this.globalFor(r, own.started.get(r));
          const hash = await o.adapters.save(global);
          announce(
            `round ${r}/${o.lastRound}: started from global adapter ${short(hash)}${action.adopt ? ` (the carry-over of ${short(action.adopt.party)}, checked)` : ''}`,
          );
          await this.append([
            this.event('training.RoundStarted', { ...this.key(r), globalAdapterHash: hash }),
          ]);
          break;
        }
        case 'publish-carry-over': {
          announce(
            `round ${r}/${o.lastRound}: publishing the epoch's starting adapter ${short(action.globalAdapterHash)}`,
          );
          await this.publishCarryOver(action.round, action.globalAdapterHash, action.previousAggregateHash);
          break;
        }
        case 'train-and-commit': {
          announce(`round ${r}/${o.lastRound}: training`);
          const global = await this.globalFor(r, own.started.get(r));
          const c = await this.participant.commit(this.seat!, this.key(r), global);
          o.onStep?.(
            `round ${r}/${o.lastRound}: committed delta ${short(c.deltaHash)} (${c.bytes} B), loss ${c.metrics.loss.toFixed(4)}`,
            action,
          );
          break;
        }
        case 'record-commitment': {
          const c = action.commitment;
          announce(`round ${r}: the head holds this party's commitment ${short(c.deltaHash)}; recording it`);
          const txId = this.datumTx.get(`commitment/${this.me}/${r}`);
          await this.append([
            this.event('training.DeltaCommitted', {
              ...this.key(r),
              party: this.me,
              deltaHash: c.deltaHash,
              storageKey: c.storageKey,
              sampleCount: c.sampleCount,
              bytes: c.bytes,
              metrics: { loss: c.metrics.loss, accuracy: Math.min(1, Math.max(0, c.metrics.accuracy)) },
              ...(txId ? { txId } : {}),
              ...(c.readGrant ? { readGrant: c.readGrant } : {}),
            }),
          ]);
          break;
        }
        case 'aggregate': {
          announce(`round ${r}/${o.lastRound}: every commitment confirmed; fetching, checking, aggregating`);
          const global = await this.globalFor(r, own.started.get(r));
          const outcome = await this.participant.aggregate(this.key(r), o.parties, this.datumOutputs, global);
          const next = this.participant.advance(global, outcome);
          await o.adapters.save(next.global);
          // the aggregate too, named by its hash (which the log records): the next epoch's start
          await o.adapters.save(outcome.aggregate);
          this.globals.set(r + 1, next.global);
          const mine = outcome.scores.find((s) => s.partyId === this.me);
          o.onStep?.(
            `round ${r}/${o.lastRound}: aggregate ${short(outcome.aggregateHash)} of ${outcome.scores.length} deltas${mine ? `, validation loss ${mine.loss.toFixed(4)}` : ''}`,
            action,
          );
          break;
        }
        case 'acknowledge':
          announce(`round ${r}/${o.lastRound}: signing the training snapshot`);
          await this.participant.acknowledge(this.seat!, this.key(r), action.aggregateHash);
          o.onStep?.(`round ${r}/${o.lastRound}: acknowledged ${short(action.aggregateHash)}`, action);
          break;
        case 'record-acknowledgement': {
          const a = action.acknowledgement;
          announce(`round ${r}: the head holds this party's acknowledgement; recording it`);
          const txId = this.datumTx.get(`acknowledgement/${this.me}/${r}`);
          await this.append([
            this.event('training.SnapshotSigned', {
              ...this.key(r),
              party: this.me,
              aggregateHash: a.aggregateHash,
              signature: a.signature,
              ...(txId ? { txId } : {}),
            }),
          ]);
          break;
        }
      }
    }
  }

  /**
   * What the party knows of the previous epoch's last round (epochs after the first): the
   * aggregate it recorded then, and whether that round's global adapter and aggregate are in its
   * files (so that it can start from its own history).
   */
  private async carryOverObserved(events: readonly StoredDmlEvent[]): Promise<EpochCarryOver | undefined> {
    const o = this.options;
    if (o.firstRound <= 1) return undefined;
    if (o.previousAggregateHash === undefined)
      throw new DmlError(
        'CARRY_OVER_UNKNOWN',
        `epoch ${o.epoch} starts at round ${o.firstRound}: the loop needs the aggregate hash layer 1 holds for round ${o.firstRound - 1}`,
      );
    const previous = foldPartyRounds(events, { cohortId: o.cohortId, epoch: o.epoch - 1, me: this.me });
    const round = o.firstRound - 1;
    const started = previous.started.get(round);
    const aggregate = previous.aggregated.get(round);
    if (!aggregate) return { aggregateHash: o.previousAggregateHash };
    const id = `${started}/${aggregate.aggregateHash}`;
    let available = this.filesChecked.get(id);
    if (available === undefined) {
      available =
        started !== undefined &&
        (await o.adapters.load(started)) !== undefined &&
        (await o.adapters.load(aggregate.aggregateHash)) !== undefined;
      this.filesChecked.set(id, available);
    }
    return {
      aggregateHash: o.previousAggregateHash,
      own: { aggregateHash: aggregate.aggregateHash, available },
    };
  }

  /**
   * The epoch's starting adapter from the party's own history: the previous round's global
   * adapter advanced by its aggregate, both from its files under the hashes its log recorded (the
   * aggregate's hash checked by the decider against layer 1's).
   */
  private async ownCarryOver(): Promise<Delta> {
    const o = this.options;
    const events = await o.log.readStream(this.stream);
    const previous = foldPartyRounds(events, { cohortId: o.cohortId, epoch: o.epoch - 1, me: this.me });
    const round = o.firstRound - 1;
    const startedHash = previous.started.get(round);
    const aggregateHash = previous.aggregated.get(round)?.aggregateHash;
    const global = startedHash === undefined ? undefined : await o.adapters.load(startedHash);
    const aggregate = aggregateHash === undefined ? undefined : await o.adapters.load(aggregateHash);
    if (!global || !aggregate)
      throw new DmlError(
        'CARRY_OVER_MISSING',
        `round ${round}: the global adapter or the aggregate this party's log names is not in ${o.adapters.dir}`,
        { hint: "run again: a party without them adopts a peer's carry-over" },
      );
    return o.learner.advance(global, aggregate);
  }

  /** A peer's carry-over: fetched through its grant, checked against its announced hash. */
  private async adopt(carry: CarryOverDatum): Promise<Delta> {
    const bytes = await this.options.content.getShared(
      carry.readGrant,
      { key: carry.storageKey, sha256: hashOfStorageKey(carry.storageKey) },
      { maxBytes: carry.bytes },
    );
    const delta = decodeDelta(bytes);
    if (hashDelta(delta) !== carry.globalAdapterHash)
      throw new DmlError(
        'CARRY_OVER_MISMATCH',
        `the carry-over of ${carry.party} hashes to ${hashDelta(delta)}, not the ${carry.globalAdapterHash} it announced`,
        { hint: `${carry.party} published a wrong starting adapter: close the head and vote` },
      );
    return delta;
  }

  /** Seals the epoch's starting adapter, grants it, and posts the carry-over through the seat. */
  private async publishCarryOver(round: number, globalAdapterHash: string, previousAggregateHash: string) {
    const o = this.options;
    const global = await this.globalFor(round, globalAdapterHash);
    const ref = await o.content.put(encodeDelta(global));
    const readGrant = await o.content.share(ref.key, {
      expiresInSeconds: o.readGrantSeconds ?? DEFAULT_READ_GRANT_SECONDS,
      signedAt: o.clock?.() ?? new Date(),
    });
    await this.seat!.post({
      kind: 'carry-over',
      ...this.key(round),
      party: this.me,
      globalAdapterHash,
      previousAggregateHash,
      storageKey: ref.key,
      bytes: ref.size,
      readGrant,
    });
  }

  /** A committed delta: this party's own from its store, a peer's through the grant in its commitment. */
  private readCommitted(c: DeltaCommitmentDatum): Promise<Buffer> {
    const content = this.options.content;
    if (c.party === this.me) return content.get(c.storageKey, c.deltaHash);
    if (!c.readGrant)
      return Promise.reject(
        new DmlError('STORAGE_NO_GRANT', `party ${c.party} committed no read grant for ${c.storageKey}`),
      );
    return content.getShared(c.readGrant, { key: c.storageKey, sha256: c.deltaHash }, { maxBytes: c.bytes });
  }

  /**
   * The global adapter round `round` trains from: in memory, else the content-addressed file the
   * logged hash names, else recomputed (the previous round's global plus the aggregate of the
   * deltas the head holds for it, fetched from storage) and checked against the logged hash.
   */
  private async globalFor(round: number, loggedHash: string | undefined): Promise<Delta> {
    const o = this.options;
    const check = (delta: Delta): Delta => {
      if (loggedHash !== undefined && hashDelta(delta) !== loggedHash)
        throw new DmlError(
          'GLOBAL_ADAPTER_MISMATCH',
          `round ${round}: the global adapter recomputed here hashes to ${hashDelta(delta)}, the log says ${loggedHash}`,
        );
      return delta;
    };
    const held = this.globals.get(round);
    if (held) return check(held);
    if (loggedHash !== undefined) {
      const file = await o.adapters.load(loggedHash);
      if (file) {
        this.globals.set(round, file);
        return file;
      }
    }
    if (round <= o.firstRound) {
      if (o.firstRound <= 1) return check(o.startGlobal);
      // an epoch after the first: its start is the party's own history, or the carry-over it adopted
      const own = await this.carryOverObserved(await o.log.readStream(this.stream));
      if (own?.own?.available) return check(await this.ownCarryOver());
      const source = [...this.head.carryOvers.values()].find(
        (c) => c.party !== this.me && c.globalAdapterHash === loggedHash,
      );
      if (!source)
        throw new DmlError(
          'GLOBAL_ADAPTER_MISSING',
          `round ${round}: the epoch's starting adapter ${loggedHash ?? ''} is not in ${o.adapters.dir} and no peer's carry-over offers it`,
        );
      return check(await this.adopt(source));
    }
    const previous = await this.globalFor(round - 1, undefined);
    const commitments = this.head.commitments.get(round - 1);
    const contributions = await Promise.all(
      [...o.parties].sort().map(async (party) => {
        const c = commitments?.get(party);
        if (!c)
          throw new DmlError('ROUND_INCOMPLETE', `round ${round - 1}: no commitment of ${party} in the head`);
        return {
          partyId: party,
          sampleCount: c.sampleCount,
          delta: decodeDelta(await this.readCommitted(c)),
        };
      }),
    );
    const next = check(o.learner.advance(previous, aggregateDeltas(o.rule, contributions).delta));
    this.globals.set(round, next);
    return next;
  }
}
