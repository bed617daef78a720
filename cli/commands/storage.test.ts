import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';

const run = async (argv: string[], env: Record<string, string> = {}) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
};

describe('dml storage', () => {
  it('stores, lists, shares, fetches and reads back an encrypted file in the local store', async () => {
    const home = await mkdtemp(join(tmpdir(), 'dml-storage-cli-'));
    const env = {
      DML_HOME: home,
      MY_ENCRYPTION_PASSPHRASE: 'cli test passphrase',
      MY_STORJ_UPLOAD_PATH: 'deltas',
    };
    const check = await run(['--json', 'storage', 'check'], env);
    expect(check.stderr).toBe('');
    expect(JSON.parse(check.stdout)).toMatchObject({ kind: 'local', prefix: 'deltas/', ok: true });

    const file = join(home, 'delta.bin');
    await writeFile(file, 'adapter delta bytes');
    const put = await run(['--json', 'storage', 'put', file], env);
    const ref = JSON.parse(put.stdout) as { key: string; sha256: string; size: number };
    expect(ref.key).toBe(`deltas/${ref.sha256}`);

    const ls = await run(['--json', 'storage', 'ls'], env);
    expect(JSON.parse(ls.stdout)).toEqual([{ key: ref.key, size: ref.size }]);

    const out = join(home, 'back.bin');
    expect((await run(['storage', 'get', ref.key, '--out', out], env)).code).toBe(0);
    expect(await readFile(out, 'utf8')).toBe('adapter delta bytes');

    const share = await run(['--json', 'storage', 'share', ref.key, '--expires', '60'], env);
    const grant = JSON.parse(share.stdout) as { url: string };
    const fetched = join(home, 'fetched.bin');
    const fetch = await run(['storage', 'fetch', grant.url, '--key', ref.key, '--out', fetched], env);
    expect(fetch.code).toBe(0);
    expect(await readFile(fetched, 'utf8')).toBe('adapter delta bytes');

    const wrong = await run(['storage', 'get', ref.key, '--out', out], {
      ...env,
      MY_ENCRYPTION_PASSPHRASE: 'wrong',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toContain('failed authentication');
  });

  it('names the missing S3 settings in one line', async () => {
    const home = await mkdtemp(join(tmpdir(), 'dml-storage-cli-'));
    const result = await run(['storage', 'check'], {
      DML_HOME: home,
      DML_STORAGE: 's3',
      MY_BUCKET: 'party-a',
      MY_ENCRYPTION_PASSPHRASE: 'p',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(
      'MY_S3_ENDPOINT (s3Endpoint), MY_S3_ACCESS_KEY_ID (s3AccessKeyId), MY_S3_SECRET_ACCESS_KEY (s3SecretAccessKey)',
    );
  });
});
