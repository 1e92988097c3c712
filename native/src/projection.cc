#include "nadir/projection.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "nadir/cpu.h"
#include "nadir/kernels.h"
#include "nadir/parallel.h"
#if NADIR_X86
#include <immintrin.h>
#endif

namespace nadir {

// ---------------------------------------------------------------- scalar reference

void project_rows_scalar(const float* x, size_t rows, size_t d, const float* center,
                         const float* w, size_t k, bool lower, ProjReduce mode,
                         const float* weight, const float* scale, float* out) {
  std::vector<float> z(d);
  for (size_t i = 0; i < rows; ++i) {
    const float* xi = x + i * d;
    float nz = 0;
    for (size_t j = 0; j < d; ++j) {
      z[j] = xi[j] - center[j];
      if (mode == ProjReduce::Distance) {
        float t = z[j] * scale[j];
        nz += t * t;
      }
    }
    float acc = 0;
    for (size_t r = 0; r < k; ++r) {
      const float* wr = w + r * d;
      size_t jend = lower ? std::min(d, r + 1) : d;
      float p = 0;
      for (size_t j = 0; j < jend; ++j) p += wr[j] * z[j];
      if (mode == ProjReduce::SumSquares) acc += p * p;
      else if (mode == ProjReduce::Distance) acc += weight[r] * std::sqrt(std::max(0.0f, nz + 1.0f - 2.0f * p));
      else out[i * k + r] = p;
    }
    if (mode != ProjReduce::Store) out[i] = acc;
  }
}

#if NADIR_X86
// ---------------------------------------------------------------- AVX-512: 16 rows per vector

NADIR_TARGET_AVX512 static inline __m512 reduce16(ProjReduce mode, __m512 p, __m512 acc, __m512 nz1,
                                                  float wr) {
  if (mode == ProjReduce::SumSquares) return _mm512_fmadd_ps(p, p, acc);
  // nz1 = |u|^2 + 1; distance = sqrt(max(0, nz1 - 2p)).
  __m512 q = _mm512_max_ps(_mm512_fnmadd_ps(_mm512_set1_ps(2.0f), p, nz1), _mm512_setzero_ps());
  return _mm512_fmadd_ps(_mm512_set1_ps(wr), _mm512_sqrt_ps(q), acc);
}

// NB consecutive 16-row blocks at once (rows [0, nrows) of `base`, nrows > 16 * (NB - 1)): each
// broadcast matrix entry then feeds NB FMAs. Per-lane arithmetic does not depend on NB.
//
// Full blocks are transposed by shuffles: t[j * stride + lane] = feature j of one row
// of the 16 rows at x, minus center[j]. The rows sit in lanes in the order 0-3, 8-11, 4-7, 12-15
// (the same for every feature; the results are put back in row order at the end), which is what
// the cheapest network yields. Eight features at a time: vector k holds rows k and k+8 (a 256-bit
// load and an insert), then an 8 x 8 transpose within each 256-bit half (unpacks, shuffles, one
// 128-bit lane shuffle per feature): 4 shuffle-unit operations per feature, against 5-6 for a
// 16 x 16 transpose of whole rows. The last features go four at a time (vector k: rows k, k+8,
// k+4, k+12 in its 128-bit lanes, then a 4 x 4 transpose inside each lane). Shuffles compete with
// the FMAs for the same execution ports on some CPUs, so their count matters. The values are the
// same as a plain transpose, so results are too.
// One group of features starting at h (eight when they exist, else up to four); returns the next h.
NADIR_TARGET_AVX512 static inline size_t transpose16_group(const float* x, size_t d, const float* center,
                                                           float* t, size_t stride, size_t h) {
  t += h * stride;
  if (h + 8 <= d) {
    __m512 a[8], u[8];
    for (int k = 0; k < 8; ++k)
      a[k] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(x + k * d + h)), _mm256_loadu_ps(x + (k + 8) * d + h), 1);
    // Lanes 0 and 2 hold features h..h+3, lanes 1 and 3 features h+4..h+7.
    for (int q = 0; q < 8; q += 4) {
      const __m512 lo01 = _mm512_unpacklo_ps(a[q], a[q + 1]), hi01 = _mm512_unpackhi_ps(a[q], a[q + 1]);
      const __m512 lo23 = _mm512_unpacklo_ps(a[q + 2], a[q + 3]), hi23 = _mm512_unpackhi_ps(a[q + 2], a[q + 3]);
      u[q] = _mm512_shuffle_ps(lo01, lo23, 0x44);
      u[q + 1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
      u[q + 2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
      u[q + 3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
    }
    // u[m] lane 0: rows 0-3 of feature h+m, lane 1: rows 0-3 of h+m+4, lanes 2, 3: rows 8-11;
    // u[m+4] the same for rows 4-7 and 12-15.
    for (int m = 0; m < 4; ++m) {
      _mm512_store_ps(t + m * stride, _mm512_sub_ps(_mm512_shuffle_f32x4(u[m], u[m + 4], 0x88), _mm512_set1_ps(center[h + m])));
      _mm512_store_ps(t + (m + 4) * stride, _mm512_sub_ps(_mm512_shuffle_f32x4(u[m], u[m + 4], 0xDD), _mm512_set1_ps(center[h + m + 4])));
    }
    return h + 8;
  }
  const size_t w = std::min<size_t>(4, d - h);
  __m512 a[4];
  if (w == 4) {
    for (int k = 0; k < 4; ++k) {
      const float* p = x + k * d + h;
      __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(p));
      v = _mm512_insertf32x4(v, _mm_loadu_ps(p + 8 * d), 1);
      v = _mm512_insertf32x4(v, _mm_loadu_ps(p + 4 * d), 2);
      a[k] = _mm512_insertf32x4(v, _mm_loadu_ps(p + 12 * d), 3);
    }
  } else {
    // The row's last features: masked loads never touch what lies past them.
    const __mmask8 part = static_cast<__mmask8>((1u << w) - 1u);
    for (int k = 0; k < 4; ++k) {
      const float* p = x + k * d + h;
      __m512 v = _mm512_castps128_ps512(_mm_maskz_loadu_ps(part, p));
      v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(part, p + 8 * d), 1);
      v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(part, p + 4 * d), 2);
      a[k] = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(part, p + 12 * d), 3);
    }
  }
  const __m512 lo01 = _mm512_unpacklo_ps(a[0], a[1]), lo23 = _mm512_unpacklo_ps(a[2], a[3]);
  _mm512_store_ps(t, _mm512_sub_ps(_mm512_shuffle_ps(lo01, lo23, 0x44), _mm512_set1_ps(center[h])));
  if (w > 1) _mm512_store_ps(t + stride, _mm512_sub_ps(_mm512_shuffle_ps(lo01, lo23, 0xEE), _mm512_set1_ps(center[h + 1])));
  if (w > 2) {
    const __m512 hi01 = _mm512_unpackhi_ps(a[0], a[1]), hi23 = _mm512_unpackhi_ps(a[2], a[3]);
    _mm512_store_ps(t + 2 * stride, _mm512_sub_ps(_mm512_shuffle_ps(hi01, hi23, 0x44), _mm512_set1_ps(center[h + 2])));
    if (w > 3) _mm512_store_ps(t + 3 * stride, _mm512_sub_ps(_mm512_shuffle_ps(hi01, hi23, 0xEE), _mm512_set1_ps(center[h + 3])));
  }
  return h + w;
}

