/*
 * The convolutional engine's data movement in native code (design_docs/trainer.md, "The
 * convolutional engine on the wasm kernel"): im2col, col2im, 2x2 max pooling and its gradient of
 * trainer/conv-planes.ts, with the same layout and meaning, on the memory of the engine's wasm
 * kernel instance (its ArrayBuffer first; addresses are byte offsets into it; planes
 * `[channels, n, height, width]` row-major float32; argmax int32).
 *
 * Included by trainer/native/transformer-kernel.c (one addon, one build: `npm run build:native`),
 * after its N-API helpers. Same bits as the JavaScript loops: im2col and pooling only copy and
 * compare, and col2im adds each output element's contributions one at a time in float32 in the
 * loops' order ((dy, dx) ascending; a float32 add is what `Float32Array` `+=` rounds to), so the
 * conv engine's native path differs from its wasm path only by the products (dense-kernel.c).
 */

/* p [k*k*c, n*h*w]: p[(dy k + dx) c + ch][b, y, x] = x[ch][b, y + dy - q, x + dx - q], 0 outside. */
static void conv_im2col(const float *x, long n, long h, long w, long c, long kernel, float *p) {
  const long cols = n * h * w, q = (kernel - 1) / 2;
  for (long dy = 0; dy < kernel; dy++)
    for (long dx = 0; dx < kernel; dx++) {
      const long oy = dy - q, ox = dx - q;
      const long lo = ox < 0 ? -ox : 0, hi = ox > 0 ? w - ox : w;
      for (long ch = 0; ch < c; ch++) {
        float *row = p + ((dy * kernel + dx) * c + ch) * cols;
        const float *plane = x + ch * cols;
        for (long b = 0; b < n; b++)
          for (long y = 0; y < h; y++) {
            float *dst = row + (b * h + y) * w;
            const long sy = y + oy;
            if (sy < 0 || sy >= h || lo >= hi) {
              memset(dst, 0, sizeof(float) * (size_t)w);
              continue;
            }
            const float *src = plane + (b * h + sy) * w + ox;
            if (lo > 0) memset(dst, 0, sizeof(float) * (size_t)lo);
            memcpy(dst + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
            if (hi < w) memset(dst + hi, 0, sizeof(float) * (size_t)(w - hi));
          }
      }
    }
}

/* dx [c, n*h*w] = the adjoint of im2col applied to dp [k*k*c, n*h*w]. One channel at a time (its
 * plane stays in cache), and within it (dy, dx) ascending: every element gets its contributions
 * in the order of the JavaScript loops, 8 elements per add. */
NATIVE_TARGET static void conv_col2im(const float *dp, long n, long h, long w, long c, long kernel, float *dx) {
  const long cols = n * h * w, q = (kernel - 1) / 2;
  memset(dx, 0, sizeof(float) * (size_t)(c * cols));
  for (long ch = 0; ch < c; ch++) {
    float *plane = dx + ch * cols;
    for (long dy = 0; dy < kernel; dy++)
      for (long dxo = 0; dxo < kernel; dxo++) {
        const long oy = dy - q, ox = dxo - q;
        const long lo = ox < 0 ? -ox : 0, hi = ox > 0 ? w - ox : w;
        const float *row = dp + ((dy * kernel + dxo) * c + ch) * cols;
        for (long b = 0; b < n; b++)
          for (long y = 0; y < h; y++) {
            const long sy = y + oy;
            if (sy < 0 || sy >= h) continue;
            const float *src = row + (b * h + y) * w;
            float *dst = plane + (b * h + sy) * w + ox;
            long xx = lo;
            for (; xx + 8 <= hi; xx += 8)
              _mm256_storeu_ps(dst + xx, _mm256_add_ps(_mm256_loadu_ps(dst + xx), _mm256_loadu_ps(src + xx)));
            for (; xx < hi; xx++) dst[xx] += src[xx];
          }
      }
  }
}

/* Lanes 0..count-1 (count <= 8) set: the mask of a partial group of 8 outputs. */
NATIVE_TARGET static inline __m256i conv_lanes(long count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The even and odd elements of 16 floats at p (the first 2 * count of them when count < 8,
 * the rest read as 0): lanes x = p[2x], p[2x + 1]. */
NATIVE_TARGET static inline void conv_pairs(const float *p, long count, __m256 *even, __m256 *odd) {
  __m256 lo, hi;
  if (count >= 8) {
    lo = _mm256_loadu_ps(p);
    hi = _mm256_loadu_ps(p + 8);
  } else {
    lo = _mm256_maskload_ps(p, conv_lanes(2 * count));
    hi = _mm256_maskload_ps(p + 8, conv_lanes(2 * count - 8));
  }
  /* within 128-bit lanes: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then the 64-bit quarters reordered */
  *even = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xd8));
  *odd = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), 0xd8));
}

