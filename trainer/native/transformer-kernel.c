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
#include <math.h>
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
  float *dense;          /* the dense products' decoded/gathered rows (trainer/native/dense-kernel.c) */
  uint64_t dense_floats; /* its size in floats (grown on demand) */
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

/* pack_r from R given transposed (rt [n, k], R = rt^T): the same panels, each column read contiguously. */
NATIVE_TARGET static void pack_r_t(const float *rt, long k, long pc, long kc, long jc, long nc, float *dst) {
  for (long j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
    const long w = nc - j0 < NR ? nc - j0 : NR;
    for (long j = 0; j < w; j++) {
      const float *src = rt + (jc + j0 + j) * k + pc;
      for (long p = 0; p < kc; p++) dst[p * NR + j] = src[p];
    }
    for (long j = w; j < NR; j++)
      for (long p = 0; p < kc; p++) dst[p * NR + j] = 0.f;
  }
}

/* pack_l from L given transposed (lt [k, m], L = lt^T): six contiguous floats per p. */
static void pack_l_t(const float *lt, long m, long ic, long mc, long pc, long kc, float *dst) {
  for (long i0 = 0; i0 < mc; i0 += MR) {
    const long h = mc - i0 < MR ? mc - i0 : MR;
    const float *src = lt + pc * m + ic + i0;
    for (long p = 0; p < kc; p++, dst += MR, src += m) {
      long i = 0;
      for (; i < h; i++) dst[i] = src[i];
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

/* C[m, n] (=|+=) alpha L[m, k] R[k, n]; tri as in TransformerKernelExports.gemm; tl: l holds
 * L^T [k, m], tr: r holds R^T [n, k] (the transposes happen in the packing, never in memory). A tile's first
 * K block stores (or adds, with acc), the following ones add; a tile with nothing to sum in its
 * first block still stores alpha * 0 (as the wasm kernel does); tri 1 skips tiles wholly above
 * the diagonal (never written). */
NATIVE_TARGET static void gemm_f32(const float *l, long m, long k, const float *r, long n, float *c, float alpha,
                                   int acc, int tri, int tl, int tr, Scratch *s) {
  __m256 t[2 * MR];
  for (long jc = 0; jc < n; jc += NC) {
    const long nc = n - jc < NC ? n - jc : NC;
    /* a K of 0 still writes C (= alpha * 0) */
    for (long pc = 0; pc < k || (pc == 0 && k == 0); pc += KC) {
      const long kc = k - pc < KC ? k - pc : KC;
      if (kc > 0) {
        if (tr) pack_r_t(r, k, pc, kc, jc, nc, s->b);
        else pack_r(r, n, pc, kc, jc, nc, s->b);
      }
      for (long ic = 0; ic < m; ic += MC) {
        const long mc = m - ic < MC ? m - ic : MC;
        if (tri == 1 && ic + mc - 1 < jc) continue;
        if (kc > 0) {
          if (tl) pack_l_t(l, m, ic, mc, pc, kc, s->a);
          else pack_l(l, k, ic, mc, pc, kc, s->a);
        }
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

/* ---- The step's other loops (design_docs/trainer.md, "The native kernel"): the loss, the
 * embedding and its gradient, the bias sums, attention per (window, head) with its gathers and
 * scatters between the [features, N] layout and the heads' blocks, AdamW. */

/* Mean softmax cross-entropy of logits^T [classes, n] against targets [n] (int32), its gradient
 * (softmax - onehot) / n into dT [classes, n]; 8 columns at a time (the exps kept in dT between
 * the passes), float32 exps, each column's sum of exps and the loss in float64. Returns -1 when
 * a target is not below classes. */
NATIVE_TARGET static double cross_entropy_f32(const float *z, const int32_t *targets, float *dT, long n, long classes) {
  double loss = 0;
  for (long c = 0; c < n; c += 8) {
    const long w = n - c < 8 ? n - c : 8;
    __m256 mx = _mm256_set1_ps(-__builtin_inff());
    for (long k = 0; k < classes; k++) mx = _mm256_max_ps(mx, load_cols(z + k * n + c, c, n));
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (long k = 0; k < classes; k++) {
      const __m256 e = exp8(_mm256_sub_ps(load_cols(z + k * n + c, c, n), mx));
      s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
      s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
      store_cols(dT + k * n + c, e, c, n);
    }
    double sums[8] __attribute__((aligned(32)));
    float maxes[8] __attribute__((aligned(32)));
    _mm256_store_pd(sums, s0);
    _mm256_store_pd(sums + 4, s1);
    _mm256_store_ps(maxes, mx);
    float scale[8] __attribute__((aligned(32))) = {0};
    for (long j = 0; j < w; j++) {
      const int32_t target = targets[c + j];
      if (target < 0 || target >= classes) return -1;
      loss -= (double)z[target * n + c + j] - (double)maxes[j] - log(sums[j]);
      scale[j] = (float)(1.0 / (sums[j] * (double)n));
    }
    const __m256 sv = _mm256_load_ps(scale);
    for (long k = 0; k < classes; k++)
      store_cols(dT + k * n + c, _mm256_mul_ps(load_cols(dT + k * n + c, c, n), sv), c, n);
    const float inv = (float)(1.0 / (double)n);
    for (long j = 0; j < w; j++) dT[targets[c + j] * n + c + j] -= inv;
  }
  return loss / (double)n;
}

/* Over the first `columns` columns of logits^T [classes, n]: *loss_sum (+=) their cross-entropies
 * against targets (float64 sums of float32 exps; added column after column to the running sum,
 * so that its bits do not depend on how the columns are batched) and how many have their
 * largest logit (the first on a tie) at the target; -1 when a target is not below classes. */
NATIVE_TARGET static int next_byte_loss_f32(const float *z, const int32_t *targets, long n, long columns, long classes,
                                            double *loss_sum, long *hits) {
  double loss = *loss_sum;
  long right = 0;
  for (long c = 0; c < columns; c += 8) {
    const long w = columns - c < 8 ? columns - c : 8;
    __m256 mx = _mm256_set1_ps(-__builtin_inff());
    __m256 best = _mm256_setzero_ps();
    for (long k = 0; k < classes; k++) {
      const __m256 x = load_cols(z + k * n + c, c, columns);
      const __m256 more = _mm256_cmp_ps(x, mx, _CMP_GT_OQ);
      mx = _mm256_blendv_ps(mx, x, more);
      best = _mm256_blendv_ps(best, _mm256_set1_ps((float)k), more);
    }
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (long k = 0; k < classes; k++) {
      const __m256 e = exp8(_mm256_sub_ps(load_cols(z + k * n + c, c, columns), mx));
      s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
      s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sums[8] __attribute__((aligned(32)));
    float maxes[8] __attribute__((aligned(32))), bests[8] __attribute__((aligned(32)));
    _mm256_store_pd(sums, s0);
    _mm256_store_pd(sums + 4, s1);
    _mm256_store_ps(maxes, mx);
    _mm256_store_ps(bests, best);
    for (long j = 0; j < w; j++) {
      const int32_t target = targets[c + j];
      if (target < 0 || target >= classes) return -1;
      loss -= (double)z[target * n + c + j] - (double)maxes[j] - log(sums[j]);
      if ((long)bests[j] == target) right++;
    }
  }
  *loss_sum = loss;
  *hits = right;
  return 0;
}

/* out[r] (=) the sum of row r of a [rows, n] (a bias's gradient from dy^T). */
NATIVE_TARGET static void row_sums_f32(const float *a, long rows, long n, float *out) {
  for (long r = 0; r < rows; r++) {
    const float *row = a + r * n;
    __m256 s = _mm256_setzero_ps();
    long c = 0;
    for (; c + 8 <= n; c += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(row + c));
    float t = lanes_sum(s);
    for (; c < n; c++) t += row[c];
    out[r] = t;
  }
}

/* x0^T [d, n] (=) E[token c] + P[c mod t] per column c (E [vocab, d], P [>= t, d]), 8 columns at
 * a time so that every store is 8 contiguous floats. */
NATIVE_TARGET static void embed_f32(const int32_t *tokens, const float *e, const float *pos, float *x0, long d, long n,
                                    long t) {
  for (long c = 0; c < n; c += 8) {
    const long w = n - c < 8 ? n - c : 8;
    const float *er[8], *pr[8];
    for (long j = 0; j < 8; j++) {
      const long cc = c + (j < w ? j : 0);
      er[j] = e + (long)tokens[cc] * d;
      pr[j] = pos + (cc % t) * d;
    }
    for (long r = 0; r < d; r++) {
      float v[8] __attribute__((aligned(32)));
      for (long j = 0; j < 8; j++) v[j] = er[j][r] + pr[j][r];
      store_cols(x0 + r * n + c, _mm256_load_ps(v), c, n);
    }
  }
}

/* gE (=) the sums of dx0's columns by token, gP (=) by position (c mod t); gE [vocab, d] and
 * gP [posRows, d] zeroed first; the columns added in order (the JS loop's sums, bit for bit). */
static void embed_backward_f32(const int32_t *tokens, const float *dx, float *ge, float *gp, long d, long n, long t,
                               long vocab, long posRows) {
  memset(ge, 0, sizeof(float) * vocab * d);
  memset(gp, 0, sizeof(float) * posRows * d);
  for (long c = 0; c < n; c++) {
    float *er = ge + (long)tokens[c] * d, *pr = gp + (c % t) * d;
    for (long r = 0; r < d; r++) {
      const float g = dx[r * n + c];
      er[r] += g;
      pr[r] += g;
    }
  }
}

/* AdamW over `count` floats, PyTorch's order of operations in float32 (DenseOptimizer.step in
 * trainer/dense-qlora.ts, operation for operation: no contraction into FMAs, so the same bits). */
typedef struct {
  float b1, a1, b2, a2, c1, c2, eps, decay, lr;
} AdamW;

NATIVE_TARGET __attribute__((optimize("fp-contract=off"))) static void adamw_f32(float *p, const float *g, float *m,
                                                                                  float *v, long count,
                                                                                  const AdamW *o) {
  const __m256 b1 = _mm256_set1_ps(o->b1), a1 = _mm256_set1_ps(o->a1), b2 = _mm256_set1_ps(o->b2),
               a2 = _mm256_set1_ps(o->a2), c1 = _mm256_set1_ps(o->c1), c2 = _mm256_set1_ps(o->c2),
               eps = _mm256_set1_ps(o->eps), decay = _mm256_set1_ps(o->decay), lr = _mm256_set1_ps(o->lr);
  long i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 mv = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), b1), _mm256_mul_ps(gv, a1));
    const __m256 vv =
        _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(gv, gv), a2));
    _mm256_storeu_ps(m + i, mv);
    _mm256_storeu_ps(v + i, vv);
    const __m256 up =
        _mm256_div_ps(_mm256_div_ps(mv, c1), _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vv, c2)), eps));
    _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), decay), _mm256_mul_ps(up, lr)));
  }
  for (; i < count; i++) {
    const float gv = g[i];
    const float gg = gv * gv;
    m[i] = m[i] * o->b1 + gv * o->a1;
    v[i] = v[i] * o->b2 + gg * o->a2;
    const float up = (m[i] / o->c1) / (__builtin_sqrtf(v[i] / o->c2) + o->eps);
    p[i] = p[i] * o->decay - up * o->lr;
  }
}

