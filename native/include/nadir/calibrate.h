// Score calibration: raw detector scores -> [0, 1] from a table of training-score quantiles.
#pragma once
#include <cstddef>

namespace nadir {

enum class CalibrationKind : int {
  kEcdf = 0,     // interpolated rank among the quantile knots
  kZscore = 1,   // standard normal CDF of (s - mean) / std
  kUnify = 2,    // max(0, erf((s - mean) / (std sqrt 2)))
  kMinmax = 3,   // (s - q[0]) / (q[n-1] - q[0]), clipped
  kTieBreak = 4, // (1 - w) ecdf + w (0.5 + 0.5 z / (1 + |z|)): strictly increasing (cascade scale)
};

// The same erf approximation as the TypeScript reference (|error| < 1.2e-7).
double nadir_erf(double x);

// out[i] = calibrated scores[i]; q: n >= 2 ascending knots at k / (n - 1). w is used by kTieBreak.
void calibrate_scores(const float* scores, size_t count, const float* q, size_t n, double mean, double std_dev,
                      CalibrationKind kind, double w, float* out);

}  // namespace nadir
