#include "nadir/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "nadir/cpu.h"
#if NADIR_X86
#include <immintrin.h>
#endif

namespace nadir {

// ---------------------------------------------------------------- scalar references

double sum_f32_scalar(const float* x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  return s;
}

int64_t first_non_finite_scalar(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

void recon_error_scalar(const float* x, const float* r, size_t rows, size_t cols, ErrorKind kind,
                        float* out, float* contrib) {
  for (size_t i = 0; i < rows; ++i) {
    const float* xi = x + i * cols;
    const float* ri = r + i * cols;
    float s = 0;
    for (size_t j = 0; j < cols; ++j) {
      float d = xi[j] - ri[j];
      float e = kind == ErrorKind::Squared ? d * d : std::fabs(d);
      if (contrib) contrib[i * cols + j] = e;
      s += e;
    }
    out[i] = s;
  }
}

#if NADIR_X86
// ---------------------------------------------------------------- AVX2

NADIR_TARGET_AVX2 static double hsum256d(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m256d a = _mm256_add_pd(_mm256_cvtps_pd(lo), _mm256_cvtps_pd(hi));
  __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

NADIR_TARGET_AVX2 static float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

NADIR_TARGET_AVX2 static double sum_f32_avx2(const float* x, size_t n) {
  // Blocks of 4096 floats accumulate in float lanes and are folded into double, so precision
  // stays close to the double reference without slowing the inner loop.
  double total = 0;
  size_t i = 0;
  while (i + 32 <= n) {
    size_t end = i + std::min<size_t>(4096, (n - i) & ~size_t{31});
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; i < end; i += 32) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    total += hsum256d(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  }
  for (; i < n; ++i) total += x[i];
  return total;
}

NADIR_TARGET_AVX2 static int64_t first_non_finite_avx2(const float* x, size_t n) {
  const __m256i expmask = _mm256_set1_epi32(0x7f800000);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), expmask);
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(v, expmask))) break;
  }
  for (; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

NADIR_TARGET_AVX2 static void recon_error_avx2(const float* x, const float* r, size_t rows,
                                               size_t cols, ErrorKind kind, float* out,
                                               float* contrib) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const bool sq = kind == ErrorKind::Squared;
  size_t tail = cols % 8;
  alignas(32) int32_t maskbits[8];
  for (int k = 0; k < 8; ++k) maskbits[k] = k < static_cast<int>(tail) ? -1 : 0;
  const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(maskbits));
  for (size_t i = 0; i < rows; ++i) {
    const float* xi = x + i * cols;
    const float* ri = r + i * cols;
    float* ci = contrib ? contrib + i * cols : nullptr;
    __m256 acc = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xi + j), _mm256_loadu_ps(ri + j));
      __m256 e = sq ? _mm256_mul_ps(d, d) : _mm256_and_ps(d, absmask);
      if (ci) _mm256_storeu_ps(ci + j, e);
      acc = _mm256_add_ps(acc, e);
    }
    if (tail) {
      __m256 d = _mm256_sub_ps(_mm256_maskload_ps(xi + j, mask), _mm256_maskload_ps(ri + j, mask));
      __m256 e = sq ? _mm256_mul_ps(d, d) : _mm256_and_ps(d, absmask);
      if (ci) _mm256_maskstore_ps(ci + j, mask, e);
      acc = _mm256_add_ps(acc, e);
    }
    out[i] = hsum256(acc);
  }
}

// ---------------------------------------------------------------- AVX-512

NADIR_TARGET_AVX512 static double sum_f32_avx512(const float* x, size_t n) {
  double total = 0;
  size_t i = 0;
  while (i + 64 <= n) {
    size_t end = i + std::min<size_t>(4096, (n - i) & ~size_t{63});
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; i < end; i += 64) {
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
      a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
      a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(s));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    total += _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
  }
  for (; i < n; ++i) total += x[i];
  return total;
}

NADIR_TARGET_AVX512 static int64_t first_non_finite_avx512(const float* x, size_t n) {
  const __m512i expmask = _mm512_set1_epi32(0x7f800000);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i v = _mm512_and_si512(_mm512_loadu_si512(x + i), expmask);
    if (_mm512_cmpeq_epi32_mask(v, expmask)) break;
  }
  for (; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

NADIR_TARGET_AVX512 static void recon_error_avx512(const float* x, const float* r, size_t rows,
                                                   size_t cols, ErrorKind kind, float* out,
                                                   float* contrib) {
  const bool sq = kind == ErrorKind::Squared;
  const __mmask16 tailmask = static_cast<__mmask16>((1u << (cols % 16)) - 1u);
  for (size_t i = 0; i < rows; ++i) {
    const float* xi = x + i * cols;
    const float* ri = r + i * cols;
    float* ci = contrib ? contrib + i * cols : nullptr;
    __m512 acc = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= cols; j += 16) {
      __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xi + j), _mm512_loadu_ps(ri + j));
      __m512 e = sq ? _mm512_mul_ps(d, d) : _mm512_abs_ps(d);
      if (ci) _mm512_storeu_ps(ci + j, e);
      acc = _mm512_add_ps(acc, e);
    }
    if (tailmask) {
      __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(tailmask, xi + j),
                               _mm512_maskz_loadu_ps(tailmask, ri + j));
      __m512 e = sq ? _mm512_mul_ps(d, d) : _mm512_abs_ps(d);
      if (ci) _mm512_mask_storeu_ps(ci + j, tailmask, e);
      acc = _mm512_add_ps(acc, e);
    }
    out[i] = _mm512_reduce_add_ps(acc);
  }
}
#endif  // NADIR_X86

// ---------------------------------------------------------------- dispatch

double sum_f32(const float* x, size_t n) {
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return sum_f32_avx512(x, n);
    case Isa::Avx2: return sum_f32_avx2(x, n);
    default: break;
  }
#endif
  return sum_f32_scalar(x, n);
}

int64_t first_non_finite(const float* x, size_t n) {
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return first_non_finite_avx512(x, n);
    case Isa::Avx2: return first_non_finite_avx2(x, n);
    default: break;
  }
#endif
  return first_non_finite_scalar(x, n);
}

void recon_error(const float* x, const float* r, size_t rows, size_t cols, ErrorKind kind,
                 float* out, float* contrib) {
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return recon_error_avx512(x, r, rows, cols, kind, out, contrib);
    case Isa::Avx2: return recon_error_avx2(x, r, rows, cols, kind, out, contrib);
    default: break;
  }
#endif
  recon_error_scalar(x, r, rows, cols, kind, out, contrib);
}

}  // namespace nadir
