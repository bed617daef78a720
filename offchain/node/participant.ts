import { signTrainingSnapshot } from '../chain/index.js';
import {
  type AggregationRule,
  type Delta,
  type DeltaValueEncoding,
  aggregateDeltas,
  decodeDelta,
  encodeDelta,
  flagDissimilarDeltas,
  flagOutlierScores,
  hashDelta,
  withDeltaEncoding,
} from '../delta/index.js';
import { DmlError } from '../errors.js';
import { type EventStore, type NewDmlEvent, createEvent, partyStream } from '../events/index.js';
import type { HydraUTxO } from '../hydra/index.js';
import type { RoundKey } from '../round/index.js';
import type { EncryptedContentStore, ReadObjectGrantOptions } from '../storage/index.js';

import type { DeltaCommitmentDatum } from './round-datum.js';
import { type HeadSeat, roundDatumsIn } from './head-seat.js';
import type { Learner } from './learner.js';

/** How a party behaves: honest, or a saboteur (poisoned deltas from a round on), or a dropout. */
export type PartyBehaviour =
  | { readonly kind: 'honest' }
  | { readonly kind: 'saboteur'; readonly fromRound: number }
  | { readonly kind: 'dropout'; readonly atRound: number };

export interface ParticipantIdentity {
  /** Hex hash of the payment key: the party's id everywhere. */
  readonly id: string;
  readonly hydraSk: Uint8Array;
  readonly hydraVk: string;
}

export interface ParticipantOptions {
  readonly identity: ParticipantIdentity;
  readonly cohortId: string;
  readonly rule: AggregationRule;
  /**
   * How the party sends its delta, the cohort's `deltaEncoding` (default `f32`): with `q8` it
   * quantises the delta before sealing it. Its own delta counts in the round only as the bytes it
   * uploaded (it reads them back like a peer's), so every party aggregates the same values.
   */
  readonly deltaEncoding?: DeltaValueEncoding;
  readonly learner: Learner;
  /** The party's own encrypted store (its prefix); reads of peers' keys go through it too. */
  readonly content: EncryptedContentStore;
  readonly log: EventStore;
  readonly behaviour?: PartyBehaviour;
  /**
   * The party's time: events, the read grants it signs and the expiry of peers' grants it checks
   * (a presigned S3 link is checked by the server's clock: use the real clock with S3).
   */
  readonly clock?: () => Date;
  /** How the party's events are appended (default: to its stream, expected version 'any'). */
  readonly append?: (events: NewDmlEvent[]) => Promise<void>;
  /**
   * How long peers may read a committed delta through the grant published with it (default
   * 3600 s). A round must finish within it; the auditor reads later with its own access.
   */
  readonly readGrantSeconds?: number;
  /** Retries of reads through peers' grants (backoff, driven clock, progress of each retry). */
  readonly peerReads?: Pick<ReadObjectGrantOptions, 'backoff' | 'retryClock' | 'onRetry'>;
}

/** Default lifetime of the read grant published with a commitment. */
export const DEFAULT_READ_GRANT_SECONDS = 3600;

export interface RoundOutcome {
  readonly aggregateHash: string;
  readonly aggregate: Delta;
  /** The parties this party's scores flag (by validation loss or by direction). */
  readonly flagged: readonly string[];
  readonly scores: ReadonlyArray<{ partyId: string; loss: number; accuracy: number }>;
  /**
   * Peers whose delta could not be read or did not check (no grant, expired or refused grant,
   * store unreachable after every retry, hash mismatch, undecryptable, malformed), with why:
   * flagged and left out.
   */
  readonly unreadable: ReadonlyArray<{ party: string; code: string; message: string }>;
}

/**
 * One party of a cohort, one round at a time: train and commit the delta through its head seat;
 * once a confirmed snapshot holds every commitment, fetch, check, aggregate (bit-exact) and score;
 * then acknowledge with its Hydra-key signature of the training snapshot, unless its scores flag
 * a party (an honest party does not sign an aggregate it believes poisoned). Every step is an
 * event in the party's stream.
 */
export class Participant {
  private readonly behaviour: PartyBehaviour;
  private readonly clock: () => Date;
  /** Bytes this party uploaded (sealed deltas). */
  uploadedBytes = 0;

