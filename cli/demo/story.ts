import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { C, Lucid, generatePrivateKey } from 'lucid-cardano';
import { loadBlueprint } from '../../contracts/index.js';
import {
  type ChainWallet,
  CohortChain,
  type CohortState,
  type Delta,
  DmlError,
  cohortMasterSalt,
  EncryptedContentStore,
  type EventStore,
  LocalFolderStore,
  LucidEmulatorLayer1,
  Participant,
  partyTokenUnits,
  type PartyBehaviour,
  type RoundOutcome,
  type SignedTrainingSnapshot,
  SqliteEventStore,
  ValidatingEmulator,
  cohortStream,
  createEvent,
  describeStorageRetry,
  ed25519PublicKey,
  followCohort,
  hashDelta,
  headKeyFromSeed,
  slashShares,
  type HeadKey,
} from '../../offchain/index.js';
import {
  renderAuditDirections,
  verifyCohortInStores,
  writeAuditReport,
  type AuditReport,
} from '../../projections/index.js';
import { selectTrainerBackend } from '../../trainer/index.js';
import { HeadSession } from './head-session.js';
import { type DemoModel, lmDemoModel, mnistDemoModel } from './demo-model.js';

export type DemoScenario = 'honest' | 'saboteur' | 'dropout';

export interface DemoOptions {
  /** Folder for the run's event log, object store and report. */
  readonly dir: string;
  readonly parties: number;
  /** Final round of the cohort (the honest cohort's length). */
  readonly rounds: number;
  readonly model: 'mnist' | 'lm';
  readonly scenario: DemoScenario;
  readonly localSteps: number;
  readonly shardSize: number;
  readonly seed: number;
  readonly progress: (line: string, fraction?: number) => void;
  readonly info: (line: string) => void;
  /** LM only: pretraining steps of the small base (default 150). */
  readonly pretrainSteps?: number;
}

export interface DemoPartyRow {
  readonly name: string;
  readonly id: string;
  readonly role: 'honest' | 'saboteur' | 'dropout' | 'newcomer';
  /** The party's measure (see DemoResult.metric: MNIST test accuracy, or the LM's held-out bits per byte). */
  readonly accuracyAlone: number;
  readonly accuracyTogether: number;
  readonly bytesUploaded: number;
  /** Lovelace paid into escrow and received back from it (claims, refunds, slash shares). */
  readonly depositIn: bigint;
  readonly depositOut: bigint;
}

export interface DemoResult {
  readonly dir: string;
  readonly logFile: string;
  readonly storageRoot: string;
  readonly passphraseFile: string;
  /** The base's measure before training (see metric). */
  readonly baseAccuracy: number;
  readonly model: 'mnist' | 'lm';
  /** What the accuracy columns hold: MNIST test accuracy, or held-out bits per byte (LM, lower is better). */
  readonly metric: { readonly label: string; readonly higherIsBetter: boolean };
  readonly cohorts: ReadonlyArray<{
    id: string;
    outcome: string;
    rounds: number;
    audit: AuditReport;
    /** The auditor's HTML report (charts) of this cohort. */
    reportFile: string;
  }>;
  readonly parties: readonly DemoPartyRow[];
  readonly seconds: number;
}

interface Member {
  readonly name: string;
  readonly index: number;
  readonly role: DemoPartyRow['role'];
  readonly wallet: ChainWallet;
  readonly hydraSk: Uint8Array;
  readonly hydraVk: string;
  readonly headKey: HeadKey;
  readonly behaviour: PartyBehaviour;
  depositIn: bigint;
  depositOut: bigint;
  bytesUploaded: number;
  roundsTrained: number;
  finalAdapters?: Delta;
}

const ADA = 1_000_000n;
const DEPOSIT = 20n * ADA;

const makeMember = async (
  lucid: Lucid,
  name: string,
  index: number,
  role: Member['role'],
  behaviour: PartyBehaviour,
): Promise<Member> => {
  const privateKey = generatePrivateKey();
  const seed = C.PrivateKey.from_bech32(privateKey).as_bytes();
  const headKey = headKeyFromSeed(seed);
  const hydraSk = new Uint8Array(randomBytes(32));
  return {
    name,
    index,
    role,
    wallet: { privateKey, pkh: headKey.keyHash, address: headKey.address },
    hydraSk,
    hydraVk: Buffer.from(ed25519PublicKey(hydraSk)).toString('hex'),
    headKey,
    behaviour,
    depositIn: 0n,
    depositOut: 0n,
    bytesUploaded: 0,
    roundsTrained: 0,
  };
};

