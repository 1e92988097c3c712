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

}  // namespace

void calibrate_scores(const float* scores, size_t count, const float* q, size_t n, double mean, double std_dev,
                      CalibrationKind kind, double w, float* out) {
  const double sd = std_dev > 0 ? std_dev : 1;
  switch (kind) {
    case CalibrationKind::kEcdf:
      for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(ecdf(q, n, scores[i]));
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
      for (size_t i = 0; i < count; i++) {
        double z = (scores[i] - mean) / sd;
        out[i] = static_cast<float>((1 - w) * ecdf(q, n, scores[i]) + w * (0.5 + 0.5 * z / (1 + std::fabs(z))));
      }
      break;
  }
}

}  // namespace nadir
