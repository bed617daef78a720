import type { AuditReportData, ReportHead } from './report-data.js';
import { escapeXml, lineChart, shortId, stackedBarChart, timelineChart } from './svg-charts.js';

const ada = (lovelace: string) => Number(BigInt(lovelace)) / 1e6;
const adaText = (lovelace: string) => `${ada(lovelace).toFixed(6)} ADA`;
const num = (x: number | undefined, digits = 4) => (x === undefined ? '–' : x.toFixed(digits));

/** The lifecycle phases of a head as time intervals; an open-ended phase runs to `end`. */
export const headPhases = (
  head: ReportHead,
  end: string,
): Array<{ phase: 'Initializing' | 'Open' | 'Closed'; from: string; to: string }> => {
  const out: Array<{ phase: 'Initializing' | 'Open' | 'Closed'; from: string; to: string }> = [];
  const { initializedAt, openedAt, closedAt, finalizedAt } = head;
  if (initializedAt)
    out.push({ phase: 'Initializing', from: initializedAt, to: openedAt ?? finalizedAt ?? end });
  if (openedAt) out.push({ phase: 'Open', from: openedAt, to: closedAt ?? end });
  if (closedAt) out.push({ phase: 'Closed', from: closedAt, to: finalizedAt ?? end });
  return out;
};

const LEDGER_FIELDS = [
  { key: 'inEscrow', name: 'in escrow' },
  { key: 'claimed', name: 'claimed' },
  { key: 'refunded', name: 'refunded' },
  { key: 'returned', name: 'returned' },
  { key: 'slashedAway', name: 'slashed away' },
  { key: 'slashShares', name: 'slash shares' },
] as const;

