/**
 * NF4 quantisation with double quantisation (Dettmers et al. 2023, QLoRA).
 *
 * - Weights are cut into blocks of 64; each block is scaled by its absmax into [-1, 1] and every
 *   value is replaced by the index of the nearest of the 16 NF4 levels (4 bits, two per byte,
 *   low nibble first).
 * - The absmax constants (one float per 64 weights) are themselves quantised: minus their mean
 *   (one float32 per tensor), in blocks of 256, each block scaled by its own absmax c into
 *   int8 codes round(127 (a - mean) / c), one float32 c per 256 constants.
 * - Storage per parameter: 4 + 8/64 + 32/(64 * 256) = 4.127 bits (plus one float per tensor).
 *
 * Dequantisation: w = NF4[code] * (mean + c * q / 127).
 */
export const NF4_LEVELS: readonly number[] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];
export const NF4_CODEBOOK = Float32Array.from(NF4_LEVELS);
export const NF4_BLOCK_SIZE = 64;
export const NF4_SCALE_BLOCK_SIZE = 256;

/** Midpoints between consecutive levels: a value goes to the level whose interval holds it. */
const MIDPOINTS = Float64Array.from({ length: 15 }, (_, i) => (NF4_LEVELS[i]! + NF4_LEVELS[i + 1]!) / 2);

export interface Nf4Tensor {
  readonly shape: readonly number[];
  readonly length: number;
  /** Two 4-bit codes per byte, element 2i in the low nibble, 2i+1 in the high nibble. */
  readonly codes: Uint8Array;
  /** One int8 code per block of 64 (the double-quantised absmax). */
  readonly scaleCodes: Int8Array;
  /** One float32 per block of 256 scale codes. */
  readonly scaleScales: Float32Array;
  /** The mean of the absmax constants, subtracted before their quantisation. */
  readonly scaleOffset: number;
}

/** Buckets of [-1, 1] whose first code starts the search: each is far narrower than a level. */
const CODE_BUCKETS = 4096;

/** The nearest code to each bucket's lower end, by counting the midpoints below it. */
const BUCKET_CODES = Uint8Array.from({ length: CODE_BUCKETS + 1 }, (_, k) => {
  const x = -1 + (2 * k) / CODE_BUCKETS;
  let code = 0;
  while (code < 15 && x > MIDPOINTS[code]!) code++;
  return code;
});

/**
 * Index of the NF4 level nearest to x in [-1, 1]: the number of midpoints below x (a tie at a
 * midpoint goes to the lower level; NaN gives 0). It starts at x's bucket's code and steps to the
 * right one (one or two comparisons, where a binary search's four mispredicted branches cost
 * ~3x more); the steps make it exact for any start, so rounding in the bucket index cannot matter.
 */
export const nearestNf4Code = (x: number): number => {
  let k = ((x + 1) * (CODE_BUCKETS / 2)) | 0;
  if (!(k >= 0 && k <= CODE_BUCKETS)) k = 0;
  let code = BUCKET_CODES[k]!;
  while (code < 15 && x > MIDPOINTS[code]!) code++;
  while (code > 0 && !(x > MIDPOINTS[code - 1]!)) code--;
  return code;
};

export const quantizeNf4 = (values: Float32Array, shape: readonly number[] = [values.length]): Nf4Tensor => {
  const n = values.length;
  const blocks = Math.ceil(n / NF4_BLOCK_SIZE);
  const absmax = new Float32Array(blocks);
  const codes = new Uint8Array(Math.ceil(n / 2));
  // block by block: its absmax, then its codes two at a time (a block's 64 values pair up
  // within it; only the tensor's last value can be alone, its high nibble the padding code 7,
  // which decodes to 0)
  for (let b = 0; b < blocks; b++) {
    const start = b * NF4_BLOCK_SIZE;
    const end = Math.min(n, start + NF4_BLOCK_SIZE);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(values[i]!));
    absmax[b] = m;
    const scale = absmax[b]!; // the stored float32, as every value is divided by
    for (let i = start; i < end; i += 2) {
      const low = scale === 0 ? 7 : nearestNf4Code(values[i]! / scale);
      const high = i + 1 >= end || scale === 0 ? 7 : nearestNf4Code(values[i + 1]! / scale);
      codes[i >> 1] = low | (high << 4);
    }
  }
  let sum = 0;
  for (let b = 0; b < blocks; b++) sum += absmax[b]!;
  const scaleOffset = Math.fround(blocks === 0 ? 0 : sum / blocks);
  const groups = Math.ceil(blocks / NF4_SCALE_BLOCK_SIZE);
  const scaleScales = new Float32Array(groups);
  const scaleCodes = new Int8Array(blocks);
  for (let g = 0; g < groups; g++) {
    const end = Math.min(blocks, (g + 1) * NF4_SCALE_BLOCK_SIZE);
    let c = 0;
    for (let b = g * NF4_SCALE_BLOCK_SIZE; b < end; b++) c = Math.max(c, Math.abs(absmax[b]! - scaleOffset));
    scaleScales[g] = c;
    const cf = scaleScales[g]!;
    for (let b = g * NF4_SCALE_BLOCK_SIZE; b < end; b++)
      scaleCodes[b] =
        cf === 0 ? 0 : Math.max(-127, Math.min(127, Math.round((127 * (absmax[b]! - scaleOffset)) / cf)));
  }
  return { shape: [...shape], length: n, codes, scaleCodes, scaleScales, scaleOffset };
};

/** The dequantised absmax of block b: mean + c q / 127. */
export const nf4BlockScale = (q: Nf4Tensor, block: number): number =>
  Math.fround(
    q.scaleOffset + (q.scaleScales[Math.floor(block / NF4_SCALE_BLOCK_SIZE)]! * q.scaleCodes[block]!) / 127,
  );

/** Dequantises into `out` (length q.length): one layer at a time, on demand. */
export const dequantizeNf4Into = (q: Nf4Tensor, out: Float32Array): Float32Array => {
  const blocks = q.scaleCodes.length;
  for (let b = 0; b < blocks; b++) {
    const s = nf4BlockScale(q, b);
    const end = Math.min(q.length, (b + 1) * NF4_BLOCK_SIZE);
    for (let i = b * NF4_BLOCK_SIZE; i < end; i++) {
      const byte = q.codes[i >> 1]!;
      out[i] = NF4_CODEBOOK[(i & 1) === 0 ? byte & 15 : byte >> 4]! * s;
    }
  }
  return out;
};

export const dequantizeNf4 = (q: Nf4Tensor): Float32Array => dequantizeNf4Into(q, new Float32Array(q.length));

/** Bytes held by a quantised tensor: codes, scale codes, scale scales and the offset. */
export const nf4ByteSize = (q: Nf4Tensor): number =>
  q.codes.byteLength + q.scaleCodes.byteLength + q.scaleScales.byteLength + 4;
