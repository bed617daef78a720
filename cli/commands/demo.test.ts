import { describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
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
    [['--model', 'mnist', '--shard-size', '50'], '--shard-size must be at least 100 images for mnist'],
  ])('refuses %j in one line', async (args, message) => {
    const result = await run(['demo', ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
  });

  it('runs the whole story with the language model (tiny settings): bits per byte, the saboteur slashed, audits verified', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dml-demo-lm-'));
    try {
      const result = await run([
        'demo',
        '--model',
        'lm',
        '--parties',
        '3',
        '--rounds',
        '2',
        '--local-steps',
        '5',
        '--shard-size',
        '20',
        '--pretrain-steps',
        '30',
        '--seed',
        '3',
        '--out',
        out,
      ]);
      expect(result.stderr).not.toContain('Error');
      expect(result.code).toBe(0);
      const table = result.stdout;
      expect(table).toContain('alone (bits/byte)');
      expect(table).toContain('together (bits/byte)');
      expect(table).toContain("held-out bits per byte on the party's own text (lower is better)");
      expect(table).toContain('Premature (party 3 slashed) after round 1; audit verified');
      expect(table).toMatch(/Completed after round 2; audit verified/);
      // the saboteur's row: role saboteur, its deposit gone
      const saboteur = table.split('\n').find((l) => l.startsWith('party 3'))!;
      expect(saboteur).toContain('saboteur');
      expect(saboteur.trim().endsWith('0.00')).toBe(true);
      // every party's bits per byte is a real figure below 8 (uniform over bytes)
      const figures = table
        .split('\n')
        .filter((l) => /^party \d/.test(l))
        .flatMap((l) =>
          l
            .split(/\s{2,}/)
            .slice(2, 4)
            .map(Number),
        );
      expect(figures).toHaveLength(8);
      for (const f of figures) expect(f > 0 && f < 8).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 600_000);
});
