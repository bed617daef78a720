import { describe, expect, it } from '@jest/globals';
import { expectDmlError } from './object-store.behaviour.js';
import { backoffPatienceMs } from './retry.js';
import { storageConfigFromSettings } from './storage-config.js';

const s3Settings = {
  storage: 's3',
  s3Endpoint: 'https://gateway.storjshare.io',
  s3AccessKeyId: 'jw7example',
  s3SecretAccessKey: 'jk3example',
  s3Region: 'us-east-1',
  bucket: 'party-a-deltas',
  uploadPath: 'mnist/run-1',
  encryptionPassphrase: 'the passphrase',
};

describe('storageConfigFromSettings', () => {
  it('maps the Storj prototype settings plus the gateway credential to an S3 store', () => {
    expect(storageConfigFromSettings(s3Settings)).toEqual({
      kind: 's3',
      prefix: 'mnist/run-1/',
      passphrase: 'the passphrase',
      s3: {
        endpoint: 'https://gateway.storjshare.io',
        region: 'us-east-1',
        accessKeyId: 'jw7example',
        secretAccessKey: 'jk3example',
        bucket: 'party-a-deltas',
      },
    });
  });

  it('defaults to the local folder store under the data folder, with the key folder passphrase', () => {
    expect(
      storageConfigFromSettings({ home: '/tmp/party' }, { fallbackPassphrase: 'from key folder' }),
    ).toEqual({
      kind: 'local',
      root: '/tmp/party/storage',
      prefix: 'dml/',
      passphrase: 'from key folder',
    });
    expect(storageConfigFromSettings({ storage: 'local', encryptionPassphrase: 'p' }).passphrase).toBe('p');
  });

  it('names every missing setting in one error', async () => {
    const error = await expectDmlError(
      Promise.resolve().then(() =>
        storageConfigFromSettings({
          ...s3Settings,
          s3Endpoint: undefined,
          bucket: '',
          encryptionPassphrase: undefined,
        }),
      ),
      'STORAGE_SETTING_MISSING',
      /MY_S3_ENDPOINT \(s3Endpoint\), MY_BUCKET \(bucket\), MY_ENCRYPTION_PASSPHRASE \(encryptionPassphrase\)/,
    );
    expect(error.hint).toMatch(/design_docs\/storage\.md/);
    await expectDmlError(
      Promise.resolve().then(() =>
        storageConfigFromSettings({ ...s3Settings, s3SecretAccessKey: undefined }),
      ),
      'STORAGE_SETTING_MISSING',
      /needs MY_S3_SECRET_ACCESS_KEY \(s3SecretAccessKey\), which is not set/,
    );
    await expectDmlError(
      Promise.resolve().then(() => storageConfigFromSettings({ storage: 'local' })),
      'STORAGE_SETTING_MISSING',
      /MY_ENCRYPTION_PASSPHRASE/,
    );
  });

  it('tells a Storj user that MY_API_KEY and MY_SATELLITE are replaced', async () => {
    const error = await expectDmlError(
      Promise.resolve().then(() =>
        storageConfigFromSettings(
          { storage: 's3', bucket: 'b-1', encryptionPassphrase: 'p' },
          { env: { MY_API_KEY: '1abc', MY_SATELLITE: 'us1.storj.io:7777' } },
        ),
      ),
      'STORAGE_SETTING_MISSING',
    );
    expect(error.hint).toMatch(/MY_API_KEY and MY_SATELLITE from the Storj prototype are not used/);
  });

  it('rejects invalid values clearly', async () => {
    const bad = (settings: Record<string, string | undefined>, message: RegExp) =>
      expectDmlError(
        Promise.resolve().then(() => storageConfigFromSettings(settings)),
        'STORAGE_SETTING_INVALID',
        message,
      );
    await bad({ ...s3Settings, storage: 'storj' }, /DML_STORAGE \(storage\) is "storj"/);
    await bad({ ...s3Settings, s3Endpoint: 'gateway.storjshare.io' }, /not a URL/);
    await bad({ ...s3Settings, s3Endpoint: 'ftp://x' }, /http\(s\)/);
    await bad({ ...s3Settings, bucket: 'Party_A' }, /not a valid bucket name/);
    await bad({ ...s3Settings, uploadPath: '../up' }, /MY_STORJ_UPLOAD_PATH/);
  });

  it('takes the retry policy (its patience while storage is unreachable) from the settings', async () => {
    expect(storageConfigFromSettings(s3Settings).backoff).toBeUndefined();
    const config = storageConfigFromSettings({
      ...s3Settings,
      storageRetryAttempts: '12',
      storageRetryMaxDelayMs: '30000',
    });
    expect(config.backoff).toEqual({ maxAttempts: 12, baseDelayMs: 200, maxDelayMs: 30_000 });
    expect(backoffPatienceMs(config.backoff!)).toBe(
      200 + 400 + 800 + 1600 + 3200 + 6400 + 12_800 + 25_600 + 3 * 30_000,
    );
    const bad = (settings: Record<string, string | undefined>, message: RegExp) =>
      expectDmlError(
        Promise.resolve().then(() => storageConfigFromSettings({ ...s3Settings, ...settings })),
        'STORAGE_SETTING_INVALID',
        message,
      );
    await bad({ storageRetryAttempts: '0' }, /DML_STORAGE_RETRY_ATTEMPTS \(storageRetryAttempts\) is "0"/);
    await bad({ storageRetryBaseDelayMs: 'soon' }, /DML_STORAGE_RETRY_BASE_MS/);
    await bad({ storageRetryBaseDelayMs: '9000', storageRetryMaxDelayMs: '100' }, /is below/);
  });
});
