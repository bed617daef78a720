import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { startDevnetHead, type DevnetHead } from '../devnet-head.js';
import { loadPartyWallet } from '../party-wallet.js';
import { SMALL_MNIST_PLAN_FLAGS } from './train-crash-scenario.js';
import {
  bounded,
  exitOf,
  openTrainDevnet,
  waitForOutput,
  type DmlProcess,
  type TrainDevnet,
} from './train-processes.js';

/**
 * `dml train run --close-on-refusal`, end to end on a devnet: a cohort of 2 (one epoch of rounds
 * 1-2) trains round 1; party b's process is killed (SIGKILL) once it acknowledged round 1; a,
 * waiting in round 2 for b, is stopped with Ctrl-C (SIGINT) and run again with `--patience 1
 * --close-on-refusal`: it resumes from its log, runs out of patience waiting for b, and closes
 * the cohort itself on layer 1 (with round 1, which both signed: a premature close) and the head,
 * in one error line that names b, both closes, and the vote to run next.
 */

let devnet: TrainDevnet;
let home: string;
let head: DevnetHead | undefined;

const hydraEnv = (party: string): Record<string, string> => {
  const url = head?.state.parties.find((p) => p.keys === join(home, party))?.url;
  return url ? { DML_HYDRA_URL: url } : {};
};
const run = (argv: string[], extraEnv: Record<string, string> = {}) => devnet.run(argv, extraEnv);
const ok = <T = Record<string, unknown>>(party: string, argv: string[]) => devnet.ok<T>(party, argv);

type Child = DmlProcess;

/**
 * One process per party (DML_MALLOC_TUNED=1: no relaunch by bin/dml.js), so that SIGSTOP and
 * SIGCONT, which a launcher cannot pass on, reach the process that trains.
 */
const startParty = (party: string, plan: string, extra: string[] = []): Child =>
  devnet.startTrainRun(party, plan, extra, { DML_MALLOC_TUNED: '1' });

beforeAll(async () => {
  devnet = await openTrainDevnet({
    prefix: 'dml-train-refusal-',
    passphrase: 'cohort passphrase 5a07',
    parties: ['a', 'b'],
    hydraEnv,
  });
  home = devnet.home;
}, 120_000);

afterAll(async () => {
  await head?.close();
  await devnet?.close();
});