NADIR_TARGET_AVX512 static inline void transpose16_centered(const float* x, size_t d, const float* center,
                                                             float* t, size_t stride) {
  for (size_t h = 0; h < d;) h = transpose16_group(x, d, center, t, stride, h);
}

// Transposes the NB blocks of the next pass a group at a time, interleaved with the FMAs of the
// current one: shuffles and FMAs then overlap instead of taking turns.
template <int NB>
struct Pump {
  const float* x;  // null: nothing to do
  size_t d;
  const float* center;
  float* t;
  int b = 0;
  size_t h = 0;
  NADIR_TARGET_AVX512 void step() {
    if (!x || b == NB) return;
    h = transpose16_group(x + b * 16 * d, d, center, t + b * 16, NB * 16, h);
    if (h == d) h = 0, ++b;
  }
  NADIR_TARGET_AVX512 void finish() {
    while (x && b < NB) step();
  }
};

constexpr size_t kPrefetchMinBytes = size_t{4} << 20;

// Software prefetch of bytes [from, from + len) of x (clipped to its `total` bytes), a few passes
// ahead of the kernels: when other cores compete for memory, the hardware prefetcher alone falls
// behind on large inputs (measured: median throughput +25% on 25 MB under load).
static inline void prefetch_ahead(const float* x, size_t from, size_t len, size_t total) {
  if (total < kPrefetchMinBytes) return;  // cache-resident: prefetches would only cost
  const char* base = reinterpret_cast<const char*>(x);
  for (size_t o = from, end = std::min(total, from + len); o < end; o += 64) _mm_prefetch(base + o, _MM_HINT_T0);
}
constexpr size_t kPrefetchRows = 128;

// Lane order of transpose16_centered <-> row order (the permutation is its own inverse).
NADIR_TARGET_AVX512 static inline __m512 unpermute16(__m512 v) { return _mm512_shuffle_f32x4(v, v, 0xD8); }
NADIR_TARGET_AVX512 static inline __m512i unpermute16(__m512i v) { return _mm512_shuffle_i32x4(v, v, 0xD8); }

