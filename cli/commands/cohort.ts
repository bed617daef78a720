import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { C, type UTxO } from 'lucid-cardano';
import { loadBlueprint } from '../../contracts/index.js';
import {
  COHORT_PARAMS_METADATA_LABEL,
  DmlError,
  claimTx,
  cohortParamsMetadata,
  finalizeTx,
  finalizedState,
  cohortScripts,
  createCohortTx,
  joinTx,
  partyTokenUnits,
  refundTx,
  signCardanoTransaction,
  slashTx,
  startEpochTx,
  type CohortState,
  type CohortTerms,
  parseDeltaValueEncoding,
} from '../../offchain/index.js';
import type { CommandContext } from '../context.js';
import {
  ada,
  chainNow,
  cohortEscrows,
  cohortIdOf,
  completeTx,
  devnetCohortScripts,
  resolveCohortNames,
  escrowOwner,
  openCohort,
  openSession,
  signAndSubmit,
  submitSigned,
  type OpenedCohort,
  type PartySession,
} from '../cohort-session.js';
import { adaToLovelace } from './devnet.js';
import { loadPartyWallet } from '../party-wallet.js';
import { describeSync, followedChain, syncCohortFromChain, syncJson, syncLogAfterLayer1 } from '../l1-log.js';
import type { Settings } from '../settings.js';

/** The devnet's chain, for commands given a cohort's policy id (its seed is found there). */
const chainOf = (settings: Settings) => async () => (await followedChain(settings))?.txs;

const positive = (flag: string, value: string): bigint => {
  if (!/^\d+$/.test(value) || BigInt(value) < 1n)
    throw new DmlError('BAD_FLAG', `${flag} must be a whole number >= 1, not ${value}`);
  return BigInt(value);
};

const phaseText = (state: CohortState): string => {
  const p = state.phase;
  switch (p.kind) {
    case 'Open':
      return `Open (round ${p.round})`;
    case 'Closed':
      return `Closed at round ${p.round}, contestation until ${new Date(Number(p.deadline)).toISOString()}`;
    case 'Completed':
      return `Completed at round ${p.round}`;
    case 'Premature':
      return `Premature (voting until ${new Date(Number(p.votingDeadline)).toISOString()})`;
  }
};

const stateJson = (cohort: OpenedCohort) => ({
  cohort: cohort.id,
  policy: cohort.scripts.cohortId,
  terms: Object.fromEntries(Object.entries(cohort.state.terms).map(([k, v]) => [k, String(v)])),
  epoch: Number(cohort.state.epoch),
  phase: Object.fromEntries(
    Object.entries(cohort.state.phase).map(([k, v]) => [k, typeof v === 'bigint' ? String(v) : v]),
  ),
  members: cohort.state.members,
  parties: cohort.state.parties,
});

const ownEscrow = async (session: PartySession, cohort: OpenedCohort): Promise<UTxO> => {
  const mine = (await cohortEscrows(session.lucid, cohort.scripts)).find(
    (u) => escrowOwner(u) === session.wallet.pkh,
  );
  if (!mine)
    throw new DmlError(
      'NO_DEPOSIT',
      `no deposit of this party (${session.wallet.pkh}) in cohort ${cohort.id}`,
      {
        hint: 'it was never made, or it was claimed, refunded or slashed already',
      },
    );
  return mine;
};

const cohortOption = (command: Command) =>
  command.requiredOption(
    '--cohort <id>',
    'cohort id: TXHASH#INDEX or the cohort policy id (`dml cohort create` prints both)',
  );

