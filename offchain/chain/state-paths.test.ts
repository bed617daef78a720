import { describe, expect, it } from '@jest/globals';
import { C, type UTxO } from 'lucid-cardano';
import {
  cohortKit,
  runningCohortGenesis,
  DEFAULT_TERMS,
  type CohortKit,
  type KitParty,
} from './cohort-kit.js';
import {
  CohortRedeemer,
  MembershipRedeemer,
  cohortDatum,
  signTrainingSnapshot,
  type CohortPhase,
} from './cohort-data.js';
import { closeTx, findCohortState, joinTx, readCohortState, startEpochTx } from './cohort-tx.js';
import { ScriptFailure } from './script-failure.js';
import { outputAddress, outputLovelace, tamperTx, withLovelace } from './tamper.js';

const open: CohortPhase = { kind: 'Open', round: 0n, aggregateHash: '' };
const completed: CohortPhase = { kind: 'Completed', round: 10n, aggregateHash: '' };
const closed: CohortPhase = {
  kind: 'Closed',
  round: 3n,
  aggregateHash: '',
  deadline: BigInt(Date.now() + 3_600_000),
  closer: '00'.repeat(28),
};
const running = (phase: CohortPhase, keysOf?: CohortKit) =>
  cohortKit(3, { extraGenesis: runningCohortGenesis(phase), ...(keysOf ? { keysOf } : {}) });

const submitSigned = async (kit: CohortKit, txHex: string, signers: readonly KitParty[]): Promise<string> => {
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

const HASH = 'cd'.repeat(32);
const buildClose = async (kit: CohortKit, signatures?: string[]) => {
  const closer = kit.parties[0]!;
  const state = await findCohortState(kit.lucid, kit.scripts);
  const sigs = signatures ?? kit.sign(kit.parties, 1n, 5n, HASH);
  const tx = closeTx(
    kit.as(closer),
    kit.scripts,
    state,
    { round: 5n, aggregateHash: HASH, signatures: sigs },
    closer.pkh,
    kit.emulator.now() + 20_000,
  );
  return (await tx.complete()).toString();
};
/** The honest close, with its Close redeemer's signatures replaced after building. */
const closeWithSignatures = async (kit: CohortKit, signatures: string[]) =>
  tamperTx(await buildClose(kit), {
    redeemer: (tag, _i, d) =>
      tag === 0 ? CohortRedeemer.close(5n, HASH, signatures, kit.parties[0]!.pkh) : d,
  });

describe('Close (head close validator)', () => {
  it('accepts a close with the training snapshot signed by every party of the epoch', async () => {
    const kit = await running(open);
    await submitSigned(kit, await buildClose(kit), [kit.parties[0]!]);
    kit.emulator.awaitBlock(1);
    expect(readCohortState(await findCohortState(kit.lucid, kit.scripts)).phase.kind).toBe('Closed');
  });

  it('rejects a close with a snapshot missing one signature', async () => {
    const kit = await running(open);
    const tx = await closeWithSignatures(kit, kit.sign(kit.parties, 1n, 5n, HASH).slice(0, 2));
    await expectRejected(submitSigned(kit, tx, [kit.parties[0]!]), 'signatures');
  });

  it('rejects a close with a signature from a non-party', async () => {
    const kit = await running(open);
    const sigs = kit.sign([kit.parties[0]!, kit.parties[1]!, kit.creator], 1n, 5n, HASH);
    await expectRejected(
      submitSigned(kit, await closeWithSignatures(kit, sigs), [kit.parties[0]!]),
      'signatures',
    );
  });

  it('rejects a close with a signature replayed from another epoch', async () => {
    const kit = await running(open);
    const sigs = kit.sign(kit.parties, 2n, 5n, HASH);
    await expectRejected(
      submitSigned(kit, await closeWithSignatures(kit, sigs), [kit.parties[0]!]),
      'signatures',
    );
  });

  it('rejects a close with signatures of another cohort', async () => {
    const kit = await running(open);
    // Same keys and epoch, another cohort id (differs in its last byte).
    const otherId = kit.scripts.cohortId.slice(0, -2) + (kit.scripts.cohortId.endsWith('00') ? '01' : '00');
    const sigs = kit.parties.map((p) =>
      signTrainingSnapshot(p.hydraSk, { cohortId: otherId, epoch: 1n, round: 5n, aggregateHash: HASH }),
    );
    await expectRejected(
      submitSigned(kit, await closeWithSignatures(kit, sigs), [kit.parties[0]!]),
      'signatures',
    );
  });

  it('rejects closing twice', async () => {
    const first = await running(open);
    const tx = await buildClose(first);
    const already = await running(closed, first);
    await expectRejected(submitSigned(already, tx, [first.parties[0]!]), 'not-open');
  });

  it('rejects datum tampering on the continuing state output', async () => {
    const kit = await running(open);
    const state: UTxO = await findCohortState(kit.lucid, kit.scripts);
    const tx = tamperTx(await buildClose(kit), {
      outputs: (outs) =>
        outs.map((o) => {
          if (!o.datum()?.as_data()) return o;
          // Same output, but with the datum it had before the close (phase still Open).
          const copy = C.TransactionOutput.new(o.address(), o.amount());
          copy.set_datum(
            C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(Buffer.from(state.datum!, 'hex')))),
          );
          return copy;
        }),
    });
    await expectRejected(submitSigned(kit, tx, [kit.parties[0]!]), 'datum');
  });
});

