import { describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, simulateCohortHistory } from '../../offchain/index.js';
import { directionDeltas, writeAuditFixture } from '../../projections/testing/index.js';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';

const run = async (argv: string[]) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env: {} });
  return { code, stdout: stdout.text, stderr: stderr.text };
};

const logWithTwoCohorts = async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'dml-audit-')), 'events.sqlite');
  const store = new SqliteEventStore(file);
  for (const b of [
    ...simulateCohortHistory({ cohortId: 'alpha', parties: 3, rounds: 2 }),
    ...simulateCohortHistory({ cohortId: 'beta', parties: 4, rounds: 5, saboteur: 1, sabotageRound: 3 }),
  ])
    await store.append(b.stream, b.events, { expectedVersion: 'any' });
  await store.close();
  return file;
};

describe('dml audit replay', () => {
  it('rebuilds the projections of one cohort and prints them as JSON', async () => {
    const file = await logWithTwoCohorts();
    const result = await run(['--json', 'audit', 'replay', '--store', `sqlite:${file}`, '--cohort', 'beta']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({
      cohortId: 'beta',
      heads: [{ status: 'Final', parties: 4 }],
      ledger: {
        outcome: 'Premature',
        balances: true,
        deposited: '40000000',
        inEscrow: '0',
        paidOut: '40000000',
      },
      training: { rounds: 3 },
      anomalies: [],
    });
    expect(summary.ledger.slashes).toEqual([{ accused: expect.any(String), voters: 3, amount: '10000000' }]);
    expect(summary.reputation.filter((r: { slashed: boolean }) => r.slashed)).toHaveLength(1);
  });

  it('prints a summary for people', async () => {
    const file = await logWithTwoCohorts();
    const result = await run(['audit', 'replay', '--store', `sqlite:${file}`, '--cohort', 'alpha']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^cohort alpha: \d+ events replayed/);
    expect(result.stdout).toContain('escrow Completed: deposited 30.000000 ADA, in escrow 0.000000 ADA');
    expect(result.stdout).toContain('balances');
    expect(result.stdout).toContain('anomalies: none');
  });

  it('answers an unknown cohort or a missing log with one line', async () => {
    const file = await logWithTwoCohorts();
    const unknown = await run(['audit', 'replay', '--store', `sqlite:${file}`, '--cohort', 'gamma']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^dml: the log holds no event of cohort gamma \(\d+ events read; check --cohort\)\n$/,
    );
    const missing = await run([
      'audit',
      'replay',
      '--store',
      'sqlite:/nonexistent/x.sqlite',
      '--cohort',
      'a',
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const noCohort = await run(['audit', 'replay', '--store', `sqlite:${file}`]);
    expect(noCohort.code).toBe(2);
  });
});

describe('dml audit verify', () => {
  const passphrase = 'the cohort passphrase';
  const setUp = async (options: Partial<Parameters<typeof writeAuditFixture>[0]> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'dml-audit-verify-'));
    const fixture = await writeAuditFixture({ dir, passphrase, ...options });
    const passphraseFile = join(dir, 'passphrase.txt');
    writeFileSync(passphraseFile, `${passphrase}\n`);
    const verify = async (...extra: string[]) => {
      const stdout = new CapturedStream();
      const stderr = new CapturedStream();
      const code = await main(
        [
          ...extra,
          'audit',
          'verify',
          '--store',
          `sqlite:${fixture.logFile}`,
          '--cohort',
          fixture.cohortId,
          '--passphrase-file',
          passphraseFile,
        ],
        { stdout, stderr, env: { DML_HOME: dir } },
      );
      return { code, stdout: stdout.text, stderr: stderr.text };
    };
    return { fixture, verify };
  };

  it('prints what it verified and exits 0 on a good log', async () => {
    const { verify } = await setUp();
    const result = await verify();
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(
      'verified: 6 deltas, 2 aggregates, 9 snapshot signatures, 1 slashes; layer-1 events not checked against a chain\n' +
        'directions: no round with 4 or more scored deltas: no verdict (evidence, not a finding)',
    );
    expect(result.code).toBe(0);
    const json = await verify('--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, findings: [], checked: { deltas: 6 } });
  });

  it('prints one line per party flagged by the direction evidence, and exits 0 (evidence, not a finding)', async () => {
    const { fixture, verify } = await setUp({
      parties: 7,
      rounds: 3,
      deltaValues: directionDeltas({ dimensions: 512, flip: [2], noise: [5] }),
    });
    const result = await verify();
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^verified: 21 deltas, 3 aggregates/);
    expect(lines[1]).toMatch(
      new RegExp(`^direction flag: ${fixture.parties[2]}: opposed \\(flagged\\), z -[0-9.]+ over 3 rounds`),
    );
    expect(lines[2]).toMatch(
      new RegExp(`^direction flag: ${fixture.parties[5]}: random \\(flagged\\), z -?[0-9.]+ over 3 rounds`),
    );
    expect(lines[3]).toMatch(/^directions over 3 rounds .*: 2 flagged of 7$/);
    const json = JSON.parse((await verify('--json')).stdout);
    expect(json.ok).toBe(true);
    expect(json.directions.flagged).toEqual([fixture.parties[2], fixture.parties[5]].sort());
    expect(json.directions.parties).toHaveLength(7);
    expect(json.directions.perRound).toHaveLength(3);
  });

  it('exits 1 naming the round, party and object of an altered delta', async () => {
    const { fixture, verify } = await setUp();
    const party = fixture.parties[0]!;
    const key = fixture.keys.get(`1/${party}`)!;
    const file = join(fixture.storageRoot, 'objects', key);
    const bytes = readFileSync(file);
    bytes[40] ^= 0x80;
    writeFileSync(file, bytes);
    const result = await verify();
    expect(result.code).toBe(1);
    const line = result.stdout.split('\n').find((l) => l.startsWith('delta-hash'))!;
    expect(line).toContain(`round 1 party ${party} object ${key}`);
    expect(line).toMatch(new RegExp(`expected ${key.slice(-64)}, found [0-9a-f]{64}`));
    expect(result.stderr).toMatch(
      new RegExp(`^dml: cohort ${fixture.cohortId} does not verify: \\d+ finding`),
    );
  });

  it("--party-stores: reads each party's deltas with the access that party gave the auditor", async () => {
    const { fixture } = await setUp();
    const passphraseFile = join(fixture.storageRoot, '..', 'passphrase.txt');
    // each party's objects in a home of its own; the auditor's own home holds nothing
    const homes = new Map<string, string>();
    for (const party of fixture.parties) {
      const home = mkdtempSync(join(tmpdir(), 'dml-audit-party-'));
      cpSync(fixture.storageRoot, join(home, 'storage'), { recursive: true });
      homes.set(party, home);
    }
    const auditorHome = mkdtempSync(join(tmpdir(), 'dml-auditor-'));
    const storesFile = (parties: readonly string[]) => {
      const file = join(auditorHome, `stores-${parties.length}.json`);
      writeFileSync(
        file,
        JSON.stringify(Object.fromEntries(parties.map((p) => [p, { storage: 'local', home: homes.get(p) }]))),
      );
      return file;
    };
    const verify = async (...extra: string[]) => {
      const stdout = new CapturedStream();
      const stderr = new CapturedStream();
      const code = await main(
        [
          'audit',
          'verify',
          '--store',
          `sqlite:${fixture.logFile}`,
          '--cohort',
          fixture.cohortId,
          '--passphrase-file',
          passphraseFile,
          ...extra,
        ],
        { stdout, stderr, env: { DML_HOME: auditorHome } },
      );
      return { code, stdout: stdout.text, stderr: stderr.text };
    };
    expect((await verify()).code).toBe(1); // its own (empty) store has no delta
    const all = await verify('--party-stores', storesFile(fixture.parties));
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^verified: 6 deltas/);
    const [left, ...rest] = fixture.parties;
    const partial = await verify('--party-stores', storesFile(rest));
    expect(partial.code).toBe(1);
    const lines = partial.stdout.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(0);
    // the missing deltas are the left-out party's, and only theirs
    const missing = lines.filter((l) => l.startsWith('delta-missing'));
    expect(missing.length).toBe(2);
    expect(missing.every((l) => l.includes(`party ${left!}`))).toBe(true);
    expect(lines.some((l) => l.startsWith('delta-') && !l.includes(left!))).toBe(false);
    const bad = await verify('--party-stores', join(auditorHome, 'none.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^dml: .*none\.json is not a JSON file of party stores .*\n$/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a passphrase file that is not there, in one line', async () => {
    const stderr = new CapturedStream();
    const code = await main(
      [
        'audit',
        'verify',
        '--store',
        'sqlite:/nonexistent/x.sqlite',
        '--cohort',
        'a',
        '--passphrase-file',
        '/nope',
      ],
      { stdout: new CapturedStream(), stderr, env: {} },
    );
    expect(code).toBe(1);
    expect(stderr.text).toBe('dml: cannot read the passphrase file /nope\n');
  });
});

describe('dml audit report', () => {
  it('writes report.html and report.json for one cohort', async () => {
    const file = await logWithTwoCohorts();
    const out = join(mkdtempSync(join(tmpdir(), 'dml-audit-report-')), 'nested', 'report');
    const result = await run([
      '--json',
      'audit',
      'report',
      '--store',
      `sqlite:${file}`,
      '--cohort',
      'beta',
      '--out',
      out,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const written = JSON.parse(result.stdout);
    expect(written).toEqual({
      htmlFile: join(out, 'report.html'),
      jsonFile: join(out, 'report.json'),
      cohortId: 'beta',
    });
    const data = JSON.parse(readFileSync(written.jsonFile, 'utf8'));
    expect(data).toMatchObject({
      format: 'dml-audit-report/1',
      cohortId: 'beta',
      summary: { ledger: { balances: true } },
    });
    expect(data.parties).toHaveLength(4);
    const html = readFileSync(written.htmlFile, 'utf8');
    for (const chart of ['loss', 'accuracy', 'ledger', 'heads'])
      expect(html).toContain(`<svg data-chart="${chart}"`);
  });

  it('answers an unknown cohort in one line and requires --out', async () => {
    const file = await logWithTwoCohorts();
    const out = mkdtempSync(join(tmpdir(), 'dml-audit-report-'));
    const unknown = await run([
      'audit',
      'report',
      '--store',
      `sqlite:${file}`,
      '--cohort',
      'zeta',
      '--out',
      out,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^dml: the log holds no event of cohort zeta/);
    const noOut = await run(['audit', 'report', '--store', `sqlite:${file}`, '--cohort', 'beta']);
    expect(noOut.code).toBe(2);
  });
});
