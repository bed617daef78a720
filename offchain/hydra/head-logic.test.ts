import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { replayHead, snapshotLeader } from './head-logic.js';
import type { HeadState } from './head-types.js';
import { HYDRA_CLIENT_INPUT_TAGS, type HydraClientInput } from './messages.js';
import { verifyMultiSignature } from './snapshot-signing.js';
import { HeadSimulation } from './testing/head-simulation.js';
import { simpleLedger, simpleTx } from './testing/simple-ledger.js';

type Action =
  | { kind: 'spend'; party: number; pick: number; split: boolean }
  | { kind: 'doubleSpend'; party: number; pick: number }
  | { kind: 'tick'; seconds: number }
  | { kind: 'silence'; party: number }
  | { kind: 'client'; party: number; tag: string };

const action = (parties: number): fc.Arbitrary<Action> =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('spend' as const),
        party: fc.nat(parties - 1),
        pick: fc.nat(),
        split: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('doubleSpend' as const),
        party: fc.nat(parties - 1),
        pick: fc.nat(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 40 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('silence' as const), party: fc.nat(parties - 1) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('client' as const),
        party: fc.nat(parties - 1),
        tag: fc.constantFrom(...HYDRA_CLIENT_INPUT_TAGS.filter((t) => t !== 'NewTx')),
      }),
    },
  );

const clientInput = (tag: string): HydraClientInput =>
  (({
    Recover: { tag, recoverTxId: '00'.repeat(32) },
    Decommit: { tag, decommitTx: { type: 'Tx ConwayEra', description: '', cborHex: '00' } },
    SideLoadSnapshot: { tag, snapshot: { tag: 'InitialSnapshot', headId: '00', initialUTxO: {} } },
  })[tag] as HydraClientInput | undefined) ?? ({ tag } as HydraClientInput);

const checkedRun = (parties: number, actions: Action[]) => {
  const sim = new HeadSimulation(simpleLedger, parties);
  const violations: string[] = [];
  const lastConfirmed = new Map<string, number>();
  sim.onStep = (node, before, changes, effects) => {
    if (before.tag === 'Final' && node.state !== before)
      violations.push(`left Final: ${JSON.stringify(changes)}`);
    for (const effect of effects) {
      if (effect.tag !== 'ClientEffect' || effect.output.tag !== 'SnapshotConfirmed') continue;
      const number = effect.output.snapshot.number;
      const previous = lastConfirmed.get(node.env.party) ?? 0;
      if (number <= previous) violations.push(`snapshot ${number} after ${previous}`);
      lastConfirmed.set(node.env.party, number);
    }
    const state: HeadState = node.state;
    if (state.tag === 'Open' && state.coordinated.confirmedSnapshot.tag === 'ConfirmedSnapshot') {
      const { snapshot, signatures } = state.coordinated.confirmedSnapshot;
      if (!verifyMultiSignature(state.parameters.parties, snapshot, signatures))
        violations.push(`bad multisig on ${snapshot.number}`);
    }
  };

  sim.send(0, { tag: 'ClientInput', input: { tag: 'Init' } });
  sim.run();
  sim.nodes.forEach((_, i) => sim.commit(i, { [`${'ab'.repeat(32)}#${i}`]: String(1000 * (i + 1)) }));
  sim.run();
  let nonce = 0;
  const spent: string[] = [];
  for (const a of actions) {
    const node = sim.nodes['party' in a ? a.party : 0]!;
    const state = node.state;
    const utxo = state.tag === 'Open' ? state.coordinated.localUTxO : {};
    const keys = Object.keys(utxo).sort();
    switch (a.kind) {
      case 'spend': {
        if (keys.length === 0) break;
        const input = keys[a.pick % keys.length]!;
        const amount = Number(utxo[input]);
        const outputs =
          a.split && amount > 1 ? [Math.floor(amount / 2), amount - Math.floor(amount / 2)] : [amount];
        const tx = simpleTx({ inputs: [input], outputs, nonce: nonce++ });
        spent.push(input);
        sim.send(a.party, {
          tag: 'ClientInput',
          input: {
            tag: 'NewTx',
            transaction: { type: 'Tx ConwayEra', description: '', cborHex: tx.cborHex },
          },
        });
        break;
      }
      case 'doubleSpend': {
        if (spent.length === 0) break;
        const tx = simpleTx({ inputs: [spent[a.pick % spent.length]!], outputs: [1], nonce: nonce++ });
        sim.send(a.party, {
          tag: 'ClientInput',
          input: {
            tag: 'NewTx',
            transaction: { type: 'Tx ConwayEra', description: '', cborHex: tx.cborHex },
          },
        });
        break;
      }
      case 'tick':
        sim.tick(a.seconds * 1000);
        break;
      case 'silence':
        node.silent = true;
        break;
      case 'client':
        sim.send(a.party, { tag: 'ClientInput', input: clientInput(a.tag) });
        break;
    }
    sim.run();
  }
  return { sim, violations };
};