describe('Join (membership policy)', () => {
  const buildJoin = async (kit: CohortKit) => {
    const joiner = kit.creator;
    const tx = joinTx(kit.as(joiner), kit.scripts, await findCohortState(kit.lucid, kit.scripts), {
      pkh: joiner.pkh,
      hydraVk: joiner.hydraVk,
      deposit: DEFAULT_TERMS.minDeposit,
    });
    return (await tx.complete()).toString();
  };

  it('accepts a join while the cohort is open', async () => {
    const kit = await running(open);
    await submitSigned(kit, await buildJoin(kit), [kit.creator]);
    kit.emulator.awaitBlock(1);
    expect(readCohortState(await findCohortState(kit.lucid, kit.scripts)).members).toHaveLength(4);
  });

  it('rejects a join with a deposit below the minimum', async () => {
    const kit = await running(open);
    const tx = tamperTx(await buildJoin(kit), {
      outputs: (outs) =>
        outs.map((o) =>
          outputLovelace(o) === DEFAULT_TERMS.minDeposit ? withLovelace(o, DEFAULT_TERMS.minDeposit - 1n) : o,
        ),
    });
    await expectRejected(submitSigned(kit, tx, [kit.creator]), 'deposit');
  });

  it('rejects a join not signed by the party', async () => {
    const kit = await running(open);
    const tx = tamperTx(await buildJoin(kit), { requiredSigners: () => [] });
    await expectRejected(submitSigned(kit, tx, [kit.creator]), 'party-sig');
  });

  it('rejects a join without paying escrow', async () => {
    const kit = await running(open);
    const tx = tamperTx(await buildJoin(kit), {
      outputs: (outs) => outs.filter((o) => outputLovelace(o) !== DEFAULT_TERMS.minDeposit),
    });
    await expectRejected(submitSigned(kit, tx, [kit.creator]), 'deposit');
  });

  it('rejects minting a second set of tokens for the same party', async () => {
    const before = await running(open);
    const tx = await buildJoin(before);
    // The same join where the creator is already a member.
    const member = await cohortKit(3, {
      keysOf: before,
      extraGenesis: runningCohortGenesis(open, { extraParties: [before.creator] }),
    });
    await expectRejected(submitSigned(member, tx, [before.creator]), 'already-member');
  });

  it("rejects minting another party's tokens", async () => {
    const kit = await running(open);
    const victim = kit.parties[1]!;
    const tx = tamperTx(await buildJoin(kit), {
      redeemer: (tag, _i, d) => (tag === 1 ? MembershipRedeemer.join(victim.pkh, victim.hydraVk) : d),
    });
    await expectRejected(submitSigned(kit, tx, [kit.creator]), 'party-sig');
  });

  it('rejects datum tampering on the continuing state output of a join (the new member left out)', async () => {
    const kit = await running(open);
    const before: UTxO = await findCohortState(kit.lucid, kit.scripts);
    const tx = tamperTx(await buildJoin(kit), {
      outputs: (outs) =>
        outs.map((o) => {
          if (outputAddress(o) !== kit.scripts.stateAddress) return o;
          // The joiner takes its tokens, but the state keeps the members it had before the join.
          const copy = C.TransactionOutput.new(o.address(), o.amount());
          copy.set_datum(
            C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(Buffer.from(before.datum!, 'hex')))),
          );
          return copy;
        }),
    });
    await expectRejected(submitSigned(kit, tx, [kit.creator]), 'state-out');
  });

  it('rejects a join after the cohort ended', async () => {
    const before = await running(open);
    const tx = await buildJoin(before);
    const ended = await running(completed, before);
    // The state validator refuses first: only an Open cohort takes members.
    await expectRejected(submitSigned(ended, tx, [before.creator]), 'not-open');
  });
});

describe('StartEpoch (head close validator)', () => {
  /** A cohort whose members joined but whose first epoch has not started (epoch 0, no parties). */
  const notStarted = (keysOf?: CohortKit) =>
    cohortKit(3, {
      ...(keysOf ? { keysOf } : {}),
      extraGenesis: (s, parties) => {
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
  const buildStart = async (kit: CohortKit, signer: KitParty) =>
    (
      await startEpochTx(
        kit.as(signer),
        kit.scripts,
        await findCohortState(kit.lucid, kit.scripts),
        signer.pkh,
      ).complete()
    ).toString();

  it('accepts the first epoch started by a member: the members become the parties', async () => {
    const kit = await notStarted();
    await submitSigned(kit, await buildStart(kit, kit.parties[0]!), [kit.parties[0]!]);
    kit.emulator.awaitBlock(1);
    const state = readCohortState(await findCohortState(kit.lucid, kit.scripts));
    expect(state.epoch).toBe(1n);
    expect(state.parties.map((p) => p.pkh)).toEqual(kit.parties.map((p) => p.pkh));
  });

  it('rejects a start signed by a non-member', async () => {
    const kit = await notStarted();
    const tx = tamperTx(await buildStart(kit, kit.parties[0]!), { requiredSigners: () => [kit.creator.pkh] });
    await expectRejected(submitSigned(kit, tx, [kit.creator]), 'member-sig');
  });

  it('rejects a start whose continuing datum leaves a member out of the parties', async () => {
    const kit = await notStarted();
    const state = readCohortState(await findCohortState(kit.lucid, kit.scripts));
    const tampered = cohortDatum({ ...state, epoch: 1n, parties: state.members.slice(1) });
    const tx = tamperTx(await buildStart(kit, kit.parties[0]!), {
      outputs: (outs) =>
        outs.map((o) => {
          if (outputAddress(o) !== kit.scripts.stateAddress) return o;
          const copy = C.TransactionOutput.new(o.address(), o.amount());
          copy.set_datum(C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(Buffer.from(tampered, 'hex')))));
          return copy;
        }),
    });
    await expectRejected(submitSigned(kit, tx, [kit.parties[0]!]), 'datum');
  });
});
