import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { SqliteEventStore, partyStream } from '../../offchain/index.js';
import { startDevnetHead, type DevnetHead } from '../devnet-head.js';
import { loadPartyWallet } from '../party-wallet.js';
import { SMALL_MNIST_PLAN_FLAGS } from './train-crash-scenario.js';
import {
  bounded,
  openTrainDevnet,
  waitForOutput,
  type DmlProcess,
  type TrainDevnet,
} from './train-processes.js';

/**
 * `dml train run` beyond a cohort's first epoch, end to end on a devnet, with the ordinary
 * commands: a cohort of 2 parties (a, b) trains epoch 1 (one round) in a head of two while a
 * third party (c) joins; `dml train close` closes the epoch on layer 1 with the snapshot both
 * signed (a scheduled close), the head closes and fans out, `dml cohort finalize` moves the
 * cohort to epoch 2 with 3 parties, a new head of three opens, and three `dml train run`
 * processes complete round 2 with one aggregate. The continuing parties start from their own
 * history, the newcomer from a carry-over it checked: all three from the same adapter.
 */

let devnet: TrainDevnet;
let home: string;
let head: DevnetHead | undefined;

/** Each party's hydra-node endpoint: the same port for every head, as a real hydra-node keeps its URL. */
const ports: Record<string, number> = {};
const hydraEnv = (party: string): Record<string, string> => ({
  DML_HYDRA_URL: `ws://127.0.0.1:${ports[party]}`,
});
const run = (argv: string[], extraEnv: Record<string, string> = {}) => devnet.run(argv, extraEnv);
const ok = <T = Record<string, unknown>>(party: string, argv: string[]) => devnet.ok<T>(party, argv);

type Child = DmlProcess;

/** `dml train run`, a real process of its own; no peer is silent for 150 s unless something failed. */
const startParty = (party: string, plan: string): Child =>
  devnet.startTrainRun(party, plan, ['--poll', '1', '--patience', '150']);

/**
 * Waits for parties' processes to end; each must exit 0. A party that fails ends the wait for
 * the others at once (they would wait for it until their patience runs out), so the failure
 * shows with every party's output, not as a test timeout.
 */
const awaitExits = async (parties: string[], procs: Child[], seconds = 300) => {
  const firstFailure = new Promise<void>((resolve) =>
    procs.forEach((p) => void p.exited.then((r) => r.code !== 0 && resolve())),
  );
  const allExited = Promise.all(procs.map((p) => p.exited));
  await bounded(
    `dml train run of ${parties.join(', ')}`,
    Promise.race([allExited, firstFailure]),
    seconds,
  ).catch((e: unknown) => {
    throw new Error(
      [(e as Error).message, ...procs.map((p, i) => `${parties[i]}: ${p.stdout}\n${p.stderr}`)].join('\n'),
    );
  });
  for (const { process: child } of devnet.processes)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const results = await allExited;
  // all parties in one comparison: a failure shows every party's exit and output together
  expect(
    results.map((r, i) => ({
      party: parties[i],
      code: r.code,
      signal: r.signal,
      stderr: r.code === 0 ? '' : procs[i]!.stderr,
    })),
  ).toEqual(parties.map((party) => ({ party, code: 0, signal: null, stderr: '' })));
};

/** The epoch's last round as a process's result line says it. */
const doneLine = (p: Child) => {
  const done = /round (\d+) acknowledged by all (\d+) parties, aggregate ([0-9a-f]{64})/.exec(p.stdout);
  return { round: Number(done?.[1]), parties: Number(done?.[2]), aggregateHash: done?.[3] };
};

/** A free 127.0.0.1 port (each party's hydra-node keeps its port from one head to the next). */
const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

beforeAll(async () => {
  for (const party of ['a', 'b', 'c']) ports[party] = await freePort();
  devnet = await openTrainDevnet({
    prefix: 'dml-train-epochs-',
    passphrase: 'cohort passphrase 91c2',
    parties: ['a', 'b', 'c'],
    hydraEnv,
  });
  home = devnet.home;
}, 120_000);

afterAll(async () => {
  await head?.close();
  await devnet?.close();
});

