import type { Command } from 'commander';
import type { OutRef } from 'lucid-cardano';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  AdapterFiles,
  DmlError,
  cohortMasterSalt,
  EncryptedContentStore,
  HydraClient,
  PartyRoundLoop,
  type HeadRounds,
  type FollowHead,
  type FollowLayer1,
  type PartyRoundLoopResult,
  type CohortTrainingParamsOnChain,
  followCohortEpochs,
  readChainTx,
  readCohortParamsMetadata,
  type AggregationRule,
  type EventStore,
  type ObjectStore,
  type RoundEventBus,
  addHeadRounds,
  closeTx,
  emptyHeadRounds,
  findCohortState,
  readCohortState,
  headKeyFromSeed,
  latestSignedSnapshot,
  roundDatumsIn,
  openEventStore,
  openObjectStore,
  openRoundEventBus,
  partyTokenUnits,
  storageConfigFromSettings,
  parseDeltaValueEncoding,
} from '../../offchain/index.js';
import {
  mnistPartyFromPlan,
  readTrainingPlan,
  selectTrainerBackend,
  writeTrainingPlan,
} from '../../trainer/index.js';
import type { CommandContext } from '../context.js';
import {
  chainNow,
  completeTx,
  openCohort,
  openSession,
  parseCohortId,
  signAndSubmit,
  type OpenedCohort,
  type PartySession,
} from '../cohort-session.js';
import { hydraEndpoint } from './head.js';
import { followedChain, syncLogAfterLayer1 } from '../l1-log.js';

const whole = (flag: string, value: string, min = 1): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    throw new DmlError('BAD_FLAG', `${flag} must be a whole number >= ${min}, not ${value}`);
  return n;
};
const positiveNumber = (flag: string, value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new DmlError('BAD_FLAG', `${flag} must be a number > 0, not ${value}`);
  return n;
};

/** The event store a setting names, its SQLite folder created first. */
const openLog = async (url: string): Promise<EventStore> => {
  if (url.startsWith('sqlite:') && !url.startsWith('sqlite::memory:'))
    await mkdir(dirname(resolve(url.slice('sqlite:'.length).split('?')[0]!)), { recursive: true });
  return openEventStore(url);
};

const ruleOf = (name: string): AggregationRule =>
  name === 'fedavg' ? { kind: 'fedavg' } : name === 'median' ? { kind: 'median' } : { kind: 'ffa-lora' };

/** The contestation deadline of a closed cohort's state output, as an ISO time. */
const readCohortPhase = (utxo: Parameters<typeof readCohortState>[0]): string => {
  const phase = readCohortState(utxo).phase;
  return phase.kind === 'Closed' ? new Date(Number(phase.deadline)).toISOString() : phase.kind;
};

/** The epoch's rounds, as the cohort's terms on layer 1 fix them. */
const epochRounds = (cohort: OpenedCohort): { firstRound: number; lastRound: number } => {
  const { state } = cohort;
  const round = state.phase.kind === 'Premature' ? 0n : state.phase.round;
  return {
    firstRound: Number(round) + 1,
    lastRound: Math.min(Number(round + state.terms.epochRounds), Number(state.terms.finalRound)),
  };
};

/** Every round datum of one epoch that the head confirmed, from its history (replayed on connect). */
const headRoundsOf = async (
  endpoint: { host: string; port: number },
  scope: { cohortId: string; epoch: number },
): Promise<HeadRounds> => {
  const client = new HydraClient({ ...endpoint, defaultTimeoutMs: 30_000 });
  let rounds = emptyHeadRounds();
  const stop = client.onOutput((output) => {
    if (output.tag === 'SnapshotConfirmed' && output.snapshot.utxo)
      rounds = addHeadRounds(
        rounds,
        roundDatumsIn(output.snapshot.utxo).map((f) => f.datum),
        scope,
      );
  });
  try {
    await client.connect().catch((error: unknown) => {
      throw new DmlError(
        'HYDRA_UNREACHABLE',
        `no hydra-node answers at ws://${endpoint.host}:${endpoint.port}`,
        {
          cause: error,
        },
      );
    });
    const utxo = await client.getSnapshotUtxo().catch(() => undefined);
    if (utxo)
      rounds = addHeadRounds(
        rounds,
        roundDatumsIn(utxo).map((f) => f.datum),
        scope,
      );
    return rounds;
  } finally {
    stop();
    await client.disconnect();
  }
};

