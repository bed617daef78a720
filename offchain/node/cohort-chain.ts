import { SLOT_CONFIG_NETWORK, type Lucid, type Tx, type UTxO } from 'lucid-cardano';
import type { Blueprint } from '../../contracts/index.js';
import {
  type CohortScripts,
  type CohortState,
  type CohortTerms,
  type SignedTrainingSnapshot,
  type ValidatingEmulator,
  claimTx,
  closeTx,
  cohortScripts,
  createCohortTx,
  findCohortState,
  finalizeTx,
  joinTx,
  parseEscrowDatum,
  partyTokenUnits,
  readCohortState,
  refundTx,
  slashTx,
  startEpochTx,
  toScriptFailure,
} from '../chain/index.js';
import { slashShares } from '../cohort/index.js';
import { DmlError } from '../errors.js';
import {
  type DmlEventData,
  type DmlEventType,
  type EventStore,
  cohortStream,
  createEvent,
} from '../events/index.js';

/** A layer-1 wallet: its bech32 signing key, payment key hash and address. */
export interface ChainWallet {
  readonly privateKey: string;
  readonly pkh: string;
  readonly address: string;
}

/** What the cohort's creator records about the training (the `l1.CohortCreated` parameters). */
export interface CohortTrainingParams {
  readonly model: string;
  readonly aggregation: string;
  readonly loraRank: number;
  /** How the parties send their deltas; absent: `f32`. */
  readonly deltaEncoding?: 'f32' | 'q8';
}

/**
 * One cohort on layer 1, driven through the contracts' transaction builders on a (validating)
 * emulator or any lucid provider: every accepted transaction is recorded in the cohort's stream
 * as the `l1.*` event it causes, with its transaction id and slot. Transactions go one at a time
 * (the lucid instance is shared), each waits for its block.
 */
export class CohortChain {
  private queue: Promise<unknown> = Promise.resolve();
  /** The last transaction this cohort submitted (e.g. the Finalize that started the next epoch). */
  lastTx: { txId: string; slot: number } | undefined;

  private constructor(
    readonly lucid: Lucid,
    readonly emulator: ValidatingEmulator,
    readonly scripts: CohortScripts,
    private readonly log: EventStore,
    private readonly clock: () => Date,
  ) {}

  get cohortId(): string {
    return this.scripts.cohortId;
  }

  /** Creates a cohort from one of the creator's outputs (the one-shot seed). */
  static async create(options: {
    lucid: Lucid;
    emulator: ValidatingEmulator;
    blueprint: Blueprint;
    creator: ChainWallet;
    terms: CohortTerms;
    params: CohortTrainingParams;
    log: EventStore;
    clock?: () => Date;
  }): Promise<CohortChain> {
    const { lucid, emulator, creator } = options;
    const seed = (await lucid.utxosAt(creator.address)).find(
      (u) => Object.keys(u.assets).length === 1 && (u.assets['lovelace'] ?? 0n) >= 5_000_000n,
    );
    if (!seed) throw new DmlError('NO_FUNDS', `${creator.address} has no output to seed a cohort with`);
    const scripts = cohortScripts(lucid, options.blueprint, seed);
    emulator.nameScripts(scripts.names);
    const chain = new CohortChain(lucid, emulator, scripts, options.log, options.clock ?? (() => new Date()));
    await chain
      .run('l1.CohortCreated', creator, [], () => createCohortTx(lucid, scripts, seed, options.terms))
      .then((tx) =>
        chain.record('l1.CohortCreated', {
          cohortId: scripts.cohortId,
          ...tx,
          creator: creator.pkh,
          params: {
            ...options.params,
            rounds: Number(options.terms.finalRound),
            minDeposit: String(options.terms.minDeposit),
            contestationPeriodMs: Number(options.terms.contestationPeriod),
          },
        }),
      );
    return chain;
  }

  /** Reopens a cohort that exists on chain (from its seed). */
  static open(options: {
    lucid: Lucid;
    emulator: ValidatingEmulator;
    blueprint: Blueprint;
    seed: { txHash: string; outputIndex: number };
    log: EventStore;
    clock?: () => Date;
  }): CohortChain {
    const scripts = cohortScripts(options.lucid, options.blueprint, options.seed);
    options.emulator.nameScripts(scripts.names);
    return new CohortChain(
      options.lucid,
      options.emulator,
      scripts,
      options.log,
      options.clock ?? (() => new Date()),
    );
  }

  async state(): Promise<CohortState> {
    return readCohortState(await findCohortState(this.lucid, this.scripts));
  }