describe('head logic (pure state machine)', () => {
  it('keeps its invariants under random client inputs, transactions, silence and time', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 4 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(action(n), { maxLength: 60 }))),
        ([n, actions]) => {
          const { sim, violations } = checkedRun(n, actions);
          expect(violations).toEqual([]);
          for (const node of sim.nodes) {
            // Replaying the state changes gives the same state.
            expect(replayHead(node.changes)).toEqual(node.state);
          }
          // Parties agree on every confirmed snapshot.
          const confirmedBy = new Map<number, string>();
          for (const node of sim.nodes) {
            for (const change of node.changes) {
              if (change.tag !== 'SnapshotConfirmed') continue;
              const key = JSON.stringify(change.snapshot.utxo);
              const seen = confirmedBy.get(change.snapshot.number);
              if (seen !== undefined) expect(key).toBe(seen);
              confirmedBy.set(change.snapshot.number, key);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('opens, confirms snapshots with rotating leaders, closes, contests and fans out the last confirmed UTxO', () => {
    const sim = new HeadSimulation(simpleLedger, 3);
    sim.send(1, { tag: 'ClientInput', input: { tag: 'Init' } });
    sim.run();
    expect(sim.nodes.every((n) => n.state.tag === 'Initial')).toBe(true);
    sim.nodes.forEach((_, i) => sim.commit(i, { [`${'cd'.repeat(32)}#${i}`]: '100' }));
    sim.run();
    expect(sim.nodes.every((n) => n.state.tag === 'Open')).toBe(true);
    let input = `${'cd'.repeat(32)}#0`;
    for (let i = 0; i < 5; i++) {
      const tx = simpleTx({ inputs: [input], outputs: [100] });
      sim.send(i % 3, {
        tag: 'ClientInput',
        input: { tag: 'NewTx', transaction: { type: 'Tx ConwayEra', description: '', cborHex: tx.cborHex } },
      });
      sim.run();
      input = `${tx.txId}#0`;
    }
    const confirmed = sim.nodes[0]!.changes.filter((c) => c.tag === 'SnapshotConfirmed');
    expect(confirmed.map((c) => (c.tag === 'SnapshotConfirmed' ? c.snapshot.number : -1))).toEqual([
      1, 2, 3, 4, 5,
    ]);
    // Leaders rotate: snapshot k is requested by parties[(k-1) mod n].
    expect(snapshotLeader(sim.parties, 4)).toBe(sim.parties[0]);
    // Party 2 goes silent: the head stalls on snapshot 6, but 5 stays closable.
    sim.nodes[2]!.silent = true;
    const tx = simpleTx({ inputs: [input], outputs: [50, 50] });
    sim.send(0, {
      tag: 'ClientInput',
      input: { tag: 'NewTx', transaction: { type: 'Tx ConwayEra', description: '', cborHex: tx.cborHex } },
    });
    sim.run();
    expect(sim.nodes[0]!.changes.filter((c) => c.tag === 'SnapshotConfirmed')).toHaveLength(5);
    // Close is posted with snapshot 5 by party 1.
    sim.send(1, { tag: 'ClientInput', input: { tag: 'Close' } });
    sim.run();
    expect(sim.chain.closed?.snapshotNumber).toBe(5);
    sim.send(0, { tag: 'ClientInput', input: { tag: 'Fanout' } });
    sim.run();
    const failed = sim.nodes[0]!.effects.filter(
      (e) => e.tag === 'ClientEffect' && e.output.tag === 'CommandFailed',
    );
    expect(failed).toHaveLength(1);
    sim.tick(61_000);
    sim.run();
    expect(sim.nodes.every((n) => n.state.tag === 'Closed' && n.state.readyToFanoutSent)).toBe(true);
    sim.send(0, { tag: 'ClientInput', input: { tag: 'Fanout' } });
    sim.run();
    expect(sim.nodes.every((n) => n.state.tag === 'Final')).toBe(true);
    expect(sim.chain.final).toEqual(
      sim.nodes[0]!.changes.filter((c) => c.tag === 'SnapshotConfirmed').at(-1)!.snapshot.utxo,
    );
  });

  it('contests automatically a close with an older snapshot', () => {
    const sim = new HeadSimulation(simpleLedger, 2);
    sim.send(0, { tag: 'ClientInput', input: { tag: 'Init' } });
    sim.run();
    sim.nodes.forEach((_, i) => sim.commit(i, { [`${'ef'.repeat(32)}#${i}`]: '7' }));
    sim.run();
    const tx = simpleTx({ inputs: [`${'ef'.repeat(32)}#1`], outputs: [3, 4] });
    sim.send(1, {
      tag: 'ClientInput',
      input: { tag: 'NewTx', transaction: { type: 'Tx ConwayEra', description: '', cborHex: tx.cborHex } },
    });
    sim.run();
    // A stale close (the initial snapshot) reaches the chain: party 0 posts it directly.
    sim.chain.closed = undefined;
    const stale = { tag: 'InitialSnapshot' as const, headId: sim.chain.headId!, initialUTxO: {} };
    (sim as unknown as { postTx(t: unknown): void }).postTx({
      tag: 'CloseTx',
      headId: sim.chain.headId!,
      confirmedSnapshot: stale,
    });
    sim.run();
    const closedNumber = (): number | undefined => sim.chain.closed?.snapshotNumber;
    expect(closedNumber()).toBe(1);
    const contested = sim.nodes[0]!.effects.filter(
      (e) => e.tag === 'ClientEffect' && e.output.tag === 'HeadIsContested',
    );
    expect(contested).toHaveLength(1);
  });
});