interface RunFlags {
  plan: string;
  cohort?: string;
  poll: string;
  patience?: string;
  closeOnRefusal?: boolean;
}

export const registerTrainCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const train = program
    .command('train')
    .description("a party's training: write the cohort's plan, run the party's own round loop");

  train
    .command('plan')
    .description(
      "write a cohort's training plan (model, base file and its hash, seed, shard rule, aggregation, local steps) for every party",
    )
    .requiredOption('--cohort <id>', 'cohort id (TXHASH#INDEX)')
    .requiredOption('--out <file>', 'plan file to write (the base file is written next to it)')
    .option('--seed <n>', 'seed of the data split, the base and the adapters', '1')
    .option('--rank <n>', 'LoRA rank', '8')
    .option('--shard-size <n>', 'private training images per party', '500')
    .option('--validation-size <n>', 'private validation images per party', '300')
    .option('--public-count <n>', 'public images the base is pretrained on', '2000')
    .option('--pretrain-steps <n>', 'pretraining steps of the base', '150')
    .option('--hidden <n>', 'hidden units of the base (784-hidden-10)', '128')
    .option('--local-steps <n>', 'local training steps per round', '60')
    .option('--batch-size <n>', 'batch size of local training', '64')
    .option('--learning-rate <x>', 'learning rate of local training', '0.01')
    .option('--aggregation <rule>', 'ffa-lora, fedavg or median', 'ffa-lora')
    .option('--delta-encoding <encoding>', "how parties send their deltas: f32 or q8 (the cohort's)", 'f32')
    .action(
      async (
        o: {
          cohort: string;
          out: string;
          seed: string;
          rank: string;
          shardSize: string;
          validationSize: string;
          publicCount: string;
          pretrainSteps: string;
          hidden: string;
          localSteps: string;
          batchSize: string;
          learningRate: string;
          aggregation: string;
          deltaEncoding: string;
        },
        command: Command,
      ) => {
        const ctx = await context();
        const seed = parseCohortId(o.cohort);
        // the cohort's creation fixed the rank and the rule on layer 1: a flag left at its default
        // takes the cohort's value, a flag given that differs is refused (before any pretraining)
        const onChain = await creationParams(ctx, seed);
        if (onChain.params) {
          const { params, txId } = onChain.params;
          const check = (flag: string, key: 'rank' | 'aggregation' | 'deltaEncoding', value: string) => {
            if (command.getOptionValueSource(key) === 'default') o[key] = value;
            else if (o[key] !== value)
              throw new DmlError(
                'PLAN_MISMATCH',
                `${flag} ${o[key]} differs from the cohort's ${value} (fixed by its creation on layer 1, tx ${txId})`,
                { hint: `leave ${flag} out, or give ${flag} ${value}` },
              );
          };
          if (params.model !== 'mnist')
            throw new DmlError(
              'PLAN_MISMATCH',
              `the cohort trains model ${params.model} (its creation on layer 1, tx ${txId}); \`dml train plan\` writes mnist plans`,
            );
          check('--rank', 'rank', String(params.loraRank));
          check('--aggregation', 'aggregation', params.aggregation);
          check('--delta-encoding', 'deltaEncoding', params.deltaEncoding ?? 'f32');
        } else ctx.output.info(`rank and aggregation not checked against the cohort: ${onChain.why}`);
        if (!['ffa-lora', 'fedavg', 'median'].includes(o.aggregation))
          throw new DmlError(
            'BAD_FLAG',
            `--aggregation must be ffa-lora, fedavg or median, not ${o.aggregation}`,
          );
        const deltaEncoding = parseDeltaValueEncoding(o.deltaEncoding);
        await selectTrainerBackend({ log: (line) => ctx.output.info(line) });
        const progress = ctx.output.progress();
        progress.update('pretraining the MNIST base on public images, quantising it to NF4');
        const { plan, baseFile } = await writeTrainingPlan({
          cohort: o.cohort,
          out: o.out,
          seed: whole('--seed', o.seed, 0),
          rank: whole('--rank', o.rank),
          shardSize: whole('--shard-size', o.shardSize),
          validationSize: whole('--validation-size', o.validationSize),
          publicCount: whole('--public-count', o.publicCount, 100),
          pretrainSteps: whole('--pretrain-steps', o.pretrainSteps),
          hidden: whole('--hidden', o.hidden),
          localSteps: whole('--local-steps', o.localSteps),
          batchSize: whole('--batch-size', o.batchSize),
          learningRate: positiveNumber('--learning-rate', o.learningRate),
          aggregation: o.aggregation as 'ffa-lora',
          deltaEncoding,
        });
        progress.done();
        ctx.output.result(
          `plan written to ${resolve(o.out)} (base ${baseFile}); give both files to every party of ${o.cohort}`,
          { plan: resolve(o.out), baseFile, ...plan },
        );
      },
    );

  train
    .command('run')
    .description(
      "this party's own process: follow the cohort's head epochs (train, commit, aggregate, acknowledge every round; between epochs wait for the scheduled close and the next head) until the final round is acknowledged by all or the cohort ends; Ctrl-C stops between steps, a restart resumes from the log",
    )
    .requiredOption('--plan <file>', "the cohort's training plan (`dml train plan`)")
    .option('--cohort <id>', "cohort id (default: the plan's; must match it)")
    .option('--poll <seconds>', 'look at the head and layer 1 again after this long without a wake-up', '5')
    .option(
      '--patience <seconds>',
      'stop, naming them, when the peers it waits for post nothing (or, between epochs, the cohort does not move on) for this long (default: wait until stopped)',
    )
    .option(
      '--close-on-refusal',
      'when it refuses a round or runs out of patience, close the cohort on layer 1 and the head itself (default: stop and print the commands)',
    )
    .action(async (o: RunFlags) => {
      const ctx = await context();
      const plan = await readTrainingPlan(o.plan);
      if (o.cohort !== undefined && o.cohort !== plan.cohort)
        throw new DmlError('PLAN_COHORT', `the plan is for cohort ${plan.cohort}, not ${o.cohort}`);
      const pollMs = positiveNumber('--poll', o.poll) * 1000;
      const patienceMs =
        o.patience !== undefined ? positiveNumber('--patience', o.patience) * 1000 : undefined;
      const session = await openSession(ctx.settings);
      // an unknown cohort fails at once; later reads that fail are waited out (a devnet restarting)
      let cohort = await openCohort(session.lucid, plan.cohort);
      const me = session.wallet.pkh;
      const info = (line: string) => ctx.output.info(line);
      const home = resolve(ctx.settings.home ?? '.dml');
      const storage = storageConfigFromSettings(ctx.settings, {
        fallbackPassphrase: session.wallet.keys.storagePassphrase,
      });
      let log: EventStore | undefined;
      let objects: ObjectStore | undefined;
      let bus: RoundEventBus | undefined;
      const controller = new AbortController();
      // once: a terminal's Ctrl-C reaches both the launcher (bin/dml.js), which passes it on, and
      // this process, so one key press may arrive here twice
      const stop = (signal: string) => {
        if (controller.signal.aborted) return;
        info(`${signal}: finishing the step in hand, then stopping`);
        controller.abort();
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      const cohortFlag = `--cohort ${cohort.id}`;
      try {
        log = await openLog(ctx.settings.eventStore!);
        objects = await openObjectStore(storage);
        bus = openRoundEventBus(ctx.settings.bus ?? 'memory');
        const content = new EncryptedContentStore(objects, {
          prefix: `${storage.prefix}deltas/${me}`,
          passphrase: storage.passphrase,
          masterSalt: cohortMasterSalt(cohort.id),
        });
        let backendChosen = false;
        const parties = new Map<string, Awaited<ReturnType<typeof mnistPartyFromPlan>>>();
        const partyOf = async (memberIndex: number, members: number) => {
          if (!backendChosen) await selectTrainerBackend({ log: info });
          backendChosen = true;
          const id = `${memberIndex}/${members}`;
          const held = parties.get(id) ?? (await mnistPartyFromPlan(plan, o.plan, memberIndex, members));
          parties.set(id, held);
          return held;
        };
        const result = await followCohortEpochs({
          me,
          signal: controller.signal,
          pollMs,
          ...(patienceMs !== undefined ? { patienceMs } : {}),
          onLine: info,
          readLayer1: async () => {
            try {
              cohort = await openCohort(session.lucid, plan.cohort);
            } catch (error) {
              return { kind: 'unreachable', message: error instanceof Error ? error.message : String(error) };
            }
            return followLayer1Of(cohort);
          },
          readHead: async () => {
            try {
              return await probeHydraNode(await hydraEndpoint(ctx), Math.max(pollMs, 5_000));
            } catch (error) {
              return { kind: 'unreachable', message: error instanceof Error ? error.message : String(error) };
            }
          },
          runEpoch: async (step) => {
            const { state } = cohort;
            // the shard is the party's place in join order (members are listed newest first on
            // layer 1), so that it stays the same when a newcomer joins between epochs
            const memberIndex = state.members.length - 1 - state.members.findIndex((m) => m.pkh === me);
            const endpoint = await hydraEndpoint(ctx);
            info(
              `party ${me.slice(0, 12)}… of cohort ${cohort.id.slice(0, 16)}…, epoch ${step.epoch}: rounds ${step.firstRound}-${step.lastRound}, ${step.parties.length} parties`,
            );
            const party = await partyOf(memberIndex, state.members.length);
            const loop = new PartyRoundLoop({
              identity: {
                id: me,
                hydraSk: session.wallet.keys.hydraSigningKey,
                hydraVk: session.wallet.hydraVk,
              },
              // the cohort token's policy: what the training snapshot, the datums and the log name
              cohortId: cohort.scripts.cohortId,
              epoch: step.epoch,
              parties: step.parties,
              firstRound: step.firstRound,
              lastRound: step.lastRound,
              hydra: endpoint,
              headKey: headKeyFromSeed(session.wallet.keys.paymentSigningKey),
              signalUnit: partyTokenUnits(cohort.scripts, me).signal,
              rule: ruleOf(plan.aggregation),
              deltaEncoding: plan.deltaEncoding ?? 'f32',
              learner: party.learner,
              content,
              log: log!,
              bus: bus!,
              adapters: new AdapterFiles(join(home, 'train', cohort.scripts.cohortId, me, 'adapters')),
              startGlobal: party.startAdapters,
              // an epoch after the first starts from round firstRound-1's global adapter, whose
              // aggregate hash layer 1 holds (the scheduled close carried it, signed by every party)
              ...(step.previousAggregateHash !== undefined
                ? { previousAggregateHash: step.previousAggregateHash }
                : {}),
              signal: controller.signal,
              onStep: info,
              pollMs,
              ...(patienceMs !== undefined ? { patienceMs } : {}),
            });
            return loop.run();
          },
        });
        switch (result.kind) {
          case 'ended':
            ctx.output.result(
              `cohort ${cohort.id} has ended (${result.outcome}${result.outcome === 'Completed' ? ` at round ${result.round}` : ''}): nothing to train`,
              { cohort: cohort.id, outcome: result.outcome },
            );
            return;
          case 'not-a-member':
            throw new DmlError(
              'NOT_A_MEMBER',
              `this party (${me}) is not a party of epoch ${cohort.state.epoch} of ${cohort.id}, nor a member: it never joined`,
              { hint: `join it first: \`dml cohort join ${cohortFlag} --deposit ADA\`` },
            );
          case 'stopped':
            ctx.output.result(
              result.between
                ? 'stopped between epochs; run again to resume'
                : `stopped${result.round !== undefined ? ` at round ${result.round}` : ''} of epoch ${result.epoch}; run again to resume`,
              { stopped: true, epoch: result.epoch, round: result.round },
            );
            return;
          case 'training-over':
            ctx.output.result(
              `epoch ${result.epoch} done: round ${result.round} acknowledged by all ${result.parties} parties, aggregate ${result.aggregateHash}; the cohort's final round: training is over (next: \`dml train close --plan ${o.plan}\`, \`dml head close\`, after the contestation period \`dml head fanout\`, \`dml cohort finalize ${cohortFlag}\` (Completed), then each party's \`dml cohort claim ${cohortFlag}\`)`,
              {
                cohort: cohort.id,
                policy: cohort.scripts.cohortId,
                epoch: result.epoch,
                round: result.round,
                aggregateHash: result.aggregateHash,
                final: true,
              },
            );
            return;
          case 'waited-out':
            throw new DmlError(
              'FOLLOW_STALLED',
              `waited ${Math.round(result.waitedMs / 1000)} s (--patience) for ${result.step.detail}`,
              {
                hint:
                  result.step.for === 'layer-1'
                    ? 'check the chain settings (DML_NETWORK, DML_DEVNET_URL) and run again'
                    : 'run again once the cohort has moved on (the log keeps every step)',
              },
            );
          case 'epoch-failed':
            await failedEpoch(ctx, session, plan.cohort, o, result.result);
        }
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        await bus?.close().catch(() => undefined);
        await objects?.close().catch(() => undefined);
        await log?.close().catch(() => undefined);
      }
    });
  train
    .command('close')
    .description(
      "close the cohort's epoch on layer 1 with the latest training snapshot every party signed (read from the head): at the epoch's last round a scheduled close, the way to the next epoch",
    )
    .requiredOption('--plan <file>', "the cohort's training plan (`dml train plan`)")
    .action(async (o: { plan: string }) => {
      const ctx = await context();
      const plan = await readTrainingPlan(o.plan);
      const session = await openSession(ctx.settings);
      const cohort = await openCohort(session.lucid, plan.cohort);
      const closed = await closeEpochOnLayer1(ctx, session, cohort);
      const { log } = await syncLogAfterLayer1(ctx, cohort.scripts);
      ctx.output.result(closedLine(cohort, closed), { ...closed, log });
    });
};

