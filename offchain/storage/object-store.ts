/**
 * One interface for every place deltas are stored: the local folder (the embedded default) and
 * any S3-compatible endpoint (the Storj gateway in production). Both give the same guarantees:
 * - `put` is atomic: an object is visible whole or not at all, also after a crash or an upload
 *   that fails for good;
 * - `get` of a missing key fails with `STORAGE_NOT_FOUND`;
 * - `grantRead` hands a peer a time-limited read link (a presigned GET URL for S3, a signed
 *   `file:` URL for the local folder) that `readObjectGrant` follows; an expired link fails with
 *   `STORAGE_LINK_EXPIRED`.
 * Objects here are opaque bytes; encryption and content addressing sit on top
 * (`EncryptedContentStore`).
 */
export interface StoredObjectInfo {
  readonly key: string;
  readonly size: number;
}

/** A time-limited right to read one object, which its owner hands to peers. */
export interface ObjectGrant {
  readonly url: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

export interface GrantOptions {
  readonly expiresInSeconds: number;
  /** When the link is signed (default: now). Tests pass a past date to get an expired link. */
  readonly signedAt?: Date;
}

/** What a caller may know about the bytes it puts. */
export interface PutOptions {
  /**
   * Lower-case hex SHA-256 of the whole body, when the caller computed it already (a content key
   * names it). The S3 store signs a single-request upload with it (SigV4's payload hash) instead
   * of hashing the body again; the server recomputes it and refuses the body if it differs.
   */
  readonly sha256?: string;
}

export interface ObjectStore {
  /** 'local' or 's3'. */
  readonly kind: string;
  /** A human-readable location, e.g. `s3://bucket` at an endpoint or a folder. */
  readonly location: string;
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void>;
  get(key: string): Promise<Buffer>;
  stat(key: string): Promise<StoredObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<StoredObjectInfo[]>;
  /** Removes an object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  grantRead(key: string, options: GrantOptions): Promise<ObjectGrant>;
  /** Releases connections. */
  close(): Promise<void>;
}
