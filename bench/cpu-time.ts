import { median } from './peers-compare.js';

/** Median CPU milliseconds of this process (every thread) over `runs` runs of a synchronous `f`. */
export const cpuMilliseconds = (runs: number, f: () => unknown): number => {
  const ms: number[] = [];
  for (let run = 0; run < runs; run++) {
    const before = process.cpuUsage();
    f();
    const used = process.cpuUsage(before);
    ms.push((used.user + used.system) / 1000);
  }
  return median(ms);
};