describe('dml train run follows the cohort across epochs', () => {
  it('processes that span both epochs: a and b train epoch 1, wait for the scheduled close, train epoch 2 with the newcomer c who waited for it; b stopped by Ctrl-C between epochs resumes from its log', async () => {
    const headOf = (parties: string[]) =>
      startDevnetHead(devnet.ledger, {
        keyDirs: parties.map((p) => join(home, p)),
        contestationPeriod: 30,
        ports: parties.map((p) => ports[p]!),
      });
    head = await bounded('the head of a and b', headOf(['a', 'b']));
    const created = await ok<{ cohort: string; policy: string }>('a', [
      'cohort',
      'create',
      '--final-round',
      '2',
      '--epoch-rounds',
      '1',
      '--contestation-period',
      '30',
    ]);
    const { cohort, policy } = created;
    for (const party of ['a', 'b'])
      await ok(party, ['cohort', 'join', '--cohort', cohort, '--deposit', '10']);
    await ok('a', ['cohort', 'start-epoch', '--cohort', cohort]);
    await ok('a', ['head', 'init']);
    for (const party of ['a', 'b']) await ok(party, ['head', 'commit']);
    const plan = join(home, 'plan.json');
    await ok('a', ['train', 'plan', '--cohort', cohort, '--out', plan, ...SMALL_MNIST_PLAN_FLAGS]);

    // epoch 1: a and b train round 1 while c joins; c's process waits for the next epoch
    const a = startParty('a', plan);
    let b = startParty('b', plan);
    await ok('c', ['cohort', 'join', '--cohort', cohort, '--deposit', '10']);
    // with a short patience, the newcomer's wait for the next epoch ends in one line naming it
    const impatient = await run(
      ['--keys', join(home, 'c'), 'train', 'run', '--plan', plan, '--poll', '0.2', '--patience', '1'],
      hydraEnv('c'),
    );
    expect(impatient.code).toBe(1);
    const errors = impatient.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('dml: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /waited \d+ s \(--patience\) for the next epoch: this party is not a party of epoch 1/,
    );
    const c = startParty('c', plan);
    for (const [name, p] of [
      ['a', a],
      ['b', b],
    ] as const)
      await waitForOutput(name, p, /waiting for the scheduled close of epoch 1, done at round 1/);
    expect([doneLine(a), doneLine(b)].map((d) => d.round)).toEqual([NaN, NaN]); // still running: no result line yet
    const epoch1 = [a, b].map(
      (p) =>
        /epoch 1 done: round 1 acknowledged by all 2 parties, aggregate ([0-9a-f]{64})/.exec(p.stderr)?.[1],
    );
    expect(epoch1[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(epoch1[1]).toBe(epoch1[0]);
    await waitForOutput('c', c, /waiting for the next epoch: this party is not a party of epoch 1/);

    // Ctrl-C: b stops cleanly between epochs
    b.process.kill('SIGINT');
    const stoppedB = await bounded('b stopping on SIGINT', b.exited);
    expect({ ...stoppedB, stdout: b.stdout.trim() }).toEqual({
      code: 0,
      signal: null,
      stdout: 'stopped between epochs; run again to resume',
    });

    // the scheduled close, by hand: layer 1 with the snapshot both signed, the head closed and fanned out
    await ok('a', ['devnet', 'fund', '--ada', '20']); // a's funds are in the head: fees on layer 1
    const closed = await ok<{ round: number; aggregateHash: string; scheduled: boolean }>('a', [
      'train',
      'close',
      '--plan',
      plan,
    ]);
    expect(closed).toMatchObject({ round: 1, aggregateHash: epoch1[0], scheduled: true });
    await ok('a', ['head', 'close']);
    await ok('a', ['devnet', 'advance', '--seconds', '100']);
    await ok('a', ['head', 'fanout']);
    expect(await ok('a', ['cohort', 'finalize', '--cohort', cohort])).toMatchObject({
      epoch: 2,
      phase: 'Open',
    });
    await bounded('closing the first head', head.close());

    // epoch 2: a new head of three at the same endpoints; b runs again and resumes from its log
    head = await bounded('the head of a, b and c', headOf(['a', 'b', 'c']));
    await ok('a', ['head', 'init']);
    for (const party of ['a', 'b', 'c']) await ok(party, ['head', 'commit']);
    b = startParty('b', plan);
    await awaitExits(['a', 'b', 'c'], [a, b, c]);
    const done2 = [a, b, c].map(doneLine);
    expect(done2.map((d) => [d.round, d.parties])).toEqual([
      [2, 3],
      [2, 3],
      [2, 3],
    ]);
    expect(new Set(done2.map((d) => d.aggregateHash)).size).toBe(1);
    for (const p of [a, b, c]) expect(p.stdout).toMatch(/the cohort's final round: training is over/);
    expect(c.stderr).toMatch(
      /started from global adapter [0-9a-f]{12} \(the carry-over of [0-9a-f]{12}, checked\)/,
    );
    // a followed both epochs in one process (whether a poll saw the cohort Closed between the close
    // and the finalize depends on timing: not asserted)
    expect(a.stderr).toMatch(
      /epoch 1 done: round 1[\s\S]*waiting for the scheduled close of epoch 1[\s\S]*epoch 2: rounds 2-2, 3 parties/,
    );

    // every party started round 2 from the same adapter: the newcomer's equals the others'
    const wallets = await Promise.all(['a', 'b', 'c'].map((p) => loadPartyWallet(join(home, p))));
    const log = new SqliteEventStore(join(home, 'events.sqlite'));
    try {
      const starts = await Promise.all(
        wallets.map(async (w) =>
          (await log.readStream(partyStream(policy, w.pkh)))
            .filter((e) => e.type === 'training.RoundStarted')
            .map((e) => e.data as { epoch: number; round: number; globalAdapterHash: string })
            .filter((d) => d.epoch === 2 && d.round === 2)
            .map((d) => d.globalAdapterHash),
        ),
      );
      expect(starts.map((s) => s.length)).toEqual([1, 1, 1]);
      expect(new Set(starts.flat()).size).toBe(1);
      // and it is not the plan's start: the cohort carried round 1 over
      const round1 = (await log.readStream(partyStream(policy, wallets[0]!.pkh)))
        .filter((e) => e.type === 'training.RoundStarted')
        .map((e) => e.data as { round: number; globalAdapterHash: string })
        .find((d) => d.round === 1)!.globalAdapterHash;
      expect(starts[0]![0]).not.toBe(round1);
      // b's stream: one step of each kind per round across its two processes
      const bTypes = (await log.readStream(partyStream(policy, wallets[1]!.pkh))).map((e) => e.type);
      for (const type of ['training.RoundStarted', 'training.DeltaCommitted', 'training.SnapshotSigned'])
        expect(bTypes.filter((t) => t === type)).toHaveLength(2);
    } finally {
      await log.close();
    }
  }, 480_000);
});
