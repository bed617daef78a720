// Prints the contracts report table (run by `npm run contracts:report` through contracts/report.ts):
// each script's size, each path's execution units for 3, 10 and 30 parties as a share of the
// per-transaction maximum, and whether the targets of issue #3 are met.
import { loadBlueprint } from '../contracts/index.js';
import { measureContractPaths, type PathBudget } from '../offchain/index.js';

const MAX_SCRIPT_BYTES = 2048;
const blueprint = loadBlueprint();
const sizes = blueprint.validators.map((v) => ({ title: v.title, bytes: v.compiledCode.length / 2 }));
console.log('script                  size (bytes)');
for (const v of sizes) console.log(`${v.title.padEnd(24)}${String(v.bytes).padStart(12)}`);
console.log('');
console.log('path                    parties        cpu steps  % max      memory  % max   tx bytes');
const all: PathBudget[] = [];
for (const n of [3, 10, 30]) {
  try {
    for (const b of await measureContractPaths(n)) {
      all.push(b);
      console.log(
        `${b.path.padEnd(24)}${String(b.parties).padStart(7)}${String(b.steps).padStart(17)}${(b.stepsShare * 100).toFixed(1).padStart(7)}${String(b.mem).padStart(12)}${(b.memShare * 100).toFixed(1).padStart(7)}${String(b.txBytes).padStart(11)}`,
      );
    }
  } catch (error) {
    console.log(`${n} parties: ${(error as Error).message.split('\n')[0]}`);
  }
}

const share = (b: PathBudget) => Math.max(b.stepsShare, b.memShare);
const targets: [string, boolean][] = [
  [`every script under ${MAX_SCRIPT_BYTES} bytes`, sizes.every((s) => s.bytes < MAX_SCRIPT_BYTES)],
  [
    'every path under 30% of the maximum for 10 parties',
    all.some((b) => b.parties === 10) && all.filter((b) => b.parties === 10).every((b) => share(b) < 0.3),
  ],
  [
    'close and slash fit a 30-party cohort in one transaction',
    ['close', 'slash'].every((p) =>
      all.some((b) => b.parties === 30 && b.path.startsWith(p) && share(b) <= 1 && b.txBytes <= 16384),
    ),
  ],
];
console.log('');
for (const [name, ok] of targets) console.log(`${ok ? 'met    ' : 'NOT MET'}  ${name}`);
