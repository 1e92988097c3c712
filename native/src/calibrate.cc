#include "nadir/calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "nadir/cpu.h"
#if NADIR_X86
#include <immintrin.h>
#endif

namespace nadir {

double nadir_erf(double x) {
  double z = std::fabs(x);
  double t = 1 / (1 + 0.5 * z);
  double r = t * std::exp(-z * z - 1.26551223 +
                          t * (1.00002368 +
                               t * (0.37409196 +
                                    t * (0.09678418 +
                                         t * (-0.18628806 +
                                              t * (0.27886807 +
                                                   t * (-1.13520398 +
                                                        t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

namespace {

// The ecdf of one row from the position of the last knot <= v (the same arithmetic everywhere).
inline double ecdf_at(const float* q, size_t n, double v, size_t lo) {
  if (!(v > q[0])) return 0;
  if (v >= q[n - 1]) return 1;
  size_t hi = std::min(n - 1, lo + 1);
  double span = static_cast<double>(q[hi]) - q[lo];
  return (static_cast<double>(lo) + (span > 0 ? (v - q[lo]) / span : 0)) / static_cast<double>(n - 1);
}

// Interpolated rank of s among the knots; branchless search for the last knot <= s (ties resolve
// to the upper end of a flat run, as the TypeScript reference).
inline double ecdf(const float* q, size_t n, double s) {
  if (!(s > q[0])) return 0;
  if (s >= q[n - 1]) return 1;
  const float* base = q;
  size_t len = n;
  while (len > 1) {
    size_t half = len / 2;
    base = (static_cast<double>(base[half]) <= s) ? base + half : base;
    len -= half;
  }
  return ecdf_at(q, n, s, static_cast<size_t>(base - q));
}

// ecdf of 8 rows at once: the search schedule depends only on n, so the 8 searches run in lockstep
// and their independent loads overlap (the single search is latency-bound).
inline void ecdf8(const float* q, size_t n, const float* s, double* out) {
  size_t pos[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t len = n;
  while (len > 1) {
    size_t half = len / 2;
    for (int r = 0; r < 8; r++) pos[r] = (static_cast<double>(q[pos[r] + half]) <= static_cast<double>(s[r])) ? pos[r] + half : pos[r];
    len -= half;
  }
  for (int r = 0; r < 8; r++) out[r] = ecdf_at(q, n, s[r], pos[r]);
}

inline float finish(double e, double s, double w, double mean, double sd, bool tie_break) {
  if (tie_break) {
    double z = (s - mean) / sd;
    e = (1 - w) * e + w * (0.5 + 0.5 * z / (1 + std::fabs(z)));
  }
  return static_cast<float>(e);
}

#if NADIR_X86
// Tables of up to 1024 knots (1001 for every detector's calibration) located by counting instead of
// a binary search: the last knot <= v is (number of knots <= v) - 1. Level 1 counts the block
// starts q[32 k] <= v (k >= 1) among 32 splitters, giving v's block b; level 2 counts the knots <= v
// in that block. Knots past the end are +inf. Same positions as the binary search, flat runs included.
struct CountTable {
  static constexpr size_t kMax = 1024;
  alignas(64) float splitters[32];
  alignas(64) float knots[kMax];
  explicit CountTable(const float* q, size_t n) {
    const float inf = std::numeric_limits<float>::infinity();
    for (size_t k = 0; k < kMax; k++) knots[k] = k < n ? q[k] : inf;
    splitters[0] = inf;  // block 0 needs no splitter
    for (size_t k = 1; k < 32; k++) splitters[k] = knots[32 * k];
  }
};

#define NADIR_TARGET_AVX2_POPCNT __attribute__((target("avx2,fma,popcnt")))
#define NADIR_TARGET_AVX512_POPCNT __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,popcnt")))

NADIR_TARGET_AVX2_POPCNT static inline uint32_t count_le_avx2(const float* t, __m256 v) {
  const uint32_t m0 = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(t), v, _CMP_LE_OQ)));
  const uint32_t m1 = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(t + 8), v, _CMP_LE_OQ)));
  const uint32_t m2 = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(t + 16), v, _CMP_LE_OQ)));
  const uint32_t m3 = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(t + 24), v, _CMP_LE_OQ)));
  return static_cast<uint32_t>(_mm_popcnt_u32(m0 | (m1 << 8) | (m2 << 16) | (m3 << 24)));
}