/* Head h of window b of z^T [d, n] (column b t + j, rows h dh ..) into rows [t, dh] and/or
 * columns [dh, t] blocks (either may be NULL). */
static void gather_head(const float *z, long n, long t, long dh, long b, long h, float *rows, float *cols) {
  for (long c = 0; c < dh; c++) {
    const float *from = z + (h * dh + c) * n + b * t;
    if (cols) memcpy(cols + c * t, from, sizeof(float) * t);
    if (rows)
      for (long j = 0; j < t; j++) rows[j * dh + c] = from[j];
  }
}

/* z^T's head h of window b (=) a rows block [t, dh]. */
static void scatter_head_rows(const float *rows, long n, long t, long dh, long b, long h, float *z) {
  for (long c = 0; c < dh; c++) {
    float *to = z + (h * dh + c) * n + b * t;
    for (long j = 0; j < t; j++) to[j] = rows[j * dh + c];
  }
}

/* z^T's head h of window b (=) a columns block [dh, t]. */
static void scatter_head_cols(const float *cols, long n, long t, long dh, long b, long h, float *z) {
  for (long c = 0; c < dh; c++) memcpy(z + (h * dh + c) * n + b * t, cols + c * t, sizeof(float) * t);
}

/* Causal attention of every (window b, head h), as the engine's JS loop does it: Q, K, V gathered
 * from q^T, k^T, v^T [d, n] into their rows and columns blocks (kept for the backward at block
 * i = b heads + h of qr .. vc, t dh floats each), S = Q K^T / sqrt(dh) (lower triangle), P = its
 * causal softmax (kept in p, t t floats per block), O = P V (scratch o [t, dh]) scattered into
 * att^T [d, n]. */
