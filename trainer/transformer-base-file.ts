import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DmlError } from '../offchain/index.js';
import { concatBytes } from './base-file.js';
import type { Nf4Tensor } from './nf4.js';
import {
  type QuantizedTransformer,
  type TransformerShape,
  checkTransformerShape,
  hashQuantizedTransformer,
} from './transformer.js';

/**
 * A quantised transformer base as a file: magic "DMLT", version u16 LE = 1, header length u32 LE,
 * a JSON header (the shape; the NF4 metadata of the embedding and of each linear layer; the norm
 * names), then the binary parts in header order, little-endian: embedding (codes, scale codes,
 * scale scales), positions, per norm gamma and beta, per linear layer codes, scale codes, scale
 * scales and bias. Decoding recomputes the hash from the content (`.dmlbase` files of the MLP
 * have magic "DMLB": the two never mix).
 */
const MAGIC = [0x44, 0x4d, 0x4c, 0x54];

interface Nf4Meta {
  shape: number[];
  length: number;
  scaleOffset: number;
  codes: number;
  scaleCodes: number;
  scaleScales: number;
}

interface Header {
  readonly shape: TransformerShape;
  readonly embedding: Nf4Meta;
  readonly norms: string[];
  readonly layers: Array<{ name: string; inputs: number; outputs: number; weight: Nf4Meta }>;
}

const meta = (w: Nf4Tensor): Nf4Meta => ({
  shape: [...w.shape],
  length: w.length,
  scaleOffset: w.scaleOffset,
  codes: w.codes.length,
  scaleCodes: w.scaleCodes.length,
  scaleScales: w.scaleScales.length,
});

const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export const encodeQuantizedTransformer = (base: QuantizedTransformer): Uint8Array => {
  const header: Header = {
    shape: base.shape,
    embedding: meta(base.embedding),
    norms: base.norms.map((n) => n.name),
    layers: base.layers.map((l) => ({
      name: l.name,
      inputs: l.inputs,
      outputs: l.outputs,
      weight: meta(l.weight),
    })),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(10);
  prefix.set(MAGIC);
  const view = new DataView(prefix.buffer);
  view.setUint16(4, 1, true);
  view.setUint32(6, json.length, true);
  const nf4 = (w: Nf4Tensor) => [bytes(w.codes), bytes(w.scaleCodes), bytes(w.scaleScales)];
  const parts: Uint8Array[] = [
    prefix,
    json,
    ...nf4(base.embedding),
    bytes(base.positions),
    ...base.norms.flatMap((n) => [bytes(n.gamma), bytes(n.beta)]),
    ...base.layers.flatMap((l) => [...nf4(l.weight), bytes(l.bias)]),
  ];
  return concatBytes(parts);
};

export const decodeQuantizedTransformer = (data: Uint8Array): QuantizedTransformer => {
  const bad = (why: string): never => {
    throw new DmlError('BASE_MALFORMED', `not a quantised transformer base file: ${why}`);
  };
  if (data.length < 10 || MAGIC.some((b, i) => data[i] !== b)) bad('bad magic');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint16(4, true) !== 1) bad(`version ${view.getUint16(4, true)}`);
  let at = 10 + view.getUint32(6, true);
  if (at > data.length) bad('truncated header');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(10, at))) as Header;
    checkTransformerShape(header.shape);
  } catch {
    return bad('bad header');
  }
  const take = (n: number): ArrayBuffer => {
    if (at + n > data.length) bad('truncated');
    const b = data.slice(at, at + n).buffer; // a copy: float arrays aligned
    at += n;
    return b;
  };
  const nf4 = (m: Nf4Meta): Nf4Tensor => ({
    shape: m.shape,
    length: m.length,
    scaleOffset: m.scaleOffset,
    codes: new Uint8Array(take(m.codes)),
    scaleCodes: new Int8Array(take(m.scaleCodes)),
    scaleScales: new Float32Array(take(4 * m.scaleScales)),
  });
  const d = header.shape.dModel;
  const embedding = nf4(header.embedding);
  const positions = new Float32Array(take(4 * header.shape.context * d));
  const norms = header.norms.map((name) => ({
    name,
    gamma: new Float32Array(take(4 * d)),
    beta: new Float32Array(take(4 * d)),
  }));
  const layers = header.layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: nf4(l.weight),
    bias: new Float32Array(take(4 * l.outputs)),
  }));
  if (at !== data.length) bad('trailing bytes');
  const body = { shape: header.shape, embedding, positions, norms, layers };
  return { ...body, hash: hashQuantizedTransformer(body) };
};

/** Writes `<dir>/<name>-<hash>.dmlbase` and returns its path. */
export const saveQuantizedTransformer = async (
  dir: string,
  name: string,
  base: QuantizedTransformer,
): Promise<string> => {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}-${base.hash}.dmlbase`);
  await writeFile(path, encodeQuantizedTransformer(base));
  return path;
};

/** Reads a transformer base file; with `expectedHash`, refuses one whose content hashes differently. */
export const loadQuantizedTransformer = async (
  path: string,
  expectedHash?: string,
): Promise<QuantizedTransformer> => {
  const base = decodeQuantizedTransformer(new Uint8Array(await readFile(path)));
  if (expectedHash !== undefined && base.hash !== expectedHash)
    throw new DmlError('BASE_HASH', `${path} hashes to ${base.hash}, expected ${expectedHash}`, {
      hint: 'the file is not the agreed base: rebuild it with scripts/lm-base.ts or fetch it again',
    });
  return base;
};
