import { join } from 'node:path';
import { DmlError } from '../errors.js';
import { normaliseKeyPrefix } from './object-key.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './retry.js';
import type { S3StoreConfig } from './s3-object-store.js';

/**
 * The storage configuration, mapped from the settings a user of the original Storj prototype
 * brings along. The prototype's Storj-native `MY_API_KEY` / `MY_SATELLITE` are replaced by an S3
 * credential of the Storj gateway (see design_docs/storage.md for how to obtain one):
 *
 *   setting key            environment                 used as
 *   storage                DML_STORAGE                 local | s3
 *   s3Endpoint             MY_S3_ENDPOINT              gateway endpoint, e.g. https://gateway.storjshare.io
 *   s3AccessKeyId          MY_S3_ACCESS_KEY_ID         access key id of the S3 credential
 *   s3SecretAccessKey      MY_S3_SECRET_ACCESS_KEY     its secret
 *   s3Region               MY_S3_REGION                region to sign for (default us-east-1)
 *   bucket                 MY_BUCKET                   this party's bucket (kept from the prototype)
 *   uploadPath             MY_STORJ_UPLOAD_PATH        key prefix (kept from the prototype)
 *   encryptionPassphrase   MY_ENCRYPTION_PASSPHRASE    passphrase (kept from the prototype)
 *   home                   DML_HOME                    the local store lives in <home>/storage
 *   storageRetryAttempts   DML_STORAGE_RETRY_ATTEMPTS  attempts per request while storage is unreachable (6)
 *   storageRetryBaseDelayMs DML_STORAGE_RETRY_BASE_MS  ceiling of the first retry's wait (200)
 *   storageRetryMaxDelayMs DML_STORAGE_RETRY_MAX_DELAY_MS  ceiling of any wait (5000)
 *
 * The retry's patience - how long a store keeps trying before a put fails with
 * STORAGE_UNREACHABLE - is the sum of its wait ceilings (`backoffPatienceMs`): 6.2 s by default;
 * e.g. 12 attempts with waits up to 30 s give 141 s (full jitter: about half that expected).
 */
export const STORAGE_SETTING_ENV = {
  storage: 'DML_STORAGE',
  s3Endpoint: 'MY_S3_ENDPOINT',
  s3AccessKeyId: 'MY_S3_ACCESS_KEY_ID',
  s3SecretAccessKey: 'MY_S3_SECRET_ACCESS_KEY',
  s3Region: 'MY_S3_REGION',
  bucket: 'MY_BUCKET',
  uploadPath: 'MY_STORJ_UPLOAD_PATH',
  encryptionPassphrase: 'MY_ENCRYPTION_PASSPHRASE',
  home: 'DML_HOME',
  storageRetryAttempts: 'DML_STORAGE_RETRY_ATTEMPTS',
  storageRetryBaseDelayMs: 'DML_STORAGE_RETRY_BASE_MS',
  storageRetryMaxDelayMs: 'DML_STORAGE_RETRY_MAX_DELAY_MS',
} as const;

/** Settings the prototype had that have no meaning with the S3 gateway. */
const RETIRED_PROTOTYPE_SETTINGS = ['MY_API_KEY', 'MY_SATELLITE'] as const;

export type StorageConfig = (
  | { readonly kind: 'local'; readonly root: string; readonly prefix: string; readonly passphrase: string }
  | { readonly kind: 's3'; readonly s3: S3StoreConfig; readonly prefix: string; readonly passphrase: string }
) & {
  /** The retry policy while storage is unreachable, when a setting names one (else the store's default). */
  readonly backoff?: BackoffPolicy;
};

type SettingKey = keyof typeof STORAGE_SETTING_ENV;
const named = (key: SettingKey): string => `${STORAGE_SETTING_ENV[key]} (${key})`;

/** S3 bucket names: 3-63 characters, lower-case letters, digits, `.` and `-`, alphanumeric ends. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Turns resolved settings (keys as in the command line's settings table) into a storage
 * configuration. Every missing setting is named in one `STORAGE_SETTING_MISSING` error.
 * `fallbackPassphrase` is the key folder's storage.passphrase, used when
 * MY_ENCRYPTION_PASSPHRASE is not set. `env` is only read to warn about retired settings.
 */