NATIVE_TARGET static void attention_f32(const float *q, const float *k, const float *v, float *qr, float *qc, float *kr,
                                        float *kc, float *vr, float *vc, float *p, float *att, float *o, long batch,
                                        long heads, long t, long dh, Scratch *s) {
  const long n = batch * t, block = t * dh;
  const float alpha = (float)(1.0 / sqrt((double)dh));
  for (long b = 0; b < batch; b++)
    for (long h = 0; h < heads; h++) {
      const long i = b * heads + h;
      float *pi = p + i * t * t;
      gather_head(q, n, t, dh, b, h, qr + i * block, qc + i * block);
      gather_head(k, n, t, dh, b, h, kr + i * block, kc + i * block);
      gather_head(v, n, t, dh, b, h, vr + i * block, vc + i * block);
      gemm_f32(qr + i * block, t, dh, kc + i * block, t, pi, alpha, 0, 1, 0, 0, s);
      causal_softmax_f32(pi, t);
      gemm_f32(pi, t, t, vr + i * block, dh, o, 1.f, 0, 2, 0, 0, s);
      scatter_head_rows(o, n, t, dh, b, h, att);
    }
}

/* Its backward given dO^T = datt [d, n]: per block dV^T = dO^T P, dP = dO V^T, dS = the softmax's
 * backward, dQ = dS K / sqrt(dh), dK^T = Q^T dS / sqrt(dh), scattered into dq^T, dk^T, dv^T [d, n]
 * (=); scratch: 5 t dh + t t floats. */
