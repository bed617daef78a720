import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Delta, decodeDelta, encodeDelta, hashDeltaBytes } from '../delta/index.js';

/**
 * A party's global adapters, content-addressed in its data folder: `<dir>/<sha256>.delta`, the
 * canonical delta encoding, named by its hash. A restarted node finds the adapter a round started
 * from by the hash its `training.RoundStarted` event logged, and checks the bytes against that
 * name; a missing or altered file reads as absent (the node then recomputes it from the log and the
 * stored deltas). Writes go to a temporary file first and are renamed into place, so a crash never
 * leaves a partial file under a hash name.
 */
export class AdapterFiles {
  constructor(readonly dir: string) {}

  async save(delta: Delta): Promise<string> {
    const bytes = encodeDelta(delta);
    const hash = hashDeltaBytes(bytes);
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${hash}.${process.pid}.tmp`);
    await writeFile(tmp, bytes);
    await rename(tmp, join(this.dir, `${hash}.delta`));
    return hash;
  }

  async load(hash: string): Promise<Delta | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(this.dir, `${hash}.delta`));
    } catch {
      return undefined;
    }
    if (hashDeltaBytes(bytes) !== hash) return undefined;
    try {
      return decodeDelta(bytes);
    } catch {
      return undefined;
    }
  }
}
