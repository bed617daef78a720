import { applyTransactions, unionUTxO, type HeadTx, type HeadUTxO } from './head-ledger.js';
import type {
  PostChainTx,
  ConfirmedSnapshot,
  HeadChainEvent,
  HeadEffect,
  HeadEnvironment,
  HeadInput,
  HeadNetworkMessage,
  HeadOutcome,
  HeadState,
  HeadStateChanged,
  Snapshot,
} from './head-types.js';
import { signSnapshot, verifySnapshotSignature } from './snapshot-signing.js';
import type { HydraClientInput } from './messages.js';
import { headStateToApi, transactionToApi } from './head-api.js';

/**
 * The Head protocol as a pure state machine, after hydra-node's HeadLogic:
 * `updateHead(env, state, input)` decides (state changes + effects, or wait, or error) and
 * `aggregateHead(state, change)` folds a state change into the state. A node's state is always
 * the fold of its state changes from Idle, so it can be rebuilt by replaying them.
 */

const cont = (stateChanges: HeadStateChanged[], effects: HeadEffect[]): HeadOutcome => ({
  tag: 'Continue',
  stateChanges,
  effects,
});
const client = (output: Extract<HeadEffect, { tag: 'ClientEffect' }>['output']): HeadEffect => ({
  tag: 'ClientEffect',
  output,
});
const network = (message: HeadNetworkMessage): HeadEffect => ({ tag: 'NetworkEffect', message });
/** A client command whose only effect is a transaction for the chain layer to post. */
const postChain = (postChainTx: PostChainTx): HeadOutcome =>
  cont([], [{ tag: 'OnChainEffect', postChainTx }]);

/** The leader of snapshot `number` (numbers start at 1): parties[(number - 1) mod n]. */
export const snapshotLeader = (parties: readonly string[], number: number): string =>
  parties[(number - 1) % parties.length]!;

/**
 * The layer-1 time the head's ledger checks validity intervals against: the last chain time
 * observed (every node observes the same ticks in the same order, so they agree); none before
 * the first tick.
 */
const knownTime = (state: Extract<HeadState, { tag: 'Open' }>): number | undefined =>
  state.chainTime > 0 ? state.chainTime : undefined;

export const confirmedSnapshotNumber = (confirmed: ConfirmedSnapshot): number =>
  confirmed.tag === 'InitialSnapshot' ? 0 : confirmed.snapshot.number;

export const confirmedSnapshotUTxO = (confirmed: ConfirmedSnapshot): HeadUTxO =>
  confirmed.tag === 'InitialSnapshot' ? confirmed.initialUTxO : confirmed.snapshot.utxo;

const allParties = (env: HeadEnvironment): string[] => [env.party, ...env.otherParties];

const commandFailed = (env: HeadEnvironment, state: HeadState, input: HydraClientInput): HeadOutcome =>
  cont([], [client({ tag: 'CommandFailed', clientInput: input, state: headStateToApi(state, env.ledger) })]);

/** The number of the last snapshot this node has seen requested (or confirmed). */
const seenNumber = (state: Extract<HeadState, { tag: 'Open' }>): number => {
  const seen = state.coordinated.seenSnapshot;
  switch (seen.tag) {
    case 'NoSeenSnapshot':
      return 0;
    case 'LastSeenSnapshot':
      return seen.lastSeen;
    case 'RequestedSnapshot':
      return seen.requested;
    case 'SeenSnapshot':
      return seen.snapshot.number;
  }
};

const snapshotInFlight = (state: Extract<HeadState, { tag: 'Open' }>): boolean =>
  state.coordinated.seenSnapshot.tag === 'RequestedSnapshot' ||
  state.coordinated.seenSnapshot.tag === 'SeenSnapshot';

