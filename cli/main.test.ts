import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from './main.js';
import { CapturedStream } from './test-io.js';

const run = async (argv: string[], env: Record<string, string> = {}) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
};

describe('dml command line', () => {
  it('lists the command groups in --help', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    for (const group of ['keys', 'config'])
      expect(result.stdout).toMatch(new RegExp(`^\\s+${group}\\b`, 'm'));
  });

  it('answers a bad flag with one line on stderr and a non-zero exit', async () => {
    const result = await run(['--no-such-flag']);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('answers a bad sub-command of a group with one line', async () => {
    const result = await run(['keys', 'frobnicate']);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('creates keys readable by the owner only and refuses to overwrite them', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'dml-keys-')), 'keys');
    const first = await run(['--keys', dir, '--json', 'keys', 'new']);
    expect(first.code).toBe(0);
    const created = JSON.parse(first.stdout) as { hydraVerificationKey: string };
    expect(created.hydraVerificationKey).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(join(dir, 'hydra.sk'))).mode & 0o777).toBe(0o600);
    const again = await run(['--keys', dir, 'keys', 'new']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain('refusing to overwrite');
    const shown = await run(['--keys', dir, '--json', 'keys', 'show']);
    expect(JSON.parse(shown.stdout)).toEqual(created);
  });

  it('takes a setting from the flag over the environment over the config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-config-'));
    const file = join(dir, 'config.json');
    await (
      await import('node:fs/promises')
    ).writeFile(file, JSON.stringify({ home: '/from-file', bus: 'kafka://file:1' }));
    const shown = await run(['--config', file, '--home', '/from-flag', '--json', 'config', 'show'], {
      DML_HOME: '/from-env',
      DML_BUS: 'kafka://env:1',
    });
    const rows = JSON.parse(shown.stdout) as { key: string; value: string; source: string }[];
    const row = (key: string) => rows.find((r) => r.key === key);
    expect(row('home')).toMatchObject({ value: '/from-flag', source: 'flag' });
    expect(row('bus')).toMatchObject({ value: 'kafka://env:1', source: 'env' });
    expect(row('keys')).toMatchObject({ value: '/from-flag/keys', source: 'default' });
  });

  it('rejects a config file with an unknown setting in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-config-'));
    const file = join(dir, 'config.json');
    await (await import('node:fs/promises')).writeFile(file, JSON.stringify({ hme: 'typo' }));
    const result = await run(['--config', file, 'config', 'show']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unknown setting "hme"');
  });

  it('runs as a real process through bin/dml.js', async () => {
    const exec = promisify(execFile);
    const ok = await exec(process.execPath, ['bin/dml.js', '--help']);
    expect(ok.stdout).toContain('Usage: dml');
    const failed = await exec(process.execPath, ['bin/dml.js', '--bogus']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect('code' in failed && failed.code).toBe(2);
    expect((failed as { stderr: string }).stderr.trim().split('\n')).toEqual([
      "error: unknown option '--bogus'",
    ]);
  });
});
