import type { UTxO } from 'lucid-cardano';
import { cohortKit, runningCohortGenesis, DEFAULT_TERMS, type CohortKit } from './cohort-kit.js';
import { cohortDatum, parseEscrowDatum, type CohortPhase } from './cohort-data.js';
import {
  claimTx,
  closeTx,
  contestTx,
  createCohortTx,
  finalizeTx,
  findCohortState,
  joinTx,
  partyTokenUnits,
  refundTx,
  slashTx,
  startEpochTx,
} from './cohort-tx.js';

/** Execution units of a typical valid transaction of each path, measured with the validating emulator. */
export interface PathBudget {
  readonly path: string;
  readonly parties: number;
  readonly steps: number;
  readonly mem: number;
  readonly stepsShare: number;
  readonly memShare: number;
  readonly txBytes: number;
}

const HOUR = 3_600_000;
const running = (n: number, phase: CohortPhase) =>
  cohortKit(n, { extraGenesis: runningCohortGenesis(phase) });

const measure = (kit: CohortKit, path: string, txHex: string): PathBudget => {
  const units = kit.emulator.evaluateTx(txHex);
  const steps = units.reduce((s, u) => s + u.steps, 0);
  const mem = units.reduce((s, u) => s + u.mem, 0);
  const params = kit.emulator.protocolParameters;
  return {
    path,
    parties: kit.parties.length,
    steps,
    mem,
    stepsShare: steps / Number(params.maxTxExSteps),
    memShare: mem / Number(params.maxTxExMem),
    txBytes: txHex.length / 2,
  };
};

const escrowOf = async (kit: CohortKit, pkh: string): Promise<UTxO> =>
  (await kit.lucid.utxosAt(kit.scripts.escrowAddress)).find((u) => parseEscrowDatum(u.datum!).owner === pkh)!;

const closedAt = (round: bigint, deadline: number): CohortPhase => ({
  kind: 'Closed',
  round,
  aggregateHash: 'cd'.repeat(32),
  deadline: BigInt(deadline),
  closer: '00'.repeat(28),
});

/** Every path's typical valid transaction for a cohort of n parties (create does not depend on n). */
export const measureContractPaths = async (n: number): Promise<PathBudget[]> => {
  const out: PathBudget[] = [];
  {
    const kit = await cohortKit(n);
    const create = createCohortTx(kit.as(kit.creator), kit.scripts, kit.seed, DEFAULT_TERMS);
    out.push(measure(kit, 'create', (await create.complete()).toString()));
  }
  {
    // n members joined, the first epoch not started yet (epoch 0, no parties).
    const kit = await cohortKit(n, {
      extraGenesis: (s, parties) => {
        const open: CohortPhase = { kind: 'Open', round: 0n, aggregateHash: '' };
        const [state, ...rest] = runningCohortGenesis(open)(s, parties);
        const members = parties.map((p) => ({ pkh: p.pkh, hydraVk: p.hydraVk }));
        const datum = cohortDatum({
          cohortId: s.cohortId,
          membershipPolicy: s.membershipPolicy,
          terms: DEFAULT_TERMS,
          epoch: 0n,
          parties: [],
          members,
          phase: open,
        });
        return [{ ...state!, outputData: { inline: datum } }, ...rest];
      },
    });
    const signer = kit.parties[n - 1]!;
    const start = startEpochTx(
      kit.as(signer),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      signer.pkh,
    );
    out.push(measure(kit, 'start epoch', (await start.complete()).toString()));
  }
  {
    const kit = await running(n, { kind: 'Open', round: 0n, aggregateHash: '' });
    const state = await findCohortState(kit.lucid, kit.scripts);
    const joiner = kit.creator;
    const join = joinTx(kit.as(joiner), kit.scripts, state, {
      pkh: joiner.pkh,
      hydraVk: joiner.hydraVk,
      deposit: DEFAULT_TERMS.minDeposit,
    });
    out.push(measure(kit, 'join', (await join.complete()).toString()));
    const hash = 'ab'.repeat(32);
    const closer = kit.parties[0]!;
    const close = closeTx(
      kit.as(closer),
      kit.scripts,
      state,
      { round: 5n, aggregateHash: hash, signatures: kit.sign(kit.parties, 1n, 5n, hash) },
      closer.pkh,
      kit.emulator.now() + 20_000,
    );
    out.push(measure(kit, 'close', (await close.complete()).toString()));
  }
  {
    const kit = await running(n, closedAt(5n, Date.now() + HOUR));
    const hash = 'ef'.repeat(32);
    const contester = kit.parties[1 % n]!;
    const contest = contestTx(
      kit.as(contester),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      { round: 6n, aggregateHash: hash, signatures: kit.sign(kit.parties, 1n, 6n, hash) },
      kit.emulator.now() + 20_000,
    );
    out.push(measure(kit, 'contest', (await contest.complete()).toString()));
  }
  {
    const kit = await running(n, closedAt(10n, Date.now() - HOUR));
    const finalize = finalizeTx(
      kit.as(kit.parties[0]!),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      kit.emulator.now(),
    );
    out.push(measure(kit, 'finalize', (await finalize.complete()).toString()));
  }
  {
    const kit = await running(n, { kind: 'Premature', votingDeadline: BigInt(Date.now() - HOUR) });
    const owner = kit.parties[0]!;
    const refund = refundTx(
      kit.as(owner),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      await escrowOf(kit, owner.pkh),
      kit.emulator.now(),
    );
    out.push(measure(kit, 'refund', (await refund.complete()).toString()));
  }
  {
    const kit = await running(n, { kind: 'Completed', round: 10n, aggregateHash: '' });
    const owner = kit.parties[0]!;
    const claim = claimTx(
      kit.as(owner),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      await escrowOf(kit, owner.pkh),
    );
    out.push(measure(kit, 'claim', (await claim.complete()).toString()));
  }
  {
    const kit = await running(n, { kind: 'Premature', votingDeadline: BigInt(Date.now() + HOUR) });
    const accused = kit.parties[n - 1]!;
    const voters = kit.parties.slice(0, Math.floor((n - 1) / 2) + 1);
    const kills: UTxO[] = [];
    const escrows: UTxO[] = [];
    for (const v of voters) {
      const unit = partyTokenUnits(kit.scripts, v.pkh).kill;
      kills.push((await kit.lucid.utxosAt(v.address)).find((u) => (u.assets[unit] ?? 0n) > 0n)!);
      escrows.push(await escrowOf(kit, v.pkh));
    }
    const slash = slashTx(
      kit.as(voters[0]!),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      await escrowOf(kit, accused.pkh),
      escrows,
      kills,
      kit.emulator.now() + 60_000,
    );
    out.push(measure(kit, `slash (${voters.length} voters)`, (await slash.complete()).toString()));
  }
  return out;
};
