import type { HeadLedger, HeadTx } from './head-ledger.js';
import type { ConfirmedSnapshot, HeadState, SeenSnapshot, Snapshot } from './head-types.js';
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
