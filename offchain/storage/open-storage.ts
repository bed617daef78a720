import { EncryptedContentStore } from './encrypted-content-store.js';
import { LocalFolderStore } from './local-folder-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';
import type { StorageRetryInfo } from './retry.js';
import type { StorageConfig } from './storage-config.js';

/** What the caller hears from an opened store. */
export interface OpenStorageHooks {
  /** Each retry while storage is unreachable (show it: `describeStorageRetry`). */
  readonly onRetry?: (info: StorageRetryInfo) => void;
}

/** Opens the object store a configuration names (creating the local folder or the bucket). */
export const openObjectStore = async (
  config: StorageConfig,
  hooks: OpenStorageHooks = {},
): Promise<ObjectStore> => {
  const retry = {
    ...(config.backoff ? { backoff: config.backoff } : {}),
    ...(hooks.onRetry ? { onRetry: hooks.onRetry } : {}),
  };
  if (config.kind === 'local') return LocalFolderStore.open(config.root, retry);
  const store = new S3ObjectStore({ ...config.s3, ...retry });
  try {
    await store.ensureBucket();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
};

/** Opens the encrypted, content-addressed delta storage a configuration names. */
export const openEncryptedStorage = async (
  config: StorageConfig,
  hooks: OpenStorageHooks = {},
): Promise<EncryptedContentStore> =>
  new EncryptedContentStore(await openObjectStore(config, hooks), {
    prefix: config.prefix,
    passphrase: config.passphrase,
  });
