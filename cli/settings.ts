/**
 * Every configuration variable of the command line, in one table. A value comes from a flag, else
 * the environment, else the config file, else the default (in that order of precedence).
 * README.md lists every variable here (a test checks it).
 */
export interface SettingDefinition {
  /** Key in the config file and in the resolved settings. */
  readonly key: string;
  /** Environment variable. */
  readonly env: string;
  /** Global flag, when the setting has one. */
  readonly flag?: string;
  readonly description: string;
  readonly default?: string | ((resolved: Readonly<Record<string, string | undefined>>) => string);
  /** Secrets are never printed by `dml config show`. */
  readonly secret?: boolean;
}

export const SETTINGS: readonly SettingDefinition[] = [
  {
    key: 'home',
    env: 'DML_HOME',
    flag: '--home',
    description: 'data folder of this party (devnet state, event log, local object store)',
    default: '.dml',
  },
  {
    key: 'keys',
    env: 'DML_KEYS',
    flag: '--keys',
    description: 'key folder of this party (payment key, Hydra key, storage passphrase)',
    default: (r) => `${r.home}/keys`,
  },
  {
    key: 'network',
    env: 'DML_NETWORK',
    description: 'Cardano network: devnet (the local emulated ledger), preprod, preview or mainnet',
    default: 'devnet',
  },
  {
    key: 'eventStore',
    env: 'DML_EVENT_STORE',
    description: 'event log: sqlite:PATH (default), postgres://..., or esdb://...',
    default: (r) => `sqlite:${r.home}/events.sqlite`,
  },
  {
    key: 'bus',
    env: 'DML_BUS',
    description: 'round-event bus: memory (in process) or kafka://HOST:PORT[,HOST:PORT]',
    default: 'memory',
  },
  {
    key: 'storage',
    env: 'DML_STORAGE',
    description:
      'delta storage: local (a folder under the data folder) or s3 (Storj gateway or any S3 endpoint)',
    default: 'local',
  },
  {
    key: 's3Endpoint',
    env: 'MY_S3_ENDPOINT',
    description: 'S3 endpoint of the Storj gateway, e.g. https://gateway.storjshare.io',
  },
  {
    key: 's3AccessKeyId',
    env: 'MY_S3_ACCESS_KEY_ID',
    description: 'access key id of the S3 credential generated from the Storj access',
  },
  {
    key: 's3SecretAccessKey',
    env: 'MY_S3_SECRET_ACCESS_KEY',
    description: 'secret of the S3 credential',
    secret: true,
  },
  { key: 's3Region', env: 'MY_S3_REGION', description: 'S3 region to sign for', default: 'us-east-1' },
  { key: 'bucket', env: 'MY_BUCKET', description: "this party's bucket" },
  {
    key: 'uploadPath',
    env: 'MY_STORJ_UPLOAD_PATH',
    description: 'key prefix of uploaded deltas',
    default: 'dml/',
  },
  {
    key: 'encryptionPassphrase',
    env: 'MY_ENCRYPTION_PASSPHRASE',
    description: "passphrase for delta encryption (default: the key folder's storage.passphrase)",
    secret: true,
  },
  {
    key: 'storageRetryAttempts',
    env: 'DML_STORAGE_RETRY_ATTEMPTS',
    description:
      'attempts per storage request while the store is unreachable (default 6; patience = the sum of the waits)',
  },
  {
    key: 'storageRetryBaseDelayMs',
    env: 'DML_STORAGE_RETRY_BASE_MS',
    description: 'ceiling of the first retry wait in ms, doubling per retry (default 200)',
  },
  {
    key: 'storageRetryMaxDelayMs',
    env: 'DML_STORAGE_RETRY_MAX_DELAY_MS',
    description: 'ceiling of any retry wait in ms (default 5000)',
  },
  {
    key: 'blockfrostUrl',
    env: 'DML_BLOCKFROST_URL',
    description: 'Blockfrost API URL, for a real Cardano network',
  },
  {
    key: 'blockfrostProjectId',
    env: 'DML_BLOCKFROST_PROJECT_ID',
    description: 'Blockfrost project id',
    secret: true,
  },
  {
    key: 'devnetDir',
    env: 'DML_DEVNET_DIR',
    description: 'data folder of the local devnet (journal of layer 1, faucet key, pid and state files)',
    default: (r) => `${r.home}/devnet`,
  },
  {
    key: 'devnetPort',
    env: 'DML_DEVNET_PORT',
    description: 'TCP port of the devnet on 127.0.0.1 (0: any free port, written to the devnet folder)',
    default: '0',
  },
  {
    key: 'devnetUrl',
    env: 'DML_DEVNET_URL',
    description: "URL of a running devnet (default: the one recorded in the devnet folder's devnet.json)",
  },
  {
    key: 'hydraUrl',
    env: 'DML_HYDRA_URL',
    description:
      "hydra-node API URL (ws://HOST:PORT of a real hydra-node; default: this party's endpoint of the embedded head the devnet runs)",
  },
  {
    key: 'kupoUrl',
    env: 'DML_KUPO_URL',
    description: 'Kupo URL (with DML_OGMIOS_URL: the Kupmios provider for a real Cardano network)',
  },
  { key: 'ogmiosUrl', env: 'DML_OGMIOS_URL', description: 'Ogmios URL (with DML_KUPO_URL)' },
  { key: 'logLevel', env: 'DML_LOG_LEVEL', description: 'error, warn, info or debug', default: 'info' },
];

export type Settings = Readonly<Record<string, string | undefined>>;
export type SettingSource = 'flag' | 'env' | 'file' | 'default' | 'unset';

export interface ResolvedSetting {
  readonly definition: SettingDefinition;
  readonly value: string | undefined;
  readonly source: SettingSource;
}

/** Resolves every setting: flag, then environment, then config file, then default. */
export const resolveSettings = (sources: {
  flags: Readonly<Record<string, string | undefined>>;
  env: Readonly<Record<string, string | undefined>>;
  file: Readonly<Record<string, unknown>>;
}): ResolvedSetting[] => {
  const values: Record<string, string | undefined> = {};
  return SETTINGS.map((definition): ResolvedSetting => {
    const resolved = resolveOne(definition, sources, values);
    values[definition.key] = resolved.value;
    return resolved;
  });
};

const resolveOne = (
  definition: SettingDefinition,
  sources: Parameters<typeof resolveSettings>[0],
  earlier: Readonly<Record<string, string | undefined>>,
): ResolvedSetting => {
  const fromFlag = sources.flags[definition.key];
  if (fromFlag !== undefined) return { definition, value: fromFlag, source: 'flag' };
  const fromEnv = sources.env[definition.env];
  if (fromEnv !== undefined && fromEnv !== '') return { definition, value: fromEnv, source: 'env' };
  const fromFile = sources.file[definition.key];
  if (fromFile !== undefined) return { definition, value: String(fromFile), source: 'file' };
  if (definition.default !== undefined) {
    const value = typeof definition.default === 'function' ? definition.default(earlier) : definition.default;
    return { definition, value, source: 'default' };
  }
  return { definition, value: undefined, source: 'unset' };
};

export const settingsRecord = (resolved: readonly ResolvedSetting[]): Settings =>
  Object.fromEntries(resolved.map((r) => [r.definition.key, r.value]));
