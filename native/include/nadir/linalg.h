// Small dense linear algebra in double for covariance-based detectors (d up to a few hundred).
// Matrices are row-major d x d. Plain C++, no external libraries.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nadir {

// Cholesky A = L L^T (L lower triangular, upper part zeroed). Fails (returns false) when a pivot is
// not above `rel_tol` times its diagonal entry of A, i.e. the matrix is singular or nearly so
// relative to each feature's own scale (a constant or exactly dependent feature).
bool cholesky(const double* a, size_t d, double* l, double rel_tol = 1e-10);

// Factors a covariance matrix, regularizing it if it is (near-)singular: when the plain Cholesky
// fails, eps * diag(v) is added, with v_j = C_jj (or the mean variance for a zero-variance
// feature), eps = 1e-9 raised tenfold until the factorization succeeds. That is a ridge of eps on
// the correlation matrix, so the result does not depend on feature scales. Writes L (of the
// regularized matrix) and log det, and returns the eps used (0 when none was needed). `c` is
// updated in place to the matrix actually factored.
double factor_covariance(double* c, size_t d, double* l, double* logdet);

// W = L^{-1} for lower-triangular L (W is lower triangular too).
void invert_lower(const double* l, size_t d, double* w);

// Symmetric eigendecomposition by Householder tridiagonalization and implicit QL. Eigenvalues
// come out in descending order; row k of `vectors` (d x d) is the unit eigenvector of values[k].
// Throws std::runtime_error if QL does not converge.
void symmetric_eigen(const double* a, size_t d, double* values, double* vectors);

// Regularized lower incomplete gamma P(a, x) and the chi-squared quantile.
double gamma_p(double a, double x);
double chi2_quantile(double p, double dof);

// splitmix64: small seeded generator for every random choice in the core.
struct SplitMix {
  uint64_t s;
  explicit SplitMix(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Integer in [0, n); the modulo bias is negligible for the n used here (n << 2^64).
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

}  // namespace nadir