export const storageConfigFromSettings = (
  settings: Readonly<Record<string, string | undefined>>,
  options: {
    readonly fallbackPassphrase?: string;
    readonly env?: Readonly<Record<string, string | undefined>>;
  } = {},
): StorageConfig => {
  const value = (key: SettingKey): string | undefined => {
    const v = settings[key]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const kind = value('storage') ?? 'local';
  if (kind !== 'local' && kind !== 's3')
    throw new DmlError(
      'STORAGE_SETTING_INVALID',
      `${named('storage')} is ${JSON.stringify(kind)}: use local or s3`,
    );

  const passphrase = value('encryptionPassphrase') ?? options.fallbackPassphrase;
  const missing: SettingKey[] = [];
  const required =
    kind === 's3' ? (['s3Endpoint', 's3AccessKeyId', 's3SecretAccessKey', 'bucket'] as const) : [];
  for (const key of required) if (value(key) === undefined) missing.push(key);
  if (!passphrase) missing.push('encryptionPassphrase');
  if (missing.length > 0) {
    const retired = RETIRED_PROTOTYPE_SETTINGS.filter((name) => options.env?.[name]);
    throw new DmlError(
      'STORAGE_SETTING_MISSING',
      `storage ${kind} needs ${missing.map(named).join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not set`,
      {
        hint:
          (kind === 's3'
            ? 'set them in the environment or the config file; a Storj user creates an S3 credential for the gateway (design_docs/storage.md)'
            : 'set MY_ENCRYPTION_PASSPHRASE or create a key folder with `dml keys new`') +
          (retired.length > 0
            ? `; ${retired.join(' and ')} from the Storj prototype are not used: the gateway's S3 credential replaces them`
            : ''),
      },
    );
  }
  let prefix: string;
  try {
    prefix = normaliseKeyPrefix(value('uploadPath') ?? 'dml/');
  } catch (cause) {
    throw new DmlError(
      'STORAGE_SETTING_INVALID',
      `${named('uploadPath')} is not a valid key prefix: ${(cause as Error).message}`,
    );
  }
  const backoff = retryPolicyOf(value);
  const retry = backoff ? { backoff } : {};
  if (kind === 'local')
    return {
      kind,
      root: join(value('home') ?? '.dml', 'storage'),
      prefix,
      passphrase: passphrase!,
      ...retry,
    };

  const endpoint = value('s3Endpoint')!;
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw new DmlError('STORAGE_SETTING_INVALID', `${named('s3Endpoint')} is not a URL: ${endpoint}`, {
      hint: 'e.g. https://gateway.storjshare.io',
    });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new DmlError(
      'STORAGE_SETTING_INVALID',
      `${named('s3Endpoint')} must be an http(s) URL, not ${endpoint}`,
    );
  const bucket = value('bucket')!;
  if (!BUCKET.test(bucket) || bucket.includes('..'))
    throw new DmlError(
      'STORAGE_SETTING_INVALID',
      `${named('bucket')} ${JSON.stringify(bucket)} is not a valid bucket name (3-63 of a-z 0-9 . -)`,
    );
  return {
    kind,
    prefix,
    passphrase: passphrase!,
    ...retry,
    s3: {
      endpoint,
      region: value('s3Region') ?? 'us-east-1',
      accessKeyId: value('s3AccessKeyId')!,
      secretAccessKey: value('s3SecretAccessKey')!,
      bucket,
    },
  };
};

/** The retry policy the settings name, or undefined when none is set. */
const retryPolicyOf = (value: (key: SettingKey) => string | undefined): BackoffPolicy | undefined => {
  const keys = ['storageRetryAttempts', 'storageRetryBaseDelayMs', 'storageRetryMaxDelayMs'] as const;
  if (keys.every((k) => value(k) === undefined)) return undefined;
  const int = (key: (typeof keys)[number], fallback: number, min: number, max: number): number => {
    const raw = value(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new DmlError(
        'STORAGE_SETTING_INVALID',
        `${named(key)} is ${JSON.stringify(raw)}: use a whole number from ${min} to ${max}`,
      );
    return n;
  };
  const policy = {
    maxAttempts: int('storageRetryAttempts', DEFAULT_BACKOFF.maxAttempts, 1, 100),
    baseDelayMs: int('storageRetryBaseDelayMs', DEFAULT_BACKOFF.baseDelayMs, 1, 600_000),
    maxDelayMs: int('storageRetryMaxDelayMs', DEFAULT_BACKOFF.maxDelayMs, 1, 3_600_000),
  };
  if (policy.maxDelayMs < policy.baseDelayMs)
    throw new DmlError(
      'STORAGE_SETTING_INVALID',
      `${named('storageRetryMaxDelayMs')} (${policy.maxDelayMs}) is below ${named('storageRetryBaseDelayMs')} (${policy.baseDelayMs})`,
    );
  return policy;
};