/** Where a run of epochs left the cohort. */
interface EpochRun {
  readonly global: Delta;
  readonly lastSigned?: SignedTrainingSnapshot & { global: Delta };
  /** Set when the epoch stopped early: the party a majority flagged, or the one that went silent. */
  readonly accused?: string;
  readonly stoppedAt?: number;
  readonly reason?: 'saboteur' | 'dropout';
}

/**
 * The story of the spec, on embedded defaults: a cohort of parties with deposits, a head per epoch,
 * QLoRA rounds whose deltas are sealed into the object store and committed in the head, a
 * saboteur (or a dropout) caught by the others' scores, an early close, a kill vote, a new cohort
 * of the honest parties from the last good adapter, a newcomer entering at the next epoch, the
 * final close, the claims, and the auditor's verdict on every cohort.
 */
export const runDemoStory = async (options: DemoOptions): Promise<DemoResult> => {
  if (options.model !== 'mnist' && options.model !== 'lm')
    throw new DmlError('DEMO_MODEL', `unknown model ${String(options.model)}`, { hint: 'use mnist or lm' });
  if (options.parties < 3)
    throw new DmlError(
      'DEMO_PARTIES',
      'the demo needs at least 3 parties (a kill vote needs a majority of the others)',
    );
  if (options.rounds < 2) throw new DmlError('DEMO_ROUNDS', 'the demo needs at least 2 rounds');
  const started = performance.now();
  const { dir, progress, info } = options;
  await mkdir(dir, { recursive: true });
  const logFile = join(dir, 'events.sqlite');
  const storageRoot = join(dir, 'storage');
  const passphraseFile = join(dir, 'cohort.passphrase');
  const passphrase = randomBytes(18).toString('base64url');
  await writeFile(passphraseFile, passphrase + '\n', { mode: 0o600 });
  const log: EventStore = new SqliteEventStore(logFile);
  // Each party writes only to its own store (its "bucket": a folder of its own, with its own
  // grant key); peers read its deltas only through the read grants in its commitments.
  const stores = new Map<string, LocalFolderStore>();
  const storeOf = async (m: Member) => {
    let store = stores.get(m.wallet.pkh);
    if (!store) {
      store = await LocalFolderStore.open(join(storageRoot, `party-${m.index + 1}`), {
        // an outage is visible: "party 2: storage unreachable, retrying (attempt 2 of 6 ...)"
        onRetry: (info) => progress(`${m.name}: ${describeStorageRetry(info)}`),
      });
      stores.set(m.wallet.pkh, store);
    }
    return store;
  };
  try {
    // ---- the world: data, base model, layer 1
    await selectTrainerBackend({ log: info });
    const model: DemoModel = await (options.model === 'lm' ? lmDemoModel : mnistDemoModel)({
      parties: options.parties + 1,
      localSteps: options.localSteps,
      shardSize: options.shardSize,
      seed: options.seed,
      progress,
      ...(options.pretrainSteps !== undefined ? { pretrainSteps: options.pretrainSteps } : {}),
    });
    info(
      `base model: NF4, ${model.metric.format(model.baseMetric)} (${model.metric.label}) before any party trains`,
    );

    const probe = await Lucid.new(undefined, 'Custom');
    const n = options.parties;
    const behaviourOf = (i: number): { role: Member['role']; behaviour: PartyBehaviour } =>
      i === n - 1 && options.scenario === 'saboteur'
        ? { role: 'saboteur', behaviour: { kind: 'saboteur', fromRound: 2 } }
        : i === n - 1 && options.scenario === 'dropout'
          ? { role: 'dropout', behaviour: { kind: 'dropout', atRound: 2 } }
          : { role: 'honest', behaviour: { kind: 'honest' } };
    const members: Member[] = [];
    for (let i = 0; i < n; i++) {
      const { role, behaviour } = behaviourOf(i);
      members.push(await makeMember(probe, `party ${i + 1}`, i, role, behaviour));
    }
    const newcomer =
      options.scenario === 'honest'
        ? undefined
        : await makeMember(probe, `party ${n + 1}`, n, 'newcomer', { kind: 'honest' });
    const everyone = newcomer ? [...members, newcomer] : members;
    // The heads' operator: posts Init, CollectCom, Close and Fanout on the same layer 1.
    const operatorKey = generatePrivateKey();
    const operatorAddress = await probe.selectWalletFromPrivateKey(operatorKey).wallet.address();
    const emulator = new ValidatingEmulator([
      { address: operatorAddress, assets: { lovelace: 10_000n * ADA } },
      ...everyone.map((m) => ({ address: m.wallet.address, assets: { lovelace: 1_000n * ADA } })),
    ]);
    const lucid = await Lucid.new(emulator, 'Custom');
    const layer1 = LucidEmulatorLayer1.fromLucid(lucid, operatorKey);
    const blueprint = loadBlueprint();
    const learnerOf = (m: Member) => model.learner(m.index);
    const clock = () => new Date(emulator.now());

    for (const m of everyone) await storeOf(m);
    const participantsOf = (chain: CohortChain, group: readonly Member[]) =>
      new Map(
        group.map((m) => [
          m.wallet.pkh,
          new Participant({
            identity: { id: m.wallet.pkh, hydraSk: m.hydraSk, hydraVk: m.hydraVk },
            cohortId: chain.cohortId,
            rule: { kind: 'ffa-lora' },
            learner: learnerOf(m),
            content: new EncryptedContentStore(stores.get(m.wallet.pkh)!, {
              prefix: `deltas/${m.wallet.pkh}`,
              passphrase,
              masterSalt: cohortMasterSalt(chain.cohortId),
            }),
            log,
            behaviour: m.behaviour,
            clock,
            peerReads: { onRetry: (info) => progress(`${m.name}: ${describeStorageRetry(info)}`) },
          }),
        ]),
      );

    const createCohort = async (creator: Member, finalRound: number, epochRounds: number, label: string) => {
      progress(`${label}: creating the cohort on layer 1`);
      const chain = await CohortChain.create({
        lucid,
        emulator,
        blueprint,
        creator: creator.wallet,
        terms: {
          minDeposit: 10n * ADA,
          contestationPeriod: 60_000n,
          finalRound: BigInt(finalRound),
          epochRounds: BigInt(epochRounds),
          votingWindow: 600_000n,
        },
        params: { model: model.id, aggregation: 'ffa-lora', loraRank: model.loraRank },
        log,
        clock,
      });
      info(
        `${label}: cohort ${chain.cohortId.slice(0, 16)}… created by ${creator.name} (final round ${finalRound}, ${epochRounds} rounds per epoch)`,
      );
      return chain;
    };
    const joinCohort = async (chain: CohortChain, m: Member, label: string) => {
      await chain.join(m.wallet, m.hydraVk, DEPOSIT);
      await chain.setAsideSignal(m.wallet);
      m.depositIn += DEPOSIT;
      info(`${label}: ${m.name} joined with a deposit of ${DEPOSIT / ADA} ADA`);
    };

    /** Runs rounds [from, to] of one epoch in its own head. */
    const runEpoch = async (
      chain: CohortChain,
      label: string,
      state: CohortState,
      startTx: { txId: string; slot: number },
      from: number,
      to: number,
      global0: Delta,
      participants: Map<string, Participant>,
      duringRound?: (round: number) => Promise<void>,
    ): Promise<EpochRun> => {
      const epoch = Number(state.epoch);
      const group = state.parties.map((p) => everyone.find((m) => m.wallet.pkh === p.pkh)!);
      const ids = group.map((m) => m.wallet.pkh);
      progress(`${label} epoch ${epoch}: opening a Hydra head for ${group.length} parties`);
      const session = await HeadSession.start(
        group.map((m) => ({
          id: m.wallet.pkh,
          hydraSk: m.hydraSk,
          headKey: m.headKey,
          signalUnit: partyTokenUnits(chain.scripts, m.wallet.pkh).signal,
        })),
        { log, cohortId: chain.cohortId, layer1 },
      );
      let run: EpochRun = { global: global0 };
      try {
        await session.open();
        await chain.epochStarted(epoch, session.headId, ids, startTx);
        info(
          `${label} epoch ${epoch}: head ${session.headId.slice(0, 16)}… open with ${group.map((m) => m.name).join(', ')}`,
        );
        let global = global0;
        let globalHash = hashDelta(global);
        for (let round = from; round <= to; round++) {
          const key = { cohortId: chain.cohortId, epoch, round };
          await log.append(
            cohortStream(chain.cohortId),
            [
              createEvent(
                'training.RoundStarted',
                { ...key, globalAdapterHash: globalHash },
                { occurredAt: clock().toISOString() },
              ),
            ],
            { expectedVersion: 'any' },
          );
          const active = group.filter((m) => participants.get(m.wallet.pkh)!.active(round));
          for (const [i, m] of active.entries()) {
            progress(
              `${label} epoch ${epoch} round ${round}/${to}: ${m.name} trains and commits its delta`,
              (i + 0.5) / (active.length + 2),
            );
            const commitment = await participants
              .get(m.wallet.pkh)!
              .commit(session.seatOf(m.wallet.pkh), key, global);
            m.roundsTrained++;
            info(
              `${label} round ${round}: ${m.name} committed ${commitment.bytes} B, local loss ${commitment.metrics.loss.toFixed(3)}${m.role === 'saboteur' && round >= 2 ? '  (poisoned)' : ''}`,
            );
          }
          if (active.length < group.length) {
            const silent = group.filter((m) => !active.includes(m));
            info(
              `${label} round ${round}: ${silent.map((m) => m.name).join(', ')} sent nothing; the head stalls and the others give up on the round`,
            );
            run = { ...run, global, accused: silent[0]!.wallet.pkh, stoppedAt: round, reason: 'dropout' };
            break;
          }
          progress(
            `${label} epoch ${epoch} round ${round}/${to}: fetching, checking and aggregating the deltas`,
            (active.length + 0.5) / (active.length + 2),
          );
          const utxo = await session.snapshotUtxo();
          const outcomes = new Map<string, RoundOutcome>();
          for (const m of group)
            outcomes.set(
              m.wallet.pkh,
              await participants.get(m.wallet.pkh)!.aggregate(key, ids, utxo, global),
            );
          const hashes = new Set([...outcomes.values()].map((o) => o.aggregateHash));
          if (hashes.size !== 1)
            throw new DmlError(
              'DEMO_DIVERGED',
              `round ${round}: the parties computed ${hashes.size} different aggregates`,
            );
          const signers = group.filter((m) =>
            participants.get(m.wallet.pkh)!.willSign(outcomes.get(m.wallet.pkh)!),
          );
          if (signers.length < group.length) {
            const votes = new Map<string, number>();
            for (const m of group)
              for (const f of outcomes.get(m.wallet.pkh)!.flagged) votes.set(f, (votes.get(f) ?? 0) + 1);
            const [accused] = [...votes]
              .filter(([, v]) => v * 2 > group.length - 1)
              .sort((a, b) => b[1] - a[1])
              .map(([p]) => p);
            const name = (p: string) => everyone.find((m) => m.wallet.pkh === p)?.name ?? p;
            info(
              `${label} round ${round}: scores flag ${[...votes].map(([p, v]) => `${name(p)} (${v} of ${group.length - 1})`).join(', ')}; the honest parties refuse to sign this aggregate`,
            );
            run = { ...run, global, ...(accused ? { accused } : {}), stoppedAt: round, reason: 'saboteur' };
            break;
          }
          const aggregateHash = [...hashes][0]!;
          const signatures: string[] = [];
          for (const m of group)
            signatures.push(
              await participants
                .get(m.wallet.pkh)!
                .acknowledge(session.seatOf(m.wallet.pkh), key, aggregateHash),
            );
          const next = participants.get(ids[0]!)!.advance(global, outcomes.get(ids[0]!)!);
          global = next.global;
          globalHash = next.hash;
          const measure = model.cohortMetric(
            global,
            group.map((m) => m.index),
          );
          info(
            `${label} round ${round}: aggregate ${aggregateHash.slice(0, 12)}… signed by all ${group.length}; cohort ${model.id === 'mnist-mlp-nf4' ? 'test accuracy' : 'held-out bits per byte (mean over its parties)'} ${model.metric.format(measure)}`,
          );
          run = { global, lastSigned: { round: BigInt(round), aggregateHash, signatures, global } };
          await duringRound?.(round);
        }
        progress(`${label} epoch ${epoch}: closing the head, contestation period, fanout`);
        const fanout = await session.closeAndFanout();
        info(
          `${label} epoch ${epoch}: head closed and fanned out (${fanout.utxoCount} outputs back on layer 1)`,
        );
      } finally {
        await session.stop();
      }
      return run;
    };

    const collectBytes = (participants: Map<string, Participant>) => {
      for (const [id, p] of participants) {
        const m = everyone.find((x) => x.wallet.pkh === id)!;
        m.bytesUploaded += p.uploadedBytes;
      }
    };

    const cohorts: Array<{ id: string; outcome: string; rounds: number; chain: CohortChain }> = [];
    const R = options.rounds;
    let goodGlobal: Delta = model.startAdapters;

    // ---- act 1: the cohort of all parties (with a saboteur or a dropout, or all honest)
    {
      const label = options.scenario === 'honest' ? 'cohort' : 'cohort A';
      const chain = await createCohort(members[0]!, R, R, label);
      for (const m of members) await joinCohort(chain, m, label);
      const { state, tx } = await chain.startEpoch(members[0]!.wallet);
      const participants = participantsOf(chain, members);
      const run = await runEpoch(chain, label, state, tx, 1, R, goodGlobal, participants);
      collectBytes(participants);
      if (!run.lastSigned)
        throw new DmlError('DEMO_NO_SNAPSHOT', 'no round was signed by every party: nothing to close with');
      const closer = members.find((m) => m.role === 'honest')!;
      progress(`${label}: closing on layer 1 with the round ${run.lastSigned.round} snapshot signed by all`);
      await chain.close(closer.wallet, run.lastSigned);
      const after = await chain.finalize(closer.wallet);
      info(
        `${label}: closed by ${closer.name} at round ${run.lastSigned.round}; finalized ${after.phase.kind}`,
      );
      goodGlobal = run.lastSigned.global;
      if (after.phase.kind === 'Completed') {
        for (const m of members) {
          m.depositOut += await chain.claim(m.wallet);
          m.finalAdapters = goodGlobal;
        }
        info(`${label}: every party claimed its deposit back`);
        cohorts.push({
          id: chain.cohortId,
          outcome: 'Completed',
          rounds: Number(run.lastSigned.round),
          chain,
        });
      } else {
        const accused = run.accused!;
        const voters = members.filter((m) => m.wallet.pkh !== accused);
        progress(`${label}: kill vote against ${everyone.find((m) => m.wallet.pkh === accused)!.name}`);
        await chain.slash(
          accused,
          voters.map((v) => v.wallet),
        );
        const shares = slashShares(
          DEPOSIT,
          voters.map((v) => v.wallet.pkh),
        );
        for (const v of voters)
          v.depositOut += DEPOSIT + shares.find((s) => s.party === v.wallet.pkh)!.amount;
        const bad = everyone.find((m) => m.wallet.pkh === accused)!;
        bad.finalAdapters = goodGlobal;
        info(
          `${label}: ${voters.length} voters burnt their kill tokens; ${bad.name}'s ${DEPOSIT / ADA} ADA deposit is shared among them`,
        );
        cohorts.push({
          id: chain.cohortId,
          outcome: `Premature (${bad.name} slashed)`,
          rounds: Number(run.lastSigned.round),
          chain,
        });

        // ---- act 2: the honest parties carry on in a new cohort from the last good adapter
        const honest = members.filter((m) => m.wallet.pkh !== accused);
        const label2 = 'cohort B';
        const epochRounds = Math.max(1, Math.floor(R / 2));
        const chainB = await createCohort(honest[0]!, R, epochRounds, label2);
        for (const m of honest) await joinCohort(chainB, m, label2);
        const started = await chainB.startEpoch(honest[0]!.wallet);
        const groupB = newcomer ? [...honest, newcomer] : honest;
        const participantsB = participantsOf(chainB, groupB);
        const epoch1 = await runEpoch(
          chainB,
          label2,
          started.state,
          started.tx,
          1,
          epochRounds,
          goodGlobal,
          participantsB,
          async (round) => {
            if (round === 1 && newcomer) await joinCohort(chainB, newcomer, `${label2} (while epoch 1 runs)`);
          },
        );
        if (!epoch1.lastSigned || epoch1.stoppedAt)
          throw new DmlError('DEMO_STALLED', `${label2} epoch 1 stopped early`);
        await chainB.close(honest[0]!.wallet, epoch1.lastSigned);
        let stateB = await chainB.finalize(honest[0]!.wallet);
        info(
          `${label2}: scheduled close at round ${epoch1.lastSigned.round}; finalized into epoch ${stateB.epoch} with ${stateB.parties.length} parties`,
        );
        let last = epoch1;
        if (stateB.phase.kind === 'Open') {
          last = await runEpoch(
            chainB,
            label2,
            stateB,
            chainB.lastTx!,
            epochRounds + 1,
            R,
            epoch1.global,
            participantsB,
          );
          if (!last.lastSigned || last.stoppedAt)
            throw new DmlError('DEMO_STALLED', `${label2} epoch 2 stopped early`);
          await chainB.close(honest[0]!.wallet, last.lastSigned);
          stateB = await chainB.finalize(honest[0]!.wallet);
        }
        collectBytes(participantsB);
        info(`${label2}: closed at round ${last.lastSigned!.round}; finalized ${stateB.phase.kind}`);
        for (const m of groupB) {
          m.depositOut += await chainB.claim(m.wallet);
          m.finalAdapters = last.lastSigned!.global;
        }
        info(`${label2}: every party claimed its deposit back`);
        cohorts.push({
          id: chainB.cohortId,
          outcome: stateB.phase.kind,
          rounds: Number(last.lastSigned!.round),
          chain: chainB,
        });
      }
    }

    // ---- each party alone, for the same compute
    progress('training each party alone for comparison');
    const alone = new Map<string, number>();
    for (const m of everyone) {
      const steps = Math.max(1, m.roundsTrained) * options.localSteps;
      alone.set(m.wallet.pkh, model.alone(m.index, steps, options.seed * 31 + m.index));
    }

    // ---- the auditor
    progress('auditor: verifying every cohort from the log, the stored deltas and the chain');
    const audits: DemoResult['cohorts'][number][] = [];
    for (const c of cohorts) {
      // The auditor reads through the grants in the log while they last, else with the read
      // access each party gave it to its folder; it follows layer 1 itself (the emulator's
      // blocks) rather than trusting the log's l1 events.
      const audit = await verifyCohortInStores(
        log,
        { storeOf: (party) => stores.get(party) },
        c.id,
        passphrase,
        { now: clock, chain: followCohort(c.chain.emulator.history, c.chain.scripts) },
      );
      const report = await writeAuditReport(
        { store: log, cohortId: c.id },
        join(dir, `report-${audits.length + 1}`),
        { directions: audit.directions },
      );
      audits.push({ id: c.id, outcome: c.outcome, rounds: c.rounds, audit, reportFile: report.htmlFile });
      info(
        `auditor: cohort ${c.id.slice(0, 16)}… ${audit.ok ? 'verified' : `FAILED (${audit.findings.length} findings)`}: ${audit.checked.deltas} deltas, ${audit.checked.aggregates} aggregates, ${audit.checked.closes} closes, ${audit.checked.slashes} slashes, ${audit.checked.chainTransitions ?? 0} layer-1 transitions against the chain`,
      );
      const nameOf = (party: string) => everyone.find((m) => m.wallet.pkh === party)?.name ?? party;
      for (const line of renderAuditDirections(audit, nameOf).split('\n')) info(`auditor: ${line}`);
      for (const p of audit.directions.parties)
        info(
          `auditor:   ${nameOf(p.partyId)}: ${p.verdict}, z ${p.z.toFixed(1)} over ${p.rounds} round(s) (a typical party of those rounds: ${p.referenceZ.toFixed(1)})`,
        );
    }

    const parties: DemoPartyRow[] = everyone.map((m) => ({
      name: m.name,
      id: m.wallet.pkh,
      role: m.role,
      accuracyAlone: alone.get(m.wallet.pkh)!,
      accuracyTogether: model.partyMetric(m.index, m.finalAdapters ?? goodGlobal),
      bytesUploaded: m.bytesUploaded,
      depositIn: m.depositIn,
      depositOut: m.depositOut,
    }));
    return {
      dir,
      logFile,
      storageRoot,
      passphraseFile,
      baseAccuracy: model.baseMetric,
      model: options.model,
      metric: { label: model.metric.label, higherIsBetter: model.metric.higherIsBetter },
      cohorts: audits,
      parties,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await log.close();
    for (const store of stores.values()) await store.close();
  }
};
