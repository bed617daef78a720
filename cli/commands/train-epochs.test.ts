import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DevnetLedger,
  SqliteEventStore,
  partyStream,
  startDevnetServer,
  type DevnetServer,
} from '../../offchain/index.js';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';
import { startDevnetHead, type DevnetHead } from '../devnet-head.js';
import { loadPartyWallet } from '../party-wallet.js';
import { SMALL_MNIST_PLAN_FLAGS } from './train-crash-scenario.js';

/**
 * `dml train run` beyond a cohort's first epoch, end to end on a devnet, with the ordinary
 * commands: a cohort of 2 parties (a, b) trains epoch 1 (one round) in a head of two while a
 * third party (c) joins; `dml train close` closes the epoch on layer 1 with the snapshot both
 * signed (a scheduled close), the head closes and fans out, `dml cohort finalize` moves the
 * cohort to epoch 2 with 3 parties, a new head of three opens, and three `dml train run`
 * processes complete round 2 with one aggregate. The continuing parties start from their own
 * history, the newcomer from a carry-over it checked: all three from the same adapter.
 */

const ROOT = join(import.meta.dirname, '..', '..');

let home: string;
let ledger: DevnetLedger;
let server: DevnetServer;
let head: DevnetHead | undefined;
let env: Record<string, string>;
const children: ChildProcess[] = [];

/** Fails naming the step when it has not finished in `seconds`: a hang shows as the step, not as the test's timeout. */
const bounded = async <T>(label: string, work: Promise<T>, seconds = 180): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: not finished after ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
};
const run = async (argv: string[], extraEnv: Record<string, string> = {}) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await bounded(
    `dml ${argv.join(' ')}`,
    main(argv, { stdout, stderr, env: { ...env, ...extraEnv } }),
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\nstdout: ${stdout.text}\nstderr: ${stderr.text}`);
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
};
const urlOf = (party: string) => head?.state.parties.find((p) => p.keys === join(home, party))?.url;
const hydraEnv = (party: string): Record<string, string> => {
  const url = urlOf(party);
  return url ? { DML_HYDRA_URL: url } : {};
};
const ok = async <T = Record<string, unknown>>(party: string, argv: string[]): Promise<T> => {
  const result = await run(['--json', '--keys', join(home, party), ...argv], hydraEnv(party));
  if (result.code !== 0) throw new Error(`dml ${argv.join(' ')} -> ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};

