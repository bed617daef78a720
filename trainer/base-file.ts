import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DmlError } from '../offchain/index.js';
import { type ConvFrontEnd, type QuantizedMlp, hashQuantizedBase } from './mlp.js';

/**
 * A quantised base as a file: magic "DMLB", version u16 LE = 1, header length u32 LE, a JSON
 * header (the front end, and per layer its name, sizes, the NF4 shape and scale offset), then
 * per layer its NF4 codes, int8 scale codes, float32 scale scales and float32 bias (little-endian).
 * Decoding recomputes the hash from the content: a file is named and checked by that hash.
 */
const MAGIC = [0x44, 0x4d, 0x4c, 0x42];

interface Header {
  readonly conv?: ConvFrontEnd;
  readonly layers: ReadonlyArray<{
    name: string;
    inputs: number;
    outputs: number;
    shape: number[];
    length: number;
    scaleOffset: number;
    codes: number;
    scaleCodes: number;
    scaleScales: number;
  }>;
}

export const encodeQuantizedBase = (base: QuantizedMlp): Uint8Array => {
  const header: Header = {
    ...(base.conv ? { conv: base.conv } : {}),
    layers: base.layers.map((l) => ({
      name: l.name,
      inputs: l.inputs,
      outputs: l.outputs,
      shape: [...l.weight.shape],
      length: l.weight.length,
      scaleOffset: l.weight.scaleOffset,
      codes: l.weight.codes.length,
      scaleCodes: l.weight.scaleCodes.length,
      scaleScales: l.weight.scaleScales.length,
    })),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const parts: Uint8Array[] = [Uint8Array.from(MAGIC), new Uint8Array(6), json];
  const view = new DataView(parts[1]!.buffer);
  view.setUint16(0, 1, true);
  view.setUint32(2, json.length, true);
  const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const l of base.layers)
    parts.push(bytes(l.weight.codes), bytes(l.weight.scaleCodes), bytes(l.weight.scaleScales), bytes(l.bias));
  return concatBytes(parts);
};

export const decodeQuantizedBase = (data: Uint8Array): QuantizedMlp => {
  const bad = (why: string): never => {
    throw new DmlError('BASE_MALFORMED', `not a quantised base file: ${why}`);
  };
  if (data.length < 10 || MAGIC.some((b, i) => data[i] !== b)) bad('bad magic');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint16(4, true) !== 1) bad(`version ${view.getUint16(4, true)}`);
  const headerLength = view.getUint32(6, true);
  let at = 10 + headerLength;
  if (at > data.length) bad('truncated header');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(10, at))) as Header;
  } catch {
    return bad('header is not JSON');
  }
  // copies, so that float arrays are aligned
  const take = (n: number): ArrayBuffer => {
    if (at + n > data.length) bad('truncated');
    const b = data.slice(at, at + n).buffer;
    at += n;
    return b;
  };
  const layers = header.layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: {
      shape: l.shape,
      length: l.length,
      scaleOffset: l.scaleOffset,
      codes: new Uint8Array(take(l.codes)),
      scaleCodes: new Int8Array(take(l.scaleCodes)),
      scaleScales: new Float32Array(take(4 * l.scaleScales)),
    },
    bias: new Float32Array(take(4 * l.outputs)),
  }));
  if (at !== data.length) bad('trailing bytes');
  return {
    layers,
    ...(header.conv ? { conv: header.conv } : {}),
    hash: hashQuantizedBase(layers, header.conv),
  };
};

/** Writes `<dir>/<name>-<hash>.dmlbase` and returns its path. */
export const saveQuantizedBase = async (dir: string, name: string, base: QuantizedMlp): Promise<string> => {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}-${base.hash}.dmlbase`);
  await writeFile(path, encodeQuantizedBase(base));
  return path;
};

/** Reads a base file; with `expectedHash`, refuses one whose content hashes differently. */
export const loadQuantizedBase = async (path: string, expectedHash?: string): Promise<QuantizedMlp> => {
  const base = decodeQuantizedBase(new Uint8Array(await readFile(path)));
  if (expectedHash !== undefined && base.hash !== expectedHash)
    throw new DmlError('BASE_HASH', `${path} hashes to ${base.hash}, expected ${expectedHash}`, {
      hint: 'the file is not the agreed base: rebuild it with scripts/mnist-base.ts or fetch it again',
    });
  return base;
};

/** The parts one after another in one new array. */
export const concatBytes = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