// pump (may be null) transposes the next pass between groups of outputs; pre: t already holds
// this pass's full blocks, transposed.
template <int NB>
NADIR_TARGET_AVX512 static inline void blocks_avx512(const float* base, size_t nrows, size_t d,
                                                     const float* center, const float* w, size_t k,
                                                     bool lower, ProjReduce mode,
                                                     const float* weight, const float* scale,
                                                     float* out, float* t, __m512i gidx,
                                                     __m512i sidx, Pump<NB>* pump = nullptr,
                                                     bool pre = false) {
  constexpr size_t L = 16;
  const bool dist = mode == ProjReduce::Distance;
  __mmask16 m[NB];
  __m512 nz1[NB], acc[NB];
  for (int b = 0; b < NB; ++b) {
    size_t nb = std::min(L, nrows - b * L);
    m[b] = nb == L ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << nb) - 1u);
    nz1[b] = _mm512_setzero_ps();
    acc[b] = _mm512_setzero_ps();
  }
  // Block transpose: t[(j * NB + b) * 16 + lane] = feature j of one row of block b, centered: row
  // b * 16 + lane for a partial pass (masked gathers), row b * 16 + unpermute(lane) for full ones
  // (shuffles, see transpose16_centered).
  const bool permuted = nrows == NB * L;
  if (permuted) sidx = unpermute16(sidx);  // lane l holds row unpermute(l)
  if (permuted && !pre)
    for (int b = 0; b < NB; ++b) transpose16_centered(base + b * L * d, d, center, t + b * L, NB * L);
  if (!permuted || dist)
  for (size_t j = 0; j < d; ++j) {
    const __m512 c = _mm512_set1_ps(center[j]);
    for (int b = 0; b < NB; ++b) {
      __m512 v;
      if (permuted) {
        v = _mm512_load_ps(t + (j * NB + b) * L);
      } else {
        v = _mm512_sub_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), m[b], gidx, base + b * L * d + j, 4), c);
        _mm512_store_ps(t + (j * NB + b) * L, v);
      }
      if (dist) {
        __m512 u = _mm512_mul_ps(v, _mm512_set1_ps(scale[j]));
        nz1[b] = _mm512_fmadd_ps(u, u, nz1[b]);
      }
    }
  }
  for (int b = 0; b < NB; ++b) nz1[b] = _mm512_add_ps(nz1[b], _mm512_set1_ps(1.0f));
  size_t r = 0;
  // Four outputs at a time: each transposed vector is loaded once per four FMAs.
  for (; r + 4 <= k; r += 4) {
    const float* w0 = w + r * d;
    const float* w1 = w0 + d;
    const float* w2 = w1 + d;
    const float* w3 = w2 + d;
    // Lower triangular: columns below r feed all four outputs; the 4 x 4 triangle after them
    // is done term by term, skipping the zeros above the diagonal (their products add exact
    // zeros, so each output's chain of FMAs gives the same value as the full loop).
    size_t jend = lower ? r : d;
    __m512 a0[NB], a1[NB], a2[NB], a3[NB];
    for (int b = 0; b < NB; ++b) a0[b] = a1[b] = a2[b] = a3[b] = _mm512_setzero_ps();
    for (size_t j = 0; j < jend; ++j) {
      const __m512 b0 = _mm512_set1_ps(w0[j]), b1 = _mm512_set1_ps(w1[j]);
      const __m512 b2 = _mm512_set1_ps(w2[j]), b3 = _mm512_set1_ps(w3[j]);
      for (int b = 0; b < NB; ++b) {
        __m512 v = _mm512_load_ps(t + (j * NB + b) * L);
        a0[b] = _mm512_fmadd_ps(b0, v, a0[b]);
        a1[b] = _mm512_fmadd_ps(b1, v, a1[b]);
        a2[b] = _mm512_fmadd_ps(b2, v, a2[b]);
        a3[b] = _mm512_fmadd_ps(b3, v, a3[b]);
      }
    }
    if (lower) {
      for (int b = 0; b < NB; ++b) {
        const float* tj = t + (r * NB + b) * L;
        const __m512 v0 = _mm512_load_ps(tj), v1 = _mm512_load_ps(tj + NB * L);
        const __m512 v2 = _mm512_load_ps(tj + 2 * NB * L), v3 = _mm512_load_ps(tj + 3 * NB * L);
        a0[b] = _mm512_fmadd_ps(_mm512_set1_ps(w0[r]), v0, a0[b]);
        a1[b] = _mm512_fmadd_ps(_mm512_set1_ps(w1[r]), v0, a1[b]);
        a2[b] = _mm512_fmadd_ps(_mm512_set1_ps(w2[r]), v0, a2[b]);
        a3[b] = _mm512_fmadd_ps(_mm512_set1_ps(w3[r]), v0, a3[b]);
        a1[b] = _mm512_fmadd_ps(_mm512_set1_ps(w1[r + 1]), v1, a1[b]);
        a2[b] = _mm512_fmadd_ps(_mm512_set1_ps(w2[r + 1]), v1, a2[b]);
        a3[b] = _mm512_fmadd_ps(_mm512_set1_ps(w3[r + 1]), v1, a3[b]);
        a2[b] = _mm512_fmadd_ps(_mm512_set1_ps(w2[r + 2]), v2, a2[b]);
        a3[b] = _mm512_fmadd_ps(_mm512_set1_ps(w3[r + 2]), v2, a3[b]);
        a3[b] = _mm512_fmadd_ps(_mm512_set1_ps(w3[r + 3]), v3, a3[b]);
      }
    }
    for (int b = 0; b < NB; ++b) {
      if (mode == ProjReduce::Store) {
        float* o = out + (b * L) * k + r;
        _mm512_mask_i32scatter_ps(o, m[b], sidx, a0[b], 4);
        _mm512_mask_i32scatter_ps(o + 1, m[b], sidx, a1[b], 4);
        _mm512_mask_i32scatter_ps(o + 2, m[b], sidx, a2[b], 4);
        _mm512_mask_i32scatter_ps(o + 3, m[b], sidx, a3[b], 4);
      } else {
        acc[b] = reduce16(mode, a0[b], acc[b], nz1[b], dist ? weight[r] : 0);
        acc[b] = reduce16(mode, a1[b], acc[b], nz1[b], dist ? weight[r + 1] : 0);
        acc[b] = reduce16(mode, a2[b], acc[b], nz1[b], dist ? weight[r + 2] : 0);
        acc[b] = reduce16(mode, a3[b], acc[b], nz1[b], dist ? weight[r + 3] : 0);
      }
    }
    if (pump) pump->step();
  }
  for (; r < k; ++r) {
    const float* w0 = w + r * d;
    size_t jend = lower ? std::min(d, r + 1) : d;
    __m512 a0[NB];
    for (int b = 0; b < NB; ++b) a0[b] = _mm512_setzero_ps();
    for (size_t j = 0; j < jend; ++j) {
      const __m512 b0 = _mm512_set1_ps(w0[j]);
      for (int b = 0; b < NB; ++b) a0[b] = _mm512_fmadd_ps(b0, _mm512_load_ps(t + (j * NB + b) * L), a0[b]);
    }
    for (int b = 0; b < NB; ++b) {
      if (mode == ProjReduce::Store) _mm512_mask_i32scatter_ps(out + (b * L) * k + r, m[b], sidx, a0[b], 4);
      else acc[b] = reduce16(mode, a0[b], acc[b], nz1[b], dist ? weight[r] : 0);
    }
    if (pump) pump->step();
  }
  if (mode != ProjReduce::Store)
    for (int b = 0; b < NB; ++b) _mm512_mask_storeu_ps(out + b * L, m[b], permuted ? unpermute16(acc[b]) : acc[b]);
}

