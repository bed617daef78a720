/*
 * The transformer engine's optional native kernel (design_docs/trainer.md, "The native kernel"):
 * the functions of trainer/transformer-kernel.wat with the same arguments and meaning, on the
 * memory of the wasm kernel's instance (a WebAssembly.Memory's ArrayBuffer, whose data pointer
 * N-API gives; addresses are byte offsets into it, matrices row-major float32), in AVX2 + FMA
 * (8 lanes, a fused multiply-add per instruction: twice the width of wasm SIMD).
 *
 * Built by `npm run build:native` (scripts/build-native.ts: gcc -O3 -shared -fPIC, no node-gyp)
 * into trainer/native/build/transformer_kernel.node; loaded by trainer/transformer-kernel.ts
 * when the build exists and `supported()` says the CPU has AVX2 and FMA, else the wasm kernel
 * is used. Only the functions below are compiled for AVX2 + FMA (`target` attribute), so the
 * file loads on any x86-64 and says "unsupported" instead of faulting on an illegal instruction.
 *
 * Safety: every call takes the memory's current ArrayBuffer (a grown memory detaches the old
 * one) and checks that every byte it will touch lies inside it (a JS RangeError otherwise, where
 * wasm would trap): no address given by JS can make it read or write outside the memory.
 */
#include <node_api.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NATIVE_TARGET __attribute__((target("avx2,fma")))

/* ---- gemm: a register-blocked product (6 rows x 16 columns of 8-lane accumulators) with
 * packing, Goto/BLIS style: R's block [KC, NC] packed once per (jc, pc) into panels of 16
 * columns ([kc][16], zero-padded), L's block [MC, KC] into slivers of 6 rows ([kc][6]); the
 * micro-kernel streams one sliver of each (6 kc + 16 kc floats: L1/L2) into 12 accumulators. */

enum { MR = 6, NR = 16, KC = 256, MC = 144, NC = 2048 };

typedef struct {
  float *a; /* MC x KC */
  float *b; /* KC x NC */
} Scratch;

static Scratch *scratch_of(napi_env env) {
  Scratch *s = NULL;
  if (napi_get_instance_data(env, (void **)&s) != napi_ok) return NULL;
  return s;
}

/* c (=|+=) alpha * acc6x16 for rows < mr, columns < nr. */
NATIVE_TARGET static inline void store_tile(float *c, long ldc, __m256 *acc, int mr, int nr, float alpha, int add) {
  const __m256 va = _mm256_set1_ps(alpha);
  if (nr == NR) {
    for (int i = 0; i < mr; i++) {
      __m256 v0 = _mm256_mul_ps(va, acc[2 * i]);
      __m256 v1 = _mm256_mul_ps(va, acc[2 * i + 1]);
      float *row = c + i * ldc;
      if (add) {
        v0 = _mm256_add_ps(_mm256_loadu_ps(row), v0);
        v1 = _mm256_add_ps(_mm256_loadu_ps(row + 8), v1);
      }
      _mm256_storeu_ps(row, v0);
      _mm256_storeu_ps(row + 8, v1);
    }
    return;
  }
  float tmp[NR] __attribute__((aligned(32)));
  for (int i = 0; i < mr; i++) {
    _mm256_store_ps(tmp, _mm256_mul_ps(va, acc[2 * i]));
    _mm256_store_ps(tmp + 8, _mm256_mul_ps(va, acc[2 * i + 1]));
    float *row = c + i * ldc;
    for (int j = 0; j < nr; j++) row[j] = add ? row[j] + tmp[j] : tmp[j];
  }
}

/* acc = sum over kk steps of a[p][0..6) x b[p][0..16). */
NATIVE_TARGET __attribute__((noinline)) static void micro_6x16(long kk, const float *a, const float *b, __m256 *out) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (long p = 0; p < kk; p++) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 w;
    w = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(w, b0, c00);
    c01 = _mm256_fmadd_ps(w, b1, c01);
    w = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(w, b0, c10);
    c11 = _mm256_fmadd_ps(w, b1, c11);
    w = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(w, b0, c20);
    c21 = _mm256_fmadd_ps(w, b1, c21);
    w = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(w, b0, c30);
    c31 = _mm256_fmadd_ps(w, b1, c31);
    w = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(w, b0, c40);
    c41 = _mm256_fmadd_ps(w, b1, c41);
    w = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(w, b0, c50);
    c51 = _mm256_fmadd_ps(w, b1, c51);
    a += MR;
    b += NR;
  }
  out[0] = c00, out[1] = c01, out[2] = c10, out[3] = c11, out[4] = c20, out[5] = c21;
  out[6] = c30, out[7] = c31, out[8] = c40, out[9] = c41, out[10] = c50, out[11] = c51;
}

