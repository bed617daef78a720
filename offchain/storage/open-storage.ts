import { EncryptedContentStore } from './encrypted-content-store.js';
import { LocalFolderStore } from './local-folder-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';
import type { StorageConfig } from './storage-config.js';

/** Opens the object store a configuration names (creating the local folder or the bucket). */
export const openObjectStore = async (config: StorageConfig): Promise<ObjectStore> => {
  if (config.kind === 'local') return LocalFolderStore.open(config.root);
  const store = new S3ObjectStore(config.s3);
  try {
    await store.ensureBucket();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
};

/** Opens the encrypted, content-addressed delta storage a configuration names. */
export const openEncryptedStorage = async (config: StorageConfig): Promise<EncryptedContentStore> =>
  new EncryptedContentStore(await openObjectStore(config), {
    prefix: config.prefix,
    passphrase: config.passphrase,
  });
