import { Writable } from 'node:stream';

/** A writable stream that keeps what is written, for testing what a command prints. */
export class CapturedStream extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}
