// Blocked SIMD kernels scoring rows against a linear map: the hot path of Mahalanobis and PCA.
// Rows are processed 16 (AVX-512) or 8 (AVX2) at a time: a block is transposed into
// structure-of-arrays form (one vector per feature, lane = row), then every output is an FMA chain
// over features with the matrix entries broadcast. The *_scalar functions are the references.
#pragma once
#include <cstddef>

namespace nadir {

enum class ProjReduce : int {
  // out[i] = sum_r p_r^2 (squared Mahalanobis distance when W is the inverse Cholesky factor).
  SumSquares = 0,
  // out[i] = sum_r weight[r] * sqrt(max(0, |scale * z|^2 + 1 - 2 p_r)): PyOD's PCA score, the
  // weighted Euclidean distance between the standardized row and each unit component.
  Distance = 1,
  // out[i * k + r] = p_r (the projections themselves).
  Store = 2,
};

// For each row x_i of x (rows x d, row-major): z = x_i - center, p_r = sum_j W[r*d + j] z_j for
// r < k (W is k x d, row-major). `lower` says W is lower triangular (k == d): entries above the
// diagonal are skipped (they must be zero). `weight` (k) and `scale` (d) are used by Distance only.
void project_rows(const float* x, size_t rows, size_t d, const float* center, const float* w,
                  size_t k, bool lower, ProjReduce mode, const float* weight, const float* scale,
                  float* out);
void project_rows_scalar(const float* x, size_t rows, size_t d, const float* center,
                         const float* w, size_t k, bool lower, ProjReduce mode,
                         const float* weight, const float* scale, float* out);

// Latency path for a few rows (scoreSync): lanes hold outputs r instead of rows, reading the
// transposed matrix wt (d x k, row-major). Every output is computed with the same operations in
// the same order as project_rows at the same SIMD level, so results are bit-identical to it.
// The scalar level falls back to project_rows_scalar.
void project_rows_few(const float* x, size_t rows, size_t d, const float* center, const float* w,
                      const float* wt, size_t k, bool lower, ProjReduce mode, const float* weight,
                      const float* scale, float* out);

// project_rows split over threads in contiguous row ranges (results do not depend on threads).
void project_rows_parallel(const float* x, size_t rows, size_t d, const float* center,
                           const float* w, size_t k, bool lower, ProjReduce mode,
                           const float* weight, const float* scale, float* out, int threads);

// Per-feature shares of sum_r p_r^2 (computed in double): c_j = z_j (W^T W z)_j, which sums to
// the score exactly (up to rounding); shares can be negative when features are correlated.
void quadratic_contributions(const float* x, size_t rows, size_t d, const float* center,
                             const float* w, size_t k, float* out);

// Per-feature shares of the Distance score: with u = scale * z (standardized row) and unit
// components v_r (k x d), c_j = sum_r weight[r] (u_j - v_rj)^2 / |u - v_r|, which sums to
// sum_r weight[r] |u - v_r|. All shares are non-negative.
void distance_contributions(const float* x, size_t rows, size_t d, const float* center,
                            const float* scale, const float* v, size_t k, const float* weight,
                            float* out);

// PCA reconstruction error in standardized space: u = scale * (x - center), reconstruction
// r = V_k^T V_k u from the k unit components (k x d); out[i] = |u - r|^2 via the recon_error
// kernel, which also fills contrib (rows x d, may be null) with the per-feature terms. With vt
// (V transposed, d x k), blocks of a few rows take project_rows_few (same results, lower latency).
void pca_reconstruction_error(const float* x, size_t rows, size_t d, const float* center,
                              const float* scale, const float* v, size_t k, float* out,
                              float* contrib, int threads, const float* vt = nullptr);

}  // namespace nadir