/* panels of 16 columns: dst[(j / 16) * kc * 16 + p * 16 + j % 16] = r[(pc + p) * n + jc + j], 0 past nc. */
NATIVE_TARGET static void pack_r(const float *r, long n, long pc, long kc, long jc, long nc, float *dst) {
  for (long j0 = 0; j0 < nc; j0 += NR) {
    const long w = nc - j0 < NR ? nc - j0 : NR;
    const float *src = r + pc * n + jc + j0;
    if (w == NR) {
      for (long p = 0; p < kc; p++, src += n, dst += NR) {
        _mm256_store_ps(dst, _mm256_loadu_ps(src));
        _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
      }
    } else {
      for (long p = 0; p < kc; p++, src += n, dst += NR) {
        long j = 0;
        for (; j < w; j++) dst[j] = src[j];
        for (; j < NR; j++) dst[j] = 0.f;
      }
    }
  }
}

/* slivers of 6 rows: dst[(i / 6) * kc * 6 + p * 6 + i % 6] = l[(ic + i) * k + pc + p], 0 past mc. */
static void pack_l(const float *l, long k, long ic, long mc, long pc, long kc, float *dst) {
  for (long i0 = 0; i0 < mc; i0 += MR) {
    const long h = mc - i0 < MR ? mc - i0 : MR;
    const float *src = l + (ic + i0) * k + pc;
    for (long p = 0; p < kc; p++, dst += MR) {
      long i = 0;
      for (; i < h; i++) dst[i] = src[i * k + p];
      for (; i < MR; i++) dst[i] = 0.f;
    }
  }
}

/* The p range [from, to) a tile of rows i0 .. i0 + rows - 1 and columns from j0 needs (tri as in gemm). */
static inline void k_range(int tri, long i0, long rows, long j0, long k, long *from, long *to) {
  *from = 0;
  *to = k;
  if (tri == 2) *to = i0 + rows < k ? i0 + rows : k;
  else if (tri == 3) *from = i0 < k ? i0 : k;
  else if (tri == 4) *from = j0 < k ? j0 : k;
}

/* C[m, n] (=|+=) alpha L[m, k] R[k, n]; tri as in TransformerKernelExports.gemm. A tile's first
 * K block stores (or adds, with acc), the following ones add; a tile with nothing to sum in its
 * first block still stores alpha * 0 (as the wasm kernel does); tri 1 skips tiles wholly above
 * the diagonal (never written). */
NATIVE_TARGET static void gemm_f32(const float *l, long m, long k, const float *r, long n, float *c, float alpha,
                                   int acc, int tri, Scratch *s) {
  __m256 t[2 * MR];
  for (long jc = 0; jc < n; jc += NC) {
    const long nc = n - jc < NC ? n - jc : NC;
    /* a K of 0 still writes C (= alpha * 0) */
    for (long pc = 0; pc < k || (pc == 0 && k == 0); pc += KC) {
      const long kc = k - pc < KC ? k - pc : KC;
      if (kc > 0) pack_r(r, n, pc, kc, jc, nc, s->b);
      for (long ic = 0; ic < m; ic += MC) {
        const long mc = m - ic < MC ? m - ic : MC;
        if (tri == 1 && ic + mc - 1 < jc) continue;
        if (kc > 0) pack_l(l, k, ic, mc, pc, kc, s->a);
        for (long j0 = 0; j0 < nc; j0 += NR) {
          const long nr = nc - j0 < NR ? nc - j0 : NR;
          const float *bp = s->b + j0 * kc;
          for (long i0 = 0; i0 < mc; i0 += MR) {
            const long mr = mc - i0 < MR ? mc - i0 : MR;
            const long gi = ic + i0, gj = jc + j0;
            if (tri == 1 && gi + mr - 1 < gj) continue;
            long from, to;
            k_range(tri, gi, mr, gj, k, &from, &to);
            if (from < pc) from = pc;
            if (to > pc + kc) to = pc + kc;
            const int first = pc == 0;
            if (to <= from) {
              if (!first) continue;
              for (int q = 0; q < 2 * MR; q++) t[q] = _mm256_setzero_ps();
            } else {
              micro_6x16(to - from, s->a + i0 * kc + (from - pc) * MR, bp + (from - pc) * NR, t);
            }
            store_tile(c + gi * n + gj, n, t, (int)mr, (int)nr, alpha, first ? acc : 1);
          }
        }
      }
    }
  }
}


