import type { DemoResult } from './story.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const bpb = (x: number) => x.toFixed(3);
const ada = (lovelace: bigint) => `${(Number(lovelace) / 1e6).toFixed(2)}`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** The closing table of `dml demo`: one row per party, then the cohorts and where the log is. */
export const renderDemoTable = (r: DemoResult): string => {
  const lm = r.model === 'lm';
  const measure = lm ? bpb : pct;
  const header = [
    'party',
    'role',
    lm ? 'alone (bits/byte)' : 'alone',
    lm ? 'together (bits/byte)' : 'together',
    'uploaded',
    'deposit in (ADA)',
    'deposit out (ADA)',
  ];
  const rows = r.parties.map((p) => [
    p.name,
    p.role,
    measure(p.accuracyAlone),
    measure(p.accuracyTogether),
    kb(p.bytesUploaded),
    ada(p.depositIn),
    ada(p.depositOut),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    lm
      ? `alone / together: ${r.metric.label}; the NF4 base before training: ${bpb(r.baseAccuracy)} bits/byte (mean over the parties' texts)`
      : `alone / together: ${r.metric.label}; the NF4 base before training: ${pct(r.baseAccuracy)}`,
    ...r.cohorts.map(
      (c) =>
        `cohort ${c.id}: ${c.outcome} after round ${c.rounds}; audit ${c.audit.ok ? 'verified' : `FAILED (${c.audit.findings.length} findings)`}; report ${c.reportFile}`,
    ),
    `event log: ${r.logFile}`,
    `deltas:    ${r.storageRoot} (passphrase in ${r.passphraseFile})`,
    `finished in ${r.seconds.toFixed(0)} s`,
  ];
  return out.join('\n');
};