interface Child {
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node bin/dml.js --keys DIR train run --plan FILE`, a real process of its own. */
const startParty = (party: string, plan: string): Child => {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'dml.js'),
      '--keys',
      join(home, party),
      'train',
      'run',
      '--plan',
      plan,
      '--poll',
      '1',
      // no peer is silent for this long unless something failed: then it stops and says what it waited for
      '--patience',
      '150',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', ...env, ...hydraEnv(party) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const handle: Child = {
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  const logFile = join(home, `${party}-${children.length}.log`);
  child.stdout!.on('data', (d: Buffer) => {
    handle.stdout += d.toString();
    appendFileSync(logFile, d);
  });
  child.stderr!.on('data', (d: Buffer) => {
    handle.stderr += d.toString();
    appendFileSync(logFile, d);
  });
  return handle;
};

/** Runs parties' processes to their end; each must exit 0 and print the epoch's last round. */
const trainEpoch = async (parties: string[], plan: string) => {
  const procs = parties.map((p) => startParty(p, plan));
  // a party that fails ends the epoch for the others at once (they would wait for it until their
  // patience runs out), so the failure shows with its own output, not as a test timeout
  const firstFailure = new Promise<void>((resolve) =>
    procs.forEach((p) => void p.exited.then((r) => r.code !== 0 && resolve())),
  );
  const allExited = Promise.all(procs.map((p) => p.exited));
  await bounded(`dml train run of ${parties.join(', ')}`, Promise.race([allExited, firstFailure]), 300).catch(
    (e: unknown) => {
      throw new Error(
        [(e as Error).message, ...procs.map((p, i) => `${parties[i]}: ${p.stdout}\n${p.stderr}`)].join('\n'),
      );
    },
  );
  for (const child of children)
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
  return procs.map((p) => {
    const done = /round (\d+) acknowledged by all (\d+) parties, aggregate ([0-9a-f]{64})/.exec(p.stdout);
    return {
      round: Number(done?.[1]),
      parties: Number(done?.[2]),
      aggregateHash: done?.[3],
      stderr: p.stderr,
    };
  });
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'dml-train-epochs-'));
  ledger = await DevnetLedger.open(join(home, 'devnet'));
  server = await startDevnetServer(ledger);
  env = {
    DML_HOME: home,
    DML_DEVNET_URL: server.url,
    MY_ENCRYPTION_PASSPHRASE: 'cohort passphrase 91c2',
  };
  for (const party of ['a', 'b', 'c']) {
    expect((await run(['--keys', join(home, party), 'keys', 'new'])).code).toBe(0);
    expect((await run(['--keys', join(home, party), 'devnet', 'fund', '--ada', '100'])).code).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await head?.close();
  await server?.close();
  ledger?.close();
});

describe('dml train run, an epoch after the first with a newcomer', () => {
  it('epoch 1 with two parties, a scheduled close, epoch 2 with three from the same adapter, one aggregate', async () => {
    head = await bounded(
      'the head of a and b',
      startDevnetHead(ledger, { keyDirs: ['a', 'b'].map((p) => join(home, p)), contestationPeriod: 30 }),
    );
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

    // epoch 1: a and b train round 1 while c joins (it enters at the next epoch)
    const epoch1 = trainEpoch(['a', 'b'], plan);
    await ok('c', ['cohort', 'join', '--cohort', cohort, '--deposit', '10']);
    const outsider = await run(['--keys', join(home, 'c'), 'train', 'run', '--plan', plan]);
    expect(outsider.stderr).toMatch(/not a party of epoch 1.*enters at the next one/);
    expect(outsider.code).toBe(1);
    const done1 = await epoch1;
    expect(done1.map((d) => [d.round, d.parties])).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(new Set(done1.map((d) => d.aggregateHash)).size).toBe(1);

    // the scheduled close: layer 1 with the snapshot both signed, the head closed and fanned out
    await ok('a', ['devnet', 'fund', '--ada', '20']); // a's funds are in the head: fees on layer 1
    const closed = await ok<{ round: number; aggregateHash: string; scheduled: boolean }>('a', [
      'train',
      'close',
      '--plan',
      plan,
    ]);
    expect(closed).toMatchObject({ round: 1, aggregateHash: done1[0]!.aggregateHash, scheduled: true });
    await ok('a', ['head', 'close']);
    await ok('a', ['devnet', 'advance', '--seconds', '100']);
    await ok('a', ['head', 'fanout']);
    expect(await ok('a', ['cohort', 'finalize', '--cohort', cohort])).toMatchObject({
      epoch: 2,
      phase: 'Open',
    });
    await bounded('closing the first head', head.close());

    // epoch 2: a new head of three
    head = await bounded(
      'the head of a, b and c',
      startDevnetHead(ledger, { keyDirs: ['a', 'b', 'c'].map((p) => join(home, p)), contestationPeriod: 30 }),
    );
    await ok('a', ['head', 'init']);
    for (const party of ['a', 'b', 'c']) await ok(party, ['head', 'commit']);
    // the newcomer alone, with a patience: no carry-over comes; it stops naming the peers and what to run next
    const [wa, wb] = await Promise.all(['a', 'b'].map((p) => loadPartyWallet(join(home, p))));
    const stalled = await run(
      ['--keys', join(home, 'c'), 'train', 'run', '--plan', plan, '--poll', '0.2', '--patience', '1'],
      hydraEnv('c'),
    );
    expect(stalled.code).toBe(1);
    // progress lines, then the error in one line
    const errors = stalled.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('dml: '));
    expect(errors).toHaveLength(1);
    expect(stalled.stderr.trim().split('\n').at(-1)).toBe(errors[0]);
    expect(stalled.stderr).toContain(
      `round 2: no carry-over from ${[wa!.pkh, wb!.pkh].sort().join(', ')} for`,
    );
    expect(stalled.stderr).toContain(`\`dml cohort vote-slash --cohort ${cohort} --accused ${wa!.pkh}\``);
    expect(stalled.stderr).toContain(`\`dml train close --plan ${plan}\``);
    const done2 = await trainEpoch(['a', 'b', 'c'], plan);
    expect(done2.map((d) => [d.round, d.parties])).toEqual([
      [2, 3],
      [2, 3],
      [2, 3],
    ]);
    expect(new Set(done2.map((d) => d.aggregateHash)).size).toBe(1);
    expect(done2[2]!.stderr).toMatch(
      /started from global adapter [0-9a-f]{12} \(the carry-over of [0-9a-f]{12}, checked\)/,
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
    } finally {
      await log.close();
    }
  }, 480_000);
});
