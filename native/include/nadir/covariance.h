// Location and scatter estimators for Mahalanobis-type detectors: classical (with optional
// shrinkage) and the robust Minimum Covariance Determinant (FastMCD). All work in double.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nadir {

// Mean and maximum-likelihood covariance (divided by n) of x (n x d float, row-major), summed in
// double over a fixed block partition so the result does not depend on `threads`. If lw is not
// null it receives the Ledoit-Wolf shrinkage intensity in [0, 1].
void mean_covariance(const float* x, size_t n, size_t d, double* mean, double* cov, double* lw,
                     int threads);

struct McdResult {
  std::vector<double> raw_location, raw_covariance;  // best h-subset estimate, consistency-corrected
  double raw_logdet = 0;
  size_t raw_support = 0;
  std::vector<double> location, covariance;  // reweighted estimate (the one used for scoring)
  size_t support = 0;                        // rows kept by the reweighting step
  std::vector<size_t> kept;                  // their indices
  double correction = 1;                     // consistency factor applied to the raw covariance
};

// FastMCD (Rousseeuw & Van Driessen 1999): random (d+1)-subsets grown into h-subsets by C-steps,
// the best candidates refined (on disjoint subsamples and their union when n > 600), the best
// h-subset by determinant, then the consistency correction and the reweighting step of
// scikit-learn's MinCovDet (rows with corrected distance under the chi2(d) 97.5% quantile).
// Deterministic for a seed, and independent of `threads`.
McdResult fast_mcd(const float* x, size_t n, size_t d, size_t h, int trials, uint64_t seed,
                   int threads);

}  // namespace nadir
