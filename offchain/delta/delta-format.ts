import { createHash } from 'node:crypto';
import { DmlError } from '../errors.js';
import { Q8_BLOCK, dequantizeQ8, q8ScaleCount, quantizeQ8 } from './q8.js';

/**
 * The binary format of a delta, the bytes every party hashes and signs. Version 1 (every tensor
 * float32):
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
 * Version 2 (at least one tensor q8, see q8.ts) is the same but for two things: each tensor's
 * header ends with its value encoding, a u8 after its dims (0 = f32, 1 = q8), and a q8 tensor's
 * values are ceil(n / 64) float32 LE block scales followed by n int8 codes (value = code x scale,
 * rounded once to float32).
 *
 * The encoding is canonical: one delta has exactly one encoding, so its SHA-256 names it. A delta
 * whose tensors are all f32 is written as version 1 (so its bytes and hash are the ones it always
 * had); version 2 bytes with no q8 tensor, or with a q8 block that is not what quantising its own
 * decoded values gives, are refused.
 */
export const DELTA_MAGIC = 'DMLD';
/** The version an all-f32 delta is written in (every delta before q8 existed). */
export const DELTA_FORMAT_VERSION = 1;
/** The version a delta with at least one q8 tensor is written in. */
export const DELTA_FORMAT_VERSION_Q8 = 2;
export const DELTA_MAX_RANK = 8;
export const DELTA_MAX_NAME_BYTES = 1024;
export const DELTA_MAX_TENSORS = 65535;

/**
 * How a tensor's values travel: `f32` (4 bytes a value, exact) or `q8` (8-bit codes with one
 * float32 scale per block of 64 values, see q8.ts).
 */
export type DeltaValueEncoding = 'f32' | 'q8';

/** A delta encoding named by a user (`flag` names where it came from); a DmlError otherwise. */
export const parseDeltaValueEncoding = (value: string, flag = '--delta-encoding'): DeltaValueEncoding => {
  if (value === 'f32' || value === 'q8') return value;
  throw new DmlError('BAD_FLAG', `${flag} must be f32 or q8, not ${value}`);
};
export const DELTA_VALUE_ENCODINGS: readonly DeltaValueEncoding[] = ['f32', 'q8'];

export interface DeltaTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
  /**
   * Absent (or `f32`): the values are written as they are. `q8`: the values are quantised when
   * written; a decoded q8 tensor carries `q8` and its decoded values (which write to the same
   * bytes again). Aggregates never carry it: an aggregate is f32.
   */
  readonly encoding?: DeltaValueEncoding;
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
  if (t.encoding !== undefined && !DELTA_VALUE_ENCODINGS.includes(t.encoding))
    throw malformed(`tensor ${t.name} has value encoding ${String(t.encoding)}`);
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

const isQ8 = (t: DeltaTensor): boolean => t.encoding === 'q8';

/** Bytes of one tensor's values in its encoding. */
const valueBytes = (t: DeltaTensor): number =>
  isQ8(t) ? 4 * q8ScaleCount(t.values.length) + t.values.length : 4 * t.values.length;

