// Contracts benchmark: execution units of every path (create, start epoch, join, close, contest, finalize,
// refund, claim, slash) for a 10-party cohort, as a share of the per-transaction maximum (target: under 30%).
import { measureContractPaths } from '../offchain/index.js';

export default async (): Promise<Array<{ name: string; value: number; unit: string; note?: string }>> => {
  const results: Array<{ name: string; value: number; unit: string; note?: string }> = [];
  for (const b of await measureContractPaths(10)) {
    results.push({
      name: `contracts ${b.path} cpu (10 parties)`,
      value: b.stepsShare * 100,
      unit: '% of max tx steps',
    });
    results.push({
      name: `contracts ${b.path} memory (10 parties)`,
      value: b.memShare * 100,
      unit: '% of max tx memory',
    });
  }
  return results;
};
