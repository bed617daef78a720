// npm run contracts:report: script sizes and the execution units of each path for 3, 10 and 30
// parties. The measurement needs the validating emulator (offchain/), which contracts/ must not
// import, so it runs scripts/contracts-report.ts in its own process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runner = fileURLToPath(new URL('../scripts/contracts-report.ts', import.meta.url));
const result = spawnSync(process.execPath, ['--import', 'tsx', runner], { stdio: 'inherit' });
process.exitCode = result.status ?? 1;
