import type { BenchRecord } from './result.js';

const formatValue = (value: number): string => {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: abs >= 100 ? 1 : 3 });
};

/** The benchmark table as text: area, figure, value, unit, backend, note. */
export const renderBenchTable = (records: readonly BenchRecord[]): string => {
  const rows = records.map((r) => [
    r.area,
    r.name,
    formatValue(r.value),
    r.unit,
    r.backend ?? '',
    r.note ?? '',
  ]);
  const header = ['area', 'figure', 'value', 'unit', 'backend', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
};