// Position of the last knot <= s[i] for in-range rows (others get some position, unused).
NADIR_TARGET_AVX2_POPCNT static void positions_avx2(const CountTable& t, const float* s, size_t count, uint32_t* pos) {
  for (size_t i = 0; i < count; i++) {
    const __m256 v = _mm256_set1_ps(s[i]);
    const uint32_t b = count_le_avx2(t.splitters, v);
    const uint32_t c = count_le_avx2(t.knots + 32 * b, v);
    pos[i] = 32 * b + (c > 0 ? c - 1 : 0);
  }
}

NADIR_TARGET_AVX512_POPCNT static inline uint32_t count_le_avx512(const float* t, __m512 v) {
  const uint32_t m0 = _mm512_cmp_ps_mask(_mm512_load_ps(t), v, _CMP_LE_OQ);
  const uint32_t m1 = _mm512_cmp_ps_mask(_mm512_load_ps(t + 16), v, _CMP_LE_OQ);
  return static_cast<uint32_t>(_mm_popcnt_u32(m0 | (m1 << 16)));
}

NADIR_TARGET_AVX512_POPCNT static void positions_avx512(const CountTable& t, const float* s, size_t count, uint32_t* pos) {
  for (size_t i = 0; i < count; i++) {
    const __m512 v = _mm512_set1_ps(s[i]);
    const uint32_t b = count_le_avx512(t.splitters, v);
    const uint32_t c = count_le_avx512(t.knots + 32 * b, v);
    pos[i] = 32 * b + (c > 0 ? c - 1 : 0);
  }
}

// finish(ecdf_at(...)) for 8 rows at a time: the same double operations in the same order (the
// products are kept out of fused multiply-adds, which the scalar build never forms), so the result is
// bit-identical; it replaces three scalar divisions per row. pos: as positions_* gives them.
NADIR_TARGET_AVX512_POPCNT static void finish_avx512(const float* q, size_t n, const float* s, const uint32_t* pos, size_t count,
                                                     float* out, double w, double mean, double sd, bool tie_break) {
  const __m256i last = _mm256_set1_epi32(static_cast<int>(n - 1)), one = _mm256_set1_epi32(1);
  const __m512d q0 = _mm512_set1_pd(q[0]), qn = _mm512_set1_pd(q[n - 1]), n1 = _mm512_set1_pd(static_cast<double>(n - 1));
  const __m512d zero = _mm512_setzero_pd(), ones = _mm512_set1_pd(1), half = _mm512_set1_pd(0.5);
  const __m512d wv = _mm512_set1_pd(w), w1 = _mm512_set1_pd(1 - w), mv = _mm512_set1_pd(mean), sdv = _mm512_set1_pd(sd);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(s + i));
    // Rows out of range may carry any position: clamp it so the gathers stay inside q.
    const __m256i lo = _mm256_min_epu32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(pos + i)), last);
    const __m256i hi = _mm256_min_epu32(_mm256_add_epi32(lo, one), last);
    const __m512d qlo = _mm512_cvtps_pd(_mm256_i32gather_ps(q, lo, 4));
    const __m512d span = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_i32gather_ps(q, hi, 4)), qlo);
    const __m512d frac = _mm512_maskz_div_pd(_mm512_cmp_pd_mask(span, zero, _CMP_GT_OQ), _mm512_sub_pd(v, qlo), span);
    __m512d e = _mm512_div_pd(_mm512_add_pd(_mm512_cvtepu32_pd(lo), frac), n1);
    e = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, qn, _CMP_GE_OQ), e, ones);
    e = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, q0, _CMP_NGT_UQ), e, zero);  // !(v > q[0]), NaN included
    if (tie_break) {
      const __m512d z = _mm512_div_pd(_mm512_sub_pd(v, mv), sdv);
      const __m512d absz = _mm512_castsi512_pd(_mm512_andnot_si512(_mm512_castpd_si512(_mm512_set1_pd(-0.0)), _mm512_castpd_si512(z)));
      __m512d hz = _mm512_mul_pd(half, z);
      asm("" : "+v"(hz));
      __m512d a = _mm512_mul_pd(w1, e);
      __m512d b = _mm512_mul_pd(wv, _mm512_add_pd(half, _mm512_div_pd(hz, _mm512_add_pd(ones, absz))));
      asm("" : "+v"(a), "+v"(b));
      e = _mm512_add_pd(a, b);
    }
    _mm256_storeu_ps(out + i, _mm512_cvtpd_ps(e));
  }
  for (; i < count; i++) out[i] = finish(ecdf_at(q, n, s[i], pos[i]), s[i], w, mean, sd, tie_break);
}
#endif

