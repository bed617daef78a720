import { describe, expect, it } from '@jest/globals';
import { renderBenchTable } from './table.js';

const record = (name: string, value: number, unit: string) => ({
  area: 'demo',
  name,
  value,
  unit,
  cores: 2,
  date: '2026-11-26T00:00:00.000Z',
  commit: 'abc1234',
});

describe('benchmark table', () => {
  it('aligns columns and right-aligns values', () => {
    const text = renderBenchTable([record('append', 123456, 'events/s'), record('latency p99', 0.5, 'ms')]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^area\s+figure\s+value\s+unit/);
    expect(lines[2]).toContain('123,456  events/s');
    expect(lines[3]).toContain('    0.5  ms');
    expect(
      new Set(
        lines.slice(2).map((l) => (l.indexOf('events/s') >= 0 ? l.indexOf('events/s') : l.indexOf('ms'))),
      ).size,
    ).toBe(1);
  });

  it('writes very large and very small values in exponent form', () => {
    const text = renderBenchTable([record('big', 12345678, 'B'), record('small', 0.00001, 's')]);
    expect(text).toContain('1.235e+7');
    expect(text).toContain('1.000e-5');
  });
});