/** The cohort's state on layer 1 as the follow decides from it. */
const followLayer1Of = (cohort: OpenedCohort): FollowLayer1 => {
  const { state } = cohort;
  const phase = state.phase;
  return {
    kind: 'cohort',
    phase: phase.kind,
    epoch: Number(state.epoch),
    round: phase.kind === 'Premature' ? 0 : Number(phase.round),
    ...(phase.kind !== 'Premature' ? { aggregateHash: phase.aggregateHash } : {}),
    parties: state.parties.map((p) => ({ pkh: p.pkh, hydraVk: p.hydraVk })),
    members: state.members.map((m) => m.pkh),
    finalRound: Number(state.terms.finalRound),
    epochRounds: Number(state.terms.epochRounds),
    ...(phase.kind === 'Closed' ? { deadline: Number(phase.deadline) } : {}),
  };
};

/** The hydra-node's head status and the Hydra keys of its head's parties (its Greetings). */
const probeHydraNode = async (
  endpoint: { host: string; port: number },
  timeoutMs: number,
): Promise<FollowHead> => {
  const client = new HydraClient({ ...endpoint, defaultTimeoutMs: timeoutMs, snapshotUtxo: false });
  try {
    const greetings = await client.connect(timeoutMs);
    const env = (greetings.env ?? {}) as {
      party?: { vkey?: string };
      otherParties?: Array<{ vkey?: string }>;
    };
    const parties = [env.party?.vkey ?? greetings.me.vkey, ...(env.otherParties ?? []).map((p) => p.vkey)];
    return {
      kind: 'node',
      status: greetings.headStatus,
      parties: parties.filter((p): p is string => typeof p === 'string'),
    };
  } finally {
    await client.disconnect();
  }
};