NADIR_TARGET_AVX512 static void project_rows_avx512(const float* x, size_t rows, size_t d,
                                                    const float* center, const float* w, size_t k,
                                                    bool lower, ProjReduce mode,
                                                    const float* weight, const float* scale,
                                                    float* out) {
  constexpr size_t L = 16;
  // Two buffers of 2 blocks: the pass being scored and the next one being transposed.
  alignas(64) float stack_buf[64 * 4 * L];
  std::vector<float> heap_buf;
  float* t = stack_buf;
  if (d > 64) {
    heap_buf.resize(d * 4 * L + 16);
    t = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(heap_buf.data()) + 63) & ~uintptr_t{63});
  }
  float* t2 = t + d * 2 * L;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i gidx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(d)));
  const __m512i sidx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(k)));
  const size_t stride = mode == ProjReduce::Store ? k : 1;
  size_t i = 0;
  const size_t passes = rows / (2 * L);
  if (passes > 0) {
    for (int b = 0; b < 2; ++b) transpose16_centered(x + b * L * d, d, center, t + b * L, 2 * L);
    for (size_t p = 0; p < passes; ++p, i += 2 * L) {
      prefetch_ahead(x, (i + kPrefetchRows) * d * sizeof(float), 2 * L * d * sizeof(float), rows * d * sizeof(float));
      Pump<2> pump{p + 1 < passes ? x + (i + 2 * L) * d : nullptr, d, center, t2};
      blocks_avx512<2>(x + i * d, 2 * L, d, center, w, k, lower, mode, weight, scale, out + i * stride, t, gidx, sidx, &pump, true);
      pump.finish();
      std::swap(t, t2);
    }
  }
  for (; i + L < rows; i += 2 * L)
    blocks_avx512<2>(x + i * d, std::min(2 * L, rows - i), d, center, w, k, lower, mode, weight, scale, out + i * stride, t, gidx, sidx);
  if (i < rows)
    blocks_avx512<1>(x + i * d, rows - i, d, center, w, k, lower, mode, weight, scale, out + i * stride, t, gidx, sidx);
}

// ---------------------------------------------------------------- AVX2: 8 rows per vector

NADIR_TARGET_AVX2 static inline __m256 reduce8(ProjReduce mode, __m256 p, __m256 acc, __m256 nz1,
                                               float wr) {
  if (mode == ProjReduce::SumSquares) return _mm256_fmadd_ps(p, p, acc);
  __m256 q = _mm256_max_ps(_mm256_fnmadd_ps(_mm256_set1_ps(2.0f), p, nz1), _mm256_setzero_ps());
  return _mm256_fmadd_ps(_mm256_set1_ps(wr), _mm256_sqrt_ps(q), acc);
}

NADIR_TARGET_AVX2 static void store8(float* o, size_t nb, size_t stride, __m256 v) {
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  for (size_t l = 0; l < nb; ++l) o[l * stride] = tmp[l];
}

// Features [h, h + 8) of the 8 rows at x (fewer at the end of a row, read with masked loads),
// centered: t[j * stride + lane] = x[lane * d + j] - center[j]. An 8 x 8 transpose of whole 256-bit
// row loads: unpacks, shuffles, then one 128-bit lane permute per feature (3 shuffle operations
// per feature, no inserts). Returns the next h.
NADIR_TARGET_AVX2 static inline size_t transpose8_group(const float* x, size_t d, const float* center,
                                                        float* t, size_t stride, size_t h) {
  const size_t w = std::min<size_t>(8, d - h);
  __m256 a[8], u[8];
  if (w == 8) {
    for (int k = 0; k < 8; ++k) a[k] = _mm256_loadu_ps(x + k * d + h);
  } else {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(w)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int k = 0; k < 8; ++k) a[k] = _mm256_maskload_ps(x + k * d + h, m);
  }
  for (int q = 0; q < 8; q += 4) {
    // u[q + m]: rows q..q+3 of feature h+m in the low 128 bits, of feature h+m+4 in the high.
    const __m256 lo01 = _mm256_unpacklo_ps(a[q], a[q + 1]), hi01 = _mm256_unpackhi_ps(a[q], a[q + 1]);
    const __m256 lo23 = _mm256_unpacklo_ps(a[q + 2], a[q + 3]), hi23 = _mm256_unpackhi_ps(a[q + 2], a[q + 3]);
    u[q] = _mm256_shuffle_ps(lo01, lo23, 0x44);
    u[q + 1] = _mm256_shuffle_ps(lo01, lo23, 0xEE);
    u[q + 2] = _mm256_shuffle_ps(hi01, hi23, 0x44);
    u[q + 3] = _mm256_shuffle_ps(hi01, hi23, 0xEE);
  }
  t += h * stride;
  for (size_t m = 0; m < 4 && m < w; ++m) {
    _mm256_store_ps(t + m * stride, _mm256_sub_ps(_mm256_permute2f128_ps(u[m], u[m + 4], 0x20), _mm256_set1_ps(center[h + m])));
    if (m + 4 < w)
      _mm256_store_ps(t + (m + 4) * stride, _mm256_sub_ps(_mm256_permute2f128_ps(u[m], u[m + 4], 0x31), _mm256_set1_ps(center[h + m + 4])));
  }
  return h + w;
}

