// Prints the contracts report table (run by `npm run contracts:report` through contracts/report.ts).
import { loadBlueprint } from '../contracts/index.js';
import { measureContractPaths } from '../offchain/index.js';

const blueprint = loadBlueprint();
console.log('script                  size (bytes)');
for (const v of blueprint.validators)
  console.log(`${v.title.padEnd(24)}${String(v.compiledCode.length / 2).padStart(12)}`);
console.log('');
console.log('path                    parties        cpu steps  % max      memory  % max   tx bytes');
for (const n of [3, 10, 30]) {
  try {
    for (const b of await measureContractPaths(n)) {
      console.log(
        `${b.path.padEnd(24)}${String(b.parties).padStart(7)}${String(b.steps).padStart(17)}${(b.stepsShare * 100).toFixed(1).padStart(7)}${String(b.mem).padStart(12)}${(b.memShare * 100).toFixed(1).padStart(7)}${String(b.txBytes).padStart(11)}`,
      );
    }
  } catch (error) {
    console.log(`${n} parties: ${(error as Error).message.split('\n')[0]}`);
  }
}