/** If this node leads the next snapshot and has transactions to put in it, request it. */
const maybeRequestSnapshot = (
  env: HeadEnvironment,
  state: Extract<HeadState, { tag: 'Open' }>,
  localTxs: readonly HeadTx[],
): { changes: HeadStateChanged[]; effects: HeadEffect[] } => {
  const next = seenNumber(state) + 1;
  if (snapshotInFlight(state) || localTxs.length === 0) return { changes: [], effects: [] };
  if (snapshotLeader(state.parameters.parties, next) !== env.party) return { changes: [], effects: [] };
  return {
    changes: [{ tag: 'SnapshotRequestDecided', snapshotNumber: next }],
    effects: [
      network({
        tag: 'ReqSn',
        snapshotVersion: state.coordinated.version,
        snapshotNumber: next,
        transactionIds: localTxs.map((tx) => tx.txId),
      }),
    ],
  };
};

const onOpenNetwork = (
  env: HeadEnvironment,
  state: Extract<HeadState, { tag: 'Open' }>,
  from: string,
  message: HeadNetworkMessage,
): HeadOutcome => {
  const parties = state.parameters.parties;
  if (!parties.includes(from))
    return { tag: 'Error', reason: `message from ${from}, not a party of the head` };
  const co = state.coordinated;
  switch (message.tag) {
    case 'ReqTx': {
      const tx = message.transaction;
      const applied = env.ledger.applyTransaction(co.localUTxO, tx, knownTime(state));
      if (!applied.ok) {
        return cont(
          [],
          [
            client({
              tag: 'TxInvalid',
              headId: state.headId,
              utxo: env.ledger.utxoToApi(co.localUTxO),
              transaction: transactionToApi(tx),
              validationError: { reason: applied.reason },
            }),
          ],
        );
      }
      const localTxs = [...co.localTxs, tx];
      const request = maybeRequestSnapshot(env, state, localTxs);
      return cont(
        [
          { tag: 'TransactionAppliedToLocalUTxO', transaction: tx, newLocalUTxO: applied.utxo },
          ...request.changes,
        ],
        [client({ tag: 'TxValid', headId: state.headId, transactionId: tx.txId }), ...request.effects],
      );
    }
    case 'ReqSn': {
      const number = message.snapshotNumber;
      const lastConfirmed = confirmedSnapshotNumber(co.confirmedSnapshot);
      if (number <= lastConfirmed)
        return { tag: 'Error', reason: `snapshot ${number} is not newer than ${lastConfirmed}` };
      if (number !== lastConfirmed + 1)
        return { tag: 'Wait', reason: `snapshot ${number} before ${lastConfirmed + 1}` };
      if (co.seenSnapshot.tag === 'SeenSnapshot') {
        return { tag: 'Error', reason: `snapshot ${co.seenSnapshot.snapshot.number} already in flight` };
      }
      if (snapshotLeader(parties, number) !== from)
        return { tag: 'Error', reason: `${from} does not lead snapshot ${number}` };
      if (message.snapshotVersion !== co.version)
        return { tag: 'Error', reason: `snapshot version ${message.snapshotVersion}` };
      const txs: HeadTx[] = [];
      for (const txId of message.transactionIds) {
        const tx = co.allTxs[txId];
        if (!tx) return { tag: 'Wait', reason: `transaction ${txId} not seen yet` };
        txs.push(tx);
      }
      const applied = applyTransactions(
        env.ledger,
        confirmedSnapshotUTxO(co.confirmedSnapshot),
        txs,
        knownTime(state),
      );
      if (!applied.ok)
        return {
          tag: 'Error',
          reason: `snapshot ${number} does not apply: ${applied.tx.txId}: ${applied.reason}`,
        };
      const snapshot: Snapshot = {
        headId: state.headId,
        version: co.version,
        number,
        confirmed: txs,
        utxo: applied.utxo,
      };
      // Transactions not in the snapshot stay pending if they still apply on top of it.
      const included = new Set(message.transactionIds);
      let localUTxO = applied.utxo;
      const localTxs: HeadTx[] = [];
      for (const tx of co.localTxs) {
        if (included.has(tx.txId)) continue;
        const next = env.ledger.applyTransaction(localUTxO, tx, knownTime(state));
        if (next.ok) {
          localUTxO = next.utxo;
          localTxs.push(tx);
        }
      }
      return cont(
        [{ tag: 'SnapshotRequested', snapshot, newLocalUTxO: localUTxO, newLocalTxs: localTxs }],
        [
          network({
            tag: 'AckSn',
            snapshotNumber: number,
            signature: signSnapshot(env.signingKey, snapshot),
          }),
        ],
      );
    }
    case 'AckSn': {
      const seen = co.seenSnapshot;
      if (seen.tag !== 'SeenSnapshot' || seen.snapshot.number !== message.snapshotNumber) {
        if (message.snapshotNumber > seenNumber(state) || seen.tag === 'RequestedSnapshot') {
          return { tag: 'Wait', reason: `ack for snapshot ${message.snapshotNumber} before its request` };
        }
        return { tag: 'Error', reason: `ack for snapshot ${message.snapshotNumber}, not in flight` };
      }
      if (seen.signatories[from] !== undefined) return { tag: 'Error', reason: `${from} already signed` };
      if (!verifySnapshotSignature(from, seen.snapshot, message.signature)) {
        return { tag: 'Error', reason: `invalid signature of ${from} on snapshot ${message.snapshotNumber}` };
      }
      const signatories = { ...seen.signatories, [from]: message.signature };
      const signed: HeadStateChanged = {
        tag: 'PartySignedSnapshot',
        party: from,
        signature: message.signature,
      };
      if (!parties.every((p) => signatories[p] !== undefined)) return cont([signed], []);
      const signatures = parties.map((p) => signatories[p]!);
      const confirmedChange: HeadStateChanged = {
        tag: 'SnapshotConfirmed',
        snapshot: seen.snapshot,
        signatures,
      };
      const confirmedEffect = client({
        tag: 'SnapshotConfirmed',
        headId: state.headId,
        snapshot: {
          headId: state.headId,
          version: seen.snapshot.version,
          number: seen.snapshot.number,
          confirmed: seen.snapshot.confirmed.map(transactionToApi),
          utxo: env.ledger.utxoToApi(seen.snapshot.utxo),
          utxoToCommit: null,
          utxoToDecommit: null,
        },
        signatures: { multiSignature: signatures },
      });
      const after = aggregateHead(aggregateHead(state, signed), confirmedChange) as Extract<
        HeadState,
        { tag: 'Open' }
      >;
      const request = maybeRequestSnapshot(env, after, after.coordinated.localTxs);
      return cont([signed, confirmedChange, ...request.changes], [confirmedEffect, ...request.effects]);
    }
  }
};

