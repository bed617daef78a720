// The Hydra part of offchain/: hydra-node 1.3.0's API (messages, codec, client) and the embedded head.
export * from './messages.js';
export * from './codec.js';
export type { HeadLedger, HeadTx, HeadUTxO, ApplyTxResult } from './head-ledger.js';
export * from './head-types.js';
export { updateHead, aggregateHead, replayHead, snapshotLeader } from './head-logic.js';
export { CardanoHeadLedger, txOutToApi } from './cardano-ledger.js';
export {
  buildHeadTx,
  headKeyFromSeed,
  headOutputHex,
  scriptAddress,
  plutusV2ScriptHash,
} from './cardano-head-tx.js';
export type { HeadKey, HeadOutputSpec, HeadTxSpec } from './cardano-head-tx.js';
export {
  hydraSigningKeyFromSeed,
  signSnapshot,
  verifyMultiSignature,
  verifySnapshotSignature,
} from './snapshot-signing.js';
export { HydraClient, type HydraClientOptions } from './client.js';
export { HydraOutputLog, hydraOutputEventId, type HydraOutputLogOptions } from './output-log.js';
export { EmbeddedHydraHead, type EmbeddedHeadOptions } from './embedded-head.js';
export { EmbeddedHydraNode } from './embedded-node.js';
export { EmbeddedHeadChain, headIdOfSeed } from './embedded-chain.js';
export {
  LucidEmulatorLayer1,
  signCardanoTransaction,
  type HeadLayer1,
  type CustodyOutput as HeadCustodyOutput,
  type CustodyTxSpec as HeadCustodyTxSpec,
} from './layer1.js';
export {
  encodeHeadCustodyDatum,
  decodeHeadCustodyDatum,
  type HeadCustodyDatum,
  type HeadStateDatum,
  type HeadCommitDatum,
} from './head-datum.js';
export { evaluatePlutusScripts, type SlotConfig } from './plutus-evaluation.js';
export { startEmbeddedHeadWithClients, type EmbeddedHeadWithClients } from './embedded-fixture.js';
