import { createHash } from 'node:crypto';
import { DmlError } from '../errors.js';

/**
 * The binary format of a delta (version 1), the bytes every party hashes and signs:
 *
 *   magic      4 bytes  "DMLD"
 *   version    u16 LE   1
 *   flags      u16 LE   0 (reserved, must be 0)
 *   count      u32 LE   number of tensors
 *   per tensor (names strictly ascending by their UTF-8 bytes):
 *     nameLen  u16 LE, name (UTF-8, 1..1024 bytes)
 *     rank     u8 (0..8), dims rank x u32 LE (each >= 1)
 *   then, per tensor in the same order, prod(dims) float32 LE values (all finite)
 *
 * The encoding is canonical: one delta has exactly one encoding, so its SHA-256 names it.
 */
export const DELTA_MAGIC = 'DMLD';
export const DELTA_FORMAT_VERSION = 1;
export const DELTA_MAX_RANK = 8;
export const DELTA_MAX_NAME_BYTES = 1024;
export const DELTA_MAX_TENSORS = 65535;

export interface DeltaTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** A delta: named float32 tensors, held in canonical (name-ascending) order. */
export interface Delta {
  readonly tensors: readonly DeltaTensor[];
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

const malformed = (message: string): DmlError =>
  new DmlError('DELTA_MALFORMED', `malformed delta: ${message}`, {
    hint: 'the delta bytes are corrupt or not a qLoRA-DML delta; fetch it again or flag its sender',
  });

/** Byte-wise comparison of two names' UTF-8 encodings (not locale-dependent). */
export const compareDeltaNames = (a: string, b: string): number => {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
};

export const shapeSize = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

const checkTensor = (t: DeltaTensor): void => {
  const nameBytes = utf8.encode(t.name).length;
  if (nameBytes < 1 || nameBytes > DELTA_MAX_NAME_BYTES) throw malformed(`tensor name length ${nameBytes}`);
  if (t.shape.length > DELTA_MAX_RANK) throw malformed(`tensor ${t.name} has rank ${t.shape.length}`);
  for (const d of t.shape)
    if (!Number.isInteger(d) || d < 1 || d > 0xffffffff)
      throw malformed(`tensor ${t.name} has dimension ${d}`);
  if (shapeSize(t.shape) !== t.values.length)
    throw malformed(`tensor ${t.name} has ${t.values.length} values for shape [${t.shape.join(',')}]`);
  for (let i = 0; i < t.values.length; i++)
    if (!Number.isFinite(t.values[i]!)) throw malformed(`tensor ${t.name} holds a non-finite value at ${i}`);
};

/** Builds a delta in canonical order; rejects duplicate names, bad shapes and non-finite values. */
export const makeDelta = (tensors: readonly DeltaTensor[]): Delta => {
  const sorted = [...tensors].sort((a, b) => compareDeltaNames(a.name, b.name));
  if (sorted.length > DELTA_MAX_TENSORS) throw malformed(`${sorted.length} tensors`);
  for (let i = 0; i < sorted.length; i++) {
    checkTensor(sorted[i]!);
    if (i > 0 && sorted[i - 1]!.name === sorted[i]!.name)
      throw malformed(`duplicate tensor ${sorted[i]!.name}`);
  }
  return { tensors: sorted };
};

export const encodeDelta = (delta: Delta): Uint8Array => {
  const canonical = makeDelta(delta.tensors);
  const names = canonical.tensors.map((t) => utf8.encode(t.name));
  let size = 12;
  canonical.tensors.forEach(
    (t, i) => (size += 2 + names[i]!.length + 1 + 4 * t.shape.length + 4 * t.values.length),
  );
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(utf8.encode(DELTA_MAGIC), 0);
  view.setUint16(4, DELTA_FORMAT_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, canonical.tensors.length, true);
  let o = 12;
  canonical.tensors.forEach((t, i) => {
    view.setUint16(o, names[i]!.length, true);
    bytes.set(names[i]!, o + 2);
    o += 2 + names[i]!.length;
    view.setUint8(o++, t.shape.length);
    for (const d of t.shape) {
      view.setUint32(o, d, true);
      o += 4;
    }
  });
  for (const t of canonical.tensors)
    for (let j = 0; j < t.values.length; j++, o += 4) view.setFloat32(o, t.values[j]!, true);
  return bytes;
};

export const decodeDelta = (bytes: Uint8Array): Delta => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number, what: string): void => {
    if (o + n > bytes.length) throw malformed(`truncated in ${what} at byte ${o}`);
  };
  need(12, 'header');
  const magic = utf8.encode(DELTA_MAGIC);
  for (let i = 0; i < 4; i++) if (bytes[i] !== magic[i]) throw malformed('bad magic');
  const version = view.getUint16(4, true);
  if (version !== DELTA_FORMAT_VERSION)
    throw new DmlError('DELTA_VERSION', `unsupported delta format version ${version}`, {
      hint: `this build reads version ${DELTA_FORMAT_VERSION}; upgrade qlora-dml`,
    });
  if (view.getUint16(6, true) !== 0) throw malformed('reserved flags are set');
  const count = view.getUint32(8, true);
  if (count > DELTA_MAX_TENSORS) throw malformed(`${count} tensors`);
  o = 12;
  const heads: Array<{ name: string; shape: number[] }> = [];
  for (let i = 0; i < count; i++) {
    need(2, 'tensor name length');
    const len = view.getUint16(o, true);
    o += 2;
    if (len < 1 || len > DELTA_MAX_NAME_BYTES) throw malformed(`tensor name length ${len}`);
    need(len, 'tensor name');
    let name: string;
    try {
      name = utf8Strict.decode(bytes.subarray(o, o + len));
    } catch {
      throw malformed(`tensor ${i} name is not UTF-8`);
    }
    o += len;
    need(1, 'rank');
    const rank = view.getUint8(o++);
    if (rank > DELTA_MAX_RANK) throw malformed(`tensor ${name} has rank ${rank}`);
    need(4 * rank, 'shape');
    const shape: number[] = [];
    for (let d = 0; d < rank; d++, o += 4) shape.push(view.getUint32(o, true));
    if (shape.some((d) => d < 1)) throw malformed(`tensor ${name} has a zero dimension`);
    if (i > 0 && compareDeltaNames(heads[i - 1]!.name, name) >= 0)
      throw malformed(`tensor names are not strictly ascending at ${name}`);
    heads.push({ name, shape });
  }
  const tensors: DeltaTensor[] = [];
  for (const h of heads) {
    const n = shapeSize(h.shape);
    if (!Number.isSafeInteger(n) || n * 4 > bytes.length - o)
      throw malformed(`truncated in values of ${h.name}`);
    const values = new Float32Array(n);
    for (let j = 0; j < n; j++, o += 4) {
      const v = view.getFloat32(o, true);
      if (!Number.isFinite(v)) throw malformed(`tensor ${h.name} holds a non-finite value at ${j}`);
      values[j] = v;
    }
    tensors.push({ name: h.name, shape: h.shape, values });
  }
  if (o !== bytes.length) throw malformed(`${bytes.length - o} trailing bytes`);
  return { tensors };
};

/** SHA-256 of the canonical encoding, lowercase hex: the name of a delta everywhere. */
export const hashDeltaBytes = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export const hashDelta = (delta: Delta): string => hashDeltaBytes(encodeDelta(delta));

export const getDeltaTensor = (delta: Delta, name: string): DeltaTensor => {
  const t = delta.tensors.find((x) => x.name === name);
  if (!t) throw new DmlError('DELTA_TENSOR_MISSING', `delta has no tensor ${name}`);
  return t;
};
