import { describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBounded } from '../../offchain/testing/index.js';

/**
 * `dml storage check` through the real launcher (bin/dml.js) against the local Swift's S3 API:
 * the configured bucket is created, an encrypted object stored, shared, fetched back and deleted,
 * and nothing but the result is printed (no SDK warning on Node 20).
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BOUND_MS = 120_000;

const s3 = (): Record<string, string> => {
  const missing = ['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'].filter((k) => !process.env[k]);
  if (missing.length > 0)
    throw new Error(
      `${missing.join(', ')} not set: start Swift (.ci/services/swift.sh start) and eval its env`,
    );
  return {
    DML_STORAGE: 's3',
    MY_S3_ENDPOINT: process.env.S3_ENDPOINT!,
    MY_S3_ACCESS_KEY_ID: process.env.S3_ACCESS_KEY_ID!,
    MY_S3_SECRET_ACCESS_KEY: process.env.S3_SECRET_ACCESS_KEY!,
    MY_S3_REGION: process.env.S3_REGION ?? 'us-east-1',
  };
};

const dml = (args: string[], env: Record<string, string>) => {
  const base = { ...process.env };
  delete base.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return runBounded(process.execPath, [join(ROOT, 'bin', 'dml.js'), ...args], {
    cwd: ROOT,
    env: { ...base, ...env },
    boundMs: BOUND_MS,
  });
};

describe('dml storage check against S3 (Swift)', () => {
  it(
    'checks the configured bucket end to end and prints only its result',
    async () => {
      const home = await mkdtemp(join(tmpdir(), 'dml-storage-s3-'));
      try {
        const result = await dml(['--json', 'storage', 'check'], {
          ...s3(),
          DML_HOME: home,
          MY_BUCKET: `dml-cli-${randomUUID().slice(0, 8)}`,
          MY_STORJ_UPLOAD_PATH: 'deltas',
          MY_ENCRYPTION_PASSPHRASE: 'cli s3 passphrase',
        });
        expect(result).toMatchObject({ code: 0, stderr: '' });
        expect(JSON.parse(result.stdout)).toMatchObject({ kind: 's3', prefix: 'deltas/', ok: true });
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
    BOUND_MS + 10_000,
  );
});
