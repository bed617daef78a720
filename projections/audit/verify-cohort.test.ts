import { describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LocalFolderStore,
  SqliteEventStore,
  type StoredDmlEvent,
  createEvent,
} from '../../offchain/index.js';
import { type AuditFixtureOptions, directionDeltas, writeAuditFixture } from '../testing/index.js';
import { parseAggregationRuleName } from './aggregation-rule-name.js';
import { renderAuditDirections, renderAuditFinding, verifyCohort } from './verify-cohort.js';
import { verifyCohortInStores } from './verify-stores.js';

const PASSPHRASE = 'cohort passphrase for deltas';

const fixture = (options: Partial<AuditFixtureOptions> = {}) =>
  writeAuditFixture({ dir: mkdtempSync(join(tmpdir(), 'dml-verify-')), passphrase: PASSPHRASE, ...options });

const verify = async (
  f: { logFile: string; storageRoot: string; cohortId: string },
  passphrase = PASSPHRASE,
) => {
  const log = new SqliteEventStore(f.logFile);
  const objects = await LocalFolderStore.open(f.storageRoot);
  try {
    return await verifyCohortInStores(log, objects, f.cohortId, passphrase);
  } finally {
    await log.close();
    await objects.close();
  }
};

describe('verifyCohort', () => {
  it('passes a good log and counts what it checked', async () => {
    const report = await verify(await fixture());
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checked).toMatchObject({ deltas: 6, aggregates: 2, closes: 1, slashes: 1 });
  });

  it('names the sign-flipped and the noise party over the rounds, as evidence, not a finding', async () => {
    // 7 parties, 3 rounds, 512 floats a delta (enough: see directionDeltas); parties are the
    // sorted ids, so the poisoned ones are named by index
    const f = await fixture({
      parties: 7,
      rounds: 3,
      deltaValues: directionDeltas({ dimensions: 512, flip: [2], noise: [5] }),
    });
    const report = await verify(f);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    const d = report.directions;
    expect(d.rounds).toBe(3);
    expect(d.flagged).toEqual([f.parties[2], f.parties[5]].sort());
    const of = (i: number) => d.parties.find((p) => p.partyId === f.parties[i])!;
    expect(of(2).verdict).toBe('opposed');
    expect(of(5).verdict).toBe('random');
    for (const i of [0, 1, 3, 4, 6]) {
      expect(of(i).verdict).toBe('aligned');
      expect(of(i).z).toBeGreaterThan(6);
    }
    expect(Math.abs(of(5).z)).toBeLessThan(3);
    expect(d.perRound.map((r) => [r.round, r.dimensions, r.parties.length])).toEqual([
      [1, 512, 7],
      [2, 512, 7],
      [3, 512, 7],
    ]);
    const text = renderAuditDirections(report);
    expect(text.split('\n')).toHaveLength(3);
    expect(text).toContain(`direction flag: ${f.parties[2]}: opposed (flagged), z -`);
    expect(text).toContain(`${f.parties[5]}: random (flagged)`);
    expect(text).toContain('over 3 rounds');
    expect(text).toMatch(/directions over 3 rounds .*: 2 flagged of 7$/);
  });

  it('flags no one in an all-honest cohort, and says when the evidence is too thin to tell', async () => {
    const honest = await verify(
      await fixture({ parties: 7, rounds: 3, deltaValues: directionDeltas({ dimensions: 512 }) }),
    );
    expect(honest.directions.flagged).toEqual([]);
    expect(honest.directions.parties.map((p) => p.verdict)).toEqual(Array(7).fill('aligned'));
    expect(renderAuditDirections(honest)).toMatch(/^directions over 3 rounds .*: no party flagged of 7$/);
    // 4 parties, 2 rounds of 4 floats: no party could reach the threshold
    const tiny = await verify(await fixture({ parties: 4 }));
    expect(tiny.ok).toBe(true);
    expect(tiny.directions.flagged).toEqual([]);
    expect(tiny.directions.parties.map((p) => p.verdict)).toEqual(Array(4).fill('insufficient'));
    expect(renderAuditDirections(tiny)).toContain('4 with not enough evidence to tell');
    // the default fixture, 3 parties: no round counts (the median of two others is their mean)
    const three = await verify(await fixture());
    expect(three.directions).toMatchObject({ rounds: 0, parties: [], flagged: [] });
    expect(renderAuditDirections(three)).toBe(
      'directions: no round with 4 or more scored deltas: no verdict (evidence, not a finding)',
    );
  });

  it('names the round, party and object of a stored delta whose bytes were altered', async () => {
    const f = await fixture();
    const party = f.parties[1]!;
    const key = f.keys.get(`2/${party}`)!;
    const file = join(f.storageRoot, 'objects', key);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0x01;
    writeFileSync(file, bytes);
    const report = await verify(f);
    expect(report.ok).toBe(false);
    const finding = report.findings.find((x) => x.kind === 'delta-hash')!;
    expect(finding).toMatchObject({ round: 2, party, key, expected: key.slice(-64) });
    expect(finding.found).not.toBe(finding.expected);
    // the round's aggregate can no longer be recomputed, and the report says so
    expect(report.findings.map((x) => x.kind)).toContain('aggregate-unverifiable');
    expect(renderAuditFinding(finding)).toContain(`object ${key}`);
  });

  it('reports a delta that is missing from storage or does not open with the passphrase', async () => {
    const f = await fixture();
    expect(
      (await verify(f, 'another passphrase')).findings.filter((x) => x.kind === 'delta-decrypt'),
    ).toHaveLength(6);
    const objects = await LocalFolderStore.open(f.storageRoot);
    await objects.delete(f.keys.get(`1/${f.parties[0]!}`)!);
    await objects.close();
    expect((await verify(f)).findings).toContainEqual(
      expect.objectContaining({ kind: 'delta-missing', round: 1, party: f.parties[0] }),
    );
  });

  it('reads through the grants in the log while they last, and needs its own access after', async () => {
    const signedAt = new Date('2026-11-26T10:00:00Z');
    const f = await fixture({ readGrants: { signedAt, expiresInSeconds: 600 } });
    const log = new SqliteEventStore(f.logFile);
    try {
      // within the grants' lifetime the auditor needs no access of its own
      const during = await verifyCohortInStores(log, undefined, f.cohortId, PASSPHRASE, {
        now: () => new Date(signedAt.getTime() + 60_000),
      });
      expect(during.findings).toEqual([]);
      expect(during.checked.deltas).toBe(6);
      // an old cohort: the grants expired; without access every delta is reported, saying why
      const later = () => new Date(signedAt.getTime() + 86_400_000);
      const blind = await verifyCohortInStores(log, undefined, f.cohortId, PASSPHRASE, { now: later });
      const missing = blind.findings.filter((x) => x.kind === 'delta-missing');
      expect(missing).toHaveLength(6);
      expect(missing[0]!.message).toMatch(
        /expired at 2026-11-26T10:10:00.000Z and the auditor has no read access/,
      );
      // with read access given by each party (here: the folder holding every party's deltas)
      const objects = await LocalFolderStore.open(f.storageRoot);
      try {
        const withAccess = await verifyCohortInStores(
          log,
          { storeOf: (party) => (f.parties.includes(party) ? objects : undefined) },
          f.cohortId,
          PASSPHRASE,
          { now: later },
        );
        expect(withAccess.findings).toEqual([]);
      } finally {
        await objects.close();
      }
    } finally {
      await log.close();
    }
  });

  it('detects an event removed from the middle of the log', async () => {
    const f = await fixture();
    const db = new Database(f.logFile);
    const victim = db
      .prepare<[], { position: number }>(
        "SELECT position FROM events WHERE type = 'training.DeltaCommitted' ORDER BY position LIMIT 1 OFFSET 3",
      )
      .get()!.position;
    db.prepare('DELETE FROM events WHERE position = ?').run(victim);
    db.close();
    const report = await verify(f);
    expect(report.ok).toBe(false);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'log-gap', expected: String(victim), found: String(victim + 1) }),
    );
    // the round lost a contributor: the recorded aggregate names a party with no delta
    expect(report.findings.map((x) => x.kind)).toContain('aggregate-contributors');
  });

  it('names the stream whose versions have a hole', async () => {
    const f = await fixture();
    const db = new Database(f.logFile);
    const victim = db
      .prepare<[], { position: number }>(
        "SELECT position FROM events WHERE type = 'l1.PartyJoined' ORDER BY position LIMIT 1 OFFSET 1",
      )
      .get()!.position;
    db.prepare('DELETE FROM events WHERE position = ?').run(victim);
    db.close();
    const report = await verify(f);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'stream-gap', position: victim + 1 }),
    );
  });

  it('fails a slash without a strict majority of the other parties', async () => {
    const report = await verify(await fixture({ slashVoters: (parties) => [parties[0]!] }));
    expect(report.ok).toBe(false);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'slash-majority', expected: '> 1', found: '1' }),
    );
  });

  it('fails a slash the accused voted in', async () => {
    const report = await verify(await fixture({ slashVoters: (parties) => [parties[0]!, parties[2]!] }));
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'slash-voter', message: 'the accused voted on its own slash' }),
    );
  });

  it('fails a wrong aggregate hash and the close that carries it', async () => {
    const report = await verify(await fixture({ wrongAggregate: true }));
    expect(report.ok).toBe(false);
    const kinds = report.findings.map((x) => x.kind);
    // the parties signed the recorded (wrong) aggregate, not the recomputed one
    expect(kinds).toEqual([
      'aggregate-hash',
      'snapshot-hash',
      'snapshot-hash',
      'snapshot-hash',
      'close-hash',
    ]);
    expect(report.findings[0]).toMatchObject({ round: 2 });
    expect(report.findings[0]!.expected).not.toBe(report.findings[0]!.found);
    expect(report.findings[1]).toMatchObject({
      round: 2,
      expected: report.findings[0]!.expected,
      found: report.findings[0]!.found,
    });
  });

  it('checks every snapshot signature of a good log (3 parties x 2 rounds, and the close)', async () => {
    const report = await verify(await fixture());
    expect(report.checked.signatures).toBe(9);
  });

  it('names the round, party and snapshot of a signature made with another Hydra key', async () => {
    const f = await fixture({ forgedSignature: { round: 2, party: 1 } });
    const report = await verify(f);
    expect(report.ok).toBe(false);
    expect(report.findings).toHaveLength(1);
    const party = f.parties[1]!;
    expect(report.findings[0]).toMatchObject({
      kind: 'snapshot-signature',
      epoch: 1,
      round: 2,
      party,
      key: 'training-snapshot(epoch 1, round 2)',
      expected: `a signature by Hydra key ${f.hydraKeys.get(party)}`,
      found: expect.stringMatching(/^[0-9a-f]{128}$/),
    });
    expect(renderAuditFinding(report.findings[0]!)).toMatch(
      new RegExp(
        `^snapshot-signature \\[#\\d+ epoch 1 round 2 party ${party} object training-snapshot\\(epoch 1, round 2\\)\\]`,
      ),
    );
  });

  it('names a party that did not sign a round (the close does not cover round 1)', async () => {
    const f = await fixture({ missingSignature: { round: 1, party: 2 } });
    const report = await verify(f);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'snapshot-unsigned', round: 1, party: f.parties[2], found: '(none)' }),
    ]);
    // round 2's missing signature is carried by the close, signed by every party
    expect((await verify(await fixture({ missingSignature: { round: 2, party: 0 } }))).ok).toBe(true);
  });

  it('fails a close whose carried signatures do not verify', async () => {
    const f = await fixture();
    const db = new Database(f.logFile);
    const row = db
      .prepare<[], { position: number; data: string }>(
        "SELECT position, data FROM events WHERE type = 'l1.HeadClosed'",
      )
      .get()!;
    const data = JSON.parse(row.data);
    data.signatures = [data.signatures[1], data.signatures[0], data.signatures[2]];
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(JSON.stringify(data), row.position);
    db.close();
    const report = await verify(f);
    expect(report.findings.map((x) => [x.kind, x.party, x.position])).toEqual([
      ['snapshot-signature', f.parties[0], row.position],
      ['snapshot-signature', f.parties[1], row.position],
    ]);
  });

  it('names the round, party and object of a commitment whose size is not the stored size', async () => {
    const f = await fixture({ misstatedBytes: { round: 1, party: 2 } });
    const report = await verify(f);
    const party = f.parties[2]!;
    const key = f.keys.get(`1/${party}`)!;
    const size = readFileSync(join(f.storageRoot, 'objects', key)).length;
    expect(report.findings).toEqual([
      {
        kind: 'delta-size',
        message: 'the committed size is not the size of the stored object',
        position: expect.any(Number),
        epoch: 1,
        round: 1,
        party,
        key,
        expected: `${size + 1} bytes`,
        found: `${size} bytes`,
      },
    ]);
    expect(renderAuditFinding(report.findings[0]!)).toContain(`round 1 party ${party} object ${key}`);
  });

  it("passes a q8 cohort, and names a delta sent in an encoding that is not the cohort's", async () => {
    const q8 = await verify(await fixture({ deltaEncoding: 'q8' }));
    expect(q8.findings).toEqual([]);
    expect(q8.checked).toMatchObject({ deltas: 6, aggregates: 2 });
    for (const deltaEncoding of ['f32', 'q8'] as const) {
      const f = await fixture({ deltaEncoding, offEncoding: { round: 2, party: 1 } });
      const report = await verify(f);
      const party = f.parties[1]!;
      const other = deltaEncoding === 'f32' ? 'q8' : 'f32';
      // the delta is still used: the aggregate the parties computed from it checks
      expect(report.findings).toEqual([
        {
          kind: 'delta-encoding',
          message: `a ${other} delta in a cohort whose deltas are ${deltaEncoding}`,
          position: expect.any(Number),
          epoch: 1,
          round: 2,
          party,
          key: f.keys.get(`2/${party}`)!,
          expected: deltaEncoding,
          found: other,
        },
      ]);
    }
  });
});

