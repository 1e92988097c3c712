#include "nadir/ecod.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "nadir/parallel.h"

namespace nadir {

void ecod_fit(const float* X, size_t rows, size_t cols, float* sorted, double* skewness,
              int threads) {
  parallel_for(cols, threads, [&](size_t b, size_t e, int) {
    for (size_t j = b; j < e; ++j) {
      float* col = sorted + j * rows;
      for (size_t i = 0; i < rows; ++i) col[i] = X[i * cols + j];
      // Two-pass central moments in double (scipy.stats.skew with bias=True); only the sign is
      // used, so a constant column reads as 0 rather than NaN.
      double mean = 0;
      for (size_t i = 0; i < rows; ++i) mean += col[i];
      mean /= static_cast<double>(rows);
      double m2 = 0, m3 = 0;
      for (size_t i = 0; i < rows; ++i) {
        double d = col[i] - mean;
        m2 += d * d;
        m3 += d * d * d;
      }
      m2 /= static_cast<double>(rows);
      m3 /= static_cast<double>(rows);
      skewness[j] = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0.0;
      std::sort(col, col + rows);
    }
  });
}

void ecod_tail_table(size_t n, double* table) {
  const double log_n1 = std::log(static_cast<double>(n) + 1.0);
  for (size_t c = 0; c <= n; ++c) table[c] = log_n1 - std::log(static_cast<double>(c) + 1.0);
}

namespace {

// Per-row accumulation shared by the fast path and the reference, so both sum the same doubles in
// the same order (feature 0 first) and agree bit for bit.
struct RowSums {
  double L = 0, R = 0, A = 0, F = 0;
  void add(double ul, double ur, double skew) {
    L += ul;
    R += ur;
    A += skew < 0 ? ul : ur;
    F += std::max(ul, ur);
  }
  double score(EcodAggregate agg) const {
    return agg == EcodAggregate::FeatureMax ? F : std::max(A, std::max(L, R));
  }
  // Which tail-sum won: 0 auto, 1 left, 2 right (ties in that order).
  int winner() const { return A >= L && A >= R ? 0 : (L >= R ? 1 : 2); }
};

inline float term(EcodAggregate agg, int win, double ul, double ur, double skew) {
  if (agg == EcodAggregate::FeatureMax) return static_cast<float>(std::max(ul, ur));
  return static_cast<float>(win == 1 ? ul : win == 2 ? ur : (skew < 0 ? ul : ur));
}

// Scores rows [b, e) a block of rows at a time, one feature after the other: the block's values of
// feature j are searched together in that feature's sorted column, which stays in cache for the whole
// block, and the searches of all rows are independent loads (memory-level parallelism instead of one
// dependent chain at a time). The searches are branchless: every feature has the same n, so all rows
// take the same number of halving steps; lt ends as #{< x}, le as #{<= x}. Each row's sums still add
// feature 0 first, so the scores equal the reference's bit for bit.
constexpr size_t kRows = 64;

void score_rows(const float* X, size_t b, size_t e, size_t cols, const float* sorted, size_t n,
                const double* table, const double* skewness, EcodAggregate agg, float* out,
                float* contrib) {
  size_t lt[kRows], le[kRows];
  float v[kRows];
  RowSums sums[kRows];
  // Per-feature tail terms of the block's rows, kept for explain (row-major, kRows x cols).
  std::vector<double> terms_l, terms_r;
  if (contrib) {
    terms_l.resize(kRows * cols);
    terms_r.resize(kRows * cols);
  }
  for (size_t i0 = b; i0 < e; i0 += kRows) {
    const size_t m = std::min(kRows, e - i0);
    for (size_t k = 0; k < m; ++k) sums[k] = RowSums();
    for (size_t j = 0; j < cols; ++j) {
      const float* col = sorted + j * n;
      for (size_t k = 0; k < m; ++k) {
        v[k] = X[(i0 + k) * cols + j];
        lt[k] = le[k] = 0;
      }
      size_t len = n;
      while (len > 1) {
        const size_t half = len >> 1;
        for (size_t k = 0; k < m; ++k) {
          // Arithmetic, not ?:, so the compiler cannot turn it into an unpredictable branch.
          lt[k] += static_cast<size_t>(col[lt[k] + half] < v[k]) * half;
          le[k] += static_cast<size_t>(col[le[k] + half] <= v[k]) * half;
        }
        len -= half;
      }
      const double skew = skewness[j];
      for (size_t k = 0; k < m; ++k) {
        const size_t c_lt = lt[k] + (col[lt[k]] < v[k]);
        const size_t c_le = le[k] + (col[le[k]] <= v[k]);
        // (c + 1) / (n + 1): the tail probability the point would get if added to the training
        // sample; never 0, so a value beyond the training range has a finite score.
        const double ul = table[c_le];
        const double ur = table[n - c_lt];
        sums[k].add(ul, ur, skew);
        if (contrib) {
          terms_l[k * cols + j] = ul;
          terms_r[k * cols + j] = ur;
        }
      }
    }
    for (size_t k = 0; k < m; ++k) {
      const size_t i = i0 + k;
      out[i] = static_cast<float>(sums[k].score(agg));
      if (contrib) {
        const int win = sums[k].winner();
        for (size_t j = 0; j < cols; ++j)
          contrib[i * cols + j] = term(agg, win, terms_l[k * cols + j], terms_r[k * cols + j], skewness[j]);
      }
    }
  }
}

}  // namespace

void ecod_score(const float* X, size_t rows, size_t cols, const float* sorted, size_t n,
                const double* table, const double* skewness, EcodAggregate agg, float* out,
                float* contrib, int threads) {
  // Small batches stay on the calling thread: starting threads costs more than the work.
  if (rows * cols < 4096) threads = 1;
  parallel_for(rows, threads, [&](size_t b, size_t e, int) {
    score_rows(X, b, e, cols, sorted, n, table, skewness, agg, out, contrib);
  });
}

void ecod_score_scalar_reference(const float* X, size_t rows, size_t cols, const float* sorted,
                                 size_t n, const double* skewness, EcodAggregate agg, float* out,
                                 float* contrib) {
  const double log_n1 = std::log(static_cast<double>(n) + 1.0);
  std::vector<double> tl(cols), tr(cols);
  for (size_t i = 0; i < rows; ++i) {
    RowSums sums;
    for (size_t j = 0; j < cols; ++j) {
      const float* col = sorted + j * n;
      const float v = X[i * cols + j];
      const size_t c_le = static_cast<size_t>(std::upper_bound(col, col + n, v) - col);
      const size_t c_ge = n - static_cast<size_t>(std::lower_bound(col, col + n, v) - col);
      tl[j] = log_n1 - std::log(static_cast<double>(c_le) + 1.0);
      tr[j] = log_n1 - std::log(static_cast<double>(c_ge) + 1.0);
      sums.add(tl[j], tr[j], skewness[j]);
    }
    out[i] = static_cast<float>(sums.score(agg));
    if (contrib) {
      const int win = sums.winner();
      for (size_t j = 0; j < cols; ++j) contrib[i * cols + j] = term(agg, win, tl[j], tr[j], skewness[j]);
    }
  }
}

}  // namespace nadir
