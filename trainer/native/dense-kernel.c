/*
 * The dense QLoRA engine's products in native AVX2 + FMA (design_docs/trainer.md, "The native
 * dense products"): rows_times, cols_times, nf4_rows_times and nf4_cols_times of
 * trainer/dense-kernel.wat with the same arguments and meaning, on the memory of the wasm
 * kernel's instance (its ArrayBuffer, the first argument; addresses are byte offsets into it;
 * matrices row-major float32; the 16 NF4 levels as float32 at bytes 0..63, as the wasm reads them).
 *
 * Included by trainer/native/transformer-kernel.c (one addon, one build: `npm run build:native`),
 * after its N-API helpers. Every output element is summed in the wasm's order (p = 0 .. k - 1
 * from +0) but each step is one fused multiply-add (8 lanes): the results equal the wasm
 * kernel's within float rounding, not bit for bit. Two rows of L (or two decoded rows/columns of
 * an NF4 weight) go through the product together: 8 accumulators of 8 lanes for 32 columns,
 * enough independent FMAs to cover their latency. rows_times and cols_times take R a block of
 * columns at a time (~64 KB, for the conv engine's wide R: read once, not once per pair of
 * rows); cols_times gathers L^T whole into the addon's scratch first (L is a weight or an
 * adapter). The NF4 decode is the wasm's: a row (or a column) of codes into a float buffer
 * (here the addon's scratch), then the product.
 */

/* c0[0..n) (=|+=) alpha * sum_p l0[p] r[p ldr + col], and the same for l1 into c1 when l1 != NULL
 * (R's rows `ldr` floats apart, n of their columns used). */
NATIVE_TARGET static void dense_rows2(const float *l0, const float *l1, long k, const float *r, long ldr, long n,
                                      float *c0, float *c1, float alpha, int acc) {
  const __m256 va = _mm256_set1_ps(alpha);
  long col = 0;
#define DENSE_STORE(dst, v)                                                                      \
  do {                                                                                           \
    __m256 s_ = _mm256_mul_ps(va, (v));                                                          \
    if (acc) s_ = _mm256_add_ps(_mm256_loadu_ps(dst), s_);                                       \
    _mm256_storeu_ps((dst), s_);                                                                 \
  } while (0)
  for (; col + 32 <= n; col += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    const float *rp = r + col;
    if (l1) {
      for (long p = 0; p < k; p++, rp += ldr) {
        const __m256 r0 = _mm256_loadu_ps(rp), r1 = _mm256_loadu_ps(rp + 8);
        const __m256 r2 = _mm256_loadu_ps(rp + 16), r3 = _mm256_loadu_ps(rp + 24);
        const __m256 w0 = _mm256_broadcast_ss(l0 + p), w1 = _mm256_broadcast_ss(l1 + p);
        a0 = _mm256_fmadd_ps(w0, r0, a0);
        a1 = _mm256_fmadd_ps(w0, r1, a1);
        a2 = _mm256_fmadd_ps(w0, r2, a2);
        a3 = _mm256_fmadd_ps(w0, r3, a3);
        b0 = _mm256_fmadd_ps(w1, r0, b0);
        b1 = _mm256_fmadd_ps(w1, r1, b1);
        b2 = _mm256_fmadd_ps(w1, r2, b2);
        b3 = _mm256_fmadd_ps(w1, r3, b3);
      }
      DENSE_STORE(c1 + col, b0);
      DENSE_STORE(c1 + col + 8, b1);
      DENSE_STORE(c1 + col + 16, b2);
      DENSE_STORE(c1 + col + 24, b3);
    } else {
      for (long p = 0; p < k; p++, rp += ldr) {
        const __m256 w0 = _mm256_broadcast_ss(l0 + p);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(rp), a0);
        a1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(rp + 8), a1);
        a2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(rp + 16), a2);
        a3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(rp + 24), a3);
      }
    }
    DENSE_STORE(c0 + col, a0);
    DENSE_STORE(c0 + col + 8, a1);
    DENSE_STORE(c0 + col + 16, a2);
    DENSE_STORE(c0 + col + 24, a3);
  }
  for (; col + 8 <= n; col += 8) {
    __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
    const float *rp = r + col;
    for (long p = 0; p < k; p++, rp += ldr) {
      const __m256 r0 = _mm256_loadu_ps(rp);
      a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(l0 + p), r0, a0);
      if (l1) b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(l1 + p), r0, b0);
    }
    DENSE_STORE(c0 + col, a0);
    if (l1) DENSE_STORE(c1 + col, b0);
  }