describe('verifyCohort on events given directly', () => {
  const tx = { txId: 'a'.repeat(64), slot: 1 };
  const events = [
    createEvent('l1.PartyJoined', { cohortId: 'c', ...tx, party: 'c3', deposit: '10', hydraKey: 'ab' }),
    createEvent('l1.EpochStarted', { cohortId: 'c', ...tx, epoch: 1, headId: 'ee', parties: ['a1', 'c3'] }),
    createEvent('l1.PartySlashed', {
      cohortId: 'c',
      ...tx,
      accused: 'c3',
      voters: ['a1'],
      amount: '10',
      shares: [{ party: 'a1', amount: '10' }],
      returned: [],
    }),
  ].map((e, i): StoredDmlEvent => ({ ...e, stream: 'cohort-c', streamVersion: i, position: i + 1 }));
  const deps = { passphrase: 'x', densePositions: true, fetchObject: async () => undefined };

  it('reports a slash paying a share to a party with no deposit as a ledger finding, not a crash', async () => {
    const report = await verifyCohort(events, 'c', deps);
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        kind: 'ledger',
        message: expect.stringContaining('a1 gets a share but is not a member'),
      }),
    );
  });

  it('names a party that started a round from another global adapter (a carry-over not shared)', async () => {
    const start = (party: string, hash: string, at: number): StoredDmlEvent => ({
      ...createEvent('training.RoundStarted', { cohortId: 'c', epoch: 2, round: 2, globalAdapterHash: hash }),
      stream: `party-c-${party}`,
      streamVersion: 0,
      position: events.length + at,
    });
    const [agreed, other] = ['1'.repeat(64), '2'.repeat(64)];
    const log = [...events, start('a1', agreed, 1), start('c3', other, 2), start('b2', agreed, 3)];
    const findings = (await verifyCohort(log, 'c', deps)).findings.filter((f) => f.kind === 'start-mismatch');
    expect(findings).toEqual([
      expect.objectContaining({
        epoch: 2,
        round: 2,
        party: 'c3',
        expected: agreed,
        found: other,
        position: 5,
      }),
    ]);
    expect(renderAuditFinding(findings[0]!)).toContain('start-mismatch [#5 epoch 2 round 2 party c3]');
    // one start for all: nothing to say
    const same = [...events, start('a1', agreed, 1), start('c3', agreed, 2)];
    expect((await verifyCohort(same, 'c', deps)).findings.map((f) => f.kind)).not.toContain('start-mismatch');
  });

  it('reports a log that does not start at position 1, and a cohort with no event', async () => {
    const shifted = events.map((e) => ({ ...e, position: e.position + 1 }));
    expect((await verifyCohort(shifted, 'c', deps)).findings).toContainEqual(
      expect.objectContaining({ kind: 'log-gap', expected: '1', found: '2' }),
    );
    expect(
      (await verifyCohort(shifted, 'c', { ...deps, densePositions: false })).findings,
    ).not.toContainEqual(expect.objectContaining({ kind: 'log-gap' }));
    expect(await verifyCohort(events, 'other', deps)).toMatchObject({
      ok: false,
      findings: [{ kind: 'no-cohort' }],
    });
  });
});

describe('parseAggregationRuleName', () => {
  it('reads the rule names of the cohort parameters', () => {
    expect(parseAggregationRuleName('fedavg')).toEqual({ kind: 'fedavg' });
    expect(parseAggregationRuleName('trimmed-mean:1')).toEqual({ kind: 'trimmed-mean', trim: 1 });
    expect(parseAggregationRuleName('krum:1')).toEqual({ kind: 'krum', byzantine: 1 });
    expect(parseAggregationRuleName('krum:1:3')).toEqual({ kind: 'krum', byzantine: 1, select: 3 });
  });
  it('refuses names it does not know', () => {
    for (const bad of ['fedavg-ffa', 'krum', 'trimmed-mean:x', 'median:1', 'krum:1:2:3', ''])
      expect(() => parseAggregationRuleName(bad)).toThrow(/AUDIT_RULE_UNKNOWN|not one the auditor knows/);
  });
});
