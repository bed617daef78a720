import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';

const ROOT = process.cwd();

const exec = promisify(execFile);

/** Runs dependency-cruiser with the project's rules, as `npm run lint` does, on a folder. */
const cruise = async (cwd: string, paths: string[]) => {
  const result = await exec(
    process.execPath,
    [
      join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
      '--config',
      join(ROOT, '.dependency-cruiser.cjs'),
      '--output-type',
      'json',
      ...paths,
    ],
    { cwd, maxBuffer: 64 * 1024 * 1024 },
  ).catch((e: { stdout: string; code: number }) => e);
  const report = JSON.parse(result.stdout) as {
    summary: { violations: { rule: { name: string }; from: string; to: string }[] };
  };
  return report.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
};

describe('import direction (dependency-cruiser, as run by npm run lint)', () => {
  it('rejects contracts/ importing offchain/', async () => {
    const violations = await cruise(join(ROOT, 'tools/depcheck/fixtures/upward'), ['contracts', 'offchain']);
    expect(violations).toEqual(['contracts-imports-nothing-above: contracts/index.ts -> offchain/index.ts']);
  });

  it("rejects importing another folder's internals instead of its index.ts", async () => {
    const violations = await cruise(join(ROOT, 'tools/depcheck/fixtures/internals'), ['offchain', 'trainer']);
    expect(violations).toEqual(['only-through-index: trainer/index.ts -> offchain/aggregate.ts']);
  });

  it("lets tests, and only tests, import a folder's testing/ entry", async () => {
    const violations = await cruise(join(ROOT, 'tools/depcheck/fixtures/testing-entry'), [
      'projections',
      'cli',
    ]);
    expect(violations).toEqual([
      'testing-entry-only-from-tests: cli/main.ts -> projections/testing/index.ts',
    ]);
  });

  it('accepts the project itself', async () => {
    const violations = await cruise(ROOT, ['contracts', 'offchain', 'trainer', 'projections', 'cli']);
    expect(violations).toEqual([]);
  });
});