/* ---- GELU and the causal softmax, 8 lanes (the wasm kernel's arithmetic: e^x as Cephes' expf,
 * GELU's tanh as 1 - 2 / (e^2u + 1)); a partial last group goes through an 8-float buffer. */

/* e^x per lane: x = n ln 2 + f, |f| <= ln 2 / 2, a degree-7 polynomial for e^f, 2^n from the
 * exponent bits (~1-2 ulp); x clamped to [-87, 88]. */
NATIVE_TARGET static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.f)), _mm256_set1_ps(88.f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(0.693359375f)));
  f = _mm256_sub_ps(f, _mm256_mul_ps(k, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, f), f, f), _mm256_set1_ps(1.f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

NATIVE_TARGET static inline __m256 gelu8(__m256 x, __m256 *th) {
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 u = _mm256_mul_ps(_mm256_set1_ps(1.5957691216057308f),
                                 _mm256_add_ps(x, _mm256_mul_ps(_mm256_set1_ps(0.044715f),
                                                                _mm256_mul_ps(_mm256_mul_ps(x, x), x))));
  *th = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(one, exp8(u))));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, *th));
}

NATIVE_TARGET static inline __m256 gelu_grad8(__m256 x, __m256 th, __m256 d) {
  const __m256 one = _mm256_set1_ps(1.f), half = _mm256_set1_ps(0.5f);
  const __m256 a = _mm256_mul_ps(half, _mm256_add_ps(one, th));
  const __m256 b = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_sub_ps(one, _mm256_mul_ps(th, th))),
                                 _mm256_set1_ps(0.7978845608028654f));
  const __m256 c = _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.134145f), _mm256_mul_ps(x, x)));
  return _mm256_mul_ps(d, _mm256_add_ps(a, _mm256_mul_ps(b, c)));
}

NATIVE_TARGET static void gelu_f32(const float *z, float *out, float *tanh_, long count) {
  long i = 0;
  __m256 th;
  for (; i + 8 <= count; i += 8) {
    _mm256_storeu_ps(out + i, gelu8(_mm256_loadu_ps(z + i), &th));
    _mm256_storeu_ps(tanh_ + i, th);
  }
  if (i < count) {
    float buf[8] __attribute__((aligned(32))) = {0}, tb[8] __attribute__((aligned(32)));
    memcpy(buf, z + i, sizeof(float) * (count - i));
    _mm256_store_ps(buf, gelu8(_mm256_load_ps(buf), &th));
    _mm256_store_ps(tb, th);
    memcpy(out + i, buf, sizeof(float) * (count - i));
    memcpy(tanh_ + i, tb, sizeof(float) * (count - i));
  }
}

NATIVE_TARGET static void gelu_backward_f32(const float *z, float *d, const float *tanh_, long count) {
  long i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(d + i, gelu_grad8(_mm256_loadu_ps(z + i), _mm256_loadu_ps(tanh_ + i), _mm256_loadu_ps(d + i)));
  if (i < count) {
    float bz[8] __attribute__((aligned(32))) = {0}, bt[8] __attribute__((aligned(32))) = {0},
          bd[8] __attribute__((aligned(32))) = {0};
    memcpy(bz, z + i, sizeof(float) * (count - i));
    memcpy(bt, tanh_ + i, sizeof(float) * (count - i));
    memcpy(bd, d + i, sizeof(float) * (count - i));
    _mm256_store_ps(bd, gelu_grad8(_mm256_load_ps(bz), _mm256_load_ps(bt), _mm256_load_ps(bd)));
    memcpy(d + i, bd, sizeof(float) * (count - i));
  }
}

/* All ones in the lanes j + lane < limit. */
NATIVE_TARGET static inline __m256 lanes_below(long j, long limit) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(limit - j)), lane));
}