export const registerCohortCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const cohort = program
    .command('cohort')
    .description(
      "a cohort's escrow on layer 1: create, join with a deposit, show, start an epoch, vote, claim",
    );

  cohort
    .command('create')
    .description('create a cohort (its terms are fixed here); prints the cohort id')
    .option('--min-deposit <ada>', 'minimum deposit to join', '10')
    .option('--final-round <n>', 'the round at which training is complete', '10')
    .option('--epoch-rounds <n>', 'rounds per head epoch (newcomers enter at epoch boundaries)', '5')
    .option('--contestation-period <seconds>', 'contestation period after a close', '60')
    .option('--voting-window <seconds>', 'time to vote a slash after a premature end', '600')
    .option('--model <name>', 'the model trained (recorded on chain as metadata of the creation)', 'mnist')
    .option('--aggregation <rule>', 'aggregation rule: ffa-lora, fedavg or median (metadata)', 'ffa-lora')
    .option('--rank <n>', 'LoRA rank (metadata)', '8')
    .option(
      '--delta-encoding <encoding>',
      'how parties send their deltas: f32 (exact) or q8 (8-bit, ~3.8x fewer bytes) (metadata)',
      'f32',
    )
    .action(
      async (o: {
        minDeposit: string;
        finalRound: string;
        epochRounds: string;
        contestationPeriod: string;
        votingWindow: string;
        model: string;
        aggregation: string;
        rank: string;
        deltaEncoding: string;
      }) => {
        const ctx = await context();
        const terms: CohortTerms = {
          minDeposit: adaToLovelace('--min-deposit', o.minDeposit),
          finalRound: positive('--final-round', o.finalRound),
          epochRounds: positive('--epoch-rounds', o.epochRounds),
          contestationPeriod: positive('--contestation-period', o.contestationPeriod) * 1000n,
          votingWindow: positive('--voting-window', o.votingWindow) * 1000n,
        };
        if (!['ffa-lora', 'fedavg', 'median'].includes(o.aggregation))
          throw new DmlError(
            'BAD_FLAG',
            `--aggregation must be ffa-lora, fedavg or median, not ${o.aggregation}`,
          );
        const deltaEncoding = parseDeltaValueEncoding(o.deltaEncoding);
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.model))
          throw new DmlError('BAD_FLAG', `--model must be 1-64 letters, digits, . _ or -, not ${o.model}`);
        const params = {
          model: o.model,
          aggregation: o.aggregation,
          loraRank: Number(positive('--rank', o.rank)),
          ...(deltaEncoding === 'q8' ? { deltaEncoding } : {}),
        };
        const session = await openSession(ctx.settings);
        const [seed] = await session.lucid.wallet.getUtxos();
        if (!seed)
          throw new DmlError('NO_FUNDS', `the address ${session.wallet.address} holds nothing`, {
            hint: 'fund it first (on the devnet: `dml devnet fund --ada 100`)',
          });
        const scripts = cohortScripts(session.lucid, loadBlueprint(), seed);
        const tx = await completeTx(
          () =>
            createCohortTx(session.lucid, scripts, seed, terms).attachMetadata(
              COHORT_PARAMS_METADATA_LABEL,
              cohortParamsMetadata(params),
            ),
          scripts,
        );
        const txHash = await signAndSubmit(session, tx, { scripts });
        const id = cohortIdOf(seed);
        ctx.output.info(`cohort ${id}, policy ${scripts.cohortId} (either names it)`);
        const synced = await syncLogAfterLayer1(ctx, scripts);
        // stdout is the id alone, so that `ID=$(dml cohort create)` works
        ctx.output.result(id, { cohort: id, policy: scripts.cohortId, txHash, ...synced });
      },
    );

  cohortOption(
    cohort.command('join').description('join a cohort: pay the deposit into escrow, get party tokens'),
  )
    .requiredOption('--deposit <ada>', 'deposit in ada (at least the minimum)')
    .action(async (o: { cohort: string; deposit: string }) => {
      const ctx = await context();
      const deposit = adaToLovelace('--deposit', o.deposit);
      const session = await openSession(ctx.settings);
      const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
      if (c.state.phase.kind !== 'Open')
        throw new DmlError(
          'COHORT_NOT_OPEN',
          c.state.phase.kind === 'Closed'
            ? `cohort ${c.id} is closed (contestation period running): join after it is finalized`
            : `cohort ${c.id} has ended (${c.state.phase.kind}): it accepts no new members`,
        );
      if (c.state.members.some((m) => m.pkh === session.wallet.pkh))
        throw new DmlError(
          'ALREADY_MEMBER',
          `this party (${session.wallet.pkh}) is already a member of ${c.id}`,
        );
      if (deposit < c.state.terms.minDeposit)
        throw new DmlError(
          'DEPOSIT_TOO_SMALL',
          `deposit ${o.deposit} ada is below the cohort's minimum of ${ada(c.state.terms.minDeposit)} ada`,
        );
      const tx = await completeTx(
        () =>
          joinTx(session.lucid, c.scripts, c.stateUtxo, {
            pkh: session.wallet.pkh,
            hydraVk: session.wallet.hydraVk,
            deposit,
          }),
        c.scripts,
      );
      const txHash = await signAndSubmit(session, tx, { scripts: c.scripts });
      const synced = await syncLogAfterLayer1(ctx, c.scripts);
      ctx.output.result(
        `joined ${c.id} (policy ${c.scripts.cohortId}) with ${ada(deposit)} ada (tx ${txHash})`,
        {
          cohort: c.id,
          policy: c.scripts.cohortId,
          pkh: session.wallet.pkh,
          deposit: deposit.toString(),
          txHash,
          ...synced,
        },
      );
    });

  cohortOption(cohort.command('show').description("a cohort's terms, phase, members and deposits")).action(
    async (o: { cohort: string }) => {
      const ctx = await context();
      const session = await openSession(ctx.settings);
      const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
      const escrows = await cohortEscrows(session.lucid, c.scripts);
      const deposits = escrows.map((u) => ({ pkh: escrowOwner(u), lovelace: u.assets['lovelace'] ?? 0n }));
      const t = c.state.terms;
      const human = [
        `cohort ${c.id} (policy ${c.scripts.cohortId})`,
        `  terms: min deposit ${ada(t.minDeposit)} ada, final round ${t.finalRound}, ${t.epochRounds} rounds per epoch, contestation ${Number(t.contestationPeriod) / 1000} s, voting window ${Number(t.votingWindow) / 1000} s`,
        `  epoch ${c.state.epoch}, ${phaseText(c.state)}`,
        `  members (${c.state.members.length}), parties of the epoch (${c.state.parties.length}):`,
        ...c.state.members.map((m) => {
          const d = deposits.find((x) => x.pkh === m.pkh);
          const inEpoch = c.state.parties.some((p) => p.pkh === m.pkh) ? ' *' : '';
          return `    ${m.pkh}${inEpoch}  deposit ${d ? ada(d.lovelace) + ' ada' : 'none (withdrawn)'}`;
        }),
      ].join('\n');
      ctx.output.result(human, {
        ...stateJson(c),
        deposits: deposits.map((d) => ({ pkh: d.pkh, lovelace: d.lovelace.toString() })),
      });
    },
  );

  cohortOption(
    cohort
      .command('sync')
      .description(
        "append to this party's event log the l1 events of every layer-1 transition of the cohort that it lacks (the devnet's chain; idempotent, safe to run at the same time as another command)",
      ),
  ).action(async (o: { cohort: string }) => {
    const ctx = await context();
    const chain = await followedChain(ctx.settings);
    if (!chain)
      throw new DmlError('NO_CHAIN_FOLLOWER', 'no chain to follow: the log is synced from the devnet only', {
        hint: 'run a devnet (`dml devnet up`) or set DML_DEVNET_URL / DML_DEVNET_DIR',
      });
    const names = await resolveCohortNames(o.cohort, async () => chain.txs);
    const scripts = await devnetCohortScripts(names.seed);
    const synced = await syncCohortFromChain(ctx.settings, scripts, { chain });
    ctx.output.result(`cohort ${names.id} (policy ${names.policy}): ${describeSync(synced)}`, {
      cohort: names.id,
      policy: names.policy,
      log: syncJson(synced),
      transitions: synced?.transitions.length ?? 0,
    });
  });

  cohortOption(
    cohort
      .command('start-epoch')
      .description("start the first head epoch: the members become the epoch's parties"),
  ).action(async (o: { cohort: string }) => {
    const ctx = await context();
    const session = await openSession(ctx.settings);
    const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
    if (c.state.phase.kind !== 'Open' || c.state.epoch !== 0n)
      throw new DmlError(
        'EPOCH_STARTED',
        `cohort ${c.id} is past its start (epoch ${c.state.epoch}, ${c.state.phase.kind})`,
        {
          hint: 'later epochs start when a scheduled close is finalized',
        },
      );
    if (!c.state.members.some((m) => m.pkh === session.wallet.pkh))
      throw new DmlError('NOT_MEMBER', `only a member starts the epoch; ${session.wallet.pkh} is not one`);
    const tx = await completeTx(
      () => startEpochTx(session.lucid, c.scripts, c.stateUtxo, session.wallet.pkh),
      c.scripts,
    );
    const txHash = await signAndSubmit(session, tx, { scripts: c.scripts });
    const synced = await syncLogAfterLayer1(ctx, c.scripts);
    ctx.output.result(
      `epoch 1 of ${c.id} (policy ${c.scripts.cohortId}) started with ${c.state.members.length} parties (tx ${txHash})`,
      {
        cohort: c.id,
        policy: c.scripts.cohortId,
        epoch: 1,
        parties: c.state.members.length,
        txHash,
        ...synced,
      },
    );
  });

  cohortOption(
    cohort
      .command('vote-slash')
      .description(
        'vote to slash a party of a cohort that ended Premature: the voters burn their kill tokens in one transaction',
      ),
  )
    .requiredOption('--accused <pkh>', "the accused party's payment key hash")
    .option('--with-keys <dirs>', "other voters' key folders, comma-separated (they sign here)")
    .option(
      '--voters <pkhs>',
      'other voters by key hash, comma-separated (they sign the --out file elsewhere)',
    )
    .option('--out <file>', 'write the transaction, signed by this party only, for the other voters to sign')
    .action(
      async (o: { cohort: string; accused: string; withKeys?: string; voters?: string; out?: string }) => {
        const ctx = await context();
        const session = await openSession(ctx.settings);
        const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
        const phase = c.state.phase;
        if (phase.kind !== 'Premature')
          throw new DmlError(
            'NOT_PREMATURE',
            `cohort ${c.id} is ${phase.kind}: a slash vote needs a premature end`,
          );
        const now = await chainNow(session.chain);
        if (BigInt(now) >= phase.votingDeadline)
          throw new DmlError('VOTING_OVER', `the voting window of ${c.id} is over`, {
            hint: 'each party takes its deposit back with `dml cohort refund`',
          });
        const others = await Promise.all(
          (o.withKeys ?? '')
            .split(',')
            .filter((d) => d !== '')
            .map((d) => loadPartyWallet(d, session.chain.networkId)),
        );
        const voterPkhs = [
          session.wallet.pkh,
          ...others.map((w) => w.pkh),
          ...(o.voters ?? '').split(',').filter((p) => p !== ''),
        ];
        if (new Set(voterPkhs).size !== voterPkhs.length)
          throw new DmlError('BAD_VOTERS', 'a voter is named twice');
        if (voterPkhs.includes(o.accused))
          throw new DmlError('BAD_VOTERS', 'the accused cannot vote on itself');
        const escrows = await cohortEscrows(session.lucid, c.scripts);
        const escrowOf = (pkh: string, who: string) => {
          const e = escrows.find((u) => escrowOwner(u) === pkh);
          if (!e) throw new DmlError('NO_DEPOSIT', `${who} ${pkh} has no deposit in ${c.id}`);
          return e;
        };
        const accusedEscrow = escrowOf(o.accused, 'the accused');
        const voterEscrows = voterPkhs.map((p) => escrowOf(p, 'voter'));
        const epochParties = c.state.parties.filter((p) => p.pkh !== o.accused).length;
        if (2 * voterPkhs.length <= epochParties)
          throw new DmlError(
            'NO_MAJORITY',
            `${voterPkhs.length} voters of ${epochParties} parties (other than the accused) are not a strict majority`,
          );
        const kills: UTxO[] = [];
        for (const pkh of voterPkhs) {
          const unit = partyTokenUnits(c.scripts, pkh).kill;
          const address = session.lucid.utils.credentialToAddress({ type: 'Key', hash: pkh });
          const kill = (await session.lucid.utxosAt(address)).find((u) => (u.assets[unit] ?? 0n) > 0n);
          if (!kill) throw new DmlError('NO_KILL_TOKEN', `voter ${pkh} no longer holds its kill token`);
          kills.push(kill);
        }
        const validTo = Math.min(now + 600_000, Number(phase.votingDeadline));
        const tx = await completeTx(
          () => slashTx(session.lucid, c.scripts, c.stateUtxo, accusedEscrow, voterEscrows, kills, validTo),
          c.scripts,
        );
        const share = (accusedEscrow.assets['lovelace'] ?? 0n) / BigInt(voterPkhs.length);
        if (o.out) {
          let cbor = (await tx.sign().complete()).toString();
          for (const w of others) cbor = signCardanoTransaction(cbor, C.PrivateKey.from_bech32(w.privateKey));
          await writeFile(
            o.out,
            JSON.stringify(
              { kind: 'dml-slash-vote', cohort: c.id, accused: o.accused, voters: voterPkhs, validTo, cbor },
              null,
              2,
            ) + '\n',
          );
          ctx.output.result(
            `slash vote written to ${o.out}; each other voter runs \`dml cohort sign-vote --tx ${o.out}\`, then anyone runs \`dml cohort submit-vote --tx ${o.out}\` before ${new Date(validTo).toISOString()}`,
            { file: o.out, cohort: c.id, accused: o.accused, voters: voterPkhs, validTo },
          );
          return;
        }
        const txHash = await signAndSubmit(session, tx, {
          extraKeys: others.map((w) => w.privateKey),
          scripts: c.scripts,
        });
        const synced = await syncLogAfterLayer1(ctx, c.scripts);
        ctx.output.result(
          `slashed ${o.accused} in ${c.id}: ${voterPkhs.length} voters got ${ada(share)} ada each (tx ${txHash})`,
          {
            cohort: c.id,
            policy: c.scripts.cohortId,
            accused: o.accused,
            voters: voterPkhs,
            share: share.toString(),
            txHash,
            ...synced,
          },
        );
      },
    );

  cohort
    .command('sign-vote')
    .description("add this party's signature to a slash vote written by `vote-slash --out`")
    .requiredOption('--tx <file>', 'the vote file')
    .action(async (o: { tx: string }) => {
      const ctx = await context();
      const vote = await readVote(o.tx);
      const wallet = await loadPartyWallet(ctx.settings.keys!);
      if (!vote.voters.includes(wallet.pkh))
        throw new DmlError('NOT_A_VOTER', `${wallet.pkh} is not among the voters of this vote`);
      vote.cbor = signCardanoTransaction(vote.cbor, C.PrivateKey.from_bech32(wallet.privateKey));
      await writeFile(o.tx, JSON.stringify(vote, null, 2) + '\n');
      ctx.output.result(`signed the vote to slash ${vote.accused} in ${vote.cohort} (${o.tx})`, {
        file: o.tx,
        signer: wallet.pkh,
      });
    });

  cohort
    .command('submit-vote')
    .description('submit a slash vote signed by all its voters')
    .requiredOption('--tx <file>', 'the vote file')
    .action(async (o: { tx: string }) => {
      const ctx = await context();
      const vote = await readVote(o.tx);
      const session = await openSession(ctx.settings);
      const c = await openCohort(session.lucid, vote.cohort, chainOf(ctx.settings));
      const txHash = await submitSigned(session, vote.cbor, c.scripts);
      const synced = await syncLogAfterLayer1(ctx, c.scripts);
      ctx.output.result(`slashed ${vote.accused} in ${vote.cohort} (tx ${txHash})`, {
        cohort: c.id,
        policy: c.scripts.cohortId,
        accused: vote.accused,
        voters: vote.voters,
        txHash,
        ...synced,
      });
    });

  cohortOption(
    cohort
      .command('finalize')
      .description(
        'after a close and its contestation period: Completed, the next epoch (scheduled close) or Premature',
      ),
  ).action(async (o: { cohort: string }) => {
    const ctx = await context();
    const session = await openSession(ctx.settings);
    const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
    const phase = c.state.phase;
    if (phase.kind !== 'Closed')
      throw new DmlError('NOT_CLOSED', `cohort ${c.id} is ${phase.kind}: only a closed cohort is finalized`);
    const now = await chainNow(session.chain);
    if (BigInt(now) <= phase.deadline)
      throw new DmlError(
        'CONTESTATION_OPEN',
        `the contestation period of ${c.id} runs until ${new Date(Number(phase.deadline)).toISOString()}: finalize after it`,
      );
    const next = finalizedState(c.state);
    const tx = await completeTx(() => finalizeTx(session.lucid, c.scripts, c.stateUtxo, now), c.scripts);
    const txHash = await signAndSubmit(session, tx, { scripts: c.scripts });
    const synced = await syncLogAfterLayer1(ctx, c.scripts);
    ctx.output.result(`cohort ${c.id} finalized: epoch ${next.epoch}, ${phaseText(next)} (tx ${txHash})`, {
      cohort: c.id,
      policy: c.scripts.cohortId,
      epoch: Number(next.epoch),
      phase: next.phase.kind,
      txHash,
      ...synced,
    });
  });

  cohortOption(cohort.command('claim').description('take the deposit back from a Completed cohort')).action(
    async (o: { cohort: string }) => {
      const ctx = await context();
      const session = await openSession(ctx.settings);
      const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
      if (c.state.phase.kind !== 'Completed')
        throw new DmlError(
          'NOT_COMPLETED',
          `cohort ${c.id} is ${c.state.phase.kind}, not Completed: a deposit is claimed only after completion`,
          c.state.phase.kind === 'Premature'
            ? { hint: 'after the voting window, use `dml cohort refund`' }
            : {},
        );
      const escrow = await ownEscrow(session, c);
      const tx = await completeTx(() => claimTx(session.lucid, c.scripts, c.stateUtxo, escrow), c.scripts);
      const txHash = await signAndSubmit(session, tx, { scripts: c.scripts });
      const amount = escrow.assets['lovelace'] ?? 0n;
      const synced = await syncLogAfterLayer1(ctx, c.scripts);
      ctx.output.result(`claimed ${ada(amount)} ada from ${c.id} (tx ${txHash})`, {
        cohort: c.id,
        policy: c.scripts.cohortId,
        lovelace: amount.toString(),
        txHash,
        ...synced,
      });
    },
  );

  cohortOption(
    cohort
      .command('refund')
      .description('take the deposit back from a Premature cohort once its voting window is over'),
  ).action(async (o: { cohort: string }) => {
    const ctx = await context();
    const session = await openSession(ctx.settings);
    const c = await openCohort(session.lucid, o.cohort, chainOf(ctx.settings));
    const phase = c.state.phase;
    if (phase.kind !== 'Premature')
      throw new DmlError('NOT_PREMATURE', `cohort ${c.id} is ${phase.kind}: a refund needs a premature end`);
    const now = await chainNow(session.chain);
    if (BigInt(now) <= phase.votingDeadline)
      throw new DmlError(
        'VOTING_OPEN',
        `the voting window of ${c.id} is open until ${new Date(Number(phase.votingDeadline)).toISOString()}: refund after it`,
      );
    const escrow = await ownEscrow(session, c);
    const tx = await completeTx(
      () => refundTx(session.lucid, c.scripts, c.stateUtxo, escrow, now),
      c.scripts,
    );
    const txHash = await signAndSubmit(session, tx, { scripts: c.scripts });
    const amount = escrow.assets['lovelace'] ?? 0n;
    const synced = await syncLogAfterLayer1(ctx, c.scripts);
    ctx.output.result(`refunded ${ada(amount)} ada from ${c.id} (tx ${txHash})`, {
      cohort: c.id,
      policy: c.scripts.cohortId,
      lovelace: amount.toString(),
      txHash,
      ...synced,
    });
  });
};

interface VoteFile {
  kind: 'dml-slash-vote';
  cohort: string;
  accused: string;
  voters: string[];
  validTo: number;
  cbor: string;
}

const readVote = async (file: string): Promise<VoteFile> => {
  let parsed: Partial<VoteFile>;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<VoteFile>;
  } catch {
    throw new DmlError('BAD_VOTE_FILE', `${file} is not a slash vote file (JSON)`);
  }
  if (parsed.kind !== 'dml-slash-vote' || typeof parsed.cbor !== 'string' || !Array.isArray(parsed.voters))
    throw new DmlError(
      'BAD_VOTE_FILE',
      `${file} is not a slash vote file written by \`dml cohort vote-slash --out\``,
    );
  return parsed as VoteFile;
};
