// Encrypted, content-addressed storage of deltas: a local folder or any S3 endpoint (Storj).
export type {
  ObjectStore,
  ObjectGrant,
  GrantOptions as ObjectGrantOptions,
  PutOptions as ObjectPutOptions,
  StoredObjectInfo,
} from './object-store.js';
export { checkObjectKey, normaliseKeyPrefix } from './object-key.js';
export { LocalFolderStore, type LocalFolderStoreOptions } from './local-folder-store.js';
export { S3ObjectStore, type S3StoreConfig } from './s3-object-store.js';
export {
  readObjectGrant,
  grantNamesKey,
  type ReadGrantOptions as ReadObjectGrantOptions,
} from './read-object-grant.js';
export {
  type ScryptParameters,
  DEFAULT_SCRYPT,
  SEALED_OVERHEAD_BYTES,
  SEALED_V2_OVERHEAD_BYTES,
  type ObjectKey as SealedObjectKey,
  type MasterKey as SealedMasterKey,
  deriveObjectKey,
  deriveMasterKey as deriveSealedMasterKey,
  objectKeyFromMaster as sealedObjectKeyFromMaster,
  sealObject,
  sealObjectWithKey,
  sealObjectPipelined,
  sealedLength,
  openSealedObject,
  readSealedHeader,
  scryptDerivationCount,
} from './sealed-object.js';
export { BackgroundSha256 } from './background-sha256.js';
export { DML_MALLOC_TUNABLES, withDmlMallocTunables } from './malloc-tunables.js';
export {
  type ContentReference,
  type EncryptedContentStoreOptions,
  EncryptedContentStore,
  hashesOnSecondThreadByDefault,
  storageKeyForHash,
  hashOfStorageKey,
  verifyStoredContent,
  storageSha256Hex,
  fetchSharedContent,
} from './encrypted-content-store.js';
export { cohortMasterSalt } from './cohort-master-salt.js';
export type { BackoffPolicy as StorageBackoffPolicy, RetryClock as StorageRetryClock } from './retry.js';
export {
  type StorageRetryInfo,
  DEFAULT_BACKOFF as DEFAULT_STORAGE_BACKOFF,
  backoffPatienceMs,
  describeStorageRetry,
} from './retry.js';
export { type StorageConfig, STORAGE_SETTING_ENV, storageConfigFromSettings } from './storage-config.js';
export { openObjectStore, openEncryptedStorage, type OpenStorageHooks } from './open-storage.js';