NATIVE_TARGET static inline float lanes_sum(__m256 v) {
  float x[8] __attribute__((aligned(32)));
  _mm256_store_ps(x, v);
  return ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
}

NATIVE_TARGET static inline float lanes_max(__m256 v) {
  float x[8] __attribute__((aligned(32)));
  _mm256_store_ps(x, v);
  float m = x[0];
  for (int q = 1; q < 8; q++) m = x[q] > m ? x[q] : m;
  return m;
}

/* Each row i of P [t, t] (=) the softmax of its entries j <= i, 0 above the diagonal. */
NATIVE_TARGET static void causal_softmax_f32(float *p, long t) {
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  for (long i = 0; i < t; i++) {
    float *row = p + i * t;
    const long n = i + 1; /* entries j < n */
    __m256 mx = ninf;
    long j = 0;
    for (; j + 8 <= n; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(row + j));
    float m = lanes_max(mx);
    for (long q = j; q < n; q++) m = row[q] > m ? row[q] : m;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (j = 0; j < n; j += 8) {
      const __m256 in = lanes_below(j, n);
      __m256 x = j + 8 <= n ? _mm256_loadu_ps(row + j) : _mm256_maskload_ps(row + j, _mm256_castps_si256(in));
      const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(x, mv)), in);
      sum = _mm256_add_ps(sum, e);
      if (j + 8 <= n) _mm256_storeu_ps(row + j, e);
      else _mm256_maskstore_ps(row + j, _mm256_castps_si256(in), e);
    }
    const __m256 inv = _mm256_set1_ps(1.f / lanes_sum(sum));
    for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
    for (; j < n; j++) row[j] *= inv[0];
    for (j = n; j < t; j++) row[j] = 0.f;
  }
}

/* dS = P (dP - rowsum(P dP)) in place of dP [t, t], per row over j <= i, 0 above the diagonal. */
NATIVE_TARGET static void causal_softmax_backward_f32(const float *p, float *dp, long t) {
  for (long i = 0; i < t; i++) {
    const float *pr = p + i * t;
    float *dr = dp + i * t;
    const long n = i + 1;
    __m256 dot = _mm256_setzero_ps();
    long j = 0;
    for (; j + 8 <= n; j += 8) dot = _mm256_fmadd_ps(_mm256_loadu_ps(pr + j), _mm256_loadu_ps(dr + j), dot);
    float d = lanes_sum(dot);
    for (long q = j; q < n; q++) d += pr[q] * dr[q];
    const __m256 dv = _mm256_set1_ps(d);
    for (j = 0; j + 8 <= n; j += 8)
      _mm256_storeu_ps(dr + j, _mm256_mul_ps(_mm256_loadu_ps(pr + j), _mm256_sub_ps(_mm256_loadu_ps(dr + j), dv)));
    for (; j < n; j++) dr[j] = pr[j] * (dr[j] - d);
    for (j = n; j < t; j++) dr[j] = 0.f;
  }
}


/* ---- LayerNorm over the columns of [d, n], 8 columns per step (a partial last group through
 * masked loads and stores: nothing outside the n columns is read or written). */

NATIVE_TARGET static inline __m256 load_cols(const float *at, long c, long n) {
  return c + 8 <= n ? _mm256_loadu_ps(at) : _mm256_maskload_ps(at, _mm256_castps_si256(lanes_below(c, n)));
}

NATIVE_TARGET static inline void store_cols(float *at, __m256 v, long c, long n) {
  if (c + 8 <= n) _mm256_storeu_ps(at, v);
  else _mm256_maskstore_ps(at, _mm256_castps_si256(lanes_below(c, n)), v);
}

