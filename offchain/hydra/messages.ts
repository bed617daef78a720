import { z } from 'zod';

/**
 * The messages of hydra-node 1.3.0's API (WebSocket and HTTP), as zod schemas.
 * Objects are "loose": fields a newer hydra-node adds are kept, never dropped.
 * Field names and shapes follow `api.yaml` and the samples in `hydra-api/1.3.0/`.
 */

const hex = z.string().regex(/^[0-9a-f]*$/, 'expected lowercase base16');
export const HydraHeadIdSchema = hex;
export const HydraTxIdSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected a 32-byte transaction id in base16');
export const HydraTxInSchema = z.string().regex(/^[0-9a-f]{64}#[0-9]+$/, 'expected <txId>#<index>');
export const HydraPartySchema = z.looseObject({ vkey: hex });

export const HydraValueSchema = z.record(z.string(), z.union([z.number(), z.record(z.string(), z.number())]));

export const HydraScriptSchema = z.looseObject({
  scriptLanguage: z.string(),
  script: z.looseObject({ cborHex: hex, description: z.string(), type: z.string() }),
});

export const HydraTxOutSchema = z.looseObject({
  address: z.string(),
  value: HydraValueSchema,
  datum: hex.nullable().optional(),
  datumhash: hex.nullable().optional(),
  inlineDatum: z.unknown().optional(),
  inlineDatumRaw: hex.nullable().optional(),
  inlineDatumhash: hex.nullable().optional(),
  referenceScript: HydraScriptSchema.nullable().optional(),
});

export const HydraUTxOSchema = z.record(HydraTxInSchema, HydraTxOutSchema);

export const HydraTransactionSchema = z.looseObject({
  type: z.string(),
  description: z.string(),
  cborHex: hex,
  txId: HydraTxIdSchema.optional(),
});

export const HydraSnapshotSchema = z.looseObject({
  headId: hex,
  version: z.number().int().nonnegative(),
  number: z.number().int().nonnegative(),
  confirmed: z.array(HydraTransactionSchema),
  utxo: HydraUTxOSchema.optional(),
  utxoToCommit: HydraUTxOSchema.nullable().optional(),
  utxoToDecommit: HydraUTxOSchema.nullable().optional(),
});

export const HydraMultiSignatureSchema = z.looseObject({ multiSignature: z.array(hex) });

export const HydraConfirmedSnapshotSchema = z.union([
  z.looseObject({ tag: z.literal('InitialSnapshot'), headId: hex, initialUTxO: HydraUTxOSchema }),
  z.looseObject({
    tag: z.literal('ConfirmedSnapshot').optional(),
    snapshot: HydraSnapshotSchema,
    signatures: HydraMultiSignatureSchema,
  }),
]);

// ---- client inputs -------------------------------------------------------------------------

const tagOnly = <T extends string>(tag: T) => z.looseObject({ tag: z.literal(tag) });

export const HydraClientInputSchema = z.discriminatedUnion('tag', [
  tagOnly('Init'),
  tagOnly('Abort'),
  z.looseObject({ tag: z.literal('NewTx'), transaction: HydraTransactionSchema }),
  z.looseObject({ tag: z.literal('Recover'), recoverTxId: HydraTxIdSchema }),
  z.looseObject({ tag: z.literal('Decommit'), decommitTx: HydraTransactionSchema }),
  tagOnly('Close'),
  tagOnly('SafeClose'),
  tagOnly('Contest'),
  tagOnly('Fanout'),
  z.looseObject({ tag: z.literal('SideLoadSnapshot'), snapshot: HydraConfirmedSnapshotSchema }),
]);
export type HydraClientInput = z.infer<typeof HydraClientInputSchema>;
export type HydraClientInputTag = HydraClientInput['tag'];

// ---- server outputs ------------------------------------------------------------------------

/** `seq` and `timestamp` are present on every output that hydra-node stores in its history. */
const timed = {
  seq: z.number().int().nonnegative().optional(),
  timestamp: z.string().optional(),
};
const out = <T extends string, S extends z.ZodRawShape>(tag: T, shape: S) =>
  z.looseObject({ tag: z.literal(tag), ...timed, ...shape });

export const HydraHeadStateSchema = z.looseObject({ tag: z.string(), contents: z.unknown() });

export const HydraServerOutputSchema = z.discriminatedUnion('tag', [
  out('Greetings', {
    me: HydraPartySchema,
    headStatus: z.enum(['Idle', 'Initializing', 'Open', 'Closed', 'FanoutPossible', 'Final']),
    hydraHeadId: hex.optional(),
    snapshotUtxo: HydraUTxOSchema.optional(),
    hydraNodeVersion: z.string(),
    env: z.unknown(),
    networkInfo: z.unknown(),
    chainSyncedStatus: z.string(),
    currentSlot: z.number().int().nonnegative(),
  }),
  out('PeerConnected', { peer: z.unknown() }),
  out('PeerDisconnected', { peer: z.unknown() }),
  out('NetworkConnected', {}),
  out('NetworkDisconnected', {}),
  out('NetworkVersionMismatch', { ourVersion: z.number(), theirVersion: z.number().nullable().optional() }),
  out('NetworkClusterIDMismatch', { clusterPeers: z.string(), misconfiguredPeers: z.string() }),
  out('HeadIsInitializing', { headId: hex, parties: z.array(HydraPartySchema) }),
  out('Committed', { headId: hex.optional(), party: HydraPartySchema, utxo: HydraUTxOSchema }),
  out('HeadIsOpen', { headId: hex, utxo: HydraUTxOSchema }),
  out('HeadIsClosed', {
    headId: hex,
    snapshotNumber: z.number().int().nonnegative(),
    contestationDeadline: z.string(),
  }),
  out('HeadIsContested', {
    headId: hex,
    snapshotNumber: z.number().int().nonnegative(),
    contestationDeadline: z.string(),
  }),
  out('ReadyToFanout', { headId: hex }),
  out('HeadIsAborted', { headId: hex, utxo: HydraUTxOSchema }),
  out('HeadIsFinalized', { headId: hex, utxo: HydraUTxOSchema }),
  out('TxValid', { headId: hex, transactionId: HydraTxIdSchema }),
  out('TxInvalid', {
    headId: hex,
    utxo: HydraUTxOSchema,
    transaction: HydraTransactionSchema,
    validationError: z.looseObject({ reason: z.string() }),
  }),
  out('SnapshotConfirmed', {
    headId: hex,
    snapshot: HydraSnapshotSchema,
    signatures: HydraMultiSignatureSchema.optional(),
  }),
  out('InvalidInput', { reason: z.string(), input: z.string() }),
  out('PostTxOnChainFailed', { postChainTx: z.unknown(), postTxError: z.unknown() }),
  out('CommandFailed', { clientInput: HydraClientInputSchema, state: HydraHeadStateSchema }),
  out('RejectedInputBecauseUnsynced', { clientInput: HydraClientInputSchema, drift: z.number() }),
  out('SideLoadSnapshotRejected', { clientInput: HydraClientInputSchema, requirementFailure: z.unknown() }),
  out('SyncedStatusReport', { synced: z.unknown().optional() }),
  out('IgnoredHeadInitializing', {
    headId: hex,
    contestationPeriod: z.number(),
    parties: z.array(HydraPartySchema),
    participants: z.array(hex),
  }),
  out('DecommitInvalid', {
    headId: hex,
    decommitTx: HydraTransactionSchema,
    decommitInvalidReason: z.unknown(),
  }),
  out('DecommitRequested', {
    headId: hex,
    decommitTx: HydraTransactionSchema,
    utxoToDecommit: HydraUTxOSchema,
  }),
  out('DecommitApproved', { headId: hex, decommitTxId: HydraTxIdSchema, utxoToDecommit: HydraUTxOSchema }),
  out('DecommitFinalized', { headId: hex, distributedUTxO: HydraUTxOSchema }),
  out('CommitRecorded', {
    headId: hex,
    utxoToCommit: HydraUTxOSchema,
    pendingDeposit: HydraTxIdSchema,
    deadline: z.string(),
  }),
  out('DepositActivated', {
    headId: hex,
    depositTxId: HydraTxIdSchema,
    deadline: z.string(),
    chainTime: z.string(),
  }),
  out('DepositExpired', {
    headId: hex,
    depositTxId: HydraTxIdSchema,
    deadline: z.string(),
    chainTime: z.string(),
  }),
  out('CommitApproved', { headId: hex, utxoToCommit: HydraUTxOSchema }),
  out('CommitFinalized', { headId: hex, depositTxId: HydraTxIdSchema }),
  out('CommitRecovered', { headId: hex, recoveredUTxO: HydraUTxOSchema, recoveredTxId: HydraTxIdSchema }),
  out('SnapshotSideLoaded', { headId: hex, snapshotNumber: z.number().int().nonnegative() }),
  out('EventLogRotated', { checkpoint: z.unknown() }),
  out('NodeUnsynced', { chainSlot: z.number(), chainTime: z.string(), drift: z.number() }),
  out('NodeSynced', { chainSlot: z.number(), chainTime: z.string(), drift: z.number() }),
]);
export type HydraServerOutput = z.infer<typeof HydraServerOutputSchema>;
export type HydraServerOutputTag = HydraServerOutput['tag'];
export type HydraServerOutputOf<T extends HydraServerOutputTag> = Extract<HydraServerOutput, { tag: T }>;

export type HydraUTxO = z.infer<typeof HydraUTxOSchema>;
export type HydraTxOut = z.infer<typeof HydraTxOutSchema>;
export type HydraTransaction = z.infer<typeof HydraTransactionSchema>;
export type HydraSnapshot = z.infer<typeof HydraSnapshotSchema>;
export type HydraParty = z.infer<typeof HydraPartySchema>;

export const HYDRA_SERVER_OUTPUT_TAGS: readonly string[] = HydraServerOutputSchema.options.map(
  (option) => option.shape.tag.value,
);
export const HYDRA_CLIENT_INPUT_TAGS: readonly string[] = HydraClientInputSchema.options.map(
  (option) => option.shape.tag.value,
);
