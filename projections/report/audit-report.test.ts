import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LocalFolderStore, SqliteEventStore, simulateCohortHistory } from '../../offchain/index.js';
import { verifyCohortInStores } from '../audit/index.js';
import { replayProjections } from '../replay.js';
import { directionDeltas, writeAuditFixture } from '../testing/index.js';
import type { AuditReportData } from './report-data.js';
import { renderAuditReportHtml } from './report-html.js';
import { shortId } from './svg-charts.js';
import { writeAuditReport } from './write-audit-report.js';

const run = promisify(execFile);

/** Headless Chromium (Debian package `chromium`); the test fails, never skips, without it. */
const chromiumBinary = (): string => {
  const names = [process.env.CHROMIUM_BIN, 'chromium', 'chromium-browser', 'google-chrome'].filter(
    (n): n is string => Boolean(n),
  );
  for (const name of names) {
    if (name.includes('/')) {
      if (existsSync(name)) return name;
      continue;
    }
    for (const dir of (process.env.PATH ?? '').split(delimiter))
      if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(
    'headless Chromium is not installed, so the audit report cannot be checked in a browser: ' +
      'install it with `apt-get install -y chromium` (or set CHROMIUM_BIN)',
  );
};

/** The DOM of a page after Chromium loaded it and ran its scripts. */
const renderedDom = async (file: string): Promise<string> => {
  const { stdout } = await run(
    chromiumBinary(),
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      `--user-data-dir=${mkdtempSync(join(tmpdir(), 'dml-chromium-'))}`,
      '--dump-dom',
      pathToFileURL(file).href,
    ],
    { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
};

/** The opening tags of the elements matching `tag` with attribute `attr="value"` inside one chart. */
const chart = (dom: string, id: string): string => {
  const start = dom.indexOf(`<svg data-chart="${id}"`);
  if (start < 0) throw new Error(`no chart ${id} in the rendered page`);
  return dom.slice(start, dom.indexOf('</svg>', start) + 6);
};
const count = (svg: string, pattern: RegExp) => (svg.match(pattern) ?? []).length;
const attr = (tag: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(tag)?.[1];

const cohortLog = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dml-report-'));
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  for (const b of [
    ...simulateCohortHistory({ cohortId: 'other', parties: 2, rounds: 1 }),
    ...simulateCohortHistory({ cohortId: 'gamma', parties: 4, rounds: 5, saboteur: 2, sabotageRound: 4 }),
  ])
    await store.append(b.stream, b.events, { expectedVersion: 'any' });
  return { dir, store };
};

describe('the audit report', () => {
  it('renders in headless Chromium with charts of loss, accuracy, the ledger and the head timeline', async () => {
    const { dir, store } = await cohortLog();
    const out = join(dir, 'report');
    const written = await writeAuditReport({ store, cohortId: 'gamma' }, out);
    await store.close();
    const data = JSON.parse(readFileSync(written.jsonFile, 'utf8')) as AuditReportData;
    expect(data).toEqual(JSON.parse(JSON.stringify(written.data)));
    expect(data.cohortId).toBe('gamma');
    expect(data.parties).toHaveLength(4);
    const points = data.rounds.reduce((n, r) => n + r.parties.length, 0);
    expect(points).toBeGreaterThanOrEqual(12);

    const html = readFileSync(written.htmlFile, 'utf8');
    // self-contained: nothing loaded from anywhere (the SVG namespace is a name, not a fetch)
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);

    const dom = await renderedDom(written.htmlFile);
    for (const id of ['loss', 'accuracy', 'ledger', 'heads']) {
      const svg = chart(dom, id);
      // the page's own script ran in the browser and measured every chart as laid out
      const [w, h] = (attr(svg, 'data-rendered') ?? '0x0').split('x').map(Number);
      expect({ id, drawn: w! > 100 && h! > 50 }).toEqual({ id, drawn: true });
    }
    for (const metric of ['loss', 'accuracy'] as const) {
      const svg = chart(dom, metric);
      expect(count(svg, /<circle class="point"/g)).toBe(points);
      expect(count(svg, /<polyline /g)).toBe(4);
      // every point carries the value of the JSON for its round and party
      const first = data.rounds[0]!.parties[0]!;
      expect(svg).toContain(`data-x="${data.rounds[0]!.label}" data-value="${first[metric]}"`);
    }
    const ledger = chart(dom, 'ledger');
    const slashed = data.summary.ledger.accounts.find((a) => a.slashedAway !== '0')!;
    expect(ledger).toMatch(
      new RegExp(
        `data-row="${slashed.party}" data-field="slashedAway" data-value="${Number(slashed.slashedAway) / 1e6}"`,
      ),
    );
    expect(count(ledger, /<rect class="bar"/g)).toBeGreaterThanOrEqual(4);
    const heads = chart(dom, 'heads');
    expect(count(heads, /<rect class="phase" [^>]*data-phase="Open"/g)).toBe(1);
    expect(count(heads, /data-phase="Closed"/g)).toBe(1);
  }, 120_000);

  it('is written from replayed projections too (the demo calls it so), escaping what it shows', async () => {
    const { dir, store } = await cohortLog();
    const replayed = await replayProjections(store, { cohortId: 'gamma' });
    await store.close();
    const written = await writeAuditReport(
      {
        states: replayed.states,
        cohortId: 'gamma',
        events: replayed.folded,
        lastPosition: replayed.position,
      },
      join(dir, 'from-states'),
      { generatedAt: new Date('2026-02-03T04:05:06Z') },
    );
    expect(written.data.generatedAt).toBe('2026-02-03T04:05:06.000Z');
    expect(written.data.summary.events).toBe(replayed.folded);
    const again = renderAuditReportHtml({ ...written.data, cohortId: '<script>alert(1)</script>' });
    expect(again).not.toContain('<script>alert');
    expect(again).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it("shows the direction evidence: the auditor's, or else the parties' records in the log", async () => {
    const f = await writeAuditFixture({
      dir: mkdtempSync(join(tmpdir(), 'dml-report-dir-')),
      passphrase: 'p',
      parties: 7,
      rounds: 3,
      deltaValues: directionDeltas({ dimensions: 512, flip: [2], noise: [5] }),
      recordScores: true,
    });
    const store = new SqliteEventStore(f.logFile);
    const objects = await LocalFolderStore.open(f.storageRoot);
    try {
      const audit = await verifyCohortInStores(store, objects, f.cohortId, 'p');
      const poisoned = [f.parties[2]!, f.parties[5]!].sort();
      expect(audit.directions.flagged).toEqual(poisoned);
      const fromAuditor = await writeAuditReport(
        { store, cohortId: f.cohortId },
        join(f.logFile, '..', 'a'),
        {
          directions: audit.directions,
        },
      );
      const fromLog = await writeAuditReport({ store, cohortId: f.cohortId }, join(f.logFile, '..', 'b'));
      for (const [written, source] of [
        [fromAuditor, 'auditor'],
        [fromLog, 'recorded'],
      ] as const) {
        const json = JSON.parse(readFileSync(written.jsonFile, 'utf8')) as AuditReportData;
        const d = json.directions;
        expect(d.source).toBe(source);
        expect(d.flagged).toEqual(poisoned);
        expect(d.rounds).toBe(3);
        expect(d.perRound.map((r) => r.label)).toEqual(['e1 r1', 'e1 r2', 'e1 r3']);
        // the last cumulative z is the party's combined z
        for (const p of d.parties)
          expect(d.perRound[2]!.parties.find((x) => x.party === p.party)!.cumulativeZ).toBeCloseTo(p.z, 9);
        const html = readFileSync(written.htmlFile, 'utf8');
        expect(html).toContain('<h2 id="directions">');
        const svg = chart(html, 'directions');
        expect(count(svg, /<circle class="point"/g)).toBe(21);
        expect(svg).toContain('data-reference="3"');
        expect(html).toContain(`Flagged: ${poisoned.map((p) => shortId(p)).join(', ')}`);
      }
      // the parties' records (honest scorers agree) give the auditor's figures
      const a = fromAuditor.data.directions.parties;
      fromLog.data.directions.parties.forEach((p, i) => expect(p.z).toBeCloseTo(a[i]!.z, 9));
      // and the summary (dml audit replay, dml status) carries each party's verdict from the log
      const summary = fromLog.data.summary.reputation;
      expect(summary.filter((r) => r.direction?.flagged).map((r) => r.party)).toEqual(poisoned);
      expect(summary.find((r) => r.party === f.parties[0])!.direction).toMatchObject({
        rounds: 3,
        verdict: 'aligned',
      });
    } finally {
      await store.close();
      await objects.close();
    }
  });

  it('refuses a cohort the log does not hold', async () => {
    const { dir, store } = await cohortLog();
    await expect(writeAuditReport({ store, cohortId: 'nobody' }, join(dir, 'x'))).rejects.toMatchObject({
      code: 'AUDIT_NO_COHORT',
    });
    await store.close();
  });
});