describe('dml train run --close-on-refusal', () => {
  it('a peer gone silent in round 2: the party closes the cohort on layer 1 with round 1 and closes the head', async () => {
    head = await bounded(
      'the head of a and b',
      startDevnetHead(devnet.ledger, {
        keyDirs: ['a', 'b'].map((p) => join(home, p)),
        contestationPeriod: 30,
      }),
    );
    const { cohort } = await ok<{ cohort: string }>('a', [
      'cohort',
      'create',
      '--final-round',
      '2',
      '--epoch-rounds',
      '2',
      '--contestation-period',
      '30',
    ]);
    for (const party of ['a', 'b'])
      await ok(party, ['cohort', 'join', '--cohort', cohort, '--deposit', '10']);
    await ok('a', ['cohort', 'start-epoch', '--cohort', cohort]);
    await ok('a', ['head', 'init']);
    for (const party of ['a', 'b']) await ok(party, ['head', 'commit']);
    const plan = join(home, 'plan.json');
    await ok('a', ['train', 'plan', '--cohort', cohort, '--out', plan, ...SMALL_MNIST_PLAN_FLAGS]);
    await ok('a', ['devnet', 'fund', '--ada', '20']); // a's funds go into the head: fees of the close on layer 1

    // b goes silent once round 1 is signed (its acknowledgement posted) and never posts in round 2.
    // Without a race: a commits round 1 alone and is paused (SIGSTOP) while it waits for b; b then
    // signs round 1 and waits for a's acknowledgement, which cannot come while a is paused, and is
    // killed there; a resumes, acknowledges round 1, and waits for b in round 2.
    const a = startParty('a', plan, ['--poll', '0.5', '--patience', '150']);
    await waitForOutput('a', a, /round 1: waiting for the commitments of/);
    a.process.kill('SIGSTOP');
    const b = startParty('b', plan, ['--poll', '0.5', '--patience', '150']);
    await waitForOutput('b', b, /round 1: waiting for the acknowledgements of/);
    b.process.kill('SIGKILL');
    expect((await exitOf('b', b)).signal).toBe('SIGKILL');
    a.process.kill('SIGCONT');
    await waitForOutput('a', a, /round 2: waiting for the (commitments|acknowledgements) of/);
    expect(b.stderr).toMatch(/round 1\/2: acknowledged/);
    expect(b.stderr).not.toMatch(/round 2\/2/);
    // Ctrl-C: a stops between steps, and says how to resume
    a.process.kill('SIGINT');
    expect(await exitOf('a', a)).toEqual({ code: 0, signal: null });
    expect(a.stdout.trim()).toBe('stopped at round 2 of epoch 1; run again to resume');

    // run again: it resumes from its log, waits for b in round 2, runs out of patience, closes
    const again = startParty('a', plan, ['--poll', '0.2', '--patience', '1', '--close-on-refusal']);
    expect(await exitOf('a (again)', again)).toEqual({ code: 1, signal: null });
    const wb = await loadPartyWallet(join(home, 'b'));
    const errors = again.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('dml: '));
    expect(errors).toHaveLength(1);
    expect(again.stderr.trim().split('\n').at(-1)).toBe(errors[0]);
    expect(errors[0]).toMatch(
      new RegExp(
        `round 2: no (commitments|acknowledgements) from ${wb.pkh} for \\d+ s \\(--patience\\); closed on layer 1 at round 1 \\(tx [0-9a-f]{64}\\); head closed at snapshot \\d+`,
      ),
    );
    expect(again.stderr).toContain(`\`dml cohort vote-slash --cohort ${cohort} --accused ${wb.pkh}\``);
    // it resumed: nothing of round 1 was done again
    expect(again.stderr).not.toMatch(/round 1\/2: training/);

    // layer 1: Closed with round 1, a premature close by a; the head: Closed
    const shown = await ok<{ epoch: number; phase: { kind: string; round: string; closer: string } }>('a', [
      'cohort',
      'show',
      '--cohort',
      cohort,
    ]);
    const wa = await loadPartyWallet(join(home, 'a'));
    expect(shown).toMatchObject({ epoch: 1, phase: { kind: 'Closed', round: '1', closer: wa.pkh } });
    expect(await ok('a', ['head', 'status'])).toMatchObject({ headStatus: 'Closed' });
  }, 300_000);

  it('dml train plan takes the rank and the rule from the cohort creation on layer 1 and refuses a flag that differs', async () => {
    await ok('a', ['devnet', 'fund', '--ada', '50']);
    const { cohort } = await ok<{ cohort: string }>('a', [
      'cohort',
      'create',
      '--rank',
      '4',
      '--aggregation',
      'fedavg',
    ]);
    const out = join(home, 'plan-4.json');
    for (const flags of [
      ['--rank', '8'],
      ['--aggregation', 'median'],
    ]) {
      const refused = await run([
        '--keys',
        join(home, 'a'),
        'train',
        'plan',
        '--cohort',
        cohort,
        '--out',
        out,
        ...flags,
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `${flags[0]} ${flags[1]} differs from the cohort's ${flags[0] === '--rank' ? '4' : 'fedavg'} \\(fixed by its creation on layer 1, tx [0-9a-f]{64}\\)`,
        ),
      );
    }
    // the flags left out: the cohort's values; the same values given: accepted
    const written = await ok<{ lora: { rank: number }; aggregation: string }>('a', [
      'train',
      'plan',
      '--cohort',
      cohort,
      '--out',
      out,
      '--aggregation',
      'fedavg',
      ...SMALL_MNIST_PLAN_FLAGS,
    ]);
    expect(written).toMatchObject({ lora: { rank: 4 }, aggregation: 'fedavg' });
  }, 120_000);
});
