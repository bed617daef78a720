import { availableParallelism, loadavg } from 'node:os';
import { buildHeadTx, startEmbeddedHeadWithClients, type HydraUTxO } from '../offchain/index.js';

/**
 * The embedded head's throughput and latency, measured through the client (WebSocket) as a
 * user sees it: every party keeps a chain of self-transfers in flight (one at a time each), so
 * snapshots batch the transactions of several parties. Latency is from sending `NewTx` to
 * receiving the `SnapshotConfirmed` that contains the transaction.
 */
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const run = async (parties: number, transactions: number) => {
  const fixture = await startEmbeddedHeadWithClients(parties);
  try {
    const openStarted = performance.now();
    const opened = await fixture.open();
    const openMs = performance.now() - openStarted;
    const own = (utxo: HydraUTxO, address: string): [string, bigint] => {
      const [txIn, out] = Object.entries(utxo).find(([, o]) => o.address === address)!;
      return [txIn, BigInt(out.value['lovelace'] as number)];
    };
    const latencies: number[] = [];
    let remaining = transactions;
    const started = performance.now();
    await Promise.all(
      fixture.users.map(async (user, i) => {
        const [first, lovelace] = own(opened.utxo, user.address);
        let txIn = first;
        while (remaining > 0) {
          remaining--;
          const tx = buildHeadTx({
            inputs: [txIn],
            outputs: [{ address: user.address, lovelace }],
            signers: [user],
          });
          const sent = performance.now();
          await fixture.clients[i]!.submitTx(tx);
          latencies.push(performance.now() - sent);
          txIn = `${tx.txId}#0`;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const snapshots = fixture.head.nodes[0]!.outputs.filter((o) => o.tag === 'SnapshotConfirmed').length;
    // Close, let the contestation period pass on layer 1, fan out (layer-1 transactions).
    const closeStarted = performance.now();
    await fixture.clients[0]!.closeHead();
    const ready = fixture.clients[0]!.waitFor('ReadyToFanout');
    await fixture.head.advanceTime(61_000);
    await ready;
    await fixture.clients[0]!.fanout();
    const closeMs = performance.now() - closeStarted;
    return {
      openMs,
      closeMs,
      tps: transactions / seconds,
      median: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      snapshots,
    };
  } finally {
    await fixture.stop();
  }
};

export default async (): Promise<
  Array<{ name: string; value: number; unit: string; backend?: string; note?: string }>
> => {
  const results = [];
  for (const [parties, transactions] of [
    [3, 300],
    [10, 200],
  ] as const) {
    const r = await run(parties, transactions);
    const note = `${transactions} self-transfers, one in flight per party, ${r.snapshots} snapshots, real Cardano ledger and Ed25519 multisig; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`;
    results.push(
      {
        name: `hydra embedded head ${parties} parties: confirmed transactions per second`,
        value: r.tps,
        unit: 'tx/s',
        note,
      },
      {
        name: `hydra embedded head ${parties} parties: NewTx to SnapshotConfirmed median`,
        value: r.median,
        unit: 'ms',
        note,
      },
      {
        name: `hydra embedded head ${parties} parties: NewTx to SnapshotConfirmed p99`,
        value: r.p99,
        unit: 'ms',
        note,
      },
      {
        name: `hydra embedded head ${parties} parties: open on layer 1 (Init, ${parties} commits, CollectCom)`,
        value: r.openMs,
        unit: 'ms',
        note: `layer-1 transactions on lucid's Emulator (built, signed, submitted, observed), commits drafted over HTTP and signed by each user; load average ${loadavg()[0]!.toFixed(1)}`,
      },
      {
        name: `hydra embedded head ${parties} parties: close to finalized on layer 1 (Close, deadline, Fanout)`,
        value: r.closeMs,
        unit: 'ms',
        note: `contestation period 60 s of emulated chain time (not waited); fanout pays ${parties}+ outputs; load average ${loadavg()[0]!.toFixed(1)}`,
      },
    );
  }
  return results;
};
