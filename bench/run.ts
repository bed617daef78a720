// npm run bench [-- AREA ...]: runs every bench/<area>.bench.ts (or the named areas), prints one
// table and writes the same figures to bench/results.json.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { appendRecords } from './peers-compare.js';
import type { Benchmark, BenchRecord } from './result.js';
import { renderBenchTable } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));

const gitCommit = (): string => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

const main = async (): Promise<number> => {
  const wanted = process.argv.slice(2);
  const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
  const areas = files.map((f) => f.replace(/\.bench\.ts$/, ''));
  if (wanted.includes('--help')) {
    process.stdout.write(
      `npm run bench -- [NAME ...]\n\nRuns the project's benchmarks (all, or the named ones: ${areas.join(', ')}),\nprints one table and writes the figures to bench/results.json.\n`,
    );
    return 0;
  }
  const unknown = wanted.filter((w) => !areas.includes(w));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: no benchmark named ${unknown.join(', ')} (there are: ${areas.join(', ')})\n`,
    );
    return 2;
  }
  const chosen = wanted.length > 0 ? areas.filter((a) => wanted.includes(a)) : areas;
  const date = new Date().toISOString();
  const commit = gitCommit();
  const cores = availableParallelism();
  const records: BenchRecord[] = [];
  let failures = 0;
  for (const area of chosen) {
    process.stderr.write(`bench: ${area} ...\n`);
    const started = Date.now();
    try {
      const module = (await import(pathToFileURL(join(here, `${area}.bench.ts`)).href)) as {
        default: Benchmark;
      };
      for (const figure of await module.default()) records.push({ area, ...figure, cores, date, commit });
      process.stderr.write(`bench: ${area} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      failures += 1;
      process.stderr.write(
        `bench: ${area} failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }
  process.stdout.write(renderBenchTable(records) + '\n');
  // Keep the figures of areas not run now (and of bench:peers); replace those of the areas run.
  const resultsPath = join(here, 'results.json');
  const existing: unknown = existsSync(resultsPath)
    ? JSON.parse(await readFile(resultsPath, 'utf8'))
    : undefined;
  const kept = appendRecords(existing, []).filter((r) => !chosen.includes(r.area));
  await writeFile(resultsPath, JSON.stringify([...kept, ...records], null, 2) + '\n');
  process.stderr.write(`bench: ${records.length} figures written to bench/results.json\n`);
  return failures > 0 ? 1 : 0;
};

// A reader that stops early (`npm run bench -- --help | head`) closes the pipe: what it did not
// read is dropped, the run goes on (bench/results.json is still written) and exits as it would.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await main();
