#include "nadir/calibrate.h"

#include <algorithm>
#include <cmath>

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
  size_t lo = static_cast<size_t>(base - q);
  size_t hi = std::min(n - 1, lo + 1);
  double span = static_cast<double>(q[hi]) - q[lo];
  return (static_cast<double>(lo) + (span > 0 ? (s - q[lo]) / span : 0)) / static_cast<double>(n - 1);
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
  for (int r = 0; r < 8; r++) {
    double v = s[r];
    if (!(v > q[0])) { out[r] = 0; continue; }
    if (v >= q[n - 1]) { out[r] = 1; continue; }
    size_t lo = pos[r];
    size_t hi = std::min(n - 1, lo + 1);
    double span = static_cast<double>(q[hi]) - q[lo];
    out[r] = (static_cast<double>(lo) + (span > 0 ? (v - q[lo]) / span : 0)) / static_cast<double>(n - 1);
  }
}

inline void ecdf_all(const float* q, size_t n, const float* scores, size_t count, double* tmp8, float* out, double w,
                     double mean, double sd, bool tie_break) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    ecdf8(q, n, scores + i, tmp8);
    for (int r = 0; r < 8; r++) {
      double e = tmp8[r];
      if (tie_break) {
        double z = (scores[i + r] - mean) / sd;
        e = (1 - w) * e + w * (0.5 + 0.5 * z / (1 + std::fabs(z)));
      }
      out[i + r] = static_cast<float>(e);
    }
  }
  for (; i < count; i++) {
    double e = ecdf(q, n, scores[i]);
    if (tie_break) {
      double z = (scores[i] - mean) / sd;
      e = (1 - w) * e + w * (0.5 + 0.5 * z / (1 + std::fabs(z)));
    }
    out[i] = static_cast<float>(e);
  }
}

}  // namespace

void calibrate_scores(const float* scores, size_t count, const float* q, size_t n, double mean, double std_dev,
                      CalibrationKind kind, double w, float* out) {
  const double sd = std_dev > 0 ? std_dev : 1;
  switch (kind) {
    case CalibrationKind::kEcdf: {
      double tmp[8];
      ecdf_all(q, n, scores, count, tmp, out, 0, mean, sd, false);
      break;
    }
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
    case CalibrationKind::kTieBreak: {
      double tmp[8];
      ecdf_all(q, n, scores, count, tmp, out, w, mean, sd, true);
      break;
    }
  }
}

}  // namespace nadir