NATIVE_TARGET static void attention_backward_f32(const float *datt, const float *qc, const float *kr, const float *vc,
                                                 const float *p, float *dq, float *dk, float *dv, float *scratch,
                                                 long batch, long heads, long t, long dh, Scratch *s) {
  const long n = batch * t, block = t * dh;
  const float alpha = (float)(1.0 / sqrt((double)dh));
  float *dOr = scratch, *dOc = dOr + block, *dQr = dOc + block, *dKc = dQr + block, *dVc = dKc + block,
        *dP = dVc + block;
  for (long b = 0; b < batch; b++)
    for (long h = 0; h < heads; h++) {
      const long i = b * heads + h;
      const float *pi = p + i * t * t;
      gather_head(datt, n, t, dh, b, h, dOr, dOc);
      gemm_f32(dOc, dh, t, pi, t, dVc, 1.f, 0, 4, 0, 0, s);
      gemm_f32(dOr, t, dh, vc + i * block, t, dP, 1.f, 0, 1, 0, 0, s);
      causal_softmax_backward_f32(pi, dP, t);
      gemm_f32(dP, t, t, kr + i * block, dh, dQr, alpha, 0, 2, 0, 0, s);
      gemm_f32(qc + i * block, dh, t, dP, t, dKc, alpha, 0, 4, 0, 0, s);
      scatter_head_rows(dQr, n, t, dh, b, h, dq);
      scatter_head_cols(dKc, n, t, dh, b, h, dk);
      scatter_head_cols(dVc, n, t, dh, b, h, dv);
    }
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
 * unused here (the native kernel packs into its own scratch, allocated once per thread).
 * gemm_transposed(buffer, l, m, k, r, n, c, alpha, acc, transpose): the whole product with L
 * given as L^T [k, m] when transpose & 1 and R as R^T [n, k] when transpose & 2. */
static napi_value gemm_call(napi_env env, napi_callback_info info, int transposed) {
  const size_t want = transposed ? 10 : 11;
  size_t argc = 11;
  napi_value argv[11];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want)
    return throw_range(env, transposed ? "transformer kernel: gemm_transposed takes 10 arguments"
                                       : "transformer kernel: gemm takes 11 arguments");
  uint8_t *mem;
  size_t length;
  if (!memory_of(env, argv[0], &mem, &length)) return NULL;
  uint32_t l, m, k, r, n, c, acc, panel = 0, tri = 0, flags = 0;
  double alpha;
  if (!arg_u32(env, argv[1], &l) || !arg_u32(env, argv[2], &m) || !arg_u32(env, argv[3], &k) ||
      !arg_u32(env, argv[4], &r) || !arg_u32(env, argv[5], &n) || !arg_u32(env, argv[6], &c) ||
      !arg_u32(env, argv[8], &acc))
    return NULL;
  if (transposed ? !arg_u32(env, argv[9], &flags)
                 : (!arg_u32(env, argv[9], &panel) || !arg_u32(env, argv[10], &tri)))
    return NULL;
  (void)panel;
  if (napi_get_value_double(env, argv[7], &alpha) != napi_ok) return throw_range(env, "transformer kernel: alpha");
  if (tri > 4) return throw_range(env, "transformer kernel: gemm's tri must be 0..4");
  if (flags > 3) return throw_range(env, "transformer kernel: gemm_transposed's transpose must be 0..3");
  if ((l | r | c) & 3) return throw_range(env, "transformer kernel: gemm's matrices must be 4-byte aligned");
  if (!inside(l, 4ull * m * k, length) || !inside(r, 4ull * k * n, length) || !inside(c, 4ull * m * n, length))
    return throw_range(env, "transformer kernel: gemm's operands reach past the memory");
  Scratch *s = scratch_of(env);
  if (s == NULL) return throw_range(env, "transformer kernel: no scratch");
  gemm_f32((const float *)(mem + l), m, k, (const float *)(mem + r), n, (float *)(mem + c), (float)alpha,
           acc != 0, (int)tri, (flags & 1) != 0, (flags & 2) != 0, s);
  return NULL;
}

