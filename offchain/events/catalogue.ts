import { z } from 'zod';

/**
 * The event catalogue: every fact the system records, with its schema. Three families:
 * - `hydra.*`: a hydra-node server output as it arrived (raw) plus our normalised reading of it;
 * - `l1.*`: a layer-1 contract transition observed by the chain follower;
 * - `training.*`: a step of the round protocol.
 * Every event's data names its cohort, so one cohort's history can be cut out of a shared log.
 * Amounts of lovelace are decimal strings (they can exceed 2^53).
 */

const hex = (what: string) => z.string().regex(/^[0-9a-f]*$/, `${what} must be lowercase hex`);
const hash32 = (what: string) =>
  z.string().regex(/^[0-9a-f]{64}$/, `${what} must be 32 bytes of lowercase hex`);
const lovelace = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/, 'an amount of lovelace must be a decimal integer string');
const cohortId = z.string().min(1).max(128);
/** A party: the hex hash of its payment key (or any stable hex id the node uses for it). */
const partyId = hex('a party id').min(2).max(128);
const nat = z.number().int().nonnegative();
const isoTime = z.iso.datetime({ offset: true });
const headId = hex('a head id').min(1).max(128);
const signature = z
  .string()
  .regex(/^[0-9a-f]{128}$/, 'an Ed25519 signature must be 64 bytes of lowercase hex');

/** JSON as it arrived: any JSON value (validated to be JSON, nothing more). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number().refine(Number.isFinite, 'a JSON number must be finite'),
    z.boolean(),
    z.null(),
    z.array(jsonValueSchema),
    z.record(z.string(), jsonValueSchema),
  ]),
);

// ---------------------------------------------------------------------------------------------
// Hydra server outputs

/** The minimal shape every hydra-node server output has: a tag, and seq/timestamp when timed. */
export const hydraRawOutputSchema = z
  .object({
    tag: z.string().min(1),
    seq: nat.optional(),
    timestamp: z.string().optional(),
    headId: z.string().optional(),
  })
  .catchall(jsonValueSchema);
export type HydraRawOutput = z.infer<typeof hydraRawOutputSchema>;

/** Our reading of a server output: the fields the projections and the auditor rely on. */
export const hydraNormalisedSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('HeadIsInitializing'), headId, parties: z.array(hex('a party vkey')) }),
  z.object({
    kind: z.literal('Committed'),
    headId,
    party: hex('a party vkey'),
    utxoRefs: z.array(z.string()),
  }),
  z.object({ kind: z.literal('HeadIsOpen'), headId, utxoCount: nat }),
  z.object({ kind: z.literal('HeadIsAborted'), headId }),
  z.object({ kind: z.literal('TxValid'), headId, txId: hex('a transaction id') }),
  z.object({ kind: z.literal('TxInvalid'), headId, txId: z.string(), reason: z.string() }),
  z.object({ kind: z.literal('SnapshotConfirmed'), headId, snapshotNumber: nat, txCount: nat, signed: nat }),
  z.object({
    kind: z.literal('HeadIsClosed'),
    headId,
    snapshotNumber: nat,
    contestationDeadline: z.string(),
  }),
  z.object({
    kind: z.literal('HeadIsContested'),
    headId,
    snapshotNumber: nat,
    contestationDeadline: z.string(),
  }),
  z.object({ kind: z.literal('ReadyToFanout'), headId }),
  z.object({ kind: z.literal('HeadIsFinalized'), headId, utxoCount: nat }),
  z.object({ kind: z.literal('CommandFailed'), headId: z.string().optional(), command: z.string() }),
  z.object({ kind: z.literal('Other'), tag: z.string(), headId: z.string().optional() }),
]);
export type HydraNormalised = z.infer<typeof hydraNormalisedSchema>;
export type HeadLifecycleKind = HydraNormalised['kind'];

const hydraOutputReceived = z.object({
  cohortId,
  raw: hydraRawOutputSchema,
  normalised: hydraNormalisedSchema,
});

// ---------------------------------------------------------------------------------------------
// Layer-1 contract transitions (observed by the chain follower)

const l1Tx = { txId: hash32('a transaction id'), slot: nat };

