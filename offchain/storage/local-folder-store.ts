import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DmlError } from '../errors.js';
import { checkObjectKey } from './object-key.js';
import type { GrantOptions, ObjectGrant, ObjectStore, StoredObjectInfo } from './object-store.js';
import { type BackoffPolicy, type RetryClock, type StorageRetryInfo, retryWithBackoff } from './retry.js';

/**
 * The embedded default store: a folder.
 *
 *   ROOT/objects/<key>   committed objects (the key's `/` are sub-folders)
 *   ROOT/tmp/*.part      writes in progress
 *   ROOT/grant.key       32 random bytes that sign read grants (0600)
 *
 * A put writes the bytes to a fresh file under tmp/, fsyncs it, renames it onto its final path
 * (rename is atomic within one file system) and fsyncs the folders it touched. A reader sees the
 * old object or the whole new one, never a part: a crash mid-write leaves only a file in tmp/,
 * which no listing shows and `removeStaleTemporaries` deletes.
 *
 * A read grant is a `file:` URL of the object with `dml-root`, `expires` (unix seconds) and
 * `signature` = HMAC-SHA256(grant.key, key + "\n" + expires) in its query: the same semantics as
 * an S3 presigned GET for a peer on this machine (it expires, and it cannot be altered to name
 * another object or a later expiry).
 */
export interface LocalFolderStoreOptions {
  /** Bytes per write call; a progress callback hears about each. Default 4 MiB. */
  readonly writeChunkBytes?: number;
  /** Called after each chunk a put writes (the crash test uses it to stop mid-write). */
  readonly onWriteProgress?: (key: string, bytesWritten: number, totalBytes: number) => void;
  /**
   * How long to keep trying while the folder is unreachable (its `objects/` or `tmp/` folder gone,
   * as when the file system mounted there disappears, or the mount answers ESTALE, ENOTCONN, EIO).
   * Default `DEFAULT_BACKOFF`; `{ maxAttempts: 1, ... }` fails at once.
   */
  readonly backoff?: BackoffPolicy;
  readonly retryClock?: RetryClock;
  /** Hears about each retry before its wait (progress: "storage unreachable, retrying"). */
  readonly onRetry?: (info: StorageRetryInfo) => void;
}

/** Errors of a file system that went away under a folder (a mount that disappeared or hangs). */
const MOUNT_GONE_CODES = ['ESTALE', 'ENOTCONN', 'EIO', 'EHOSTDOWN', 'ETIMEDOUT'];

const isUnreachable = (error: unknown): boolean =>
  error instanceof DmlError && error.code === 'STORAGE_UNREACHABLE';