static napi_value js_gemm(napi_env env, napi_callback_info info) { return gemm_call(env, info, 0); }

static napi_value js_gemm_transposed(napi_env env, napi_callback_info info) { return gemm_call(env, info, 1); }

/* Reads argc == want arguments: the buffer, then unsigned 32-bit integers. */
static int u32_args(napi_env env, napi_callback_info info, size_t want, uint8_t **mem, size_t *length, uint32_t *out) {
  size_t argc = 24;
  napi_value argv[24];
  if (want > 24 || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want) {
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

/* The dense engine's products (rows_times, cols_times, nf4_rows_times, nf4_cols_times): same addon. */
#include "dense-kernel.c"

/* The conv engine's data movement (im2col_planes, col2im_planes, max_pool2_planes and its gradient). */
#include "conv-planes.c"

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

/* Whether every one of the n int32 at tokens is in [0, limit). */
static int all_below(const int32_t *tokens, long n, long limit) {
  for (long c = 0; c < n; c++)
    if (tokens[c] < 0 || tokens[c] >= limit) return 0;
  return 1;
}

/* cross_entropy(buffer, z, targets, dT, n, classes) -> the mean loss */
static napi_value js_cross_entropy(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[5];
  if (!u32_args(env, info, 6, &mem, &length, a)) return NULL;
  const uint64_t n = a[3], classes = a[4];
  CHECK_INSIDE(a[0], 4 * classes * n);
  CHECK_INSIDE(a[1], 4 * n);
  CHECK_INSIDE(a[2], 4 * classes * n);
  if (n == 0) return throw_range(env, "transformer kernel: cross_entropy of no column");
  const double loss = cross_entropy_f32((const float *)(mem + a[0]), (const int32_t *)(mem + a[1]),
                                        (float *)(mem + a[2]), (long)n, (long)classes);
  if (loss < 0) return throw_range(env, "transformer kernel: a target is not below the number of classes");
  napi_value out;
  napi_create_double(env, loss, &out);
  return out;
}

/* next_byte_loss(buffer, z, targets, n, columns, classes, lossSum) -> [lossSum + the columns' losses, hits] */
static napi_value js_next_byte_loss(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7)
    return throw_range(env, "transformer kernel: next_byte_loss takes 7 arguments");
  uint8_t *mem;
  size_t length;
  if (!memory_of(env, argv[0], &mem, &length)) return NULL;
  uint32_t a[5];
  for (int q = 0; q < 5; q++)
    if (!arg_u32(env, argv[q + 1], &a[q])) return NULL;
  double loss;
  if (napi_get_value_double(env, argv[6], &loss) != napi_ok)
    return throw_range(env, "transformer kernel: next_byte_loss's loss sum must be a number");
  const uint64_t n = a[2], columns = a[3], classes = a[4];
  if (columns > n) return throw_range(env, "transformer kernel: next_byte_loss's columns exceed n");
  CHECK_INSIDE(a[0], 4 * classes * n);
  CHECK_INSIDE(a[1], 4 * n);
  long hits;
  if (next_byte_loss_f32((const float *)(mem + a[0]), (const int32_t *)(mem + a[1]), (long)n, (long)columns,
                         (long)classes, &loss, &hits) < 0)
    return throw_range(env, "transformer kernel: a target is not below the number of classes");
  napi_value out, x;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, loss, &x);
  napi_set_element(env, out, 0, x);
  napi_create_double(env, (double)hits, &x);
  napi_set_element(env, out, 1, x);
  return out;
}

