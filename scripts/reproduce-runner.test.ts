import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReproductionStep } from './reproduce-plan.js';
import { baseFromOutput, readReproductionState, runReproductionSteps } from './reproduce-runner.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Two steps through a real child process (tsx): a base, then a step that needs it; the second may fail. */
const plan = (count: string, failSecond: { fail: boolean }): ReproductionStep[] => [
  {
    id: 'base',
    title: 'a base',
    script: 'reproduce-fake-step.ts',
    args: (i) => ['--count', count, '--name', 'base', '--base-out', `${i.dir}/bases/b.dmlbase`],
    builds: 'mnist-base',
    expectedHash: 'cd'.repeat(32),
    tables: false,
  },
  {
    id: 'table',
    title: 'a table',
    script: 'reproduce-fake-step.ts',
    args: (i) => {
      if (!i.mnistBase) throw new Error('no MNIST base: its step has not run');
      return [
        '--count',
        count,
        '--name',
        'table',
        '--base',
        i.mnistBase,
        ...(failSecond.fail ? ['--fail'] : []),
      ];
    },
    tables: true,
  },
];

describe('runReproductionSteps', () => {
  it('runs the steps in order, hands on the base, keeps what finished across a failure, and skips it on a rerun', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-reproduce-'));
    const count = join(dir, 'count.txt');
    const progress: string[] = [];
    const options = {
      dir,
      profile: 'quick',
      tsx: join(ROOT, 'node_modules', '.bin', 'tsx'),
      scriptsDir: join(ROOT, 'scripts', 'fixtures'),
      cwd: ROOT,
      progress: (line: string) => void progress.push(line),
    };
    const failing = { fail: true };
    await expect(runReproductionSteps(plan(count, failing), options)).rejects.toThrow(
      `table ended with exit code 3: see ${join(dir, 'table.log')}`,
    );
    const afterFailure = await readReproductionState(dir, 'quick');
    expect(Object.keys(afterFailure.steps)).toEqual(['base']);
    expect(afterFailure.steps.base!.base).toEqual({
      kind: 'mnist-base',
      path: `${dir}/bases/b.dmlbase`,
      hash: 'ab'.repeat(32),
    });
    // another hash than the recorded one is said, not refused; the child's own clock is dropped
    expect(progress.some((l) => l.includes(`not the recorded ${'cd'.repeat(32)}`))).toBe(true);
    expect(progress).toContain('[1/2] base: working on base');

    failing.fail = false;
    const state = await runReproductionSteps(plan(count, failing), options);
    expect(Object.keys(state.steps)).toEqual(['base', 'table']);
    expect(progress.some((l) => l.startsWith('[1/2] base: done before'))).toBe(true);
    // the base ran once; the table step twice (failed, then passed), with the base's path
    const runs = (await readFile(count, 'utf8')).trim().split('\n');
    expect(runs.map((r) => r.split(' ')[3])).toEqual(['base', 'table', 'table']);
    expect(runs[2]).toContain(`--base ${dir}/bases/b.dmlbase`);
    expect(await readFile(join(dir, 'table.out'), 'utf8')).toBe('| table of table |\n');
    expect(await readFile(join(dir, 'table.log'), 'utf8')).toBe('12:34:56 working on table\n');
    await expect(readReproductionState(dir, 'full')).rejects.toThrow('holds a quick reproduction, not full');
  });
});

describe('baseFromOutput', () => {
  it("reads mnist-base's JSON and lm-base's lines", () => {
    const hash = '0f'.repeat(32);
    expect(baseFromOutput(`{\n  "path": "a/m.dmlbase",\n  "hash": "${hash}",\n  "model": "cnn"\n}`)).toEqual({
      path: 'a/m.dmlbase',
      hash,
    });
    expect(baseFromOutput(`base d64: ...\nfile b/l.dmlbase\nhash ${hash}`)).toEqual({
      path: 'b/l.dmlbase',
      hash,
    });
    expect(baseFromOutput('nothing')).toBeUndefined();
  });
});