  constructor(private readonly options: ParticipantOptions) {
    this.behaviour = options.behaviour ?? { kind: 'honest' };
    this.clock = options.clock ?? (() => new Date());
  }

  get id(): string {
    return this.options.identity.id;
  }

  get hydraVk(): string {
    return this.options.identity.hydraVk;
  }

  /** Whether this party takes part in `round` at all (a dropout stops). */
  active(round: number): boolean {
    return !(this.behaviour.kind === 'dropout' && round >= this.behaviour.atRound);
  }

  private async record(events: NewDmlEvent[]): Promise<void> {
    if (this.options.append) return this.options.append(events);
    await this.options.log.append(partyStream(this.options.cohortId, this.id), events, {
      expectedVersion: 'any',
    });
  }

  private event: typeof createEvent = (type, data) =>
    createEvent(type, data, { occurredAt: this.clock().toISOString() });

  /** Trains, seals, stores and commits this round's delta; returns the commitment. */
  async commit(seat: HeadSeat, key: RoundKey, global: Delta): Promise<DeltaCommitmentDatum> {
    const { delta: honest, sampleCount, metrics } = await this.options.learner.train(key, global);
    const delta =
      this.behaviour.kind === 'saboteur' && key.round >= this.behaviour.fromRound ? poison(honest) : honest;
    const ref = await this.options.content.put(
      encodeDelta(withDeltaEncoding(delta, this.options.deltaEncoding ?? 'f32')),
    );
    this.uploadedBytes += ref.size;
    // Peers read the delta through this grant, never by the owner's credential or folder.
    const readGrant = await this.options.content.share(ref.key, {
      expiresInSeconds: this.options.readGrantSeconds ?? DEFAULT_READ_GRANT_SECONDS,
      signedAt: this.clock(),
    });
    const commitment: DeltaCommitmentDatum = {
      kind: 'commitment',
      ...key,
      party: this.id,
      deltaHash: ref.sha256,
      storageKey: ref.key,
      sampleCount,
      bytes: ref.size,
      metrics: { loss: metrics.loss, accuracy: metrics.accuracy },
      readGrant,
    };
    const { txId } = await seat.post(commitment);
    await this.record([
      this.event('training.DeltaCommitted', {
        ...key,
        party: this.id,
        deltaHash: ref.sha256,
        storageKey: ref.key,
        sampleCount,
        bytes: ref.size,
        metrics: { loss: metrics.loss, accuracy: Math.min(1, Math.max(0, metrics.accuracy)) },
        txId,
        readGrant,
      }),
    ]);
    return commitment;
  }