const fsyncPath = async (path: string): Promise<void> => {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

const isCode = (error: unknown, code: string): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;

const GRANT_KEY_FILE = 'grant.key';

export class LocalFolderStore implements ObjectStore {
  readonly kind = 'local';
  readonly location: string;
  private readonly objectsDir: string;
  private readonly tmpDir: string;

  private constructor(
    readonly root: string,
    private readonly grantKey: Buffer,
    private readonly options: LocalFolderStoreOptions,
  ) {
    this.location = root;
    this.objectsDir = join(root, 'objects');
    this.tmpDir = join(root, 'tmp');
  }

  /** Opens (creating when needed) a store in `root`. */
  static async open(root: string, options: LocalFolderStoreOptions = {}): Promise<LocalFolderStore> {
    const absolute = resolve(root);
    await mkdir(join(absolute, 'objects'), { recursive: true, mode: 0o700 });
    await mkdir(join(absolute, 'tmp'), { recursive: true, mode: 0o700 });
    return new LocalFolderStore(absolute, await LocalFolderStore.loadGrantKey(absolute), options);
  }

  private static async loadGrantKey(root: string): Promise<Buffer> {
    const file = join(root, GRANT_KEY_FILE);
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(randomBytes(32));
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
    const key = await readFile(file);
    if (key.length !== 32)
      throw new DmlError('STORAGE_GRANT_KEY', `${file} must hold 32 bytes, it holds ${key.length}`, {
        hint: 'delete it to make a new one (links granted before stop working)',
      });
    return key;
  }

  private pathOf(key: string): string {
    return join(this.objectsDir, ...checkObjectKey(key).split('/'));
  }

  /**
   * Whether the store's folders are there. A store never recreates them once opened: if they are
   * gone, the file system that held them went away (an unmounted or moved mount point), and
   * writing into the empty mount point would put objects where no one looks for them.
   */
  private async reachable(): Promise<boolean> {
    const isDir = async (path: string) => (await stat(path).catch(() => undefined))?.isDirectory() === true;
    return (await isDir(this.objectsDir)) && (await isDir(this.tmpDir));
  }

  /**
   * Turns a file-system error into `STORAGE_UNREACHABLE` when the store itself is gone (its
   * folders missing, or the mount's own error codes); other errors go through unchanged.
   */
  private async classify(error: unknown, what: string): Promise<unknown> {
    if (error instanceof DmlError) return error;
    const code = (error as { code?: unknown } | null)?.code;
    const mountGone = typeof code === 'string' && MOUNT_GONE_CODES.includes(code);
    if (mountGone || !(await this.reachable()))
      return new DmlError(
        'STORAGE_UNREACHABLE',
        `the store folder ${this.root} is not reachable (${what}: ${typeof code === 'string' ? code : String(error)})`,
        { hint: 'is the file system mounted there? the store waits and retries', cause: error },
      );
    return error;
  }

  /** Runs a file-system operation, retried with backoff while the store is unreachable. */
  private withRetry<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return retryWithBackoff(
      async () => {
        if (!(await this.reachable()))
          throw new DmlError(
            'STORAGE_UNREACHABLE',
            `the store folder ${this.root} is not reachable (${what}: its objects/ or tmp/ folder is gone)`,
            { hint: 'is the file system mounted there? the store waits and retries' },
          );
        try {
          return await operation();
        } catch (error) {
          throw await this.classify(error, what);
        }
      },
      {
        ...(this.options.backoff ? { policy: this.options.backoff } : {}),
        ...(this.options.retryClock ? { clock: this.options.retryClock } : {}),
        isRetryable: isUnreachable,
        ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
      },
    );
  }

  /** Stores `body` under `key` atomically; retried while the folder is unreachable. */
  async put(key: string, body: Uint8Array): Promise<void> {
    checkObjectKey(key);
    return this.withRetry(`put ${key}`, () => this.putOnce(key, body));
  }

  private async putOnce(key: string, body: Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    const chunk = this.options.writeChunkBytes ?? 4 * 1024 * 1024;
    const temporary = join(this.tmpDir, `${randomUUID()}.part`);
    const handle = await open(temporary, 'wx', 0o600);
    let committed = false;
    try {
      try {
        let written = 0;
        do {
          const length = Math.min(chunk, body.length - written);
          const { bytesWritten } = await handle.write(body, written, length, written);
          written += bytesWritten;
          this.options.onWriteProgress?.(key, written, body.length);
        } while (written < body.length);
        await handle.sync();
      } finally {
        await handle.close();
      }
      const parent = dirname(target);
      await this.makeFoldersBelowObjects(parent);
      await rename(temporary, target);
      committed = true;
      // Make the rename (and any folder it needed) durable.
      for (let dir = parent; ; dir = dirname(dir)) {
        await fsyncPath(dir);
        if (dir === this.objectsDir || !dir.startsWith(this.objectsDir)) break;
      }
    } finally {
      if (!committed) await unlink(temporary).catch(() => undefined);
    }
  }

  async get(key: string): Promise<Buffer> {
    const path = this.pathOf(key);
    return this.withRetry(`get ${key}`, async () => {
      try {
        return await readFile(path);
      } catch (error) {
        // A missing object, unless the whole store went away meanwhile (then: unreachable).
        if ((isCode(error, 'ENOENT') || isCode(error, 'EISDIR')) && (await this.reachable()))
          throw new DmlError('STORAGE_NOT_FOUND', `no object ${key} in ${this.location}`);
        throw error;
      }
    });
  }

  async stat(key: string): Promise<StoredObjectInfo | undefined> {
    const path = this.pathOf(key);
    return this.withRetry(`stat ${key}`, async () => {
      try {
        const info = await stat(path);
        return info.isFile() ? { key, size: info.size } : undefined;
      } catch (error) {
        if ((isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) && (await this.reachable()))
          return undefined;
        throw error;
      }
    });
  }

  async list(prefix: string): Promise<StoredObjectInfo[]> {
    return this.withRetry(`list ${prefix}`, () => this.listOnce(prefix));
  }

  private async listOnce(prefix: string): Promise<StoredObjectInfo[]> {
    const found: StoredObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isCode(error, 'ENOENT')) return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        const key = relative(this.objectsDir, path).split(sep).join('/');
        if (entry.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await walk(path);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          found.push({ key, size: (await stat(path)).size });
        }
      }
    };
    await walk(this.objectsDir);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    return this.withRetry(`delete ${key}`, async () => {
      try {
        await unlink(path);
      } catch (error) {
        if (!(isCode(error, 'ENOENT') && (await this.reachable()))) throw error;
      }
    });
  }

  async grantRead(key: string, options: GrantOptions): Promise<ObjectGrant> {
    const path = this.pathOf(key);
    const signedAt = options.signedAt ?? new Date();
    const expires = Math.floor(signedAt.getTime() / 1000) + Math.floor(options.expiresInSeconds);
    const url = pathToFileURL(path);
    url.searchParams.set('dml-root', this.root);
    url.searchParams.set('expires', String(expires));
    url.searchParams.set('signature', signGrant(this.grantKey, key, expires));
    return { url: url.toString(), expiresAt: new Date(expires * 1000).toISOString() };
  }

  /**
   * Creates the key's sub-folders one by one below `objects/`, never `objects/` itself or above:
   * if the store went away mid-put, this fails (ENOENT) instead of rebuilding an empty store in
   * the bare mount point.
   */
  private async makeFoldersBelowObjects(parent: string): Promise<void> {
    const segments = relative(this.objectsDir, parent)
      .split(sep)
      .filter((x) => x !== '');
    let dir = this.objectsDir;
    for (const segment of segments) {
      dir = join(dir, segment);
      try {
        await mkdir(dir, { mode: 0o700 });
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
      }
    }
  }

  /** Deletes writes in progress older than `olderThanMs` (left by a crash). Returns how many. */
  async removeStaleTemporaries(olderThanMs: number, now: Date = new Date()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now.getTime() - info.mtimeMs >= olderThanMs) {
        await unlink(path).catch(() => undefined);
        removed += 1;
      }
    }
    return removed;
  }

  async close(): Promise<void> {}
}