const cohortCreated = z.object({
  cohortId,
  ...l1Tx,
  creator: partyId,
  params: z.object({
    model: z.string().min(1),
    rounds: z.number().int().positive(),
    minDeposit: lovelace,
    contestationPeriodMs: z.number().int().positive(),
    aggregation: z.string().min(1),
    loraRank: z.number().int().positive(),
    /** How the parties send their deltas (offchain/delta/q8.ts); absent: `f32`. */
    deltaEncoding: z.enum(['f32', 'q8']).optional(),
  }),
});
const partyJoined = z.object({
  cohortId,
  ...l1Tx,
  party: partyId,
  deposit: lovelace,
  hydraKey: hex('a Hydra key'),
});
const epochStarted = z.object({
  cohortId,
  ...l1Tx,
  epoch: nat,
  /**
   * The epoch's Hydra head, when the writer knows it: the chain does not name it (a head is
   * initialised after its epoch starts), so an event derived from the chain alone leaves it out.
   */
  headId: headId.optional(),
  parties: z.array(partyId).min(1),
});
const headClosed = z.object({
  cohortId,
  ...l1Tx,
  epoch: nat,
  round: nat,
  aggregateHash: hash32('an aggregate hash'),
  closedBy: partyId,
  deadline: isoTime,
  scheduled: z.boolean(),
  /** The training snapshot's signatures the close carried (its redeemer), in the epoch's party order. */
  signatures: z.array(signature).optional(),
});
const headContested = z.object({
  cohortId,
  ...l1Tx,
  epoch: nat,
  round: nat,
  aggregateHash: hash32('an aggregate hash'),
  contestedBy: partyId,
  deadline: isoTime,
  /** The training snapshot's signatures the contest carried, in the epoch's party order. */
  signatures: z.array(signature).optional(),
});
const headFinalized = z.object({
  cohortId,
  ...l1Tx,
  epoch: nat,
  outcome: z.enum(['Completed', 'NextEpoch', 'Premature']),
});
const partySlashed = z.object({
  cohortId,
  ...l1Tx,
  accused: partyId,
  voters: z.array(partyId).min(1),
  /** The accused's deposit, shared among the voters. */
  amount: lovelace,
  shares: z.array(z.object({ party: partyId, amount: lovelace })).min(1),
  /** The voters' own deposits, returned to them by the same transaction. */
  returned: z.array(z.object({ party: partyId, amount: lovelace })),
});
const depositClaimed = z.object({ cohortId, ...l1Tx, party: partyId, amount: lovelace });
const depositRefunded = z.object({ cohortId, ...l1Tx, party: partyId, amount: lovelace });

// ---------------------------------------------------------------------------------------------
// Training steps

const roundKey = { cohortId, epoch: nat, round: nat };
const metrics = z.object({ loss: z.number(), accuracy: z.number().min(0).max(1) });
const roundStarted = z.object({ ...roundKey, globalAdapterHash: hash32('a global adapter hash') });
const deltaCommitted = z.object({
  ...roundKey,
  party: partyId,
  deltaHash: hash32('a delta hash'),
  storageKey: z.string().min(1),
  sampleCount: nat,
  bytes: nat,
  metrics,
  /** The layer-2 transaction carrying the commitment, when it went through a head. */
  txId: hex('a transaction id').optional(),
  /** The owner's time-limited read link it published with the commitment (peers read through it). */
  readGrant: z.object({ url: z.string().min(1), expiresAt: isoTime }).optional(),
});
const aggregateComputed = z.object({
  ...roundKey,
  aggregateHash: hash32('an aggregate hash'),
  rule: z.string().min(1),
  contributors: z.array(partyId),
  computedBy: partyId,
});
/**
 * A scorer's figures for one delta: its validation loss and accuracy, and (optional, added in
 * place: events without them still parse) the delta's cosine similarity with the leave-one-out
 * median of the round's other deltas and the delta's size in floats, always together: the
 * per-round direction evidence (`flagDissimilarDeltas`).
 */
const scoreMetrics = metrics
  .extend({
    similarity: z.number().min(-1).max(1).optional(),
    dimensions: z.number().int().positive().optional(),
  })
  .refine(
    (m) => (m.similarity === undefined) === (m.dimensions === undefined),
    'similarity and dimensions come together',
  );
const contributionScored = z.object({
  ...roundKey,
  scorer: partyId,
  party: partyId,
  score: z.number().refine(Number.isFinite, 'a score must be finite'),
  metrics: scoreMetrics.optional(),
});

/** A party's Ed25519 signature (its Hydra key) of the training snapshot `(cohortId, epoch, round, aggregateHash)`. */
const snapshotSigned = z.object({
  ...roundKey,
  aggregateHash: hash32('an aggregate hash'),
  party: partyId,
  signature,
  /** The layer-2 transaction carrying the acknowledgement, when it went through a head. */
  txId: hex('a transaction id').optional(),
});

/** Every event type, its current schema version, and the schema of its data. */
export const EVENT_CATALOGUE = {
  'hydra.OutputReceived': { version: 1, schema: hydraOutputReceived },
  'l1.CohortCreated': { version: 1, schema: cohortCreated },
  'l1.PartyJoined': { version: 1, schema: partyJoined },
  'l1.EpochStarted': { version: 1, schema: epochStarted },
  'l1.HeadClosed': { version: 1, schema: headClosed },
  'l1.HeadContested': { version: 1, schema: headContested },
  'l1.HeadFinalized': { version: 1, schema: headFinalized },
  'l1.PartySlashed': { version: 1, schema: partySlashed },
  'l1.DepositClaimed': { version: 1, schema: depositClaimed },
  'l1.DepositRefunded': { version: 1, schema: depositRefunded },
  'training.RoundStarted': { version: 1, schema: roundStarted },
  'training.DeltaCommitted': { version: 1, schema: deltaCommitted },
  'training.AggregateComputed': { version: 1, schema: aggregateComputed },
  'training.ContributionScored': { version: 1, schema: contributionScored },
  'training.SnapshotSigned': { version: 1, schema: snapshotSigned },
} as const;

export type DmlEventType = keyof typeof EVENT_CATALOGUE;
export type DmlEventData<T extends DmlEventType> = z.infer<(typeof EVENT_CATALOGUE)[T]['schema']>;
export const DML_EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as DmlEventType[];
export const isDmlEventType = (type: string): type is DmlEventType => Object.hasOwn(EVENT_CATALOGUE, type);