// Scalar reference: binary searches, 8 rows in lockstep.
inline void ecdf_all_scalar(const float* q, size_t n, const float* scores, size_t count, float* out, double w,
                            double mean, double sd, bool tie_break) {
  double tmp8[8];
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    ecdf8(q, n, scores + i, tmp8);
    for (int r = 0; r < 8; r++) out[i + r] = finish(tmp8[r], scores[i + r], w, mean, sd, tie_break);
  }
  for (; i < count; i++) out[i] = finish(ecdf(q, n, scores[i]), scores[i], w, mean, sd, tie_break);
}

inline void ecdf_all(const float* q, size_t n, const float* scores, size_t count, float* out, double w, double mean,
                     double sd, bool tie_break) {
#if NADIR_X86
  const Isa isa = active_isa();
  // Building the table costs about 1000 copies: worth it from a few dozen rows.
  if (isa != Isa::Scalar && n <= CountTable::kMax && count >= 32) {
    CountTable t(q, n);
    uint32_t pos[256];
    for (size_t i = 0; i < count; i += 256) {
      const size_t m = std::min<size_t>(256, count - i);
      if (isa == Isa::Avx512) {
        positions_avx512(t, scores + i, m, pos);
        finish_avx512(q, n, scores + i, pos, m, out + i, w, mean, sd, tie_break);
        continue;
      }
      positions_avx2(t, scores + i, m, pos);
      for (size_t r = 0; r < m; r++) out[i + r] = finish(ecdf_at(q, n, scores[i + r], pos[r]), scores[i + r], w, mean, sd, tie_break);
    }
    return;
  }
#endif
  ecdf_all_scalar(q, n, scores, count, out, w, mean, sd, tie_break);
}

}  // namespace

void calibrate_scores(const float* scores, size_t count, const float* q, size_t n, double mean, double std_dev,
                      CalibrationKind kind, double w, float* out) {
  const double sd = std_dev > 0 ? std_dev : 1;
  switch (kind) {
    case CalibrationKind::kEcdf:
      ecdf_all(q, n, scores, count, out, 0, mean, sd, false);
      break;
    case CalibrationKind::kZscore:
      for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(0.5 * (1 + nadir_erf((scores[i] - mean) / sd / std::sqrt(2.0))));
      break;
    case CalibrationKind::kUnify:
      for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(std::max(0.0, nadir_erf((scores[i] - mean) / (sd * std::sqrt(2.0)))));
      break;
    case CalibrationKind::kMinmax: {
      double lo = q[0];
      double span = static_cast<double>(q[n - 1]) - lo;
      for (size_t i = 0; i < count; i++)
        out[i] = span > 0 ? static_cast<float>(std::min(1.0, std::max(0.0, (scores[i] - lo) / span))) : 0.0f;
      break;
    }
    case CalibrationKind::kTieBreak:
      ecdf_all(q, n, scores, count, out, w, mean, sd, true);
      break;
  }
}

}  // namespace nadir