/* row_sums(buffer, a, rows, n, out) */
static napi_value js_row_sums(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[4];
  if (!u32_args(env, info, 5, &mem, &length, a)) return NULL;
  CHECK_INSIDE(a[0], 4ull * a[1] * a[2]);
  CHECK_INSIDE(a[3], 4ull * a[1]);
  row_sums_f32((const float *)(mem + a[0]), a[1], a[2], (float *)(mem + a[3]));
  return NULL;
}

/* embed(buffer, tokens, e, pos, x0, d, n, t, vocab, posRows) and
 * embed_backward(buffer, tokens, dx0, gE, gP, d, n, t, vocab, posRows) */
static napi_value embed_call(napi_env env, napi_callback_info info, int backward) {
  uint8_t *mem;
  size_t length;
  uint32_t a[9];
  if (!u32_args(env, info, 10, &mem, &length, a)) return NULL;
  const uint64_t d = a[4], n = a[5], t = a[6], vocab = a[7], posRows = a[8];
  if (t == 0 || t > posRows) return throw_range(env, "transformer kernel: embed's window must be 1..posRows");
  CHECK_INSIDE(a[0], 4 * n);
  CHECK_INSIDE(a[1], backward ? 4 * d * n : 4 * vocab * d);
  CHECK_INSIDE(a[2], backward ? 4 * vocab * d : 4 * posRows * d);
  CHECK_INSIDE(a[3], backward ? 4 * posRows * d : 4 * d * n);
  const int32_t *tokens = (const int32_t *)(mem + a[0]);
  if (!all_below(tokens, (long)n, (long)vocab)) return throw_range(env, "transformer kernel: a token is not below vocab");
  if (backward)
    embed_backward_f32(tokens, (const float *)(mem + a[1]), (float *)(mem + a[2]), (float *)(mem + a[3]), (long)d,
                       (long)n, (long)t, (long)vocab, (long)posRows);
  else
    embed_f32(tokens, (const float *)(mem + a[1]), (const float *)(mem + a[2]), (float *)(mem + a[3]), (long)d,
              (long)n, (long)t);
  return NULL;
}

static napi_value js_embed(napi_env env, napi_callback_info info) { return embed_call(env, info, 0); }

static napi_value js_embed_backward(napi_env env, napi_callback_info info) { return embed_call(env, info, 1); }

/* adamw(buffer, p, g, m, v, count, b1, a1, b2, a2, c1, c2, eps, decay, lr): the constants as
 * DenseOptimizer rounds them to float32. */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 15)
    return throw_range(env, "transformer kernel: adamw takes 15 arguments");
  uint8_t *mem;
  size_t length;
  if (!memory_of(env, argv[0], &mem, &length)) return NULL;
  uint32_t a[5];
  for (int q = 0; q < 5; q++)
    if (!arg_u32(env, argv[q + 1], &a[q])) return NULL;
  double f[9];
  for (int q = 0; q < 9; q++)
    if (napi_get_value_double(env, argv[q + 6], &f[q]) != napi_ok)
      return throw_range(env, "transformer kernel: adamw's constants must be numbers");
  const uint64_t count = a[4];
  for (int q = 0; q < 4; q++) CHECK_INSIDE(a[q], 4 * count);
  const AdamW o = {(float)f[0], (float)f[1], (float)f[2], (float)f[3], (float)f[4],
                   (float)f[5], (float)f[6], (float)f[7], (float)f[8]};
  adamw_f32((float *)(mem + a[0]), (const float *)(mem + a[1]), (float *)(mem + a[2]), (float *)(mem + a[3]),
            (long)count, &o);
  return NULL;
}