#undef DENSE_STORE
  for (; col < n; col++) {
    float s0 = 0.f, s1 = 0.f;
    const float *rp = r + col;
    for (long p = 0; p < k; p++, rp += ldr) {
      s0 = fmaf(l0[p], *rp, s0);
      if (l1) s1 = fmaf(l1[p], *rp, s1);
    }
    c0[col] = acc ? c0[col] + alpha * s0 : alpha * s0;
    if (l1) c1[col] = acc ? c1[col] + alpha * s1 : alpha * s1;
  }
}

/* The columns of R taken per pass over L's rows: a block of R [k, width] of ~64 KB (L2), a multiple
 * of 32 columns, so that a wide R (a convolution's n*h*w positions) is read from memory once
 * instead of once per pair of rows. Every output element is computed as without blocks (same
 * operations, same order): the blocks change only which elements are computed when. */
static long dense_column_block(long k) {
  const long width = (16384 / (k > 0 ? k : 1)) & ~31L;
  return width < 32 ? 32 : width;
}

/* C[m, n] (=|+=) alpha L[m, k] R[k, n], two rows at a time, a block of R's columns at a time. */
NATIVE_TARGET static void dense_rows_times(const float *l, long m, long k, const float *r, long n, float *c,
                                           float alpha, int acc) {
  const long block = dense_column_block(k);
  for (long col = 0; col < n; col += block) {
    const long width = n - col < block ? n - col : block;
    long i = 0;
    for (; i + 2 <= m; i += 2)
      dense_rows2(l + i * k, l + (i + 1) * k, k, r + col, n, width, c + i * n + col, c + (i + 1) * n + col, alpha,
                  acc);
    if (i < m) dense_rows2(l + i * k, NULL, k, r + col, n, width, c + i * n + col, NULL, alpha, acc);
  }
}

/* C[k, n] (=|+=) alpha L^T R, L [m, k], R [m, n]: L^T gathered into buf (k m floats), then the
 * product by rows (the same operations as two gathered columns at a time). */
NATIVE_TARGET static void dense_cols_times(const float *l, long m, long k, const float *r, long n, float *c,
                                           float alpha, int acc, float *buf) {
  for (long i = 0; i < m; i++)
    for (long j = 0; j < k; j++) buf[j * m + i] = l[i * k + j];
  dense_rows_times(buf, k, m, r, n, c, alpha, acc);
}

/* The weight of flat index i of an NF4 tensor: level[code i] * scales[i / 64]. */
static inline float dense_nf4_at(const float *levels, const uint8_t *codes, const float *scales, uint64_t i) {
  return levels[(codes[i >> 1] >> ((i & 1) * 4)) & 15] * scales[i >> 6];
}

/* out[0..count) = the NF4 weights of flat indices start..start + count; 8 at a time from a
 * multiple of 8 (one 32-bit word of codes, its nibbles shifted into 8 lanes, the level looked up
 * by two 8-entry permutes and a blend, times the block's scale). */
NATIVE_TARGET static void dense_nf4_decode(const float *levels, const uint8_t *codes, const float *scales,
                                           uint64_t start, long count, float *out) {
  uint64_t i = start;
  const uint64_t end = start + (uint64_t)count;
  for (; i < end && (i & 7); i++) *out++ = dense_nf4_at(levels, codes, scales, i);
  const __m256 lo = _mm256_loadu_ps(levels), hi = _mm256_loadu_ps(levels + 8);
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i fifteen = _mm256_set1_epi32(15);
  for (; i + 8 <= end; i += 8, out += 8) {
    uint32_t word;
    memcpy(&word, codes + (i >> 1), 4);
    const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts), fifteen);
    const __m256 level = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx),
                                          _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_broadcast_ss(scales + (i >> 6)), level));
  }
  for (; i < end; i++) *out++ = dense_nf4_at(levels, codes, scales, i);
}