/* 2x2 max pooling, stride 2, of a [c*n images, h, w] -> out [c*n, h/2, w/2], argmax[i] the index
 * in a of output i's maximum (the first of equal values in the order (0,0), (0,1), (1,0), (1,1):
 * each later one replaces it only when greater, and a NaN never is, as in the JavaScript loop).
 * 8 outputs of a row at a time (a row's last group masked). */
NATIVE_TARGET static void conv_max_pool2(const float *a, long images, long h, long w, float *out, int32_t *argmax) {
  const long oh = h >> 1, ow = w >> 1;
  const __m256i steps = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  for (long row = 0; row < images * oh; row++) {
    const long i0 = 2 * row * w; /* (img h + 2 y) w with row = img oh + y */
    float *o = out + row * ow;
    int32_t *am = argmax + row * ow;
    for (long x = 0; x < ow; x += 8) {
      const long count = ow - x < 8 ? ow - x : 8;
      __m256 e0, o0, e1, o1;
      conv_pairs(a + i0 + 2 * x, count, &e0, &o0);
      conv_pairs(a + i0 + w + 2 * x, count, &e1, &o1);
      const __m256i at = _mm256_add_epi32(_mm256_set1_epi32((int)(i0 + 2 * x)), steps);
      __m256 v = e0;
      __m256 best = _mm256_castsi256_ps(at);
      __m256 m = _mm256_cmp_ps(o0, v, _CMP_GT_OQ);
      v = _mm256_blendv_ps(v, o0, m);
      best = _mm256_blendv_ps(best, _mm256_castsi256_ps(_mm256_add_epi32(at, _mm256_set1_epi32(1))), m);
      m = _mm256_cmp_ps(e1, v, _CMP_GT_OQ);
      v = _mm256_blendv_ps(v, e1, m);
      best = _mm256_blendv_ps(best, _mm256_castsi256_ps(_mm256_add_epi32(at, _mm256_set1_epi32((int)w))), m);
      m = _mm256_cmp_ps(o1, v, _CMP_GT_OQ);
      v = _mm256_blendv_ps(v, o1, m);
      best = _mm256_blendv_ps(best, _mm256_castsi256_ps(_mm256_add_epi32(at, _mm256_set1_epi32((int)w + 1))), m);
      if (count == 8) {
        _mm256_storeu_ps(o + x, v);
        _mm256_storeu_si256((__m256i *)(am + x), _mm256_castps_si256(best));
      } else { /* through buffers: a masked store is slow on some CPUs (microcoded on AMD's) */
        float part[8];
        int32_t parti[8];
        _mm256_storeu_ps(part, v);
        _mm256_storeu_si256((__m256i *)parti, _mm256_castps_si256(best));
        memcpy(o + x, part, sizeof(float) * (size_t)count);
        memcpy(am + x, parti, sizeof(int32_t) * (size_t)count);
      }
    }
  }
}