const onChain = (env: HeadEnvironment, state: HeadState, event: HeadChainEvent): HeadOutcome => {
  if (event.tag === 'Tick') {
    const changes: HeadStateChanged[] = [{ tag: 'ChainTimeObserved', chainTime: event.chainTime }];
    if (state.tag === 'Closed' && !state.readyToFanoutSent && event.chainTime > state.contestationDeadline) {
      return cont([{ tag: 'HeadIsReadyToFanout' }], [client({ tag: 'ReadyToFanout', headId: state.headId })]);
    }
    return state.tag === 'Open' ? cont(changes, []) : cont([], []);
  }
  if (state.tag !== 'Idle' && state.headId !== event.headId)
    return { tag: 'Error', reason: `chain event of another head` };
  switch (state.tag) {
    case 'Idle': {
      if (event.tag !== 'OnInitTx') return { tag: 'Error', reason: `${event.tag} while idle` };
      const expected = allParties(env);
      const parties = event.parameters.parties;
      const ours =
        parties.length === expected.length &&
        expected.every((p) => parties.includes(p)) &&
        event.parameters.contestationPeriod === env.contestationPeriod;
      if (!ours) {
        return cont(
          [],
          [
            client({
              tag: 'IgnoredHeadInitializing',
              headId: event.headId,
              contestationPeriod: event.parameters.contestationPeriod,
              parties: parties.map((vkey) => ({ vkey })),
              participants: [],
            }),
          ],
        );
      }
      return cont(
        [
          {
            tag: 'HeadInitialized',
            parameters: event.parameters,
            headId: event.headId,
            headSeed: event.headSeed,
          },
        ],
        [
          client({
            tag: 'HeadIsInitializing',
            headId: event.headId,
            parties: parties.map((vkey) => ({ vkey })),
          }),
        ],
      );
    }
    case 'Initial': {
      switch (event.tag) {
        case 'OnCommitTx': {
          if (!state.pendingCommits.includes(event.party))
            return { tag: 'Error', reason: `${event.party} cannot commit` };
          const effects: HeadEffect[] = [
            client({
              tag: 'Committed',
              headId: state.headId,
              party: { vkey: event.party },
              utxo: env.ledger.utxoToApi(event.committed),
            }),
          ];
          if (state.pendingCommits.length === 1) {
            const utxo = unionUTxO([...Object.values(state.committed), event.committed]);
            effects.push({
              tag: 'OnChainEffect',
              postChainTx: { tag: 'CollectComTx', headId: state.headId, utxo },
            });
          }
          return cont([{ tag: 'CommittedUTxO', party: event.party, committed: event.committed }], effects);
        }
        case 'OnCollectComTx': {
          if (state.pendingCommits.length > 0)
            return { tag: 'Error', reason: 'collect before every party committed' };
          const utxo = unionUTxO(Object.values(state.committed));
          return cont(
            [{ tag: 'HeadOpened', initialUTxO: utxo }],
            [client({ tag: 'HeadIsOpen', headId: state.headId, utxo: env.ledger.utxoToApi(utxo) })],
          );
        }
        case 'OnAbortTx': {
          const utxo = unionUTxO(Object.values(state.committed));
          return cont(
            [{ tag: 'HeadAborted', utxo }],
            [client({ tag: 'HeadIsAborted', headId: state.headId, utxo: env.ledger.utxoToApi(utxo) })],
          );
        }
        default:
          return { tag: 'Error', reason: `${event.tag} while initializing` };
      }
    }
    case 'Open': {
      if (event.tag !== 'OnCloseTx') return { tag: 'Error', reason: `${event.tag} while open` };
      const confirmed = state.coordinated.confirmedSnapshot;
      const effects: HeadEffect[] = [
        client({
          tag: 'HeadIsClosed',
          headId: state.headId,
          snapshotNumber: event.snapshotNumber,
          contestationDeadline: new Date(event.contestationDeadline).toISOString(),
        }),
      ];
      if (confirmedSnapshotNumber(confirmed) > event.snapshotNumber) {
        effects.push({
          tag: 'OnChainEffect',
          postChainTx: { tag: 'ContestTx', headId: state.headId, confirmedSnapshot: confirmed },
        });
      }
      return cont(
        [
          {
            tag: 'HeadClosed',
            snapshotNumber: event.snapshotNumber,
            contestationDeadline: event.contestationDeadline,
          },
        ],
        effects,
      );
    }
    case 'Closed': {
      if (event.tag === 'OnContestTx') {
        const effects: HeadEffect[] = [
          client({
            tag: 'HeadIsContested',
            headId: state.headId,
            snapshotNumber: event.snapshotNumber,
            contestationDeadline: new Date(event.contestationDeadline).toISOString(),
          }),
        ];
        if (confirmedSnapshotNumber(state.confirmedSnapshot) > event.snapshotNumber) {
          effects.push({
            tag: 'OnChainEffect',
            postChainTx: {
              tag: 'ContestTx',
              headId: state.headId,
              confirmedSnapshot: state.confirmedSnapshot,
            },
          });
        }
        return cont(
          [
            {
              tag: 'HeadContested',
              snapshotNumber: event.snapshotNumber,
              contestationDeadline: event.contestationDeadline,
            },
          ],
          effects,
        );
      }
      if (event.tag === 'OnFanoutTx') {
        return cont(
          [{ tag: 'HeadFannedOut', utxo: event.utxo }],
          [client({ tag: 'HeadIsFinalized', headId: state.headId, utxo: env.ledger.utxoToApi(event.utxo) })],
        );
      }
      return { tag: 'Error', reason: `${event.tag} while closed` };
    }
    case 'Final':
      return { tag: 'Error', reason: `${event.tag} after the head is final` };
  }
};