/** A refused or stalled round: one line naming the peers and the next commands; with --close-on-refusal, the closes first. */
const failedEpoch = async (
  ctx: CommandContext,
  session: PartySession,
  cohortName: string,
  o: RunFlags,
  result: Extract<PartyRoundLoopResult, { kind: 'refused' | 'stalled' }>,
): Promise<never> => {
  const cohort = await openCohort(session.lucid, cohortName);
  const cohortFlag = `--cohort ${cohort.id}`;
  const accused = [...(result.kind === 'refused' ? result.flagged : result.missing)].sort();
  const what =
    result.kind === 'refused'
      ? `round ${result.round}: ${result.reason}; this party does not sign`
      : `round ${result.round}: no ${result.waitingFor === 'starting-adapter' ? 'carry-over' : result.waitingFor} from ${accused.join(', ')} for ${Math.round(result.waitedMs / 1000)} s (--patience)`;
  const vote = accused.map((p) => `\`dml cohort vote-slash ${cohortFlag} --accused ${p}\``).join(' or ');
  const later = `after the contestation period: \`dml head fanout\`, \`dml cohort finalize ${cohortFlag}\` (it ends Premature), then ${vote} with the other honest parties (--with-keys, or --voters and --out)`;
  const code = result.kind === 'refused' ? 'ROUND_REFUSED' : 'ROUND_STALLED';
  if (!o.closeOnRefusal)
    throw new DmlError(code, what, {
      hint: `next: \`dml train close --plan ${o.plan}\` (layer 1, the last round signed by all), \`dml head close\`; ${later}`,
    });
  // --close-on-refusal: this party closes, on layer 1 (if a round is signed by all) and the head
  const closed = await closeEpochOnLayer1(ctx, session, cohort).then(
    (c) => `closed on layer 1 at round ${c.round} (tx ${c.txHash})`,
    (error: unknown) => `not closed on layer 1: ${error instanceof DmlError ? error.message : String(error)}`,
  );
  const client = new HydraClient({ ...(await hydraEndpoint(ctx)), defaultTimeoutMs: 60_000 });
  const headClosed = await client
    .connect()
    .then(() => client.closeHead())
    .then(
      (out) => `head closed at snapshot ${out.snapshotNumber}`,
      (error: unknown) => `head not closed: ${error instanceof Error ? error.message : String(error)}`,
    )
    .finally(() => client.disconnect());
  throw new DmlError(code, `${what}; ${closed}; ${headClosed}`, { hint: `next: ${later}` });
};

