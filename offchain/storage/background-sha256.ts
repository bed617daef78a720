import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * SHA-256 of a buffer that is being written, computed on a second core while the writer goes on.
 *
 * The sealer encrypts a chunk into a `SharedArrayBuffer`, announces its range with `update`, and
 * encrypts the next chunk while a worker thread hashes the announced one: sealing takes about
 * max(encrypt, hash) instead of encrypt + hash when a core is free. Ranges must be announced in
 * order and must not be written again until `digest` resolves.
 *
 * One job at a time (`busy`). The worker is started on first use and does not keep the process
 * alive (`unref`); if it cannot start, or dies, hashing falls back to the calling thread.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash;
let bytes;
parentPort.on('message', (m) => {
  if (m.type === 'begin') {
    hash = createHash('sha256');
    bytes = new Uint8Array(m.buffer);
  } else if (m.type === 'update') {
    hash.update(bytes.subarray(m.at, m.at + m.length));
  } else if (m.type === 'digest') {
    const hex = hash.digest('hex');
    hash = undefined;
    bytes = undefined;
    parentPort.postMessage({ type: 'digest', hex });
  }
});
`;

export class BackgroundSha256 {
  private worker: Worker | undefined;
  private broken = false;
  /** Set while a job runs on the calling thread (no worker). */
  private inline: { hash: Hash; bytes: Uint8Array } | undefined;
  private pending: { resolve: (hex: string) => void; reject: (error: Error) => void } | undefined;
  private jobOpen = false;

  /** True while a job is open (between `begin` and the settling of `digest`). */
  get busy(): boolean {
    return this.jobOpen;
  }

  private ensureWorker(): Worker | undefined {
    if (this.broken) return undefined;
    if (this.worker) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', (m: { type: string; hex: string }) => {
        const pending = this.pending;
        this.pending = undefined;
        pending?.resolve(m.hex);
      });
      const fail = (error: Error): void => {
        this.broken = true;
        this.worker = undefined;
        const pending = this.pending;
        this.pending = undefined;
        pending?.reject(error);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (this.worker === worker) fail(new Error(`the hashing thread exited (code ${code})`));
      });
      this.worker = worker;
      return worker;
    } catch {
      this.broken = true;
      return undefined;
    }
  }

  /** Starts hashing ranges of `buffer` (shared memory: the worker reads it in place). */
  begin(buffer: SharedArrayBuffer | ArrayBuffer): void {
    if (this.jobOpen) throw new Error('BackgroundSha256: a job is already open');
    this.jobOpen = true;
    const worker = buffer instanceof SharedArrayBuffer ? this.ensureWorker() : undefined;
    if (worker) {
      this.inline = undefined;
      worker.postMessage({ type: 'begin', buffer });
    } else {
      this.inline = { hash: createHash('sha256'), bytes: new Uint8Array(buffer) };
    }
  }

  /** Adds `length` bytes at `at` (the next bytes of the hashed message). */
  update(at: number, length: number): void {
    if (this.inline) this.inline.hash.update(this.inline.bytes.subarray(at, at + length));
    else this.worker?.postMessage({ type: 'update', at, length });
  }

  /** The lower-case hex SHA-256 of every range announced; closes the job. */
  async digest(): Promise<string> {
    try {
      if (this.inline) return this.inline.hash.digest('hex');
      const worker = this.worker;
      if (!worker) throw new Error('the hashing thread is gone');
      const hex = new Promise<string>((resolve, reject) => (this.pending = { resolve, reject }));
      worker.ref(); // keep the process alive until the answer arrives
      try {
        worker.postMessage({ type: 'digest' });
        return await hex;
      } finally {
        worker.unref();
      }
    } finally {
      this.inline = undefined;
      this.jobOpen = false;
    }
  }

  /** Stops the worker thread (a later job starts a new one). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}

/**
 * The process's hashing thread, shared by every `EncryptedContentStore` (a party's puts run one
 * after another; a put that finds it busy hashes inline).
 */
export const sharedBackgroundSha256 = new BackgroundSha256();