const onClient = (env: HeadEnvironment, state: HeadState, input: HydraClientInput): HeadOutcome => {
  switch (input.tag) {
    case 'Init':
      if (state.tag !== 'Idle') return commandFailed(env, state, input);
      return postChain({
        tag: 'InitTx',
        parameters: { contestationPeriod: env.contestationPeriod, parties: allParties(env) },
      });
    case 'Abort':
      if (state.tag !== 'Initial') return commandFailed(env, state, input);
      return postChain({ tag: 'AbortTx', headId: state.headId, committed: state.committed });
    case 'NewTx': {
      if (state.tag !== 'Open') return commandFailed(env, state, input);
      const decoded = env.ledger.decodeTransaction(input.transaction.cborHex);
      if (!decoded.ok) return commandFailed(env, state, input);
      return cont([], [network({ tag: 'ReqTx', transaction: decoded.tx })]);
    }
    case 'Close':
    case 'SafeClose':
      if (state.tag !== 'Open') return commandFailed(env, state, input);
      return postChain({
        tag: 'CloseTx',
        headId: state.headId,
        confirmedSnapshot: state.coordinated.confirmedSnapshot,
      });
    case 'Contest':
      if (state.tag !== 'Closed' || state.readyToFanoutSent) return commandFailed(env, state, input);
      return postChain({
        tag: 'ContestTx',
        headId: state.headId,
        confirmedSnapshot: state.confirmedSnapshot,
      });
    case 'Fanout':
      if (state.tag !== 'Closed' || !state.readyToFanoutSent) return commandFailed(env, state, input);
      return postChain({ tag: 'FanoutTx', headId: state.headId });
    case 'Recover':
    case 'Decommit':
    case 'SideLoadSnapshot':
      // Incremental commits/decommits and side-loading are not part of the embedded head.
      return commandFailed(env, state, input);
  }
};