/* C[rows, n] (=|+=) alpha W R, W NF4 [rows, cols], R [cols, n]: two rows of W decoded into buf
 * (2 cols floats) at a time. */
NATIVE_TARGET static void dense_nf4_rows_times(const float *levels, const uint8_t *codes, const float *scales, long rows,
                                               long cols, const float *r, long n, float *c, float alpha, int acc,
                                               float *buf) {
  long j = 0;
  for (; j + 2 <= rows; j += 2) {
    dense_nf4_decode(levels, codes, scales, (uint64_t)j * cols, 2 * cols, buf);
    dense_rows2(buf, buf + cols, cols, r, n, n, c + j * n, c + (j + 1) * n, alpha, acc);
  }
  if (j < rows) {
    dense_nf4_decode(levels, codes, scales, (uint64_t)j * cols, cols, buf);
    dense_rows2(buf, NULL, cols, r, n, n, c + j * n, NULL, alpha, acc);
  }
}

/* C[cols, n] (=|+=) alpha W^T R, W NF4 [rows, cols], R [rows, n]: two columns of W decoded into
 * buf (2 rows floats) at a time. */
NATIVE_TARGET static void dense_nf4_cols_times(const float *levels, const uint8_t *codes, const float *scales, long rows,
                                               long cols, const float *r, long n, float *c, float alpha, int acc,
                                               float *buf) {
  long k = 0;
  for (; k + 2 <= cols; k += 2) {
    uint64_t i = (uint64_t)k;
    for (long j = 0; j < rows; j++, i += (uint64_t)cols) {
      buf[j] = dense_nf4_at(levels, codes, scales, i);
      buf[rows + j] = dense_nf4_at(levels, codes, scales, i + 1);
    }
    dense_rows2(buf, buf + rows, rows, r, n, n, c + k * n, c + (k + 1) * n, alpha, acc);
  }
  if (k < cols) {
    uint64_t i = (uint64_t)k;
    for (long j = 0; j < rows; j++, i += (uint64_t)cols) buf[j] = dense_nf4_at(levels, codes, scales, i);
    dense_rows2(buf, NULL, rows, r, n, n, c + k * n, NULL, alpha, acc);
  }
}

/* ---- N-API glue of the dense products */

/* a * b * c, saturated at UINT64_MAX (never wraps: a bounds check on it then fails). */
static uint64_t dense_bytes(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t ab, abc;
  if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc)) return UINT64_MAX;
  return abc;
}

/* Reads the buffer and `want - 1` arguments: unsigned 32-bit integers but argument `alphaAt`
 * (1-based, a number). */
static int dense_args(napi_env env, napi_callback_info info, size_t want, size_t alphaAt, uint8_t **mem,
                      size_t *length, uint32_t *out, float *alpha) {
  size_t argc = 12;
  napi_value argv[12];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want) {
    napi_throw_range_error(env, NULL, "dense kernel: wrong number of arguments");
    return 0;
  }
  if (!memory_of(env, argv[0], mem, length)) return 0;
  for (size_t q = 1; q < want; q++) {
    if (q == alphaAt) {
      double a;
      if (napi_get_value_double(env, argv[q], &a) != napi_ok) {
        napi_throw_range_error(env, NULL, "dense kernel: alpha is not a number");
        return 0;
      }
      *alpha = (float)a;
      out[q - 1] = 0;
    } else if (!arg_u32(env, argv[q], &out[q - 1]))
      return 0;
  }
  return 1;
}

#define DENSE_CHECK(at, bytes, align)                                                            \
  if (((at) & ((align) - 1)) || !inside((at), (bytes), length))                                \
    return throw_range(env, "dense kernel: an operand reaches past the memory or is not aligned");

/* The addon's scratch of at least `floats` floats (decoded rows/columns of an NF4 weight, or a
 * transposed L), grown on demand. */