NADIR_TARGET_AVX2 static inline void transpose8_centered(const float* x, size_t d, const float* center,
                                                         float* t, size_t stride) {
  for (size_t h = 0; h < d;) h = transpose8_group(x, d, center, t, stride, h);
}

// Pump for the 8-row kernel (see Pump): transposes the next pass a group at a time.
template <int NB>
struct Pump8 {
  const float* x;  // null: nothing to do
  size_t d;
  const float* center;
  float* t;
  int b = 0;
  size_t h = 0;
  NADIR_TARGET_AVX2 void step() {
    if (!x || b == NB) return;
    h = transpose8_group(x + b * 8 * d, d, center, t + b * 8, NB * 8, h);
    if (h == d) h = 0, ++b;
  }
  NADIR_TARGET_AVX2 void finish() {
    while (x && b < NB) step();
  }
};

// NB blocks of 8 rows already transposed in t (t[(j * NB + b) * 8 + lane]); rows [0, nvalid) of
// them are real (the rest padding, not stored). Same per-lane operations as the 16-row kernel.
template <int NB>
NADIR_TARGET_AVX2 static inline void blocks8(size_t nvalid, size_t d, const float* w, size_t k,
                                             bool lower, ProjReduce mode, const float* weight,
                                             const float* scale, float* out, const float* t,
                                             Pump8<NB>* pump) {
  constexpr size_t L = 8;
  const bool dist = mode == ProjReduce::Distance;
  __m256 nz1[NB], acc[NB];
  for (int b = 0; b < NB; ++b) {
    nz1[b] = _mm256_setzero_ps();
    acc[b] = _mm256_setzero_ps();
  }
  if (dist) {
    for (size_t j = 0; j < d; ++j)
      for (int b = 0; b < NB; ++b) {
        __m256 u = _mm256_mul_ps(_mm256_load_ps(t + (j * NB + b) * L), _mm256_set1_ps(scale[j]));
        nz1[b] = _mm256_fmadd_ps(u, u, nz1[b]);
      }
    for (int b = 0; b < NB; ++b) nz1[b] = _mm256_add_ps(nz1[b], _mm256_set1_ps(1.0f));
  }
  auto rows_of = [&](int b) { return nvalid >= (b + 1) * L ? L : nvalid > b * L ? nvalid - b * L : 0; };
  size_t r = 0;
  for (; r + 4 <= k; r += 4) {
    const float* w0 = w + r * d;
    const float* w1 = w0 + d;
    const float* w2 = w1 + d;
    const float* w3 = w2 + d;
    // As in the 16-row kernel: the triangle after column r skips the zeros above the diagonal.
    size_t jend = lower ? r : d;
    __m256 a0[NB], a1[NB], a2[NB], a3[NB];
    for (int b = 0; b < NB; ++b) a0[b] = a1[b] = a2[b] = a3[b] = _mm256_setzero_ps();
    for (size_t j = 0; j < jend; ++j) {
      const __m256 b0 = _mm256_set1_ps(w0[j]), b1 = _mm256_set1_ps(w1[j]);
      const __m256 b2 = _mm256_set1_ps(w2[j]), b3 = _mm256_set1_ps(w3[j]);
      for (int b = 0; b < NB; ++b) {
        __m256 v = _mm256_load_ps(t + (j * NB + b) * L);
        a0[b] = _mm256_fmadd_ps(b0, v, a0[b]);
        a1[b] = _mm256_fmadd_ps(b1, v, a1[b]);
        a2[b] = _mm256_fmadd_ps(b2, v, a2[b]);
        a3[b] = _mm256_fmadd_ps(b3, v, a3[b]);
      }
    }
    if (lower) {
      for (int b = 0; b < NB; ++b) {
        const float* tj = t + (r * NB + b) * L;
        const __m256 v0 = _mm256_load_ps(tj), v1 = _mm256_load_ps(tj + NB * L);
        const __m256 v2 = _mm256_load_ps(tj + 2 * NB * L), v3 = _mm256_load_ps(tj + 3 * NB * L);
        a0[b] = _mm256_fmadd_ps(_mm256_set1_ps(w0[r]), v0, a0[b]);
        a1[b] = _mm256_fmadd_ps(_mm256_set1_ps(w1[r]), v0, a1[b]);
        a2[b] = _mm256_fmadd_ps(_mm256_set1_ps(w2[r]), v0, a2[b]);
        a3[b] = _mm256_fmadd_ps(_mm256_set1_ps(w3[r]), v0, a3[b]);
        a1[b] = _mm256_fmadd_ps(_mm256_set1_ps(w1[r + 1]), v1, a1[b]);
        a2[b] = _mm256_fmadd_ps(_mm256_set1_ps(w2[r + 1]), v1, a2[b]);
        a3[b] = _mm256_fmadd_ps(_mm256_set1_ps(w3[r + 1]), v1, a3[b]);
        a2[b] = _mm256_fmadd_ps(_mm256_set1_ps(w2[r + 2]), v2, a2[b]);
        a3[b] = _mm256_fmadd_ps(_mm256_set1_ps(w3[r + 2]), v2, a3[b]);
        a3[b] = _mm256_fmadd_ps(_mm256_set1_ps(w3[r + 3]), v3, a3[b]);
      }
    }
    for (int b = 0; b < NB; ++b) {
      if (mode == ProjReduce::Store) {
        float* o = out + (b * L) * k + r;
        size_t nb = rows_of(b);
        store8(o, nb, k, a0[b]);
        store8(o + 1, nb, k, a1[b]);
        store8(o + 2, nb, k, a2[b]);
        store8(o + 3, nb, k, a3[b]);
      } else {
        acc[b] = reduce8(mode, a0[b], acc[b], nz1[b], dist ? weight[r] : 0);
        acc[b] = reduce8(mode, a1[b], acc[b], nz1[b], dist ? weight[r + 1] : 0);
        acc[b] = reduce8(mode, a2[b], acc[b], nz1[b], dist ? weight[r + 2] : 0);
        acc[b] = reduce8(mode, a3[b], acc[b], nz1[b], dist ? weight[r + 3] : 0);
      }
    }
    if (pump) pump->step();
  }
  for (; r < k; ++r) {
    const float* w0 = w + r * d;
    size_t jend = lower ? std::min(d, r + 1) : d;
    __m256 a0[NB];
    for (int b = 0; b < NB; ++b) a0[b] = _mm256_setzero_ps();
    for (size_t j = 0; j < jend; ++j) {
      const __m256 b0 = _mm256_set1_ps(w0[j]);
      for (int b = 0; b < NB; ++b) a0[b] = _mm256_fmadd_ps(b0, _mm256_load_ps(t + (j * NB + b) * L), a0[b]);
    }
    for (int b = 0; b < NB; ++b) {
      if (mode == ProjReduce::Store) store8(out + (b * L) * k + r, rows_of(b), k, a0[b]);
      else acc[b] = reduce8(mode, a0[b], acc[b], nz1[b], dist ? weight[r] : 0);
    }
    if (pump) pump->step();
  }
  if (mode != ProjReduce::Store)
    for (int b = 0; b < NB; ++b) {
      size_t nb = rows_of(b);
      if (nb == L) _mm256_storeu_ps(out + b * L, acc[b]);
      else store8(out + b * L, nb, 1, acc[b]);
    }
}