export const updateHead = (env: HeadEnvironment, state: HeadState, input: HeadInput): HeadOutcome => {
  if (state.tag === 'Final') {
    if (input.tag === 'ClientInput') return commandFailed(env, state, input.input);
    return { tag: 'Error', reason: 'the head is final' };
  }
  switch (input.tag) {
    case 'ClientInput':
      return onClient(env, state, input.input);
    case 'ChainInput':
      return onChain(env, state, input.event);
    case 'NetworkInput': {
      if (state.tag !== 'Open') {
        // Before the head opens a message may arrive early (wait); after it closes, drop it.
        return state.tag === 'Idle' || state.tag === 'Initial'
          ? { tag: 'Wait', reason: `${input.message.tag} before the head is open` }
          : { tag: 'Error', reason: `${input.message.tag} after the head closed` };
      }
      if (input.message.tag === 'ReqTx') {
        // Record the transaction first so a snapshot request naming it can be served.
        const outcome = onOpenNetwork(env, state, input.from, input.message);
        if (outcome.tag !== 'Continue') return outcome;
        const received: HeadStateChanged = {
          tag: 'TransactionReceived',
          transaction: input.message.transaction,
        };
        return cont([received, ...outcome.stateChanges], [...outcome.effects]);
      }
      return onOpenNetwork(env, state, input.from, input.message);
    }
  }
};

