import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SqliteEventStore, headStream, type StoredDmlEvent } from '../events/index.js';
import { buildHeadTx } from './cardano-head-tx.js';
import { HydraClient } from './client.js';
import { startEmbeddedHeadWithClients } from './embedded-fixture.js';
import { HydraOutputLog, hydraOutputEventId } from './output-log.js';

const seqsOf = (events: StoredDmlEvent[]) =>
  events.flatMap((e) => {
    const seq = (e.data as { raw: { seq?: number } }).raw.seq;
    return seq === undefined ? [] : [seq];
  });

describe('HydraClient with the event log (SQLite)', () => {
  it('appends every output to its head stream as it arrives; a restarted client or a reconnect loses nothing and duplicates nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dml-hydra-log-'));
    const file = join(dir, 'events.db');
    const fixture = await startEmbeddedHeadWithClients(2);
    const { head, users } = fixture;
    const endpoint = head.endpoints[0]!;
    const node = head.nodes[0]!;
    const logged = (store: SqliteEventStore) =>
      new HydraClient({
        host: endpoint.host,
        port: endpoint.port,
        eventLog: { store, cohortId: 'cohort-1', nodeId: `party-${endpoint.party}` },
        backoff: { initialMs: 5, maxMs: 50 },
      });
    let store = new SqliteEventStore(file);
    let client = logged(store);
    try {
      await client.connect();
      const opened = await fixture.open();
      const headId = opened.headId;
      const stream = headStream(headId);
      const move = async (i: number, txIn: string, lovelace: bigint) => {
        const tx = buildHeadTx({
          inputs: [txIn],
          outputs: [{ address: users[i]!.address, lovelace }],
          signers: [users[i]!],
        });
        await fixture.clients[i]!.submitTx(tx);
        return `${tx.txId}#0`;
      };
      const own = Object.entries(opened.utxo).find(([, o]) => o.address === users[0]!.address)!;
      const lovelace = BigInt(own[1].value['lovelace'] as number);
      let txIn = await move(0, own[0], lovelace);
      txIn = await move(0, txIn, lovelace);
      await head.settled();
      const expected = () => node.outputs.map((o) => o.seq);
      /** Waits (on outputs, not on time) until the client has taken the node's last output. */
      const caughtUp = async () => {
        const last = node.outputs.at(-1)!;
        if (client.seq < last.seq) await client.waitFor(last.tag, (o) => o.seq === last.seq, 10_000);
        await client.flushed();
      };
      await caughtUp();
      expect(seqsOf(await store.readStream(stream))).toEqual(expected());
      expect(client.outputLog!.duplicates).toBe(0);

      // The client stops (and its store closes); the head goes on without it.
      await client.disconnect();
      await store.close();
      txIn = await move(0, txIn, lovelace);
      await head.settled();

      // Restarted: the whole history is replayed; what is stored is skipped, the rest appended.
      store = new SqliteEventStore(file);
      expect(await HydraOutputLog.lastStoredSeq(store, headId)).toBeLessThan(node.outputs.at(-1)!.seq);
      client = logged(store);
      await client.connect();
      await caughtUp();
      expect(seqsOf(await store.readStream(stream))).toEqual(expected());
      expect(client.outputLog!.duplicates).toBeGreaterThan(0);

      // The node's endpoint restarts under the client: it reconnects and resumes by seq. Party 1
      // moves its output meanwhile; the snapshot waits for party 0 and confirms after the restart.
      await head.stopParty(0);
      const other = Object.entries(opened.utxo).find(([, o]) => o.address === users[1]!.address)!;
      const moved = move(1, other[0], BigInt(other[1].value['lovelace'] as number));
      await head.restartParty(0);
      await moved;
      await move(0, txIn, lovelace);
      await head.settled();
      await caughtUp();
      expect(client.connections).toBeGreaterThan(1);
      const events = await store.readStream(stream);
      expect(seqsOf(events)).toEqual(expected());
      expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
      expect(await HydraOutputLog.lastStoredSeq(store, headId)).toBe(node.outputs.at(-1)!.seq);
      expect(client.sinkErrors).toEqual([]);
      // A client message (no seq) is appended once, to the head's stream.
      await expect(client.init(5_000)).rejects.toMatchObject({ code: 'HYDRA_COMMAND_FAILED' });
      await client.flushed();
      const last = (await store.readStream(stream)).at(-1)!;
      expect(last.data).toMatchObject({
        raw: { tag: 'CommandFailed' },
        normalised: { kind: 'CommandFailed' },
      });
    } finally {
      await client.disconnect();
      await fixture.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('derives event ids from node, seq and timestamp (UUID-shaped, stable)', () => {
    const a = hydraOutputEventId('n', 1, 't');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(hydraOutputEventId('n', 1, 't')).toBe(a);
    expect(hydraOutputEventId('n', 2, 't')).not.toBe(a);
    expect(hydraOutputEventId('m', 1, 't')).not.toBe(a);
    expect(hydraOutputEventId('n', 1, 'u')).not.toBe(a);
  });
});