// The 8-row kernel over all rows: passes of NB blocks, the next pass transposed while the current
// one is scored; the last rows (fewer than a pass) are copied into a zero-padded pass.
template <int NB>
NADIR_TARGET_AVX2 static inline void rows8(const float* x, size_t rows, size_t d, const float* center,
                                           const float* w, size_t k, bool lower, ProjReduce mode,
                                           const float* weight, const float* scale, float* out) {
  constexpr size_t P = NB * 8;
  alignas(32) float stack_buf[64 * 2 * P];
  std::vector<float> heap_buf;
  float* t = stack_buf;
  if (d > 64) {
    heap_buf.resize(d * 2 * P + 8);
    t = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(heap_buf.data()) + 31) & ~uintptr_t{31});
  }
  float* t2 = t + d * P;
  const size_t stride = mode == ProjReduce::Store ? k : 1;
  const size_t passes = rows / P;
  size_t i = 0;
  if (passes > 0) {
    for (int b = 0; b < NB; ++b) transpose8_centered(x + b * 8 * d, d, center, t + b * 8, P);
    for (size_t p = 0; p < passes; ++p, i += P) {
      prefetch_ahead(x, (i + kPrefetchRows) * d * sizeof(float), P * d * sizeof(float), rows * d * sizeof(float));
      Pump8<NB> pump{p + 1 < passes ? x + (i + P) * d : nullptr, d, center, t2};
      blocks8<NB>(P, d, w, k, lower, mode, weight, scale, out + i * stride, t, &pump);
      pump.finish();
      std::swap(t, t2);
    }
  }
  if (i < rows) {
    std::vector<float> pad(P * d, 0.0f);
    std::copy(x + i * d, x + rows * d, pad.begin());
    for (int b = 0; b < NB; ++b) transpose8_centered(pad.data() + b * 8 * d, d, center, t + b * 8, P);
    blocks8<NB>(rows - i, d, w, k, lower, mode, weight, scale, out + i * stride, t, nullptr);
  }
}

NADIR_TARGET_AVX2 static void project_rows_avx2(const float* x, size_t rows, size_t d,
                                                const float* center, const float* w, size_t k,
                                                bool lower, ProjReduce mode, const float* weight,
                                                const float* scale, float* out) {
  rows8<2>(x, rows, d, center, w, k, lower, mode, weight, scale, out);
}

