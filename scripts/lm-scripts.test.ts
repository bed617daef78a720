import { describe, expect, it } from '@jest/globals';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBounded } from '../offchain/testing/index.js';

/**
 * The language-model scripts, started as a user starts them (tsx), with a mistake in their
 * options: one line on stderr naming it, exit code 2, no stack trace. Every wait is bounded.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const BOUND_MS = 90_000;

const run = (script: string, args: string[]) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not the user's
  return runBounded(TSX, [join(ROOT, 'scripts', script), ...args], { cwd: ROOT, env, boundMs: BOUND_MS });
};

describe('a mistake in the options of scripts/lm-*.ts and reproduce-results.ts: one line, exit 2, no stack trace', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['lm-results.ts', ['--no-such-option'], /^lm-results: Unknown option '--no-such-option'.*--help/],
    ['lm-results.ts', ['--split', 'nowhere'], /^lm-results: --split nowhere is not era-end or speeches$/],
    ['lm-results.ts', ['--rank', 'sixteen'], /^lm-results: --rank sixteen is not a number$/],
    ['lm-results.ts', ['--eval-kernel', 'gpu'], /^lm-results: --eval-kernel gpu is not wasm or tfjs$/],
    [
      'lm-base.ts',
      ['--size', 'huge'],
      /^lm-base: --size huge is not small or big \(use --size small or --size big\)$/,
    ],
    ['lm-eval-compare.ts', ['--base', 'x', '--split', 'nowhere'], /^lm-eval-compare: --split nowhere/],
    [
      'reproduce-results.ts',
      ['--only', 'nope'],
      /^reproduce-results: --only nope: no step nope \(the steps: mnist-base, /,
    ],
    ['reproduce-results.ts', ['--fast'], /^reproduce-results: Unknown option '--fast'.*--help/],
  ];
  it('for each script and kind of mistake', async () => {
    const results = await Promise.all(cases.map(([script, args]) => run(script, args)));
    results.forEach((r, i) => {
      const [script, args, line] = cases[i]!;
      const what = `scripts/${script} ${args.join(' ')}: exit ${r.code}, stderr:\n${r.stderr}`;
      expect({ what, code: r.code }).toEqual({ what, code: 2 });
      const lines = r.stderr.split('\n').filter((l) => l.length > 0);
      expect({ what, lines: lines.length }).toEqual({ what, lines: 1 });
      expect(lines[0]).toMatch(line);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
    });
  });
});