static float *dense_scratch(napi_env env, uint64_t floats) {
  Scratch *s = scratch_of(env);
  if (s == NULL) return NULL;
  if (floats < 16) floats = 16;
  if (floats > s->dense_floats) {
    float *grown = (float *)aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (grown == NULL) return NULL;
    free(s->dense);
    s->dense = grown;
    s->dense_floats = floats;
  }
  return s->dense;
}

/* rows_times(buffer, l, m, k, r, n, c, alpha, acc) */
static napi_value js_rows_times(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[8];
  float alpha = 1.f;
  if (!dense_args(env, info, 9, 7, &mem, &length, a, &alpha)) return NULL;
  const uint32_t l = a[0], m = a[1], k = a[2], r = a[3], n = a[4], c = a[5], acc = a[7];
  DENSE_CHECK(l, dense_bytes(4, m, k), 4);
  DENSE_CHECK(r, dense_bytes(4, k, n), 4);
  DENSE_CHECK(c, dense_bytes(4, m, n), 4);
  dense_rows_times((const float *)(mem + l), m, k, (const float *)(mem + r), n, (float *)(mem + c), alpha, acc != 0);
  return NULL;
}

/* cols_times(buffer, l, m, k, r, n, c, alpha, acc, buf): buf (m floats) is checked but the
 * addon gathers L^T into its own scratch. */
static napi_value js_cols_times(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[9];
  float alpha = 1.f;
  if (!dense_args(env, info, 10, 7, &mem, &length, a, &alpha)) return NULL;
  const uint32_t l = a[0], m = a[1], k = a[2], r = a[3], n = a[4], c = a[5], acc = a[7], buf = a[8];
  DENSE_CHECK(l, dense_bytes(4, m, k), 4);
  DENSE_CHECK(r, dense_bytes(4, m, n), 4);
  DENSE_CHECK(c, dense_bytes(4, k, n), 4);
  DENSE_CHECK(buf, dense_bytes(4, m, 1), 4);
  float *scratch = dense_scratch(env, dense_bytes(m, k, 1));
  if (scratch == NULL) return throw_range(env, "dense kernel: no scratch");
  dense_cols_times((const float *)(mem + l), m, k, (const float *)(mem + r), n, (float *)(mem + c), alpha, acc != 0,
                   scratch);
  return NULL;
}

/* nf4_rows_times / nf4_cols_times(buffer, codes, scales, rows, cols, r, n, c, alpha, acc, buf) */
static napi_value nf4_times_call(napi_env env, napi_callback_info info, int transposed) {
  uint8_t *mem;
  size_t length;
  uint32_t a[10];
  float alpha = 1.f;
  if (!dense_args(env, info, 11, 8, &mem, &length, a, &alpha)) return NULL;
  const uint32_t codes = a[0], scales = a[1], rows = a[2], cols = a[3], r = a[4], n = a[5], c = a[6], acc = a[8],
                 buf = a[9];
  const uint64_t weights = dense_bytes(rows, cols, 1);
  const uint64_t inner = transposed ? rows : cols, outer = transposed ? cols : rows;
  DENSE_CHECK(0, 64, 4); /* the levels */
  DENSE_CHECK(codes, (weights + 1) / 2, 1);
  DENSE_CHECK(scales, dense_bytes(4, (weights + 63) / 64, 1), 4);
  DENSE_CHECK(r, dense_bytes(4, inner, n), 4);
  DENSE_CHECK(c, dense_bytes(4, outer, n), 4);
  DENSE_CHECK(buf, dense_bytes(4, inner, 1), 4);
  float *scratch = dense_scratch(env, 2 * inner);
  if (scratch == NULL) return throw_range(env, "dense kernel: no scratch");
  (transposed ? dense_nf4_cols_times : dense_nf4_rows_times)((const float *)mem, mem + codes,
                                                             (const float *)(mem + scales), rows, cols,
                                                             (const float *)(mem + r), n, (float *)(mem + c), alpha,
                                                             acc != 0, scratch);
  return NULL;
}

static napi_value js_nf4_rows_times(napi_env env, napi_callback_info info) { return nf4_times_call(env, info, 0); }

static napi_value js_nf4_cols_times(napi_env env, napi_callback_info info) { return nf4_times_call(env, info, 1); }
