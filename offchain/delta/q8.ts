/**
 * q8, the 8-bit value encoding of a delta tensor: the values, in the tensor's order, cut into
 * blocks of 64 (the last one shorter); per block one float32 scale and one int8 code per value.
 *
 *   M      = max |x| over the block (float32)
 *   scale  = 0                              when M = 0
 *            max(fround(M / 127), 2^-126)   otherwise (the floor keeps the scale a normal float)
 *   code   = round(x / scale), ties away from zero, in [-127, 127]  (x / scale in float64)
 *   scale  = 0 again when every code of the block is 0
 *   value  = fround(code x scale)           (code x scale is exact in float64: one rounding)
 *
 * Every step is IEEE-754 arithmetic on float64 with one explicit rounding to float32, so every
 * machine gets the same bits. Ties go away from zero. Error: |x - value| <= scale / 2 plus half a float32 ulp of the value
 * (the final rounding). Idempotent: quantising decoded values gives the same scales and codes
 * back: for every float32 M >= 127 x 2^-126 but the largest, fround(fround(127 x scale) / 127) is
 * the scale again and round(M / scale) is 127 (checked exhaustively over all 2.07e9 of them); below
 * that the scale is 2^-126 and code x 2^-126 is exact, so decoding
 * also checks that a block is what quantising its own values gives, and a delta has one encoding.
 */
export const Q8_BLOCK = 64;
export const Q8_MAX_CODE = 127;
/** The smallest normal float32: the floor of a non-zero block's scale. */
export const Q8_MIN_SCALE = 2 ** -126;

export const q8ScaleCount = (n: number): number => Math.ceil(n / Q8_BLOCK);

/** Round half away from zero, exact for |t| < 2^52 (unlike `Math.floor(t + 0.5)`). */
const roundHalfAway = (t: number): number => {
  const a = Math.abs(t);
  let c = Math.floor(a);
  if (a - c >= 0.5) c += 1;
  return t < 0 ? -c : c;
};

const blockScale = (values: Float32Array, from: number, to: number): number => {
  let m = 0;
  for (let j = from; j < to; j++) {
    const a = Math.abs(values[j]!);
    if (a > m) m = a;
  }
  return m === 0 ? 0 : Math.max(Math.fround(m / Q8_MAX_CODE), Q8_MIN_SCALE);
};

/**
 * Quantises finite float32 values (the caller checks finiteness) to q8. The one float32 whose
 * block cannot be encoded is +-3.4028235e38 (the largest: 127 x its scale rounds to infinity):
 * `fail` is called for it.
 */
export const quantizeQ8 = (
  values: Float32Array,
  fail: (why: string) => Error,
): { scales: Float32Array; codes: Int8Array } => {
  const n = values.length;
  const scales = new Float32Array(q8ScaleCount(n));
  const codes = new Int8Array(n);
  for (let b = 0; b < scales.length; b++) {
    const from = b * Q8_BLOCK;
    const to = Math.min(n, from + Q8_BLOCK);
    const scale = blockScale(values, from, to);
    if (!Number.isFinite(Math.fround(Q8_MAX_CODE * scale)))
      throw fail(`block ${b} holds a value too large for q8 (the largest float32)`);
    let any = false;
    if (scale > 0)
      for (let j = from; j < to; j++) {
        const c = Math.max(-Q8_MAX_CODE, Math.min(Q8_MAX_CODE, roundHalfAway(values[j]! / scale)));
        codes[j] = c;
        if (c !== 0) any = true;
      }
    scales[b] = any ? scale : 0;
  }
  return { scales, codes };
};

/**
 * Decodes q8 blocks to float32 values; refuses (with `fail(why)`) a scale that is negative,
 * non-finite or -0, a code of -128, a non-finite value, and any block that is not exactly what
 * quantising its own decoded values gives (so that one delta has one encoding).
 */
export const dequantizeQ8 = (
  scales: Float32Array,
  codes: Int8Array,
  fail: (why: string) => Error,
): Float32Array => {
  const n = codes.length;
  if (scales.length !== q8ScaleCount(n)) throw fail(`${scales.length} scales for ${n} values`);
  const values = new Float32Array(n);
  for (let b = 0; b < scales.length; b++) {
    const scale = scales[b]!;
    if (!(scale >= 0) || !Number.isFinite(scale) || Object.is(scale, -0))
      throw fail(`block ${b} has scale ${scale}`);
    const from = b * Q8_BLOCK;
    const to = Math.min(n, from + Q8_BLOCK);
    for (let j = from; j < to; j++) {
      const c = codes[j]!;
      if (c < -Q8_MAX_CODE) throw fail(`block ${b} holds code ${c}`);
      const v = Math.fround(c * scale);
      if (!Number.isFinite(v)) throw fail(`block ${b} decodes to a non-finite value at ${j}`);
      values[j] = v;
    }
  }
  const again = quantizeQ8(values, fail);
  for (let b = 0; b < scales.length; b++)
    if (!Object.is(again.scales[b], scales[b]))
      throw fail(`block ${b} is not canonical (scale ${scales[b]}, its values give ${again.scales[b]})`);
  for (let j = 0; j < n; j++)
    if (again.codes[j] !== codes[j]) throw fail(`block ${Math.floor(j / Q8_BLOCK)} is not canonical`);
  return values;
};
