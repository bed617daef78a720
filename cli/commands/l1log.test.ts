import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevnetLedger, startDevnetServer, type DevnetServer } from '../../offchain/index.js';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';

/**
 * The party's log on the devnet (issue #8): create, join (by policy id and by TXHASH#INDEX) and
 * start-epoch each append their l1 event; `dml status` of a party with an empty log of its own
 * syncs it from the chain; `dml audit verify --chain` passes, and fails naming the event when one
 * l1 event is altered or the last one removed.
 */
let home: string;
let ledger: DevnetLedger;
let server: DevnetServer;
let env: Record<string, string>;

const run = async (argv: string[]) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
};
const as = (party: string, argv: string[]) => ['--keys', join(home, party), ...argv];
const ok = async <T = Record<string, unknown>>(argv: string[]): Promise<T> => {
  const result = await run(['--json', ...argv]);
  if (result.code !== 0) throw new Error(`dml ${argv.join(' ')} -> ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};
type Synced = { log: { appended: Array<{ type: string }>; present: number } };

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'dml-l1log-cli-'));
  ledger = await DevnetLedger.open(join(home, 'devnet'));
  server = await startDevnetServer(ledger);
  env = { DML_HOME: home, DML_DEVNET_URL: server.url };
  for (const party of ['creator', 'a', 'b']) {
    await ok(as(party, ['keys', 'new']));
    await ok(as(party, ['devnet', 'fund', '--ada', '100']));
  }
}, 120_000);
afterAll(async () => {
  await server.close();
  ledger.close();
});

describe('l1 events in the party log on the devnet, and the auditor against the chain', () => {
  let id: string;
  let policy: string;
  const log = () => join(home, 'events.sqlite');

  it('each layer-1 command appends its l1 event; either cohort id works and both are printed', async () => {
    const created = await ok<{ cohort: string; policy: string } & Synced>(
      as('creator', [
        'cohort',
        'create',
        '--min-deposit',
        '10',
        '--final-round',
        '4',
        '--epoch-rounds',
        '2',
        '--rank',
        '4',
      ]),
    );
    ({ cohort: id, policy } = created);
    expect(policy).toMatch(/^[0-9a-f]{56}$/);
    expect(created.log.appended.map((e) => e.type)).toEqual(['l1.CohortCreated']);
    const joinedA = await ok<Synced & { cohort: string; policy: string }>(
      as('a', ['cohort', 'join', '--cohort', policy, '--deposit', '10']),
    );
    expect(joinedA).toMatchObject({ cohort: id, policy });
    expect(joinedA.log.appended.map((e) => e.type)).toEqual(['l1.PartyJoined']);
    await ok(as('b', ['cohort', 'join', '--cohort', id, '--deposit', '12']));
    const started = await ok<Synced>(as('a', ['cohort', 'start-epoch', '--cohort', id]));
    expect(started.log).toMatchObject({ appended: [{ type: 'l1.EpochStarted' }], present: 3 });
    // a second sync finds nothing to add
    const again = await ok<Synced>(['cohort', 'sync', '--cohort', policy]);
    expect(again.log).toMatchObject({ appended: [], present: 4 });
  }, 180_000);

  it('dml status shows the transitions; a party with an empty log of its own gets them from the chain', async () => {
    const other = mkdtempSync(join(tmpdir(), 'dml-l1log-other-'));
    const view = await ok<
      { cohortId: string; cohort: string; layer1: Array<Record<string, unknown>> } & Synced
    >(as('b', ['--home', other, 'status', '--cohort', id]));
    expect(view).toMatchObject({ cohortId: policy, cohort: id });
    expect(view.log.appended).toHaveLength(4);
    expect(view.layer1.map((e) => e['type'])).toEqual([
      'l1.CohortCreated',
      'l1.PartyJoined',
      'l1.PartyJoined',
      'l1.EpochStarted',
    ]);
    expect(view.layer1[0]).toMatchObject({
      params: { model: 'mnist', aggregation: 'ffa-lora', loraRank: 4, rounds: 4 },
    });
    expect(view.layer1[2]).toMatchObject({ deposit: '12000000' });
    const human = await run(as('a', ['status', '--cohort', policy]));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/layer 1 \(4 transition\(s\) in the log\)/);
    expect(human.stdout).toMatch(/l1\.EpochStarted\s+epoch 1 started with 2 parties/);
  }, 120_000);

  it('dml audit verify --chain passes, and fails naming the l1 event that differs from the chain', async () => {
    const verify = (file: string) =>
      run(as('creator', ['audit', 'verify', '--chain', '--store', `sqlite:${file}`, '--cohort', policy]));
    const good = await verify(log());
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('4 layer-1 transitions against the chain');

    const altered = join(home, 'altered.sqlite');
    copyFileSync(log(), altered);
    const db = new Database(altered);
    const row = db
      .prepare(
        "SELECT position, data FROM events WHERE type = 'l1.PartyJoined' ORDER BY position DESC LIMIT 1",
      )
      .get() as { position: number; data: string };
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(
      JSON.stringify({ ...JSON.parse(row.data), deposit: '99000000' }),
      row.position,
    );
    db.close();
    const bad = await verify(altered);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/l1\.PartyJoined: the deposit in the log is not what the chain shows/);
    expect(bad.stdout).toContain('99000000');

    const removed = join(home, 'removed.sqlite');
    copyFileSync(log(), removed);
    const db2 = new Database(removed);
    db2.prepare("DELETE FROM events WHERE type = 'l1.EpochStarted'").run();
    db2.close();
    const missing = await verify(removed);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /the chain shows a epochStarted in transaction [0-9a-f]{64} .* that the log does not record/,
    );
  }, 120_000);
});
