import { describe, expect, it } from '@jest/globals';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBounded } from '../offchain/testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Runs bench/run.ts with `args`, its standard output closed before it writes anything. */
const runWithClosedStdout = (args: string[]) =>
  runBounded(process.execPath, ['--import', 'tsx', join(here, 'run.ts'), ...args], {
    boundMs: 60_000,
    closeStdout: true, // the reader is gone, as after `| head -1`
  });

describe('npm run bench', () => {
  it('exits quietly when its reader closes the pipe (`npm run bench -- --help | head`)', async () => {
    const { code, stderr } = await runWithClosedStdout(['--help']);
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  }, 90_000);
});
