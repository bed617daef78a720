import { describe, expect, it } from '@jest/globals';
import { C } from 'lucid-cardano';
import { cohortKit, runningCohortGenesis, type CohortKit, type KitParty } from './cohort-kit.js';
import { cohortDatum, type CohortPhase, type CohortState } from './cohort-data.js';
import { contestTx, finalizeTx, findCohortState, readCohortState } from './cohort-tx.js';
import { ScriptFailure } from './script-failure.js';
import { tamperTx } from './tamper.js';

const HOUR = 3_600_000;
const HASH = 'ef'.repeat(32);
const closedAt = (round: bigint, deadline: number): CohortPhase => ({
  kind: 'Closed',
  round,
  aggregateHash: '',
  deadline: BigInt(deadline),
  closer: '00'.repeat(28),
});
const running = (phase: CohortPhase, keysOf?: CohortKit) =>
  cohortKit(3, { extraGenesis: runningCohortGenesis(phase), ...(keysOf ? { keysOf } : {}) });

const submitSigned = async (kit: CohortKit, txHex: string, signers: readonly KitParty[]) => {
  let tx = kit.lucid.fromTx(txHex);
  for (const p of signers) tx = tx.signWithPrivateKey(p.privateKey);
  return (await tx.complete()).submit();
};
const expectRejected = async (submission: Promise<unknown>, trace: string) => {
  const error = await submission.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ScriptFailure);
  expect((error as ScriptFailure).traces).toContain(trace);
};

/** The built transaction with the datum of its state output (the one with an inline datum) replaced. */
const withStateDatum = (txHex: string, state: CohortState) =>
  tamperTx(txHex, {
    outputs: (outs) =>
      outs.map((o) => {
        if (!o.datum()?.as_data()) return o;
        const copy = C.TransactionOutput.new(o.address(), o.amount());
        copy.set_datum(
          C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(Buffer.from(cohortDatum(state), 'hex')))),
        );
        return copy;
      }),
  });

const buildContest = async (kit: CohortKit, round: bigint) => {
  const p = kit.parties[1]!;
  const state = await findCohortState(kit.lucid, kit.scripts);
  const tx = contestTx(
    kit.as(p),
    kit.scripts,
    state,
    { round, aggregateHash: HASH, signatures: kit.sign(kit.parties, 1n, round, HASH) },
    kit.emulator.now() + 20_000,
  );
  return (await tx.complete()).toString();
};
const buildFinalize = async (kit: CohortKit) => {
  const p = kit.parties[2]!;
  const tx = finalizeTx(
    kit.as(p),
    kit.scripts,
    await findCohortState(kit.lucid, kit.scripts),
    kit.emulator.now(),
  );
  return (await tx.complete()).toString();
};

describe('Contest', () => {
  it('accepts a newer snapshot before the deadline', async () => {
    const kit = await running(closedAt(3n, Date.now() + HOUR));
    await submitSigned(kit, await buildContest(kit, 5n), [kit.parties[1]!]);
    kit.emulator.awaitBlock(1);
    const phase = readCohortState(await findCohortState(kit.lucid, kit.scripts)).phase;
    expect(phase.kind === 'Closed' && phase.round).toBe(5n);
  });

  it('rejects a contest with an older or equal round', async () => {
    const a = await running(closedAt(3n, Date.now() + HOUR));
    const tx = await buildContest(a, 5n);
    const b = await running(closedAt(5n, Date.now() + HOUR), a);
    await expectRejected(submitSigned(b, tx, [a.parties[1]!]), 'old-round');
  });

  it('rejects a contest after the deadline', async () => {
    const a = await running(closedAt(3n, Date.now() + HOUR));
    const tx = await buildContest(a, 5n);
    const b = await running(closedAt(3n, Date.now() - HOUR), a);
    await expectRejected(submitSigned(b, tx, [a.parties[1]!]), 'deadline');
  });

  it('rejects datum tampering on the continuing state output of a contest (the deadline pushed back)', async () => {
    const deadline = Date.now() + HOUR;
    const kit = await running(closedAt(3n, deadline));
    const before = readCohortState(await findCohortState(kit.lucid, kit.scripts));
    const tx = withStateDatum(await buildContest(kit, 5n), {
      ...before,
      phase: {
        kind: 'Closed',
        round: 5n,
        aggregateHash: HASH,
        deadline: BigInt(deadline + HOUR),
        closer: '00'.repeat(28),
      },
    });
    await expectRejected(submitSigned(kit, tx, [kit.parties[1]!]), 'datum');
  });
});

describe('Finalize', () => {
  it('accepts after the deadline: Premature when the round is neither final nor an epoch boundary', async () => {
    const kit = await running(closedAt(3n, Date.now() - HOUR));
    await submitSigned(kit, await buildFinalize(kit), [kit.parties[2]!]);
    kit.emulator.awaitBlock(1);
    expect(readCohortState(await findCohortState(kit.lucid, kit.scripts)).phase.kind).toBe('Premature');
  });

  it('accepts after the deadline: the next epoch when the close was scheduled (round 5 of epochs of 5)', async () => {
    const kit = await running(closedAt(5n, Date.now() - HOUR));
    await submitSigned(kit, await buildFinalize(kit), [kit.parties[2]!]);
    kit.emulator.awaitBlock(1);
    const state = readCohortState(await findCohortState(kit.lucid, kit.scripts));
    expect([state.phase.kind, state.epoch]).toEqual(['Open', 2n]);
  });

  it('rejects finalize before the deadline', async () => {
    const a = await running(closedAt(3n, Date.now() - HOUR));
    const tx = await buildFinalize(a);
    const b = await running(closedAt(3n, Date.now() + HOUR), a);
    await expectRejected(submitSigned(b, tx, [a.parties[2]!]), 'too-early');
  });

  it('rejects datum tampering on the continuing state output of a finalize (Completed instead of Premature)', async () => {
    const kit = await running(closedAt(3n, Date.now() - HOUR));
    const before = readCohortState(await findCohortState(kit.lucid, kit.scripts));
    const tx = withStateDatum(await buildFinalize(kit), {
      ...before,
      phase: { kind: 'Completed', round: 3n, aggregateHash: '' },
    });
    await expectRejected(submitSigned(kit, tx, [kit.parties[2]!]), 'datum');
  });

  it('rejects spending the cohort state output without a valid transition (a Completed cohort)', async () => {
    const a = await running(closedAt(3n, Date.now() - HOUR));
    const tx = await buildFinalize(a);
    const b = await running({ kind: 'Completed', round: 10n, aggregateHash: '' }, a);
    // Completed has no deadline field: the validator stops before any transition (no trace).
    const error = await submitSigned(b, tx, [a.parties[2]!]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ScriptFailure);
    expect((error as ScriptFailure).scriptName).toBe('cohort_state.spend');
  });
});