// ---------------------------------------------------------------- few rows: outputs in lanes

// Shared scalar tail of the few-rows path: the per-row reduction over r in order, with the same
// single-rounding operations the vector kernels use (FMA, fused 2p subtraction, sqrt).
NADIR_TARGET_AVX2 static float reduce_outputs(ProjReduce mode, const float* p, size_t k,
                                              const float* weight, float nz1) {
  __m128 acc = _mm_setzero_ps();
  for (size_t r = 0; r < k; ++r) {
    __m128 pr = _mm_set_ss(p[r]);
    if (mode == ProjReduce::SumSquares) {
      acc = _mm_fmadd_ss(pr, pr, acc);
    } else {
      __m128 q = _mm_max_ss(_mm_fnmadd_ss(_mm_set_ss(2.0f), pr, _mm_set_ss(nz1)), _mm_setzero_ps());
      acc = _mm_fmadd_ss(_mm_set_ss(weight[r]), _mm_sqrt_ss(q), acc);
    }
  }
  return _mm_cvtss_f32(acc);
}

// Centered row and |scale * z|^2 + 1, in the vector kernels' order of operations.
NADIR_TARGET_AVX2 static float center_row(const float* xi, size_t d, const float* center,
                                          const float* scale, bool dist, float* z) {
  __m128 nz = _mm_setzero_ps();
  for (size_t j = 0; j < d; ++j) {
    __m128 v = _mm_sub_ss(_mm_set_ss(xi[j]), _mm_set_ss(center[j]));
    z[j] = _mm_cvtss_f32(v);
    if (dist) {
      __m128 u = _mm_mul_ss(v, _mm_set_ss(scale[j]));
      nz = _mm_fmadd_ss(u, u, nz);
    }
  }
  return _mm_cvtss_f32(_mm_add_ss(nz, _mm_set_ss(1.0f)));
}

NADIR_TARGET_AVX512 static void project_few_avx512(const float* x, size_t rows, size_t d,
                                                   const float* center, const float* wt, size_t k,
                                                   bool lower, ProjReduce mode,
                                                   const float* weight, const float* scale,
                                                   float* out) {
  // Stack buffers for the usual sizes: this path exists for latency.
  float zs[64], ps[64 + 8];
  std::vector<float> zh, ph;
  float* z = d <= 64 ? zs : (zh.resize(d), zh.data());
  float* p = k <= 64 ? ps : (ph.resize(k + 8), ph.data());
  const bool dist = mode == ProjReduce::Distance;
  for (size_t i = 0; i < rows; ++i) {
    float nz1 = center_row(x + i * d, d, center, scale, dist, z);
    for (size_t r0 = 0; r0 < k; r0 += 16) {
      size_t nr = std::min<size_t>(16, k - r0);
      __mmask16 m = nr == 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << nr) - 1u);
      size_t jend = lower ? std::min(d, r0 + 16) : d;
      __m512 a = _mm512_setzero_ps();
      for (size_t j = 0; j < jend; ++j)
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, wt + j * k + r0), _mm512_set1_ps(z[j]), a);
      _mm512_mask_storeu_ps(p + r0, m, a);
    }
    if (mode == ProjReduce::Store) std::copy(p, p + k, out + i * k);
    else out[i] = reduce_outputs(mode, p, k, weight, nz1);
  }
}

NADIR_TARGET_AVX2 static void project_few_avx2(const float* x, size_t rows, size_t d,
                                               const float* center, const float* wt, size_t k,
                                               bool lower, ProjReduce mode, const float* weight,
                                               const float* scale, float* out) {
  float zs[64], ps[64 + 8];
  std::vector<float> zh, ph;
  float* z = d <= 64 ? zs : (zh.resize(d), zh.data());
  float* p = k <= 64 ? ps : (ph.resize(k + 8), ph.data());
  const bool dist = mode == ProjReduce::Distance;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t i = 0; i < rows; ++i) {
    float nz1 = center_row(x + i * d, d, center, scale, dist, z);
    for (size_t r0 = 0; r0 < k; r0 += 8) {
      size_t nr = std::min<size_t>(8, k - r0);
      __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nr)), lane);
      size_t jend = lower ? std::min(d, r0 + 8) : d;
      __m256 a = _mm256_setzero_ps();
      for (size_t j = 0; j < jend; ++j)
        a = _mm256_fmadd_ps(_mm256_maskload_ps(wt + j * k + r0, m), _mm256_set1_ps(z[j]), a);
      _mm256_storeu_ps(p + r0, a);
    }
    if (mode == ProjReduce::Store) std::copy(p, p + k, out + i * k);
    else out[i] = reduce_outputs(mode, p, k, weight, nz1);
  }
}
#endif  // NADIR_X86

// ---------------------------------------------------------------- dispatch

void project_rows(const float* x, size_t rows, size_t d, const float* center, const float* w,
                  size_t k, bool lower, ProjReduce mode, const float* weight, const float* scale,
                  float* out) {
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return project_rows_avx512(x, rows, d, center, w, k, lower, mode, weight, scale, out);
    case Isa::Avx2: return project_rows_avx2(x, rows, d, center, w, k, lower, mode, weight, scale, out);
    default: break;
  }
#endif
  project_rows_scalar(x, rows, d, center, w, k, lower, mode, weight, scale, out);
}

