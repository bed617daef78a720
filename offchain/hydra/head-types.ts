import type { KeyObject } from 'node:crypto';
import type { HeadLedger, HeadTx, HeadUTxO } from './head-ledger.js';
import type { HydraClientInput, HydraServerOutput } from './messages.js';

/** The types of the Head protocol's logic (see head-logic.ts), after hydra's HeadLogic. */

export interface HeadParameters {
  readonly contestationPeriod: number; // seconds
  readonly parties: readonly string[]; // Hydra verification keys, hex, in head order
}

export interface Snapshot {
  readonly headId: string;
  readonly version: number;
  readonly number: number;
  readonly confirmed: readonly HeadTx[];
  readonly utxo: HeadUTxO;
}

export type ConfirmedSnapshot =
  | { readonly tag: 'InitialSnapshot'; readonly headId: string; readonly initialUTxO: HeadUTxO }
  | {
      readonly tag: 'ConfirmedSnapshot';
      readonly snapshot: Snapshot;
      readonly signatures: readonly string[];
    };

export type SeenSnapshot =
  | { readonly tag: 'NoSeenSnapshot' }
  | { readonly tag: 'LastSeenSnapshot'; readonly lastSeen: number }
  | { readonly tag: 'RequestedSnapshot'; readonly lastSeen: number; readonly requested: number }
  | {
      readonly tag: 'SeenSnapshot';
      readonly snapshot: Snapshot;
      readonly signatories: Readonly<Record<string, string>>;
    };

export interface CoordinatedHeadState {
  readonly localUTxO: HeadUTxO;
  readonly localTxs: readonly HeadTx[];
  readonly allTxs: Readonly<Record<string, HeadTx>>;
  readonly confirmedSnapshot: ConfirmedSnapshot;
  readonly seenSnapshot: SeenSnapshot;
  readonly version: number;
}

export type HeadState =
  | { readonly tag: 'Idle' }
  | {
      readonly tag: 'Initial';
      readonly parameters: HeadParameters;
      readonly headId: string;
      readonly headSeed: string;
      readonly pendingCommits: readonly string[];
      readonly committed: Readonly<Record<string, HeadUTxO>>;
    }
  | {
      readonly tag: 'Open';
      readonly parameters: HeadParameters;
      readonly headId: string;
      readonly headSeed: string;
      readonly coordinated: CoordinatedHeadState;
      readonly chainTime: number;
    }
  | {
      readonly tag: 'Closed';
      readonly parameters: HeadParameters;
      readonly headId: string;
      readonly headSeed: string;
      readonly confirmedSnapshot: ConfirmedSnapshot;
      readonly closedSnapshotNumber: number;
      readonly contestationDeadline: number; // ms since epoch
      readonly readyToFanoutSent: boolean;
    }
  | { readonly tag: 'Final'; readonly headId: string; readonly utxo: HeadUTxO; readonly aborted: boolean };

export const INITIAL_HEAD_STATE: HeadState = { tag: 'Idle' };

/** Messages between the parties' nodes (hydra's `Message`). */
export type HeadNetworkMessage =
  | { readonly tag: 'ReqTx'; readonly transaction: HeadTx }
  | {
      readonly tag: 'ReqSn';
      readonly snapshotVersion: number;
      readonly snapshotNumber: number;
      readonly transactionIds: readonly string[];
    }
  | { readonly tag: 'AckSn'; readonly snapshotNumber: number; readonly signature: string };

/** What the node observes on layer 1 (hydra's `OnChainTx`), plus the passing of chain time. */
export type HeadChainEvent =
  | {
      readonly tag: 'OnInitTx';
      readonly headId: string;
      readonly headSeed: string;
      readonly parameters: HeadParameters;
    }
  | {
      readonly tag: 'OnCommitTx';
      readonly headId: string;
      readonly party: string;
      readonly committed: HeadUTxO;
    }
  | { readonly tag: 'OnAbortTx'; readonly headId: string }
  | { readonly tag: 'OnCollectComTx'; readonly headId: string }
  | {
      readonly tag: 'OnCloseTx';
      readonly headId: string;
      readonly snapshotNumber: number;
      readonly contestationDeadline: number;
    }
  | {
      readonly tag: 'OnContestTx';
      readonly headId: string;
      readonly snapshotNumber: number;
      readonly contestationDeadline: number;
    }
  | { readonly tag: 'OnFanoutTx'; readonly headId: string; readonly utxo: HeadUTxO }
  | { readonly tag: 'Tick'; readonly chainTime: number };

