import { describe, expect, it } from '@jest/globals';
import { buildHeadTx, type HeadKey } from './cardano-head-tx.js';
import type { HydraClient } from './client.js';
import type { LucidEmulatorLayer1 } from './layer1.js';
import type { HydraServerOutput, HydraUTxO } from './messages.js';
import { headStatusOf } from './head-api.js';
import { loadHydraApiValidator } from './testing/api-schema.js';
import { startEmbeddedHeadWithClients, type EmbeddedHeadWithClients } from './embedded-fixture.js';

const api = loadHydraApiValidator();

/** Every output any node sent validates against api.yaml (schema named by its tag). */
const expectApiConformance = (fixture: EmbeddedHeadWithClients) => {
  const problems: string[] = [];
  for (const node of fixture.head.nodes) {
    for (const output of [...node.outputs, ...node.emitted.filter((o) => o.seq === undefined)]) {
      const problem = api.check(output.tag, JSON.parse(JSON.stringify(output)));
      if (problem) problems.push(`${output.tag}: ${problem}`);
    }
  }
  expect(problems).toEqual([]);
};

/** A party's single output in `utxo` at its address (each party keeps one here). */
const ownOutput = (utxo: HydraUTxO, user: HeadKey): [string, bigint] => {
  const entry = Object.entries(utxo).find(([, out]) => out.address === user.address);
  if (!entry) throw new Error(`no output of ${user.address}`);
  return [entry[0], BigInt(entry[1].value['lovelace'] as number)];
};

/** A self-transfer of a party's output, spending `txIn` worth `lovelace`. */
const selfTransfer = (user: HeadKey, txIn: string, lovelace: bigint, split = false) =>
  buildHeadTx({
    inputs: [txIn],
    outputs: split
      ? [
          { address: user.address, lovelace: lovelace - 2_000_000n },
          { address: user.address, lovelace: 2_000_000n },
        ]
      : [{ address: user.address, lovelace }],
    signers: [user],
  });

/** A self-transfer valid from slot `validFrom` on. */
const selfTransferFrom = (user: HeadKey, txIn: string, lovelace: bigint, validFrom: number) =>
  buildHeadTx({ inputs: [txIn], outputs: [{ address: user.address, lovelace }], signers: [user], validFrom });

describe('embedded head through the client (3 parties)', () => {
  it('init, commit, open, 200 transactions, close with an old snapshot, contest, fanout = last confirmed snapshot', async () => {
    const fixture = await startEmbeddedHeadWithClients(3, { contestationPeriod: 60 });
    const { head, clients, users } = fixture;
    try {
      const opened = await fixture.open();
      expect(Object.keys(opened.utxo)).toHaveLength(3);

      // 200 transactions: each party moves its own output, the three chains run concurrently.
      let remaining = 200;
      const confirmedNumbers: number[] = [];
      clients[0]!.onOutput(
        (o) => void (o.tag === 'SnapshotConfirmed' && confirmedNumbers.push(o.snapshot.number)),
      );
      await Promise.all(
        users.map(async (user, i) => {
          const [firstIn, lovelace] = ownOutput(opened.utxo, user);
          let txIn = firstIn;
          while (remaining > 0) {
            remaining--;
            const tx = selfTransfer(user, txIn, lovelace);
            const confirmed = await clients[i]!.submitTx(tx);
            expect(confirmed.snapshot.confirmed.map((t) => t.txId)).toContain(tx.txId);
            txIn = `${tx.txId}#0`;
          }
        }),
      );
      await head.settled();
      expect(confirmedNumbers.length).toBeGreaterThan(3);
      expect(confirmedNumbers).toEqual([...confirmedNumbers].sort((a, b) => a - b));
      const utxoAfter200 = await clients[0]!.getSnapshotUtxo();
      expect(Object.keys(utxoAfter200)).toHaveLength(3);

      // Party 2 falls behind: after it acknowledges the next snapshot it hears nothing more
      // from the others, so it never sees that snapshot confirmed.
      const lastNumber = confirmedNumbers.at(-1)!;
      head.partitionAfter(2, (m) => m.tag === 'AckSn' && m.snapshotNumber === lastNumber + 1);
      const [txIn, lovelace] = ownOutput(utxoAfter200, users[0]!);
      const last = selfTransfer(users[0]!, txIn, lovelace, true);
      const lastConfirmed = await clients[0]!.submitTx(last);
      expect(lastConfirmed.snapshot.number).toBe(lastNumber + 1);
      await head.settled();
      expect((await clients[2]!.getSnapshot()) as { snapshot: { number: number } }).toMatchObject({
        snapshot: { number: lastNumber },
      });

      // Party 2 closes with its (older) snapshot; the others contest with the newer one.
      // The contest pushes the deadline by one contestation period (hydra 1.3.0); the second
      // party's contest with the same snapshot is refused by the chain (not newer).
      const contested = clients[0]!.waitFor('HeadIsContested');
      const closed = await clients[2]!.closeHead();
      expect(closed.snapshotNumber).toBe(lastNumber);
      const contest = await contested;
      expect(contest.snapshotNumber).toBe(lastNumber + 1);
      expect(Date.parse(contest.contestationDeadline) - Date.parse(closed.contestationDeadline)).toBe(60_000);
      await head.settled();
      const onChain = head.chain.onChainState(closed.headId);
      expect(onChain).toMatchObject({ state: 'Closed', snapshotNumber: lastNumber + 1 });
      expect(onChain?.state === 'Closed' && onChain.contesters).toHaveLength(1);

      // Fanout before the deadline is refused; after it, the head pays out on layer 1.
      await expect(clients[1]!.fanout(5_000)).rejects.toMatchObject({ code: 'HYDRA_COMMAND_FAILED' });
      await head.advanceTime(61_000); // past the close's deadline, not the contested one
      expect(head.nodes.map((n) => headStatusOf(n.headState))).toEqual(['Closed', 'Closed', 'Closed']);
      const ready = clients.map((c) => c.waitFor('ReadyToFanout'));
      await head.advanceTime(60_000);
      await Promise.all(ready);
      const finalized = await clients[1]!.fanout();
      expect(finalized.utxo).toEqual(lastConfirmed.snapshot.utxo);
      expect(Object.keys(finalized.utxo)).toHaveLength(4);

      // The layer 1 now holds those outputs at the parties' addresses.
      const layer1 = head.chain.layer1 as LucidEmulatorLayer1;
      for (const user of users) {
        const onL1 = layer1
          .utxosAt(user.address)
          .map((u) => u.assets['lovelace'])
          .sort();
        const inHead = Object.values(finalized.utxo)
          .filter((o) => o.address === user.address)
          .map((o) => BigInt(o.value['lovelace'] as number))
          .sort();
        expect(onL1).toEqual(inHead);
      }

      // Every client saw the whole story once, in seq order; every output conforms to api.yaml.
      for (const outputs of fixture.received) {
        const seqs = outputs.flatMap((o) => (o.seq === undefined ? [] : [o.seq]));
        expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
      }
      expectApiConformance(fixture);
    } finally {
      await fixture.stop();
    }
  });
});