/* a = (x - mean) rstd gamma[r] + beta[r] per column; mean and rstd = 1 / sqrt(var + 1e-5) kept. */
NATIVE_TARGET static void layer_norm_f32(const float *x, float *a, float *mean, float *rstd, const float *gamma,
                                         const float *beta, long d, long n) {
  const __m256 inv = _mm256_set1_ps(1.f / (float)d);
  for (long c = 0; c < n; c += 8) {
    __m256 s = _mm256_setzero_ps();
    for (long r = 0; r < d; r++) s = _mm256_add_ps(s, load_cols(x + r * n + c, c, n));
    const __m256 mu = _mm256_mul_ps(s, inv);
    s = _mm256_setzero_ps();
    for (long r = 0; r < d; r++) {
      const __m256 e = _mm256_sub_ps(load_cols(x + r * n + c, c, n), mu);
      s = _mm256_fmadd_ps(e, e, s);
    }
    const __m256 rs = _mm256_div_ps(_mm256_set1_ps(1.f),
                                    _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(s, inv), _mm256_set1_ps(1e-5f))));
    store_cols(mean + c, mu, c, n);
    store_cols(rstd + c, rs, c, n);
    for (long r = 0; r < d; r++) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(load_cols(x + r * n + c, c, n), mu), rs);
      store_cols(a + r * n + c, _mm256_fmadd_ps(xh, _mm256_set1_ps(gamma[r]), _mm256_set1_ps(beta[r])), c, n);
    }
  }
}

/* dx (+=) rstd (da gamma - s1 - xhat s2), s1 and s2 the means over the rows of da gamma and
 * da gamma xhat; dgamma[r] (=) sum over the columns of da xhat, dbeta[r] (=) of da. */
NATIVE_TARGET static int layer_norm_backward_f32(const float *x, const float *da, const float *mean,
                                                 const float *rstd, const float *gamma, float *dx, float *dgamma,
                                                 float *dbeta, long d, long n) {
  float *sc = (float *)aligned_alloc(32, sizeof(float) * 16 * (d > 0 ? d : 1));
  if (sc == NULL) return 0;
  memset(sc, 0, sizeof(float) * 16 * d);
  const __m256 inv = _mm256_set1_ps(1.f / (float)d);
  for (long c = 0; c < n; c += 8) {
    const __m256 mu = load_cols(mean + c, c, n), rs = load_cols(rstd + c, c, n);
    __m256 s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
    for (long r = 0; r < d; r++) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(load_cols(x + r * n + c, c, n), mu), rs);
      const __m256 dv = load_cols(da + r * n + c, c, n); /* 0 in the lanes past n */
      const __m256 gd = _mm256_mul_ps(dv, _mm256_set1_ps(gamma[r]));
      s1 = _mm256_add_ps(s1, gd);
      s2 = _mm256_fmadd_ps(gd, xh, s2);
      _mm256_store_ps(sc + 16 * r, _mm256_fmadd_ps(dv, xh, _mm256_load_ps(sc + 16 * r)));
      _mm256_store_ps(sc + 16 * r + 8, _mm256_add_ps(_mm256_load_ps(sc + 16 * r + 8), dv));
    }
    s1 = _mm256_mul_ps(s1, inv);
    s2 = _mm256_mul_ps(s2, inv);
    for (long r = 0; r < d; r++) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(load_cols(x + r * n + c, c, n), mu), rs);
      const __m256 gd = _mm256_mul_ps(load_cols(da + r * n + c, c, n), _mm256_set1_ps(gamma[r]));
      const __m256 g = _mm256_mul_ps(rs, _mm256_sub_ps(_mm256_sub_ps(gd, s1), _mm256_mul_ps(xh, s2)));
      store_cols(dx + r * n + c, _mm256_add_ps(load_cols(dx + r * n + c, c, n), g), c, n);
    }
  }
  for (long r = 0; r < d; r++) {
    dgamma[r] = lanes_sum(_mm256_load_ps(sc + 16 * r));
    dbeta[r] = lanes_sum(_mm256_load_ps(sc + 16 * r + 8));
  }
  free(sc);
  return 1;
}

/* ---- N-API glue */

static napi_value throw_range(napi_env env, const char *what) {
  napi_throw_range_error(env, NULL, what);
  return NULL;
}

/* The memory's bytes: args[0] is its current ArrayBuffer (memory.buffer, taken at every call). */
static int memory_of(napi_env env, napi_value buffer, uint8_t **data, size_t *length) {
  void *d = NULL;
  if (napi_get_arraybuffer_info(env, buffer, &d, length) != napi_ok || d == NULL) {
    napi_throw_type_error(env, NULL, "transformer kernel: the first argument must be the memory's ArrayBuffer");
    return 0;
  }
  *data = (uint8_t *)d;
  return 1;
}