const signGrant = (grantKey: Buffer, key: string, expires: number): string =>
  createHmac('sha256', grantKey).update(`${key}\n${expires}`).digest('hex');

/**
 * Follows a `file:` read grant made by `LocalFolderStore.grantRead`. The reader checks the
 * signature (with the owner store's grant key) and the expiry against `now`. A store that is not
 * there (its folder or grant key missing, a mount gone) is `STORAGE_UNREACHABLE`, which the
 * caller may retry; a link that does not verify is `STORAGE_LINK_INVALID`.
 */
export const readLocalGrant = async (grant: ObjectGrant, now: Date): Promise<Buffer> => {
  const invalid = (why: string): DmlError =>
    new DmlError('STORAGE_LINK_INVALID', `the read link ${grant.url} is not valid: ${why}`);
  let url: URL;
  try {
    url = new URL(grant.url);
  } catch {
    throw invalid('it is not a URL');
  }
  const root = url.searchParams.get('dml-root');
  const expires = Number(url.searchParams.get('expires'));
  const signature = url.searchParams.get('signature') ?? '';
  if (!root || !Number.isSafeInteger(expires) || !/^[0-9a-f]{64}$/.test(signature))
    throw invalid('it lacks dml-root, expires or signature');
  let path: string;
  try {
    path = fileURLToPath(new URL(url.pathname, 'file://'));
  } catch {
    throw invalid('its path is not a local file');
  }
  const objectsDir = join(root, 'objects');
  const rel = relative(objectsDir, path);
  if (rel.startsWith('..') || rel === '') throw invalid('it names a file outside the store');
  const key = rel.split(sep).join('/');
  const unreachable = (error: unknown): DmlError =>
    new DmlError(
      'STORAGE_UNREACHABLE',
      `the store folder ${root} of the read link for ${key} is not reachable (${String((error as { code?: unknown }).code ?? error)})`,
      { hint: 'is the file system mounted there?', cause: error },
    );
  let grantKey: Buffer;
  try {
    grantKey = await readFile(join(root, GRANT_KEY_FILE));
  } catch (error) {
    throw unreachable(error);
  }
  if (grantKey.length !== 32) throw invalid(`the store at ${root} has no valid grant key`);
  const expected = Buffer.from(signGrant(grantKey, key, expires), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    throw invalid('its signature does not match');
  if (now.getTime() >= expires * 1000)
    throw new DmlError(
      'STORAGE_LINK_EXPIRED',
      `the read link for ${key} expired at ${new Date(expires * 1000).toISOString()}`,
      { hint: "ask the object's owner for a fresh link" },
    );
  try {
    return await readFile(path);
  } catch (error) {
    const storeThere = (await stat(objectsDir).catch(() => undefined))?.isDirectory() === true;
    if (isCode(error, 'ENOENT') && storeThere)
      throw new DmlError('STORAGE_NOT_FOUND', `no object ${key} in ${root}`);
    if (isCode(error, 'EISDIR')) throw new DmlError('STORAGE_NOT_FOUND', `no object ${key} in ${root}`);
    throw unreachable(error);
  }
};
