#include "nadir/linalg.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace nadir {

bool cholesky(const double* a, size_t d, double* l, double rel_tol) {
  std::fill(l, l + d * d, 0.0);
  for (size_t j = 0; j < d; ++j) {
    double diag = a[j * d + j];
    double s = diag;
    const double* lj = l + j * d;
    for (size_t k = 0; k < j; ++k) s -= lj[k] * lj[k];
    if (!(diag > 0) || !(s > rel_tol * diag)) return false;
    double p = std::sqrt(s);
    l[j * d + j] = p;
    for (size_t i = j + 1; i < d; ++i) {
      const double* li = l + i * d;
      double t = a[i * d + j];
      for (size_t k = 0; k < j; ++k) t -= li[k] * lj[k];
      l[i * d + j] = t / p;
    }
  }
  return true;
}

double factor_covariance(double* c, size_t d, double* l, double* logdet) {
  double eps = 0;
  if (!cholesky(c, d, l)) {
    double mean_var = 0;
    for (size_t j = 0; j < d; ++j) mean_var += c[j * d + j];
    mean_var /= static_cast<double>(d);
    if (!(mean_var > 0)) mean_var = 1;
    std::vector<double> base(d);
    for (size_t j = 0; j < d; ++j) base[j] = c[j * d + j] > 0 ? c[j * d + j] : mean_var;
    std::vector<double> orig(c, c + d * d);
    for (eps = 1e-9;; eps *= 10) {
      for (size_t j = 0; j < d; ++j) c[j * d + j] = orig[j * d + j] + eps * base[j];
      if (cholesky(c, d, l)) break;
      if (eps > 1) throw std::runtime_error("covariance matrix could not be factored");
    }
  }
  double ld = 0;
  for (size_t j = 0; j < d; ++j) ld += std::log(l[j * d + j]);
  *logdet = 2 * ld;
  return eps;
}

void invert_lower(const double* l, size_t d, double* w) {
  std::fill(w, w + d * d, 0.0);
  for (size_t c = 0; c < d; ++c) {
    // Column c of L^{-1}: forward substitution of L w = e_c (entries above c are zero).
    w[c * d + c] = 1.0 / l[c * d + c];
    for (size_t i = c + 1; i < d; ++i) {
      double s = 0;
      for (size_t k = c; k < i; ++k) s += l[i * d + k] * w[k * d + c];
      w[i * d + c] = -s / l[i * d + i];
    }
  }
}