void project_rows_few(const float* x, size_t rows, size_t d, const float* center, const float* w,
                      const float* wt, size_t k, bool lower, ProjReduce mode, const float* weight,
                      const float* scale, float* out) {
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return project_few_avx512(x, rows, d, center, wt, k, lower, mode, weight, scale, out);
    case Isa::Avx2: return project_few_avx2(x, rows, d, center, wt, k, lower, mode, weight, scale, out);
    default: break;
  }
#endif
  project_rows_scalar(x, rows, d, center, w, k, lower, mode, weight, scale, out);
}

void project_rows_parallel(const float* x, size_t rows, size_t d, const float* center,
                           const float* w, size_t k, bool lower, ProjReduce mode,
                           const float* weight, const float* scale, float* out, int threads) {
  // Below ~64k multiply-adds per thread the thread start costs more than it saves.
  size_t work = rows * d * std::max<size_t>(k, 1);
  int t = std::min<int>(resolve_threads(threads), static_cast<int>(std::max<size_t>(1, work / 65536)));
  size_t blocks = (rows + 15) / 16;
  size_t out_stride = mode == ProjReduce::Store ? k : 1;
  parallel_for(blocks, t, [&](size_t b, size_t e, int) {
    size_t r0 = b * 16, r1 = std::min(rows, e * 16);
    project_rows(x + r0 * d, r1 - r0, d, center, w, k, lower, mode, weight, scale, out + r0 * out_stride);
  });
}

// ---------------------------------------------------------------- explanations (double)

void quadratic_contributions(const float* x, size_t rows, size_t d, const float* center,
                             const float* w, size_t k, float* out) {
  std::vector<double> z(d), y(k), q(d);
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < d; ++j) z[j] = static_cast<double>(x[i * d + j]) - center[j];
    for (size_t r = 0; r < k; ++r) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) s += static_cast<double>(w[r * d + j]) * z[j];
      y[r] = s;
    }
    std::fill(q.begin(), q.end(), 0.0);
    for (size_t r = 0; r < k; ++r)
      for (size_t j = 0; j < d; ++j) q[j] += static_cast<double>(w[r * d + j]) * y[r];
    for (size_t j = 0; j < d; ++j) out[i * d + j] = static_cast<float>(z[j] * q[j]);
  }
}

void distance_contributions(const float* x, size_t rows, size_t d, const float* center,
                            const float* scale, const float* v, size_t k, const float* weight,
                            float* out) {
  std::vector<double> u(d), c(d);
  for (size_t i = 0; i < rows; ++i) {
    double nu = 0;
    for (size_t j = 0; j < d; ++j) {
      u[j] = (static_cast<double>(x[i * d + j]) - center[j]) * scale[j];
      nu += u[j] * u[j];
    }
    std::fill(c.begin(), c.end(), 0.0);
    for (size_t r = 0; r < k; ++r) {
      const float* vr = v + r * d;
      double dist2 = 0;
      for (size_t j = 0; j < d; ++j) {
        double t = u[j] - vr[j];
        dist2 += t * t;
      }
      double dist = std::sqrt(dist2);
      if (!(dist > 0)) continue;  // the row sits on the component: a zero term
      double f = weight[r] / dist;
      for (size_t j = 0; j < d; ++j) {
        double t = u[j] - vr[j];
        c[j] += f * t * t;
      }
    }
    for (size_t j = 0; j < d; ++j) out[i * d + j] = static_cast<float>(c[j]);
  }
}

void pca_reconstruction_error(const float* x, size_t rows, size_t d, const float* center,
                              const float* scale, const float* v, size_t k, float* out,
                              float* contrib, int threads, const float* vt) {
  constexpr size_t B = 64;
  size_t blocks = (rows + B - 1) / B;
  int t = std::min<int>(resolve_threads(threads), static_cast<int>(std::max<size_t>(1, rows * d * k / 65536)));
  parallel_for(blocks, t, [&](size_t b, size_t e, int) {
    std::vector<float> u(B * d), p(B * std::max<size_t>(k, 1)), rec(B * d), zero(d, 0.0f);
    for (size_t blk = b; blk < e; ++blk) {
      size_t r0 = blk * B, nb = std::min(B, rows - r0);
      const float* xb = x + r0 * d;
      for (size_t i = 0; i < nb; ++i)
        for (size_t j = 0; j < d; ++j) u[i * d + j] = (xb[i * d + j] - center[j]) * scale[j];
      std::fill(rec.begin(), rec.begin() + nb * d, 0.0f);
      if (k > 0) {
        if (vt && nb <= 4)
          project_rows_few(u.data(), nb, d, zero.data(), v, vt, k, false, ProjReduce::Store, nullptr, nullptr, p.data());
        else
          project_rows(u.data(), nb, d, zero.data(), v, k, false, ProjReduce::Store, nullptr, nullptr, p.data());
        for (size_t i = 0; i < nb; ++i) {
          float* ri = rec.data() + i * d;
          for (size_t r = 0; r < k; ++r) {
            float pr = p[i * k + r];
            const float* vr = v + r * d;
            for (size_t j = 0; j < d; ++j) ri[j] += pr * vr[j];
          }
        }
      }
      recon_error(u.data(), rec.data(), nb, d, ErrorKind::Squared, out + r0,
                  contrib ? contrib + r0 * d : nullptr);
    }
  });
}

}  // namespace nadir