  /**
   * From a head UTxO holding every party's commitment: fetch each delta (checked against the
   * committed hash), aggregate with the cohort's rule, score each delta, flag outliers.
   */
  async aggregate(
    key: RoundKey,
    parties: readonly string[],
    utxo: HydraUTxO,
    global: Delta,
  ): Promise<RoundOutcome> {
    const commitments = new Map<string, DeltaCommitmentDatum>();
    for (const { datum } of roundDatumsIn(utxo))
      if (
        datum.kind === 'commitment' &&
        datum.cohortId === key.cohortId &&
        datum.epoch === key.epoch &&
        datum.round === key.round
      )
        commitments.set(datum.party, datum);
    const missing = parties.filter((p) => !commitments.has(p));
    if (missing.length > 0)
      throw new DmlError('ROUND_INCOMPLETE', `round ${key.round}: no commitment from ${missing.join(', ')}`);
    // A delta that is missing, altered (hash), undecryptable or malformed, or whose read grant is
    // missing, expired or refused, is the committing peer's fault: it is flagged and left out,
    // never a crash of this party's node.
    const unreadable: Array<{ party: string; code: string; message: string }> = [];
    const fetched = await Promise.all(
      [...parties].sort().map(async (party) => {
        const c = commitments.get(party)!;
        try {
          const bytes = await this.readDelta(c);
          return { partyId: party, sampleCount: c.sampleCount, delta: decodeDelta(bytes) };
        } catch (error) {
          if (!(error instanceof DmlError)) throw error;
          unreadable.push({ party, code: error.code, message: error.message });
          return undefined;
        }
      }),
    );
    const corrupt = unreadable.map((u) => u.party);
    const contributions = fetched.filter((c): c is NonNullable<typeof c> => c !== undefined);
    if (contributions.length === 0)
      throw new DmlError('ROUND_NO_DELTA', `round ${key.round}: not one committed delta could be read`);
    const result = aggregateDeltas(this.options.rule, contributions);
    const scores = await this.options.learner.score(global, contributions);
    // Flag by validation loss only: the direction test (flagDissimilarDeltas) also flags honest
    // parties of a small cohort whose data differ, and a false flag stops the cohort.
    // A party refuses to sign on its own judgement, so the bar is high: a delta whose validation
    // loss is half again the median's (and a robust outlier). A poisoned delta is far above it;
    // honest deltas scored on a few hundred images differ by tens of percent at most.
    const flagged = [...new Set([...corrupt, ...flagOutlierScores(scores, { minGap: 0.5 })])]
      .filter((p) => p !== this.id)
      .sort();
    // Each delta's direction (its cosine with the leave-one-out median of the others), recorded
    // as evidence for the verdict over the rounds (projections: reputation, audit); it does not
    // decide the signature (see above).
    const directions = new Map(
      flagDissimilarDeltas(contributions).map((d) => [
        d.partyId,
        { similarity: Math.min(1, Math.max(-1, d.similarity)), dimensions: d.dimensions },
      ]),
    );
    await this.record([
      this.event('training.AggregateComputed', {
        ...key,
        aggregateHash: result.hash,
        rule: this.options.rule.kind,
        contributors: [...result.used],
        computedBy: this.id,
      }),
      ...scores.map((s) =>
        this.event('training.ContributionScored', {
          ...key,
          scorer: this.id,
          party: s.partyId,
          score: Number.isFinite(s.loss) ? -s.loss : -1e30,
          metrics: {
            loss: Number.isFinite(s.loss) ? s.loss : 1e30,
            accuracy: Math.min(1, Math.max(0, s.accuracy)),
            ...directions.get(s.partyId),
          },
        }),
      ),
    ]);
    return {
      aggregateHash: result.hash,
      aggregate: result.delta,
      flagged,
      scores,
      unreadable: unreadable.sort((a, b) => (a.party < b.party ? -1 : 1)),
    };
  }

  /**
   * A committed delta's sealed bytes, checked against the commitment and opened: this party's
   * own from its store; a peer's only through the read grant in its commitment (the link must
   * name the committed key, not be expired by this party's clock for a file grant or by the
   * server's for a presigned URL, and serve at most the committed size).
   */
  private readDelta(c: DeltaCommitmentDatum): Promise<Buffer> {
    if (c.party === this.id) return this.options.content.get(c.storageKey, c.deltaHash);
    if (!c.readGrant)
      return Promise.reject(
        new DmlError('STORAGE_NO_GRANT', `party ${c.party} committed no read grant for ${c.storageKey}`, {
          hint: 'peers read deltas only through the grant published with the commitment',
        }),
      );
    return this.options.content.getShared(
      c.readGrant,
      { key: c.storageKey, sha256: c.deltaHash },
      { ...this.options.peerReads, now: this.clock(), maxBytes: c.bytes },
    );
  }

  /** Whether this party signs the round: a saboteur always does; an honest party only when it flags no one. */
  willSign(outcome: RoundOutcome): boolean {
    return this.behaviour.kind === 'saboteur' || outcome.flagged.length === 0;
  }

  /** Signs the training snapshot and posts the acknowledgement through the seat. */
  async acknowledge(seat: HeadSeat, key: RoundKey, aggregateHash: string): Promise<string> {
    const signature = signTrainingSnapshot(this.options.identity.hydraSk, { ...key, aggregateHash });
    const { txId } = await seat.post({
      kind: 'acknowledgement',
      ...key,
      party: this.id,
      aggregateHash,
      signature,
    });
    await this.record([
      this.event('training.SnapshotSigned', { ...key, party: this.id, aggregateHash, signature, txId }),
    ]);
    return signature;
  }

  /** The next global adapter and its hash. */
  advance(global: Delta, outcome: RoundOutcome): { global: Delta; hash: string } {
    const next = this.options.learner.advance(global, outcome.aggregate);
    return { global: next, hash: hashDelta(next) };
  }
}

/** A poisoned delta: the honest one flipped and scaled (a model-replacement attack). */
export const poison = (delta: Delta): Delta => ({
  tensors: delta.tensors.map((t) => ({ ...t, values: t.values.map((v) => -8 * v) })),
});
