import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAuditFixture } from '../../projections/testing/index.js';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';

const run = async (argv: string[]) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
};

describe('dml status', () => {
  it("shows a party's deposit account and contributions, folded from the log", async () => {
    const fixture = await writeAuditFixture({
      dir: mkdtempSync(join(tmpdir(), 'dml-status-')),
      passphrase: 'cohort secret',
    });
    const store = `sqlite:${fixture.logFile}`;
    const [voter, , accused] = fixture.parties;
    const mine = await run([
      '--json',
      'status',
      '--store',
      store,
      '--cohort',
      fixture.cohortId,
      '--party',
      voter!,
    ]);
    expect(mine.stderr).toBe('');
    expect(mine.code).toBe(0);
    const view = JSON.parse(mine.stdout);
    expect(view).toMatchObject({ cohortId: fixture.cohortId, party: voter, outcome: 'Premature' });
    expect(BigInt(view.account.slashShares)).toBeGreaterThan(0n);
    expect(view.reputation.contributions).toBeGreaterThan(0);

    const theirs = await run(['status', '--store', store, '--cohort', fixture.cohortId, '--party', accused!]);
    expect(theirs.code).toBe(0);
    expect(theirs.stdout).toContain('SLASHED');
  });

  it('says in one line what is wrong', async () => {
    const fixture = await writeAuditFixture({
      dir: mkdtempSync(join(tmpdir(), 'dml-status-')),
      passphrase: 'cohort secret',
    });
    const store = `sqlite:${fixture.logFile}`;
    for (const [args, message] of [
      [['--cohort', fixture.cohortId, '--party', 'ab'.repeat(28)], 'has no deposit and no contribution'],
      [['--cohort', 'cd'.repeat(28), '--party', 'ab'.repeat(28)], 'holds no event of cohort'],
      [
        ['--store', 'sqlite:/no/such/events.sqlite', '--cohort', 'x', '--party', 'ab'],
        'there is no event log',
      ],
    ] as const) {
      const result = await run(['status', ...(args[0] === '--store' ? [] : ['--store', store]), ...args]);
      expect(result.code).not.toBe(0);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(message);
    }
  });
});