/* attention(buffer, q, k, v, qr, qc, kr, kc, vr, vc, p, att, o, batch, heads, t, dh) */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[16];
  if (!u32_args(env, info, 17, &mem, &length, a)) return NULL;
  const uint64_t batch = a[12], heads = a[13], t = a[14], dh = a[15], dn = batch * heads * t * dh;
  for (int q = 0; q < 9; q++) CHECK_INSIDE(a[q], 4 * dn);
  CHECK_INSIDE(a[9], 4 * batch * heads * t * t);
  CHECK_INSIDE(a[10], 4 * dn);
  CHECK_INSIDE(a[11], 4 * t * dh);
  Scratch *s = scratch_of(env);
  if (s == NULL) return throw_range(env, "transformer kernel: no scratch");
  float *f = (float *)mem;
  attention_f32(f + a[0] / 4, f + a[1] / 4, f + a[2] / 4, f + a[3] / 4, f + a[4] / 4, f + a[5] / 4, f + a[6] / 4,
                f + a[7] / 4, f + a[8] / 4, f + a[9] / 4, f + a[10] / 4, f + a[11] / 4, (long)batch, (long)heads,
                (long)t, (long)dh, s);
  return NULL;
}

/* attention_backward(buffer, datt, qc, kr, vc, p, dq, dk, dv, scratch, batch, heads, t, dh) */
static napi_value js_attention_backward(napi_env env, napi_callback_info info) {
  uint8_t *mem;
  size_t length;
  uint32_t a[13];
  if (!u32_args(env, info, 14, &mem, &length, a)) return NULL;
  const uint64_t batch = a[9], heads = a[10], t = a[11], dh = a[12], dn = batch * heads * t * dh;
  for (int q = 0; q < 4; q++) CHECK_INSIDE(a[q], 4 * dn);
  CHECK_INSIDE(a[4], 4 * batch * heads * t * t);
  for (int q = 5; q < 8; q++) CHECK_INSIDE(a[q], 4 * dn);
  CHECK_INSIDE(a[8], 4 * (5 * t * dh + t * t));
  Scratch *s = scratch_of(env);
  if (s == NULL) return throw_range(env, "transformer kernel: no scratch");
  float *f = (float *)mem;
  attention_backward_f32(f + a[0] / 4, f + a[1] / 4, f + a[2] / 4, f + a[3] / 4, f + a[4] / 4, f + a[5] / 4,
                         f + a[6] / 4, f + a[7] / 4, f + a[8] / 4, (long)batch, (long)heads, (long)t, (long)dh, s);
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
  free(s->dense);
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
      {"gemm_transposed", NULL, js_gemm_transposed, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cross_entropy", NULL, js_cross_entropy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"next_byte_loss", NULL, js_next_byte_loss, NULL, NULL, NULL, napi_enumerable, NULL},
      {"row_sums", NULL, js_row_sums, NULL, NULL, NULL, napi_enumerable, NULL},
      {"embed", NULL, js_embed, NULL, NULL, NULL, napi_enumerable, NULL},
      {"embed_backward", NULL, js_embed_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamw", NULL, js_adamw, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attention", NULL, js_attention, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attention_backward", NULL, js_attention_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layer_norm", NULL, js_layer_norm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layer_norm_backward", NULL, js_layer_norm_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gelu", NULL, js_gelu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gelu_backward", NULL, js_gelu_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"causal_softmax", NULL, js_causal_softmax, NULL, NULL, NULL, napi_enumerable, NULL},
      {"causal_softmax_backward", NULL, js_causal_softmax_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rows_times", NULL, js_rows_times, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cols_times", NULL, js_cols_times, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nf4_rows_times", NULL, js_nf4_rows_times, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nf4_cols_times", NULL, js_nf4_cols_times, NULL, NULL, NULL, napi_enumerable, NULL},
      {"im2col_planes", NULL, js_im2col_planes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"col2im_planes", NULL, js_col2im_planes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"max_pool2_planes", NULL, js_max_pool2_planes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"max_pool2_planes_grad", NULL, js_max_pool2_planes_grad, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