export type HeadInput =
  | { readonly tag: 'ClientInput'; readonly input: HydraClientInput }
  | { readonly tag: 'NetworkInput'; readonly from: string; readonly message: HeadNetworkMessage }
  | { readonly tag: 'ChainInput'; readonly event: HeadChainEvent };

/** Transactions the node asks its chain layer to post (hydra's `PostChainTx`). */
export type PostChainTx =
  | { readonly tag: 'InitTx'; readonly parameters: HeadParameters }
  | {
      readonly tag: 'AbortTx';
      readonly headId: string;
      readonly committed: Readonly<Record<string, HeadUTxO>>;
    }
  | { readonly tag: 'CollectComTx'; readonly headId: string; readonly utxo: HeadUTxO }
  | { readonly tag: 'CloseTx'; readonly headId: string; readonly confirmedSnapshot: ConfirmedSnapshot }
  | { readonly tag: 'ContestTx'; readonly headId: string; readonly confirmedSnapshot: ConfirmedSnapshot }
  | { readonly tag: 'FanoutTx'; readonly headId: string };

/** A server output before the node stamps it with `seq` and `timestamp`. */
export type UntimedServerOutput = HydraServerOutput;

export type HeadEffect =
  | { readonly tag: 'ClientEffect'; readonly output: UntimedServerOutput }
  | { readonly tag: 'NetworkEffect'; readonly message: HeadNetworkMessage }
  | { readonly tag: 'OnChainEffect'; readonly postChainTx: PostChainTx };

/** Facts that change a node's state (hydra's `StateChanged`); the state is their fold. */
export type HeadStateChanged =
  | {
      readonly tag: 'HeadInitialized';
      readonly parameters: HeadParameters;
      readonly headId: string;
      readonly headSeed: string;
    }
  | { readonly tag: 'CommittedUTxO'; readonly party: string; readonly committed: HeadUTxO }
  | { readonly tag: 'HeadAborted'; readonly utxo: HeadUTxO }
  | { readonly tag: 'HeadOpened'; readonly initialUTxO: HeadUTxO }
  | { readonly tag: 'TransactionReceived'; readonly transaction: HeadTx }
  | {
      readonly tag: 'TransactionAppliedToLocalUTxO';
      readonly transaction: HeadTx;
      readonly newLocalUTxO: HeadUTxO;
    }
  | { readonly tag: 'SnapshotRequestDecided'; readonly snapshotNumber: number }
  | {
      readonly tag: 'SnapshotRequested';
      readonly snapshot: Snapshot;
      readonly newLocalUTxO: HeadUTxO;
      readonly newLocalTxs: readonly HeadTx[];
    }
  | { readonly tag: 'PartySignedSnapshot'; readonly party: string; readonly signature: string }
  | { readonly tag: 'SnapshotConfirmed'; readonly snapshot: Snapshot; readonly signatures: readonly string[] }
  | { readonly tag: 'HeadClosed'; readonly snapshotNumber: number; readonly contestationDeadline: number }
  | { readonly tag: 'HeadContested'; readonly snapshotNumber: number; readonly contestationDeadline: number }
  | { readonly tag: 'HeadIsReadyToFanout' }
  | { readonly tag: 'HeadFannedOut'; readonly utxo: HeadUTxO }
  | { readonly tag: 'ChainTimeObserved'; readonly chainTime: number };

export type HeadOutcome =
  | {
      readonly tag: 'Continue';
      readonly stateChanges: readonly HeadStateChanged[];
      readonly effects: readonly HeadEffect[];
    }
  /** Not processable yet (e.g. a snapshot request naming a transaction not seen yet): retry later. */
  | { readonly tag: 'Wait'; readonly reason: string }
  /** Dropped with a reason (e.g. a signature that does not verify). */
  | { readonly tag: 'Error'; readonly reason: string };

/** What a node knows about itself. */
export interface HeadEnvironment {
  readonly party: string;
  readonly signingKey: KeyObject;
  readonly otherParties: readonly string[];
  readonly contestationPeriod: number;
  readonly ledger: HeadLedger;
}
