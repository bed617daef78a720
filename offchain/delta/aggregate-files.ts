// Aggregates delta files named on the command line with each rule and prints one hash a line: how
// a second process (or an auditor's machine) recomputes a round. Usage:
//   tsx offchain/delta/aggregate-files.ts '<json array of rules>' partyId:sampleCount:file ...
import { readFileSync } from 'node:fs';
import { decodeDelta } from './delta-format.js';
import { aggregateDeltas, type AggregationRule } from './aggregation-rule.js';

const [ruleJson, ...entries] = process.argv.slice(2);
const rules = JSON.parse(ruleJson ?? '[]') as AggregationRule[];
const contributions = entries.map((entry) => {
  const [partyId, count, file] = entry.split(':') as [string, string, string];
  return { partyId, sampleCount: Number(count), delta: decodeDelta(readFileSync(file)) };
});
for (const rule of rules) process.stdout.write(`${aggregateDeltas(rule, contributions).hash}\n`);