static int arg_u32(napi_env env, napi_value v, uint32_t *out) {
  double x;
  if (napi_get_value_double(env, v, &x) != napi_ok || !(x >= 0) || x > 4294967295.0 || x != (double)(uint32_t)x) {
    napi_throw_range_error(env, NULL, "transformer kernel: an address or size is not an unsigned 32-bit integer");
    return 0;
  }
  *out = (uint32_t)x;
  return 1;
}

/* Whether [at, at + bytes) lies in a memory of `length` bytes. */
static int inside(uint64_t at, uint64_t bytes, size_t length) { return at <= length && bytes <= length - at; }

/* gemm(buffer, l, m, k, r, n, c, alpha, acc, panel, tri): panel is the wasm kernel's scratch,
 * unused here (the native kernel packs into its own). */
static napi_value js_gemm(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 11)
    return throw_range(env, "transformer kernel: gemm takes 11 arguments");
  uint8_t *mem;
  size_t length;
  if (!memory_of(env, argv[0], &mem, &length)) return NULL;
  uint32_t l, m, k, r, n, c, acc, panel, tri;
  double alpha;
  if (!arg_u32(env, argv[1], &l) || !arg_u32(env, argv[2], &m) || !arg_u32(env, argv[3], &k) ||
      !arg_u32(env, argv[4], &r) || !arg_u32(env, argv[5], &n) || !arg_u32(env, argv[6], &c) ||
      !arg_u32(env, argv[8], &acc) || !arg_u32(env, argv[9], &panel) || !arg_u32(env, argv[10], &tri))
    return NULL;
  if (napi_get_value_double(env, argv[7], &alpha) != napi_ok) return throw_range(env, "transformer kernel: alpha");
  if (tri > 4) return throw_range(env, "transformer kernel: gemm's tri must be 0..4");
  if ((l | r | c) & 3) return throw_range(env, "transformer kernel: gemm's matrices must be 4-byte aligned");
  if (!inside(l, 4ull * m * k, length) || !inside(r, 4ull * k * n, length) || !inside(c, 4ull * m * n, length))
    return throw_range(env, "transformer kernel: gemm's operands reach past the memory");
  Scratch *s = scratch_of(env);
  if (s == NULL) return throw_range(env, "transformer kernel: no scratch");
  gemm_f32((const float *)(mem + l), m, k, (const float *)(mem + r), n, (float *)(mem + c), (float)alpha,
           acc != 0, (int)tri, s);
  return NULL;
}

/* Reads argc == want arguments: the buffer, then unsigned 32-bit integers. */
static int u32_args(napi_env env, napi_callback_info info, size_t want, uint8_t **mem, size_t *length, uint32_t *out) {
  size_t argc = 12;
  napi_value argv[12];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want) {
    napi_throw_range_error(env, NULL, "transformer kernel: wrong number of arguments");
    return 0;
  }
  if (!memory_of(env, argv[0], mem, length)) return 0;
  for (size_t q = 1; q < want; q++)
    if (!arg_u32(env, argv[q], &out[q - 1])) return 0;
  return 1;
}

#define CHECK_INSIDE(at, bytes)                                                                  \
  if (((at) & 3) || !inside((at), (bytes), length))                                            \
    return throw_range(env, "transformer kernel: an operand reaches past the memory or is not aligned");

/* gelu(buffer, z, out, tanh, count) */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[4];
  if (!u32_args(env, info, 5, &mem, &length, a)) return NULL;
  CHECK_INSIDE(a[0], 4ull * a[3]);
  CHECK_INSIDE(a[1], 4ull * a[3]);
  CHECK_INSIDE(a[2], 4ull * a[3]);
  gelu_f32((const float *)(mem + a[0]), (float *)(mem + a[1]), (float *)(mem + a[2]), a[3]);
  return NULL;
}

/* gelu_backward(buffer, z, d, tanh, count) */
static napi_value js_gelu_backward(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[4];
  if (!u32_args(env, info, 5, &mem, &length, a)) return NULL;
  CHECK_INSIDE(a[0], 4ull * a[3]);
  CHECK_INSIDE(a[1], 4ull * a[3]);
  CHECK_INSIDE(a[2], 4ull * a[3]);
  gelu_backward_f32((const float *)(mem + a[0]), (float *)(mem + a[1]), (const float *)(mem + a[2]), a[3]);
  return NULL;
}

