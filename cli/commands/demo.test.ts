import { describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';

const run = async (argv: string[]) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const home = await mkdtemp(join(tmpdir(), 'dml-home-'));
  const code = await main(['--home', home, ...argv], { stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
};

describe('dml demo: options', () => {
  it('documents its options in --help', async () => {
    const result = await run(['demo', '--help']);
    expect(result.code).toBe(0);
    for (const option of ['--parties', '--rounds', '--model', '--scenario', '--local-steps', '--out'])
      expect(result.stdout).toContain(option);
  });

  it.each([
    [['--scenario', 'chaos'], 'unknown scenario chaos'],
    [['--model', 'gpt'], 'unknown model gpt'],
    [['--parties', '2'], '--parties must be a whole number from 3 to 10'],
    [['--rounds', 'x'], '--rounds must be a whole number'],
    [['--model', 'lm'], 'mnist model only'],
  ])('refuses %j in one line', async (args, message) => {
    const result = await run(['demo', ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
  });
});