/** Sets data-rendered="W×H" on every chart once laid out: a check that the browser drew them. */
const RENDER_CHECK = `document.querySelectorAll('svg[data-chart]').forEach(function (svg) {
  var box = svg.getBoundingClientRect();
  svg.setAttribute('data-rendered', Math.round(box.width) + 'x' + Math.round(box.height));
});`;

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:980px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.id,th.id{text-align:left;font-family:monospace}
svg{display:block;margin:12px 0;max-width:100%;height:auto}
.grid{stroke:#eee}.axis{stroke:#888}.tick{font-size:11px;fill:#444}.axis-label{font-size:12px;fill:#222}
.chart-title{font-size:14px;font-weight:600}.bad{color:#b00020;font-weight:600}.good{color:#11772d;font-weight:600}`;

/** The report as one self-contained HTML page (inline SVG and CSS, no external resource). */
export const renderAuditReportHtml = (data: AuditReportData): string => {
  const s = data.summary;
  const xLabels = data.rounds.map((r) => r.label);
  const seriesOf = (metric: 'loss' | 'accuracy') =>
    data.parties.map((party) => ({
      name: shortId(party),
      values: data.rounds.map((r) => r.parties.find((p) => p.party === party)?.[metric]),
    }));
  const times = data.heads.flatMap((h) =>
    [h.initializedAt, h.openedAt, h.closedAt, h.finalizedAt].filter((t): t is string => t !== undefined),
  );
  const end = times.reduce((m, t) => (t > m ? t : m), times[0] ?? data.generatedAt);

  const charts = [
    lineChart({
      id: 'loss',
      title: 'Training loss per round and party',
      yLabel: 'loss',
      xLabels,
      series: seriesOf('loss'),
    }),
    lineChart({
      id: 'accuracy',
      title: 'Accuracy per round and party',
      yLabel: 'accuracy',
      xLabels,
      series: seriesOf('accuracy'),
      yDomain: [0, 1],
    }),
  ];
  const ledgerChart = stackedBarChart({
    id: 'ledger',
    title: 'Deposits: where each party’s deposit is now, and slash shares received',
    unit: 'ADA',
    fields: LEDGER_FIELDS,
    rows: s.ledger.accounts.map((a) => ({
      label: shortId(a.party),
      title: a.party,
      values: Object.fromEntries(LEDGER_FIELDS.map((f) => [f.key, ada(a[f.key])])),
    })),
  });
  const headChart = timelineChart({
    id: 'heads',
    title: 'Hydra heads: lifecycle over time',
    phases: ['Initializing', 'Open', 'Closed'],
    rows: data.heads.map((h) => ({
      label: shortId(h.headId),
      title: `head ${h.headId} (${h.status}${h.aborted ? ', aborted' : ''})`,
      segments: headPhases(h, end),
    })),
  });

  const d = data.directions;
  const directionChart = lineChart({
    id: 'directions',
    title: `Direction evidence: cumulative z over the rounds per party (flagged below ${d.zCritical})`,
    yLabel: 'cumulative z',
    xLabels: d.perRound.map((r) => r.label),
    series: data.parties.map((party) => ({
      name: shortId(party),
      values: d.perRound.map((r) => r.parties.find((p) => p.party === party)?.cumulativeZ),
    })),
    referenceLines: [{ value: d.zCritical, label: `z = ${d.zCritical}` }],
  });
  const directionText =
    d.rounds === 0
      ? `<p>No round with ${d.minParties} or more judged deltas${d.source === 'recorded' ? ' recorded in the log (events written before the similarities were recorded carry none)' : ''}: no verdict.</p>`
      : `<p>Evidence, not a finding (it does not change the audit's result). Source: ${d.source === 'auditor' ? 'recomputed by the auditor from the committed deltas' : 'the parties’ own judgements recorded in the log (each round the median of the other parties’ similarities)'}; ${d.rounds} round(s) with ${d.minParties} or more deltas.
A delta’s z in a round is its cosine similarity with the leave-one-out median of the others times the square root of its size in floats (a random direction scores a standard normal z); over the rounds the z are combined (Stouffer: sum / √rounds).
A party is flagged when its combined z is below ${d.zCritical} <em>and</em> a typical party of the same rounds reaches ${2 * d.zCritical} or more; otherwise a party below ${d.zCritical} is shown as “insufficient”: not enough evidence to tell (few rounds, small deltas, or honest deltas that do not share a direction).
${d.flagged.length ? `<span class="bad">Flagged: ${d.flagged.map((p) => escapeXml(shortId(p))).join(', ')}</span>` : '<span class="good">No party flagged.</span>'}</p>`;
  const id = (text: string) => `<td class="id" title="${escapeXml(text)}">${escapeXml(shortId(text))}</td>`;
  const roundRows = data.rounds.flatMap((r) =>
    r.parties.map(
      (p) =>
        `<tr><td>${r.epoch}</td><td>${r.round}</td>${id(p.party)}<td>${num(p.loss)}</td><td>${num(p.accuracy)}</td><td>${num(p.meanScore)}</td><td>${p.sampleCount ?? '–'}</td><td>${p.bytes ?? '–'}</td>${id(p.deltaHash ?? '')}</tr>`,
    ),
  );
  const aggregateRows = data.rounds.map(
    (r) =>
      `<tr><td>${r.epoch}</td><td>${r.round}</td><td>${r.parties.length}</td><td class="id">${escapeXml(r.rule ?? '–')}</td>${id(r.aggregateHash ?? '–')}</tr>`,
  );
  const accountRows = s.ledger.accounts.map(
    (a) =>
      `<tr>${id(a.party)}${[a.deposited, a.inEscrow, a.claimed, a.refunded, a.returned, a.slashShares, a.slashedAway].map((v) => `<td>${adaText(v)}</td>`).join('')}</tr>`,
  );
  const slashRows = s.ledger.slashes.map(
    (x) => `<tr>${id(x.accused)}<td>${x.voters}</td><td>${adaText(x.amount)}</td></tr>`,
  );
  const headRows = data.heads.map(
    (h) =>
      `<tr>${id(h.headId)}<td>${h.status}${h.aborted ? ' (aborted)' : ''}</td><td>${h.parties}</td><td>${h.contestations}</td>${[h.initializedAt, h.openedAt, h.closedAt, h.finalizedAt].map((t) => `<td>${escapeXml(t ?? '–')}</td>`).join('')}</tr>`,
  );
  const table = (head: string, rows: string[]) =>
    rows.length
      ? `<table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`
      : '<p>none</p>';
  const th = (...names: string[]) => names.map((n) => `<th>${escapeXml(n)}</th>`).join('');
  const directionRows = d.parties.map(
    (p) =>
      `<tr>${id(p.party)}<td>${p.rounds}</td><td>${p.z.toFixed(2)}</td><td>${p.referenceZ.toFixed(2)}</td><td class="${p.flagged ? 'bad' : p.verdict === 'aligned' ? 'good' : ''}">${p.verdict}${p.flagged ? ' (flagged)' : ''}</td></tr>`,
  );

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Audit report: cohort ${escapeXml(data.cohortId)}</title>
<style>${STYLE}</style>
</head>
<body data-cohort="${escapeXml(data.cohortId)}">
<h1>Audit report: cohort <code>${escapeXml(data.cohortId)}</code></h1>
<p>${s.events} events replayed (log position ${s.lastPosition}); generated ${escapeXml(data.generatedAt)}.
The same data is in <code>report.json</code> beside this file.</p>
<p>Escrow ${escapeXml(s.ledger.outcome)}: deposited ${adaText(s.ledger.deposited)}, in escrow ${adaText(s.ledger.inEscrow)}, paid out ${adaText(s.ledger.paidOut)}:
${s.ledger.balances ? '<span class="good">the ledger balances</span>' : '<span class="bad">the ledger DOES NOT balance</span>'}.
Anomalies: ${s.anomalies.length ? `<span class="bad">${s.anomalies.length}</span>` : '<span class="good">none</span>'}.</p>
<h2>Training</h2>
${charts.join('\n')}
${table(th('epoch', 'round', 'party', 'loss', 'accuracy', 'mean score', 'samples', 'bytes', 'delta hash'), roundRows)}
<h3>Aggregates</h3>
${table(th('epoch', 'round', 'deltas', 'rule', 'aggregate hash'), aggregateRows)}
<h2 id="directions">Directions of the deltas over the rounds</h2>
${directionText}
${directionChart}
${table(th('party', 'rounds', 'combined z', 'typical party z', 'verdict'), directionRows)}
<h2>Deposit ledger</h2>
${ledgerChart}
${table(th('party', 'deposited', 'in escrow', 'claimed', 'refunded', 'returned', 'slash shares', 'slashed away'), accountRows)}
<h3>Slashes</h3>
${table(th('accused', 'voters', 'amount'), slashRows)}
<h2>Head timeline</h2>
${headChart}
${table(th('head', 'status', 'parties', 'contested', 'initialised', 'opened', 'closed', 'finalised'), headRows)}
<h2>Anomalies</h2>
${s.anomalies.length ? `<ul>${s.anomalies.map((a) => `<li>${escapeXml(a)}</li>`).join('')}</ul>` : '<p>none</p>'}
<script>${RENDER_CHECK}</script>
</body>
</html>
`;
};