/* causal_softmax(buffer, p, t) */
static napi_value js_causal_softmax(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[2];
  if (!u32_args(env, info, 3, &mem, &length, a)) return NULL;
  CHECK_INSIDE(a[0], 4ull * a[1] * a[1]);
  causal_softmax_f32((float *)(mem + a[0]), a[1]);
  return NULL;
}

/* causal_softmax_backward(buffer, p, dp, t) */
static napi_value js_causal_softmax_backward(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[3];
  if (!u32_args(env, info, 4, &mem, &length, a)) return NULL;
  CHECK_INSIDE(a[0], 4ull * a[2] * a[2]);
  CHECK_INSIDE(a[1], 4ull * a[2] * a[2]);
  causal_softmax_backward_f32((const float *)(mem + a[0]), (float *)(mem + a[1]), a[2]);
  return NULL;
}

/* layer_norm(buffer, x, a, mean, rstd, gamma, beta, d, n) */
static napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[8];
  if (!u32_args(env, info, 9, &mem, &length, a)) return NULL;
  const uint64_t d = a[6], n = a[7];
  CHECK_INSIDE(a[0], 4 * d * n);
  CHECK_INSIDE(a[1], 4 * d * n);
  CHECK_INSIDE(a[2], 4 * n);
  CHECK_INSIDE(a[3], 4 * n);
  CHECK_INSIDE(a[4], 4 * d);
  CHECK_INSIDE(a[5], 4 * d);
  layer_norm_f32((const float *)(mem + a[0]), (float *)(mem + a[1]), (float *)(mem + a[2]), (float *)(mem + a[3]),
                 (const float *)(mem + a[4]), (const float *)(mem + a[5]), (long)d, (long)n);
  return NULL;
}

/* layer_norm_backward(buffer, x, da, mean, rstd, gamma, dx, dgamma, dbeta, scratch, d, n): scratch
 * is the wasm kernel's, unused here. */
static napi_value js_layer_norm_backward(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[11];
  if (!u32_args(env, info, 12, &mem, &length, a)) return NULL;
  const uint64_t d = a[9], n = a[10];
  CHECK_INSIDE(a[0], 4 * d * n);
  CHECK_INSIDE(a[1], 4 * d * n);
  CHECK_INSIDE(a[2], 4 * n);
  CHECK_INSIDE(a[3], 4 * n);
  CHECK_INSIDE(a[4], 4 * d);
  CHECK_INSIDE(a[5], 4 * d * n);
  CHECK_INSIDE(a[6], 4 * d);
  CHECK_INSIDE(a[7], 4 * d);
  if (!layer_norm_backward_f32((const float *)(mem + a[0]), (const float *)(mem + a[1]), (const float *)(mem + a[2]),
                               (const float *)(mem + a[3]), (const float *)(mem + a[4]), (float *)(mem + a[5]),
                               (float *)(mem + a[6]), (float *)(mem + a[7]), (long)d, (long)n))
    return throw_range(env, "transformer kernel: out of memory");
  return NULL;
}

static int cpu_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static napi_value js_supported(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_get_boolean(env, cpu_supported(), &v);
  return v;
}

static void free_scratch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Scratch *s = (Scratch *)data;
  free(s->a);
  free(s->b);
  free(s);
}

static napi_value init(napi_env env, napi_value exports) {
  Scratch *s = (Scratch *)calloc(1, sizeof(Scratch));
  if (s == NULL) return NULL;
  s->a = (float *)aligned_alloc(64, sizeof(float) * MC * KC);
  s->b = (float *)aligned_alloc(64, sizeof(float) * KC * (NC + NR));
  if (s->a == NULL || s->b == NULL) {
    free(s->a);
    free(s->b);
    free(s);
    return NULL;
  }
  napi_set_instance_data(env, s, free_scratch, NULL);
  napi_property_descriptor props[] = {
      {"supported", NULL, js_supported, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gemm", NULL, js_gemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layer_norm", NULL, js_layer_norm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layer_norm_backward", NULL, js_layer_norm_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gelu", NULL, js_gelu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gelu_backward", NULL, js_gelu_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"causal_softmax", NULL, js_causal_softmax, NULL, NULL, NULL, napi_enumerable, NULL},
      {"causal_softmax_backward", NULL, js_causal_softmax_backward, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