describe('embedded head faults', () => {
  const openFixture = async (n = 3) => {
    const fixture = await startEmbeddedHeadWithClients(n);
    const opened = await fixture.open();
    return { fixture, opened };
  };

  const waitInvalidInput = (client: HydraClient) =>
    new Promise<HydraServerOutput>((resolve) => {
      const off = client.onOutput((o) => {
        if (o.tag === 'InvalidInput') {
          off();
          resolve(o);
        }
      });
    });

  it('answers malformed JSON and unknown tags with InvalidInput, and a command in the wrong state with CommandFailed', async () => {
    const { fixture } = await openFixture(2);
    const client = fixture.clients[0]!;
    try {
      let invalid = waitInvalidInput(client);
      client.sendRaw('{"tag": "Init", ');
      expect(await invalid).toMatchObject({ tag: 'InvalidInput', input: '{"tag": "Init", ' });
      invalid = waitInvalidInput(client);
      client.sendRaw('{"tag": "Dance"}');
      expect(await invalid).toMatchObject({ tag: 'InvalidInput' });
      await expect(client.init(5_000)).rejects.toMatchObject({
        code: 'HYDRA_COMMAND_FAILED',
        message: expect.stringContaining('Open'),
      });
      await expect(client.abort(5_000)).rejects.toMatchObject({ code: 'HYDRA_COMMAND_FAILED' });
      await expect(client.fanout(5_000)).rejects.toMatchObject({ code: 'HYDRA_COMMAND_FAILED' });
      // An invalid transaction is reported with the ledger's reason.
      const [txIn, lovelace] = ownOutput(await client.getSnapshotUtxo(), fixture.users[0]!);
      const stolen = buildHeadTx({
        inputs: [txIn],
        outputs: [{ address: fixture.users[1]!.address, lovelace }],
        signers: [fixture.users[1]!],
      });
      await expect(client.submitTx(stolen, 5_000)).rejects.toMatchObject({
        code: 'HYDRA_TX_INVALID',
        message: expect.stringContaining('MissingVKeyWitnesses'),
      });
      // The head's clock is layer 1's: a transaction valid only from a later slot is invalid
      // now, and valid once layer-1 time has passed.
      const layer1 = fixture.head.chain.layer1 as LucidEmulatorLayer1;
      const later = selfTransferFrom(fixture.users[0]!, txIn, lovelace, layer1.emulator.slot + 30);
      await expect(client.submitTx(later, 5_000)).rejects.toMatchObject({
        code: 'HYDRA_TX_INVALID',
        message: expect.stringContaining('OutsideValidityIntervalUTxO'),
      });
      await fixture.head.advanceTime(30_000);
      expect((await client.submitTx(later)).snapshot.confirmed.map((t) => t.txId)).toEqual([later.txId]);
      const commandFailed = fixture.head.nodes[0]!.emitted.find((o) => o.tag === 'CommandFailed');
      expect(commandFailed).toMatchObject({ clientInput: { tag: 'Init' }, state: { tag: 'Open' } });
      expectApiConformance(fixture);
    } finally {
      await fixture.stop();
    }
  });

  it('stalls when a party stops acknowledging; the others close with the last confirmed snapshot', async () => {
    const { fixture, opened } = await openFixture(3);
    const { head, clients, users } = fixture;
    try {
      const [txIn, lovelace] = ownOutput(opened.utxo, users[0]!);
      const first = selfTransfer(users[0]!, txIn, lovelace);
      const confirmed = await clients[0]!.submitTx(first);
      head.nodes[1]!.silent = true;
      const second = selfTransfer(users[0]!, `${first.txId}#0`, lovelace);
      await expect(clients[0]!.submitTx(second, 1_500)).rejects.toMatchObject({ code: 'HYDRA_TIMEOUT' });
      await head.settled();
      expect(
        head.nodes.map((n) => (n.headState.tag === 'Open' ? n.headState.coordinated.seenSnapshot.tag : '')),
      ).toEqual(['SeenSnapshot', 'SeenSnapshot', 'SeenSnapshot']);
      // Two parties close at once: the chain takes one, the other gets PostTxOnChainFailed.
      const closedFor = clients.map((c) => c.waitFor('HeadIsClosed'));
      // (Delivered to the two nodes in the same turn, as if both users pressed close together.)
      head.nodes[0]!.handle({ tag: 'ClientInput', input: { tag: 'Close' } });
      head.nodes[2]!.handle({ tag: 'ClientInput', input: { tag: 'Close' } });
      const closed = await closedFor[2]!;
      await Promise.all(closedFor);
      expect(closed.snapshotNumber).toBe(confirmed.snapshot.number);
      await head.settled();
      const failedPosts = head.nodes.flatMap((n) => n.emitted.filter((o) => o.tag === 'PostTxOnChainFailed'));
      expect(failedPosts).toHaveLength(1);
      expect(failedPosts[0]).toMatchObject({
        postChainTx: { tag: 'CloseTx' },
        postTxError: { tag: 'InvalidStateToPost' },
      });
      const ready = clients[2]!.waitFor('ReadyToFanout');
      await head.advanceTime(61_000);
      await ready;
      const finalized = await clients[2]!.fanout();
      expect(finalized.utxo).toEqual(confirmed.snapshot.utxo);
      expectApiConformance(fixture);
    } finally {
      await fixture.stop();
    }
  });

  it('survives a party endpoint restarting mid-snapshot: the snapshot confirms and clients resume without duplicates', async () => {
    const { fixture, opened } = await openFixture(3);
    const { head, clients, users } = fixture;
    try {
      const [txIn, lovelace] = ownOutput(opened.utxo, users[0]!);
      // Party 1 goes down after it acknowledged (the snapshot is in flight, not confirmed for it).
      head.partitionAfter(1, (m) => m.tag === 'AckSn');
      const tx = selfTransfer(users[0]!, txIn, lovelace);
      const confirmedFor0 = clients[0]!.submitTx(tx);
      const confirmedFor1 = clients[1]!.waitFor('SnapshotConfirmed', (o) => o.snapshot.number === 1);
      await confirmedFor0;
      await head.settled();
      await head.stopParty(1);
      head.heal(1); // messages held while it was partitioned now wait for it to come back
      await head.restartParty(1);
      expect((await confirmedFor1).snapshot.number).toBe(1);
      expect(clients[1]!.connections).toBeGreaterThan(1);
      // The restarted node keeps working: a new transaction through it confirms everywhere.
      const next = selfTransfer(users[0]!, `${tx.txId}#0`, lovelace);
      const viaRestarted = await clients[1]!.submitTx(
        buildHeadTx({
          inputs: [`${tx.txId}#0`],
          outputs: [{ address: users[0]!.address, lovelace }],
          signers: [users[0]!],
        }),
      );
      expect(viaRestarted.snapshot.confirmed.map((t) => t.txId)).toEqual([next.txId]);
      await fixture.clients[1]!.flushed();
      const seqs = fixture.received[1]!.flatMap((o) => (o.seq === undefined ? [] : [o.seq]));
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
      expect(
        fixture.received[1]!.filter((o) => o.tag === 'SnapshotConfirmed').map((o) =>
          o.tag === 'SnapshotConfirmed' ? o.snapshot.number : 0,
        ),
      ).toEqual([1, 2]);
    } finally {
      await fixture.stop();
    }
  });
});
