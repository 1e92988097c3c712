// Blocked GEMM for the small, skinny products of dense-network training and inference
// (batch x 20..256 times 20..256). Register-blocked micro-kernels keep an MR x (NV vectors) tile of C
// in registers and stream one row of B per k; A is read by broadcast with arbitrary strides, so the
// same kernel serves X W^T (forward), dY W (input gradient) and dY^T X (weight gradient).
#include <algorithm>

#include "nadir/cpu.h"
#include "nadir/nn.h"
#if NADIR_X86
#include <immintrin.h>
#endif

namespace nadir::nn {

void gemm_scalar(int M, int N, int K, const float* A, long ars, long acs, const float* B, long ldb,
                 float* C, long ldc, bool accumulate, const float* bias) {
  for (int m = 0; m < M; ++m) {
    float* c = C + m * ldc;
    for (int n = 0; n < N; ++n) {
      float s = accumulate ? c[n] : bias ? bias[n] : 0.f;
      for (int k = 0; k < K; ++k) s += A[m * ars + k * acs] * B[k * ldb + n];
      c[n] = s;
    }
  }
}

#if NADIR_X86
// ---------------------------------------------------------------- AVX-512: MR=4 rows x up to 4x16 cols

template <int MR, int NV>
NADIR_TARGET_AVX512 static void mk512(int K, const float* A, long ars, long acs, const float* B,
                                      long ldb, float* C, long ldc, bool acc, const float* bias,
                                      __mmask16 last) {
  __m512 c[MR][NV];
  __mmask16 mk[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) mk[v] = v == NV - 1 ? last : static_cast<__mmask16>(0xffff);
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      c[r][v] = acc ? _mm512_maskz_loadu_ps(mk[v], C + r * ldc + v * 16)
                    : bias ? _mm512_maskz_loadu_ps(mk[v], bias + v * 16) : _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    __m512 b[NV];
    const float* bk = B + k * ldb;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(mk[v], bk + v * 16);
    const float* ak = A + k * acs;
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      __m512 a = _mm512_set1_ps(ak[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(C + r * ldc + v * 16, mk[v], c[r][v]);
}

NADIR_TARGET_AVX512 static void gemm_avx512(int M, int N, int K, const float* A, long ars, long acs,
                                            const float* B, long ldb, float* C, long ldc,
                                            bool accumulate, const float* bias) {
  for (int n0 = 0; n0 < N; n0 += 64) {
    int nn = std::min(64, N - n0);
    int nv = (nn + 15) / 16;
    int rem = nn - (nv - 1) * 16;
    __mmask16 last = static_cast<__mmask16>(rem == 16 ? 0xffff : (1u << rem) - 1u);
    const float* b = B + n0;
    const float* bi = bias ? bias + n0 : nullptr;
    for (int m0 = 0; m0 < M; m0 += 4) {
      int mr = std::min(4, M - m0);
      const float* a = A + m0 * ars;
      float* c = C + m0 * ldc + n0;
#define NADIR_MK(R, V) \
  case (R - 1) * 4 + (V - 1): mk512<R, V>(K, a, ars, acs, b, ldb, c, ldc, accumulate, bi, last); break;
      switch ((mr - 1) * 4 + (nv - 1)) {
        NADIR_MK(1, 1) NADIR_MK(1, 2) NADIR_MK(1, 3) NADIR_MK(1, 4)
        NADIR_MK(2, 1) NADIR_MK(2, 2) NADIR_MK(2, 3) NADIR_MK(2, 4)
        NADIR_MK(3, 1) NADIR_MK(3, 2) NADIR_MK(3, 3) NADIR_MK(3, 4)
        NADIR_MK(4, 1) NADIR_MK(4, 2) NADIR_MK(4, 3) NADIR_MK(4, 4)
      }
#undef NADIR_MK
    }
  }
}

// ---------------------------------------------------------------- AVX2: MR=3 rows x up to 4x8 cols

template <int MR, int NV>
NADIR_TARGET_AVX2 static void mk256(int K, const float* A, long ars, long acs, const float* B,
                                    long ldb, float* C, long ldc, bool acc, const float* bias,
                                    __m256i last) {
  __m256 c[MR][NV];
  __m256i mk[NV];
  const __m256i all = _mm256_set1_epi32(-1);
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) mk[v] = v == NV - 1 ? last : all;
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      c[r][v] = acc ? _mm256_maskload_ps(C + r * ldc + v * 8, mk[v])
                    : bias ? _mm256_maskload_ps(bias + v * 8, mk[v]) : _mm256_setzero_ps();
  for (int k = 0; k < K; ++k) {
    __m256 b[NV];
    const float* bk = B + k * ldb;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm256_maskload_ps(bk + v * 8, mk[v]);
    const float* ak = A + k * acs;
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      __m256 a = _mm256_broadcast_ss(ak + r * ars);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm256_maskstore_ps(C + r * ldc + v * 8, mk[v], c[r][v]);
}

NADIR_TARGET_AVX2 static void gemm_avx2(int M, int N, int K, const float* A, long ars, long acs,
                                        const float* B, long ldb, float* C, long ldc,
                                        bool accumulate, const float* bias) {
  for (int n0 = 0; n0 < N; n0 += 32) {
    int nn = std::min(32, N - n0);
    int nv = (nn + 7) / 8;
    int rem = nn - (nv - 1) * 8;
    alignas(32) int32_t bits[8];
    for (int i = 0; i < 8; ++i) bits[i] = i < rem ? -1 : 0;
    __m256i last = _mm256_load_si256(reinterpret_cast<const __m256i*>(bits));
    const float* b = B + n0;
    const float* bi = bias ? bias + n0 : nullptr;
    for (int m0 = 0; m0 < M; m0 += 3) {
      int mr = std::min(3, M - m0);
      const float* a = A + m0 * ars;
      float* c = C + m0 * ldc + n0;
#define NADIR_MK(R, V) \
  case (R - 1) * 4 + (V - 1): mk256<R, V>(K, a, ars, acs, b, ldb, c, ldc, accumulate, bi, last); break;
      switch ((mr - 1) * 4 + (nv - 1)) {
        NADIR_MK(1, 1) NADIR_MK(1, 2) NADIR_MK(1, 3) NADIR_MK(1, 4)
        NADIR_MK(2, 1) NADIR_MK(2, 2) NADIR_MK(2, 3) NADIR_MK(2, 4)
        NADIR_MK(3, 1) NADIR_MK(3, 2) NADIR_MK(3, 3) NADIR_MK(3, 4)
      }
#undef NADIR_MK
    }
  }
}
#endif  // NADIR_X86

void gemm(int M, int N, int K, const float* A, long ars, long acs, const float* B, long ldb,
          float* C, long ldc, bool accumulate, const float* bias) {
  if (M <= 0 || N <= 0) return;
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return gemm_avx512(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, bias);
    case Isa::Avx2: return gemm_avx2(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, bias);
    default: break;
  }
#endif
  gemm_scalar(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, bias);
}

}  // namespace nadir::nn
