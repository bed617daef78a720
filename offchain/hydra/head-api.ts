import type { HeadLedger, HeadTx } from './head-ledger.js';
import { unionUTxO } from './head-ledger.js';
import type {
  ConfirmedSnapshot,
  HeadEnvironment,
  HeadState,
  PostChainTx,
  SeenSnapshot,
  Snapshot,
} from './head-types.js';
import type { HydraTransaction } from './messages.js';

/** How the embedded head shows its internal state in hydra-node 1.3.0's JSON shapes. */

export const transactionToApi = (tx: HeadTx): HydraTransaction => ({
  type: 'Tx ConwayEra',
  description: '',
  cborHex: tx.cborHex,
  txId: tx.txId,
});

export type HydraHeadStatus = 'Idle' | 'Initializing' | 'Open' | 'Closed' | 'FanoutPossible' | 'Final';

export const headStatusOf = (state: HeadState): HydraHeadStatus => {
  switch (state.tag) {
    case 'Idle':
      return 'Idle';
    case 'Initial':
      return 'Initializing';
    case 'Open':
      return 'Open';
    case 'Closed':
      return state.readyToFanoutSent ? 'FanoutPossible' : 'Closed';
    case 'Final':
      return 'Final';
  }
};

const snapshotToApi = (snapshot: Snapshot, ledger: HeadLedger) => ({
  headId: snapshot.headId,
  version: snapshot.version,
  number: snapshot.number,
  confirmed: snapshot.confirmed.map(transactionToApi),
  utxo: ledger.utxoToApi(snapshot.utxo),
  utxoToCommit: null,
  utxoToDecommit: null,
});

export const confirmedSnapshotToApi = (
  confirmed: ConfirmedSnapshot,
  ledger: HeadLedger,
): Record<string, unknown> =>
  confirmed.tag === 'InitialSnapshot'
    ? {
        tag: 'InitialSnapshot',
        headId: confirmed.headId,
        initialUTxO: ledger.utxoToApi(confirmed.initialUTxO),
      }
    : {
        tag: 'ConfirmedSnapshot',
        snapshot: snapshotToApi(confirmed.snapshot, ledger),
        signatures: { multiSignature: [...confirmed.signatures] },
      };

const seenSnapshotToApi = (seen: SeenSnapshot, ledger: HeadLedger): Record<string, unknown> =>
  seen.tag === 'SeenSnapshot'
    ? {
        tag: 'SeenSnapshot',
        snapshot: snapshotToApi(seen.snapshot, ledger),
        signatories: { ...seen.signatories },
      }
    : { ...seen };

const parametersToApi = (parameters: { contestationPeriod: number; parties: readonly string[] }) => ({
  contestationPeriod: parameters.contestationPeriod,
  parties: parameters.parties.map((vkey) => ({ vkey })),
});

/**
 * The `HeadState` of api.yaml (used in `CommandFailed`). A final head is shown as `Idle`, as
 * hydra-node does once a head is finalized or aborted.
 */
export const headStateToApi = (state: HeadState, ledger: HeadLedger): { tag: string; contents: unknown } => {
  switch (state.tag) {
    case 'Idle':
    case 'Final':
      return { tag: 'Idle', contents: { chainState: {} } };
    case 'Initial':
      return {
        tag: 'Initial',
        contents: {
          parameters: parametersToApi(state.parameters),
          pendingCommits: state.pendingCommits.map((vkey) => ({ vkey })),
          committed: Object.fromEntries(
            Object.entries(state.committed).map(([p, u]) => [p, ledger.utxoToApi(u)]),
          ),
          chainState: {},
          headId: state.headId,
          headSeed: state.headSeed,
        },
      };
    case 'Open':
      return {
        tag: 'Open',
        contents: {
          parameters: parametersToApi(state.parameters),
          coordinatedHeadState: {
            localUTxO: ledger.utxoToApi(state.coordinated.localUTxO),
            localTxs: state.coordinated.localTxs.map(transactionToApi),
            allTxs: Object.fromEntries(
              Object.entries(state.coordinated.allTxs).map(([id, tx]) => [id, transactionToApi(tx)]),
            ),
            confirmedSnapshot: confirmedSnapshotToApi(state.coordinated.confirmedSnapshot, ledger),
            seenSnapshot: seenSnapshotToApi(state.coordinated.seenSnapshot, ledger),
            currentDepositTxId: null,
            decommitTx: null,
            version: state.coordinated.version,
          },
          chainState: {},
          headId: state.headId,
          headSeed: state.headSeed,
        },
      };
    case 'Closed':
      return {
        tag: 'Closed',
        contents: {
          parameters: parametersToApi(state.parameters),
          confirmedSnapshot: confirmedSnapshotToApi(state.confirmedSnapshot, ledger),
          contestationDeadline: new Date(state.contestationDeadline).toISOString(),
          readyToFanoutSent: state.readyToFanoutSent,
          chainState: {},
          headId: state.headId,
          headSeed: state.headSeed,
          version: 0,
        },
      };
  }
};

/** A posted transaction in api.yaml's `PostChainTx` shape (for `PostTxOnChainFailed`). */
export const postChainTxToApi = (
  tx: PostChainTx,
  state: HeadState,
  env: HeadEnvironment,
): Record<string, unknown> => {
  const ledger = env.ledger;
  const parameters =
    state.tag === 'Initial' || state.tag === 'Open' || state.tag === 'Closed'
      ? state.parameters
      : { contestationPeriod: env.contestationPeriod, parties: [env.party, ...env.otherParties] };
  const headSeed =
    state.tag === 'Initial' || state.tag === 'Open' || state.tag === 'Closed'
      ? state.headSeed
      : '00'.repeat(16);
  const headParameters = parametersToApi(parameters);
  switch (tx.tag) {
    case 'InitTx':
      return { tag: 'InitTx', participants: [], headParameters: parametersToApi(tx.parameters) };
    case 'AbortTx':
      return { tag: 'AbortTx', utxo: ledger.utxoToApi(unionUTxO(Object.values(tx.committed))), headSeed };
    case 'CollectComTx':
      return { tag: 'CollectComTx', utxo: ledger.utxoToApi(tx.utxo), headId: tx.headId, headParameters };
    case 'CloseTx':
      return {
        tag: 'CloseTx',
        headId: tx.headId,
        headParameters,
        openVersion: 0,
        closingSnapshot: confirmedSnapshotToApi(tx.confirmedSnapshot, ledger),
      };
    case 'ContestTx':
      return {
        tag: 'ContestTx',
        headId: tx.headId,
        headParameters,
        openVersion: 0,
        contestingSnapshot: confirmedSnapshotToApi(tx.confirmedSnapshot, ledger),
      };
    case 'FanoutTx': {
      const utxo =
        state.tag === 'Closed'
          ? state.confirmedSnapshot.tag === 'InitialSnapshot'
            ? state.confirmedSnapshot.initialUTxO
            : state.confirmedSnapshot.snapshot.utxo
          : {};
      const deadline = state.tag === 'Closed' ? state.contestationDeadline : 0;
      return {
        tag: 'FanoutTx',
        utxo: ledger.utxoToApi(utxo),
        headSeed,
        contestationDeadline: new Date(deadline).toISOString(),
      };
    }
  }
};