/**
 * The training parameters the cohort's creation transaction carried on layer 1 (metadata label
 * 8387661, `dml cohort create`), read from the followed chain (the devnet's): the transaction
 * that spent the cohort's seed output. `why` says what kept them unknown.
 */
const creationParams = async (
  ctx: CommandContext,
  seed: OutRef,
): Promise<{ params?: { params: CohortTrainingParamsOnChain; txId: string }; why: string }> => {
  let chain: Awaited<ReturnType<typeof followedChain>>;
  try {
    chain = await followedChain(ctx.settings);
  } catch (error) {
    return { why: `the chain cannot be read (${error instanceof Error ? error.message : String(error)})` };
  }
  if (!chain) return { why: 'no chain followed here (only the devnet is)' };
  const ref = `${seed.txHash}#${seed.outputIndex}`;
  for (const tx of chain.txs) {
    const read = readChainTx(tx);
    if (!read.inputs.includes(ref)) continue;
    const params = readCohortParamsMetadata(read.metadata);
    return params
      ? { params: { params, txId: tx.txId }, why: '' }
      : { why: `its creation (tx ${tx.txId}) carries no training parameters` };
  }
  return { why: `no creation of ${ref} in ${chain.source}` };
};

interface ClosedEpoch {
  readonly cohort: string;
  readonly policy: string;
  readonly epoch: number;
  readonly round: number;
  readonly aggregateHash: string;
  readonly scheduled: boolean;
  readonly final: boolean;
  readonly deadline: string;
  readonly txHash: string;
}

