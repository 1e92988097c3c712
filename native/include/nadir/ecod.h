// ECOD (Li et al. 2022): outlier scores from per-feature empirical CDFs of the training data.
// The fitted model is, per feature, the sorted training values (column-major, n per feature) and
// the training skewness, whose sign picks the tail of the "auto" aggregate.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nadir {

enum class EcodAggregate : int { FeatureMax = 0, TailSum = 1 };

// Sorts each column of X (rows x cols, row-major) into sorted[j * rows + k] and writes the
// (biased, scipy-style) skewness of each column into skewness[j] (0 for a constant column).
void ecod_fit(const float* X, size_t rows, size_t cols, float* sorted, double* skewness,
              int threads);

// table[c] = -log((c + 1) / (n + 1)) for c = 0..n: the tail score of a count, precomputed once per
// model so scoring does no logarithms (table has n + 1 entries).
void ecod_tail_table(size_t n, double* table);

// Scores rows of X against a fitted model of n training rows. For each feature, with
// c_le = #{train <= x} and c_ge = #{train >= x}:
//   left tail  U_l = -log((c_le + 1) / (n + 1)),  right tail U_r = -log((c_ge + 1) / (n + 1)),
//   auto term  = U_l if skewness < 0 else U_r.
// EcodAggregate::TailSum:    score = max(sum U_l, sum U_r, sum auto) (the paper's O_left, O_right,
//                             O_auto); contrib receives the terms of the winning sum.
// EcodAggregate::FeatureMax: score = sum over features of max(U_l, U_r) (older PyOD's form);
//                             contrib receives those per-feature maxima.
// Either way the contributions (rows x cols, when contrib is non-null) sum to the score.
// Rows are independent: a row's score never depends on the other rows of the batch.
void ecod_score(const float* X, size_t rows, size_t cols, const float* sorted, size_t n,
                const double* table, const double* skewness, EcodAggregate agg, float* out, float* contrib, int threads);

// Reference: the same scores with std::upper_bound/lower_bound and std::log, one feature at a time.
void ecod_score_scalar_reference(const float* X, size_t rows, size_t cols, const float* sorted,
                                 size_t n, const double* skewness, EcodAggregate agg, float* out,
                                 float* contrib);

}  // namespace nadir