export const encodeDelta = (delta: Delta): Uint8Array => {
  const canonical = makeDelta(delta.tensors);
  const v2 = canonical.tensors.some(isQ8);
  const names = canonical.tensors.map((t) => utf8.encode(t.name));
  let size = 12;
  canonical.tensors.forEach(
    (t, i) => (size += 2 + names[i]!.length + 1 + 4 * t.shape.length + (v2 ? 1 : 0) + valueBytes(t)),
  );
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(utf8.encode(DELTA_MAGIC), 0);
  view.setUint16(4, v2 ? DELTA_FORMAT_VERSION_Q8 : DELTA_FORMAT_VERSION, true);
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
    if (v2) view.setUint8(o++, isQ8(t) ? 1 : 0);
  });
  for (const t of canonical.tensors) {
    if (isQ8(t)) {
      const { scales, codes } = quantizeQ8(t.values, (why) => q8Range(t.name, why));
      for (let b = 0; b < scales.length; b++, o += 4) view.setFloat32(o, scales[b]!, true);
      bytes.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.length), o);
      o += codes.length;
    } else for (let j = 0; j < t.values.length; j++, o += 4) view.setFloat32(o, t.values[j]!, true);
  }
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
  if (version !== DELTA_FORMAT_VERSION && version !== DELTA_FORMAT_VERSION_Q8)
    throw new DmlError('DELTA_VERSION', `unsupported delta format version ${version}`, {
      hint: `this build reads versions ${DELTA_FORMAT_VERSION} and ${DELTA_FORMAT_VERSION_Q8}; upgrade qlora-dml`,
    });
  const v2 = version === DELTA_FORMAT_VERSION_Q8;
  if (view.getUint16(6, true) !== 0) throw malformed('reserved flags are set');
  const count = view.getUint32(8, true);
  if (count > DELTA_MAX_TENSORS) throw malformed(`${count} tensors`);
  o = 12;
  const heads: Array<{ name: string; shape: number[]; q8: boolean }> = [];
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
    let q8 = false;
    if (v2) {
      need(1, 'value encoding');
      const encoding = view.getUint8(o++);
      if (encoding > 1) throw malformed(`tensor ${name} has value encoding ${encoding}`);
      q8 = encoding === 1;
    }
    heads.push({ name, shape, q8 });
  }
  if (v2 && !heads.some((h) => h.q8))
    throw malformed('version 2 with no q8 tensor (an all-f32 delta is written as version 1)');
  const tensors: DeltaTensor[] = [];
  for (const h of heads) {
    const n = shapeSize(h.shape);
    if (h.q8) {
      const scaleCount = q8ScaleCount(n);
      if (!Number.isSafeInteger(n) || n + 4 * scaleCount > bytes.length - o)
        throw malformed(`truncated in values of ${h.name}`);
      const scales = new Float32Array(scaleCount);
      for (let b = 0; b < scaleCount; b++, o += 4) scales[b] = view.getFloat32(o, true);
      const codes = new Int8Array(bytes.buffer.slice(bytes.byteOffset + o, bytes.byteOffset + o + n));
      o += n;
      const values = dequantizeQ8(scales, codes, (why) => malformed(`tensor ${h.name}: ${why}`));
      tensors.push({ name: h.name, shape: h.shape, values, encoding: 'q8' });
      continue;
    }
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

/**
 * The delta a receiver decodes when `delta` is sent with `encoding`: with `q8`, every tensor
 * quantised and dequantised (tagged `q8`; it writes to the same bytes as `delta` would); with
 * `f32`, the delta as it is, untagged. A party uses this wherever its own delta counts, so that it
 * agrees with its peers, who only see the bytes.
 */
export const withDeltaEncoding = (delta: Delta, encoding: DeltaValueEncoding): Delta => {
  if (!DELTA_VALUE_ENCODINGS.includes(encoding))
    throw new DmlError('DELTA_ENCODING', `unknown delta encoding ${String(encoding)}`, {
      hint: `one of ${DELTA_VALUE_ENCODINGS.join(', ')}`,
    });
  return makeDelta(
    makeDelta(delta.tensors).tensors.map((t) =>
      encoding === 'q8'
        ? { name: t.name, shape: [...t.shape], values: roundTripQ8(t), encoding: 'q8' as const }
        : { name: t.name, shape: [...t.shape], values: t.values },
    ),
  );
};

const q8Range = (name: string, why: string): DmlError =>
  new DmlError('DELTA_Q8_RANGE', `tensor ${name} cannot be encoded as q8: ${why}`, {
    hint: 'the delta holds a value of magnitude 3.4e38; send it as f32',
  });

const roundTripQ8 = (t: DeltaTensor): Float32Array => {
  const { scales, codes } = quantizeQ8(t.values, (why) => q8Range(t.name, why));
  return dequantizeQ8(scales, codes, (why) => q8Range(t.name, why));
};

/** The value encoding of a delta: `q8` when any tensor is q8 (version 2 bytes), else `f32`. */
export const deltaEncodingOf = (delta: Delta): DeltaValueEncoding =>
  delta.tensors.some(isQ8) ? 'q8' : 'f32';

/** The block size of q8 (values per float32 scale). */
export const DELTA_Q8_BLOCK = Q8_BLOCK;

/** SHA-256 of the canonical encoding, lowercase hex: the name of a delta everywhere. */
export const hashDeltaBytes = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export const hashDelta = (delta: Delta): string => hashDeltaBytes(encodeDelta(delta));

export const getDeltaTensor = (delta: Delta, name: string): DeltaTensor => {
  const t = delta.tensors.find((x) => x.name === name);
  if (!t) throw new DmlError('DELTA_TENSOR_MISSING', `delta has no tensor ${name}`);
  return t;
};