  /** Joins with a deposit (no approval: the contracts only check the deposit and the signature). */
  async join(wallet: ChainWallet, hydraVk: string, deposit: bigint): Promise<void> {
    const tx = await this.run('l1.PartyJoined', wallet, [], async () =>
      joinTx(this.lucid, this.scripts, await findCohortState(this.lucid, this.scripts), {
        pkh: wallet.pkh,
        hydraVk,
        deposit,
      }),
    );
    await this.record('l1.PartyJoined', {
      cohortId: this.cohortId,
      ...tx,
      party: wallet.pkh,
      deposit: String(deposit),
      hydraKey: hydraVk,
    });
  }

  /**
   * Moves the party's signal token into an output of its own (with `lovelace`), so that the party
   * commits just that output into a head and keeps the rest of its funds on layer 1.
   */
  async setAsideSignal(wallet: ChainWallet, lovelace = 5_000_000n): Promise<string> {
    const unit = partyTokenUnits(this.scripts, wallet.pkh).signal;
    const tx = await this.run('set aside the signal token', wallet, [], () =>
      this.lucid.newTx().payToAddress(wallet.address, { lovelace, [unit]: 1n }),
    );
    return tx.txId;
  }

  /** Starts the first epoch: the members become its parties. Returns the new state. */
  async startEpoch(wallet: ChainWallet): Promise<{ state: CohortState; tx: { txId: string; slot: number } }> {
    const tx = await this.run('StartEpoch', wallet, [], async () =>
      startEpochTx(this.lucid, this.scripts, await findCohortState(this.lucid, this.scripts), wallet.pkh),
    );
    return { state: await this.state(), tx };
  }

  /** Records that an epoch's head is open for these parties (after the head's Init). */
  async epochStarted(
    epoch: number,
    headId: string,
    parties: readonly string[],
    tx: { txId: string; slot: number },
  ) {
    await this.record('l1.EpochStarted', {
      cohortId: this.cohortId,
      ...tx,
      epoch,
      headId,
      parties: [...parties],
    });
  }

  /** Closes with the latest training snapshot signed by every party of the epoch. */
  async close(closer: ChainWallet, snapshot: SignedTrainingSnapshot): Promise<CohortState> {
    const before = await this.state();
    const validTo = this.emulator.now() + 20_000;
    const tx = await this.run('Close', closer, [], async () =>
      closeTx(
        this.lucid,
        this.scripts,
        await findCohortState(this.lucid, this.scripts),
        snapshot,
        closer.pkh,
        validTo,
      ),
    );
    const after = await this.state();
    if (after.phase.kind !== 'Closed') throw new DmlError('CLOSE_FAILED', 'the cohort did not close');
    await this.record('l1.HeadClosed', {
      cohortId: this.cohortId,
      ...tx,
      epoch: Number(before.epoch),
      round: Number(snapshot.round),
      aggregateHash: snapshot.aggregateHash,
      closedBy: closer.pkh,
      signatures: [...snapshot.signatures],
      deadline: new Date(Number(after.phase.deadline)).toISOString(),
      scheduled: snapshot.round % before.terms.epochRounds === 0n && snapshot.round < before.terms.finalRound,
    });
    return after;
  }

  /** Lets chain time pass the close's deadline and finalizes (anyone may). */
  async finalize(by: ChainWallet): Promise<CohortState> {
    const before = await this.state();
    if (before.phase.kind !== 'Closed')
      throw new DmlError('NOT_CLOSED', 'only a closed cohort can be finalized');
    this.advanceTo(Number(before.phase.deadline) + 1_000);
    const tx = await this.run('Finalize', by, [], async () =>
      finalizeTx(
        this.lucid,
        this.scripts,
        await findCohortState(this.lucid, this.scripts),
        this.emulator.now(),
      ),
    );
    const after = await this.state();
    const outcome =
      after.phase.kind === 'Completed'
        ? 'Completed'
        : after.phase.kind === 'Premature'
          ? 'Premature'
          : 'NextEpoch';
    await this.record('l1.HeadFinalized', {
      cohortId: this.cohortId,
      ...tx,
      epoch: Number(before.epoch),
      outcome,
    });
    return after;
  }