/** Folds one state change into the state (hydra's `aggregate`). Total: an inapplicable change is ignored. */
export const aggregateHead = (state: HeadState, change: HeadStateChanged): HeadState => {
  switch (change.tag) {
    case 'HeadInitialized':
      if (state.tag !== 'Idle') return state;
      return {
        tag: 'Initial',
        parameters: change.parameters,
        headId: change.headId,
        headSeed: change.headSeed,
        pendingCommits: change.parameters.parties,
        committed: {},
      };
    case 'CommittedUTxO':
      if (state.tag !== 'Initial') return state;
      return {
        ...state,
        pendingCommits: state.pendingCommits.filter((p) => p !== change.party),
        committed: { ...state.committed, [change.party]: change.committed },
      };
    case 'HeadAborted':
      if (state.tag !== 'Initial') return state;
      return { tag: 'Final', headId: state.headId, utxo: change.utxo, aborted: true };
    case 'HeadOpened':
      if (state.tag !== 'Initial') return state;
      return {
        tag: 'Open',
        parameters: state.parameters,
        headId: state.headId,
        headSeed: state.headSeed,
        chainTime: 0,
        coordinated: {
          localUTxO: change.initialUTxO,
          localTxs: [],
          allTxs: {},
          confirmedSnapshot: {
            tag: 'InitialSnapshot',
            headId: state.headId,
            initialUTxO: change.initialUTxO,
          },
          seenSnapshot: { tag: 'NoSeenSnapshot' },
          version: 0,
        },
      };
    case 'TransactionReceived':
      if (state.tag !== 'Open') return state;
      return {
        ...state,
        coordinated: {
          ...state.coordinated,
          allTxs: { ...state.coordinated.allTxs, [change.transaction.txId]: change.transaction },
        },
      };
    case 'TransactionAppliedToLocalUTxO':
      if (state.tag !== 'Open') return state;
      return {
        ...state,
        coordinated: {
          ...state.coordinated,
          localUTxO: change.newLocalUTxO,
          localTxs: [...state.coordinated.localTxs, change.transaction],
        },
      };
    case 'SnapshotRequestDecided':
      if (state.tag !== 'Open') return state;
      return {
        ...state,
        coordinated: {
          ...state.coordinated,
          seenSnapshot: {
            tag: 'RequestedSnapshot',
            lastSeen: confirmedSnapshotNumber(state.coordinated.confirmedSnapshot),
            requested: change.snapshotNumber,
          },
        },
      };
    case 'SnapshotRequested':
      if (state.tag !== 'Open') return state;
      return {
        ...state,
        coordinated: {
          ...state.coordinated,
          localUTxO: change.newLocalUTxO,
          localTxs: change.newLocalTxs,
          seenSnapshot: { tag: 'SeenSnapshot', snapshot: change.snapshot, signatories: {} },
        },
      };
    case 'PartySignedSnapshot': {
      if (state.tag !== 'Open' || state.coordinated.seenSnapshot.tag !== 'SeenSnapshot') return state;
      const seen = state.coordinated.seenSnapshot;
      return {
        ...state,
        coordinated: {
          ...state.coordinated,
          seenSnapshot: { ...seen, signatories: { ...seen.signatories, [change.party]: change.signature } },
        },
      };
    }
    case 'SnapshotConfirmed': {
      if (state.tag !== 'Open') return state;
      const confirmedIds = new Set(change.snapshot.confirmed.map((tx) => tx.txId));
      const allTxs = Object.fromEntries(
        Object.entries(state.coordinated.allTxs).filter(([id]) => !confirmedIds.has(id)),
      );
      return {
        ...state,
        coordinated: {
          ...state.coordinated,
          allTxs,
          confirmedSnapshot: {
            tag: 'ConfirmedSnapshot',
            snapshot: change.snapshot,
            signatures: change.signatures,
          },
          seenSnapshot: { tag: 'LastSeenSnapshot', lastSeen: change.snapshot.number },
        },
      };
    }
    case 'HeadClosed':
      if (state.tag !== 'Open') return state;
      return {
        tag: 'Closed',
        parameters: state.parameters,
        headId: state.headId,
        headSeed: state.headSeed,
        confirmedSnapshot: state.coordinated.confirmedSnapshot,
        closedSnapshotNumber: change.snapshotNumber,
        contestationDeadline: change.contestationDeadline,
        readyToFanoutSent: false,
      };
    case 'HeadContested':
      if (state.tag !== 'Closed') return state;
      return {
        ...state,
        closedSnapshotNumber: change.snapshotNumber,
        contestationDeadline: change.contestationDeadline,
      };
    case 'HeadIsReadyToFanout':
      if (state.tag !== 'Closed') return state;
      return { ...state, readyToFanoutSent: true };
    case 'HeadFannedOut':
      if (state.tag !== 'Closed') return state;
      return { tag: 'Final', headId: state.headId, utxo: change.utxo, aborted: false };
    case 'ChainTimeObserved':
      if (state.tag !== 'Open') return state;
      return { ...state, chainTime: change.chainTime };
  }
};

export const replayHead = (
  changes: readonly HeadStateChanged[],
  from: HeadState = { tag: 'Idle' },
): HeadState => changes.reduce(aggregateHead, from);