/* da [count] = 0 but da[argmax[i]] = dOut[i]; 0 when an index is not below count (refused, da untouched). */
static int conv_max_pool2_grad(const float *dOut, const int32_t *argmax, long outputs, float *da, long count) {
  for (long i = 0; i < outputs; i++)
    if (argmax[i] < 0 || argmax[i] >= count) return 0;
  memset(da, 0, sizeof(float) * (size_t)count);
  for (long i = 0; i < outputs; i++) da[argmax[i]] = dOut[i];
  return 1;
}

/* ---- N-API glue of the conv planes */

/* The element count of planes of shape s = (n, h, w, c); 0 when a size is 0 or the count passes
 * 2^32 (so every count below is a 64-bit product that cannot wrap). */
static uint64_t conv_plane_count(const uint32_t *s) {
  const uint64_t count = dense_bytes(dense_bytes(s[0], s[1], s[2]), s[3], 1);
  return count <= 0xffffffffull ? count : 0;
}

/* im2col_planes(buffer, x, n, h, w, c, kernel, p) and col2im_planes(buffer, dp, n, h, w, c, kernel, dx) */
static napi_value conv_patches_call(napi_env env, napi_callback_info info, int adjoint) {
  uint8_t *mem;
  size_t length;
  uint32_t a[7];
  if (!u32_args(env, info, 8, &mem, &length, a)) return NULL;
  const uint64_t planes = conv_plane_count(a + 1), kernel = a[5];
  if (planes == 0 || kernel == 0 || kernel % 2 == 0 || kernel > 15)
    return throw_range(env, "conv planes: sizes must be positive and the kernel odd, at most 15");
  const uint64_t patches = planes * kernel * kernel;
  CHECK_INSIDE(a[0], 4 * (adjoint ? patches : planes));
  CHECK_INSIDE(a[6], 4 * (adjoint ? planes : patches));
  if (!(a[0] + 4 * (adjoint ? patches : planes) <= a[6] || a[6] + 4 * (adjoint ? planes : patches) <= a[0]))
    return throw_range(env, "conv planes: the input and the output overlap");
  const float *in = (const float *)(mem + a[0]);
  float *out = (float *)(mem + a[6]);
  if (adjoint)
    conv_col2im(in, a[1], a[2], a[3], a[4], a[5], out);
  else
    conv_im2col(in, a[1], a[2], a[3], a[4], a[5], out);
  return NULL;
}

static napi_value js_im2col_planes(napi_env env, napi_callback_info info) { return conv_patches_call(env, info, 0); }

static napi_value js_col2im_planes(napi_env env, napi_callback_info info) { return conv_patches_call(env, info, 1); }

/* max_pool2_planes(buffer, a, n, h, w, c, out, argmax): h and w even. */
static napi_value js_max_pool2_planes(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[7];
  if (!u32_args(env, info, 8, &mem, &length, a)) return NULL;
  const uint64_t count = conv_plane_count(a + 1);
  if (count == 0 || (a[2] & 1) || (a[3] & 1))
    return throw_range(env, "conv planes: sizes must be positive, the height and width even");
  CHECK_INSIDE(a[0], 4 * count);
  CHECK_INSIDE(a[5], count);
  CHECK_INSIDE(a[6], count);
  conv_max_pool2((const float *)(mem + a[0]), (long)a[1] * a[4], a[2], a[3], (float *)(mem + a[5]),
                 (int32_t *)(mem + a[6]));
  return NULL;
}

/* max_pool2_planes_grad(buffer, dOut, argmax, outputs, da, count) */
static napi_value js_max_pool2_planes_grad(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[5];
  if (!u32_args(env, info, 6, &mem, &length, a)) return NULL;
  CHECK_INSIDE(a[0], 4ull * a[2]);
  CHECK_INSIDE(a[1], 4ull * a[2]);
  CHECK_INSIDE(a[3], 4ull * a[4]);
  if (!conv_max_pool2_grad((const float *)(mem + a[0]), (const int32_t *)(mem + a[1]), a[2], (float *)(mem + a[3]),
                           a[4]))
    return throw_range(env, "conv planes: an argmax is not below the count");
  return NULL;
}
