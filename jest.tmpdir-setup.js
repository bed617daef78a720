// Jest's global setup: every test's temporary files go under one folder of this run (TMPDIR is
// read by os.tmpdir() in the tests, their workers and the processes they start), which the
// global teardown removes, so a run leaves nothing in /tmp. DML_KEEP_TEST_HOME=1 keeps it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setUpTestTmpdir() {
  const dir = mkdtempSync(join(tmpdir(), 'dml-jest-'));
  globalThis.dmlJestTmpdir = dir;
  process.env.TMPDIR = dir;
}