  /** The kill vote: every voter burns its kill and claim tokens; the accused's deposit is shared. */
  async slash(accused: string, voters: readonly ChainWallet[]): Promise<void> {
    if (voters.length === 0) throw new DmlError('NO_VOTERS', 'a slash needs voters');
    const accusedEscrow = await this.escrowOf(accused);
    const voterEscrows: UTxO[] = [];
    for (const v of voters) voterEscrows.push(await this.escrowOf(v.pkh));
    const kills: UTxO[] = [];
    for (const v of voters) {
      const unit = partyTokenUnits(this.scripts, v.pkh).kill;
      const holding = (await this.lucid.utxosAt(v.address)).find((u) => (u.assets[unit] ?? 0n) > 0n);
      if (!holding) throw new DmlError('NO_KILL_TOKEN', `${v.pkh} holds no kill token of this cohort`);
      kills.push(holding);
    }
    const validTo = this.emulator.now() + 20_000;
    const [first, ...others] = voters;
    const tx = await this.run('Slash', first!, others, async () =>
      slashTx(
        this.lucid,
        this.scripts,
        await findCohortState(this.lucid, this.scripts),
        accusedEscrow,
        voterEscrows,
        kills,
        validTo,
      ),
    );
    const amount = accusedEscrow.assets['lovelace'] ?? 0n;
    const voterIds = voters.map((v) => v.pkh);
    await this.record('l1.PartySlashed', {
      cohortId: this.cohortId,
      ...tx,
      accused,
      voters: voterIds,
      amount: String(amount),
      shares: slashShares(amount, voterIds).map((s) => ({ party: s.party, amount: String(s.amount) })),
      returned: voterEscrows.map((e, i) => ({
        party: voterIds[i]!,
        amount: String(e.assets['lovelace'] ?? 0n),
      })),
    });
  }

  /** Claim after Completed: the owner takes its deposit back. */
  async claim(wallet: ChainWallet): Promise<bigint> {
    const escrow = await this.escrowOf(wallet.pkh);
    const tx = await this.run('Claim', wallet, [], async () =>
      claimTx(this.lucid, this.scripts, await findCohortState(this.lucid, this.scripts), escrow),
    );
    const amount = escrow.assets['lovelace'] ?? 0n;
    await this.record('l1.DepositClaimed', {
      cohortId: this.cohortId,
      ...tx,
      party: wallet.pkh,
      amount: String(amount),
    });
    return amount;
  }

  /** Refund after a Premature end whose voting window passed without a majority. */
  async refund(wallet: ChainWallet): Promise<bigint> {
    const state = await this.state();
    if (state.phase.kind !== 'Premature')
      throw new DmlError(
        'NOT_PREMATURE',
        `a refund needs a Premature cohort, this one is ${state.phase.kind}`,
      );
    this.advanceTo(Number(state.phase.votingDeadline) + 1_000);
    const escrow = await this.escrowOf(wallet.pkh);
    const tx = await this.run('Refund', wallet, [], async () =>
      refundTx(
        this.lucid,
        this.scripts,
        await findCohortState(this.lucid, this.scripts),
        escrow,
        this.emulator.now(),
      ),
    );
    const amount = escrow.assets['lovelace'] ?? 0n;
    await this.record('l1.DepositRefunded', {
      cohortId: this.cohortId,
      ...tx,
      party: wallet.pkh,
      amount: String(amount),
    });
    return amount;
  }

  private async escrowOf(pkh: string): Promise<UTxO> {
    const found = (await this.lucid.utxosAt(this.scripts.escrowAddress)).find(
      (u) => u.datum && parseEscrowDatum(u.datum).owner === pkh,
    );
    if (!found) throw new DmlError('NO_ESCROW', `no deposit of ${pkh} in this cohort's escrow`);
    return found;
  }

  /** Moves the emulator's clock forward to `unixMs` (whole blocks). */
  advanceTo(unixMs: number): void {
    const now = this.emulator.now();
    if (unixMs > now) this.emulator.awaitSlot(Math.ceil((unixMs - now) / 1000));
  }

  /** Builds, signs (by `wallet` and `cosigners`), submits and waits one block; one at a time. */
  private run(
    what: string,
    wallet: ChainWallet,
    cosigners: readonly ChainWallet[],
    build: () => Tx | Promise<Tx>,
  ): Promise<{ txId: string; slot: number }> {
    const next = this.queue.then(async () => {
      // lucid keeps one slot clock per network name in a global: another Lucid.new on another
      // emulator (an embedded head's layer 1) resets it, and validity ranges would go wrong.
      SLOT_CONFIG_NETWORK['Custom'] = this.emulator.slotConfig();
      this.lucid.selectWalletFromPrivateKey(wallet.privateKey);
      try {
        let signed = (await (await build()).complete()).sign();
        for (const c of cosigners) signed = signed.signWithPrivateKey(c.privateKey);
        const txId = await (await signed.complete()).submit();
        this.emulator.awaitBlock(1);
        this.lastTx = { txId, slot: this.emulator.slot };
        return this.lastTx;
      } catch (error) {
        if (error instanceof DmlError) throw error;
        const failure = toScriptFailure(error);
        throw new DmlError('TX_REJECTED', `${what}: ${failure.message}`);
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async record<T extends DmlEventType>(type: T, data: DmlEventData<T>): Promise<void> {
    await this.log.append(
      cohortStream(this.cohortId),
      [createEvent(type, data, { occurredAt: this.clock().toISOString() })],
      {
        expectedVersion: 'any',
      },
    );
  }
}