const closedLine = (cohort: OpenedCohort, c: ClosedEpoch): string =>
  `cohort ${cohort.id} closed at round ${c.round} (${c.final ? 'the final round' : c.scheduled ? 'a scheduled close: the next epoch follows' : 'premature'}), aggregate ${c.aggregateHash}; finalize after ${c.deadline} (tx ${c.txHash})`;

/** Closes the cohort's state on layer 1 with the latest round every party of the epoch signed in the head. */
const closeEpochOnLayer1 = async (
  ctx: CommandContext,
  session: PartySession,
  cohort: OpenedCohort,
): Promise<ClosedEpoch> => {
  const { state } = cohort;
  if (state.phase.kind !== 'Open' || state.epoch < 1n)
    throw new DmlError(
      'NOT_OPEN',
      `cohort ${cohort.id} is ${state.phase.kind}${state.epoch < 1n ? ' before its first epoch' : ''}: there is no epoch to close`,
    );
  const me = session.wallet.pkh;
  const parties = state.parties.map((p) => p.pkh);
  if (!parties.includes(me))
    throw new DmlError(
      'NOT_A_PARTY',
      `this party (${me}) is not a party of epoch ${state.epoch} of ${cohort.id}`,
    );
  const { firstRound, lastRound } = epochRounds(cohort);
  const head = await headRoundsOf(await hydraEndpoint(ctx), {
    cohortId: cohort.scripts.cohortId,
    epoch: Number(state.epoch),
  });
  const snapshot = latestSignedSnapshot(head, parties, firstRound, lastRound);
  if (!snapshot)
    throw new DmlError(
      'NO_SIGNED_SNAPSHOT',
      `no round ${firstRound}-${lastRound} of epoch ${state.epoch} is acknowledged by all ${parties.length} parties in the head`,
      { hint: 'run `dml train run` for every party first' },
    );
  const now = await chainNow(session.chain);
  const tx = await completeTx(
    () =>
      closeTx(
        session.lucid,
        cohort.scripts,
        cohort.stateUtxo,
        {
          round: BigInt(snapshot.round),
          aggregateHash: snapshot.aggregateHash,
          signatures: snapshot.signatures,
        },
        me,
        now + 20_000,
      ),
    cohort.scripts,
  );
  const txHash = await signAndSubmit(session, tx, { scripts: cohort.scripts });
  const deadline = readCohortPhase(await findCohortState(session.lucid, cohort.scripts));
  const final = snapshot.round >= Number(state.terms.finalRound);
  return {
    cohort: cohort.id,
    policy: cohort.scripts.cohortId,
    epoch: Number(state.epoch),
    round: snapshot.round,
    aggregateHash: snapshot.aggregateHash,
    scheduled: !final && snapshot.round === lastRound,
    final,
    deadline,
    txHash,
  };
};