void symmetric_eigen(const double* a_in, size_t n, double* values, double* vectors) {
  if (n == 0) return;
  // Working copy; after tridiagonalization it accumulates the orthogonal transformation, whose
  // columns end up as the eigenvectors.
  std::vector<double> a(a_in, a_in + n * n), dg(n), e(n);
  auto A = [&](size_t i, size_t j) -> double& { return a[i * n + j]; };

  // Householder reduction to tridiagonal form (diagonal dg, sub-diagonal e).
  for (size_t i = n - 1; i > 0; --i) {
    size_t l = i - 1;
    double h = 0;
    if (l > 0) {
      double scale = 0;
      for (size_t k = 0; k <= l; ++k) scale += std::fabs(A(i, k));
      if (scale == 0) {
        e[i] = A(i, l);
      } else {
        for (size_t k = 0; k <= l; ++k) {
          A(i, k) /= scale;
          h += A(i, k) * A(i, k);
        }
        double f = A(i, l);
        double g = f >= 0 ? -std::sqrt(h) : std::sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        A(i, l) = f - g;
        f = 0;
        for (size_t j = 0; j <= l; ++j) {
          A(j, i) = A(i, j) / h;
          g = 0;
          for (size_t k = 0; k <= j; ++k) g += A(j, k) * A(i, k);
          for (size_t k = j + 1; k <= l; ++k) g += A(k, j) * A(i, k);
          e[j] = g / h;
          f += e[j] * A(i, j);
        }
        double hh = f / (h + h);
        for (size_t j = 0; j <= l; ++j) {
          f = A(i, j);
          e[j] = g = e[j] - hh * f;
          for (size_t k = 0; k <= j; ++k) A(j, k) -= f * e[k] + g * A(i, k);
        }
      }
    } else {
      e[i] = A(i, l);
    }
    dg[i] = h;
  }
  dg[0] = 0;
  e[0] = 0;
  // Accumulate the transformations.
  for (size_t i = 0; i < n; ++i) {
    if (dg[i] != 0) {
      for (size_t j = 0; j < i; ++j) {
        double g = 0;
        for (size_t k = 0; k < i; ++k) g += A(i, k) * A(k, j);
        for (size_t k = 0; k < i; ++k) A(k, j) -= g * A(k, i);
      }
    }
    dg[i] = A(i, i);
    A(i, i) = 1;
    for (size_t j = 0; j < i; ++j) A(j, i) = A(i, j) = 0;
  }

  // Implicit QL with Wilkinson-style shifts on the tridiagonal matrix.
  for (size_t i = 1; i < n; ++i) e[i - 1] = e[i];
  e[n - 1] = 0;
  for (size_t l = 0; l < n; ++l) {
    int iter = 0;
    size_t m;
    do {
      for (m = l; m + 1 < n; ++m) {
        double dd = std::fabs(dg[m]) + std::fabs(dg[m + 1]);
        if (std::fabs(e[m]) <= 1e-15 * dd) break;
      }
      if (m != l) {
        if (iter++ == 100) throw std::runtime_error("eigendecomposition did not converge");
        double g = (dg[l + 1] - dg[l]) / (2.0 * e[l]);
        double r = std::hypot(g, 1.0);
        g = dg[m] - dg[l] + e[l] / (g + std::copysign(r, g));
        double s = 1, c = 1, p = 0;
        bool underflow = false;
        for (size_t i = m; i-- > l;) {
          double f = s * e[i], b = c * e[i];
          e[i + 1] = r = std::hypot(f, g);
          if (r == 0) {
            dg[i + 1] -= p;
            e[m] = 0;
            underflow = true;
            break;
          }
          s = f / r;
          c = g / r;
          g = dg[i + 1] - p;
          r = (dg[i] - g) * s + 2.0 * c * b;
          p = s * r;
          dg[i + 1] = g + p;
          g = c * r - b;
          for (size_t k = 0; k < n; ++k) {
            f = A(k, i + 1);
            A(k, i + 1) = s * A(k, i) + c * f;
            A(k, i) = c * A(k, i) - s * f;
          }
        }
        if (underflow) continue;
        dg[l] -= p;
        e[l] = g;
        e[m] = 0;
      }
    } while (m != l);
  }

  // Sort descending; fix each vector's sign so its largest-magnitude entry is positive.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return dg[x] > dg[y]; });
  for (size_t k = 0; k < n; ++k) {
    size_t col = order[k];
    values[k] = dg[col];
    size_t arg = 0;
    for (size_t j = 1; j < n; ++j)
      if (std::fabs(A(j, col)) > std::fabs(A(arg, col))) arg = j;
    double sign = A(arg, col) < 0 ? -1.0 : 1.0;
    for (size_t j = 0; j < n; ++j) vectors[k * n + j] = sign * A(j, col);
  }
}

// ---------------------------------------------------------------- chi-squared quantiles

double gamma_p(double a, double x) {
  if (x <= 0) return 0;
  double front = std::exp(-x + a * std::log(x) - std::lgamma(a));
  if (x < a + 1) {
    // Series expansion.
    double ap = a, del = 1.0 / a, sum = del;
    for (int i = 0; i < 1000; ++i) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (std::fabs(del) < std::fabs(sum) * 1e-16) break;
    }
    return std::min(1.0, sum * front);
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, dd = 1 / b, h = dd;
  for (int i = 1; i < 1000; ++i) {
    double an = -i * (i - a);
    b += 2;
    dd = an * dd + b;
    if (std::fabs(dd) < tiny) dd = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    dd = 1 / dd;
    double del = dd * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-16) break;
  }
  return std::max(0.0, 1.0 - front * h);
}

double chi2_quantile(double p, double dof) {
  double lo = 0, hi = dof + 20 * std::sqrt(2 * dof) + 50;
  while (gamma_p(dof / 2, hi / 2) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; ++i) {
    double mid = 0.5 * (lo + hi);
    if (gamma_p(dof / 2, mid / 2) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace nadir
