// Jest's global teardown: removes the run's temporary folder (see jest.tmpdir-setup.js).
import { rmSync } from 'node:fs';

export default function tearDownTestTmpdir() {
  const dir = globalThis.dmlJestTmpdir;
  if (typeof dir !== 'string') return;
  if (process.env.DML_KEEP_TEST_HOME === '1') {
    process.stderr.write(`test files kept in ${dir}\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
