// Mahalanobis and PCA: covariance estimation, eigendecomposition and the projection kernels.
#include <napi.h>

#include <cmath>
#include <memory>
#include <vector>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/covariance.h"
#include "nadir/kernels.h"
#include "nadir/linalg.h"
#include "nadir/parallel.h"
#include "nadir/projection.h"

namespace nadir::addon {
namespace {

Napi::Float64Array ToF64(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}
Napi::Float32Array ToF32(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = static_cast<float>(v[i]);
  return a;
}

size_t Rows(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<size_t>(integer(info, i, "rows", 0, INT32_MAX));
}
size_t Cols(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<size_t>(integer(info, i, "cols", 1, 100000));
}

// Fitting sorts distances: NaN would break the ordering, so training data must be finite.
void ExpectFinite(Napi::Env env, const Span<float>& x) {
  int64_t bad = first_non_finite(x.data, x.length);
  if (bad >= 0) range_fail(env, "Expected finite values in x but element " + std::to_string(bad) + " is not");
}

// ------------------------------------------------------------------ Gaussian fit

struct GaussFit {
  std::vector<double> location, covariance, whitening;
  double regularization = 0, shrinkage = 0, correction = 1;
  size_t support = 0, raw_support = 0;
};

// Applies shrinkage (< 0: none; otherwise the convex weight towards mu*I), factors, inverts.
void Finish(GaussFit& g, size_t d, double shrinkage) {
  std::vector<double>& c = g.covariance;
  if (shrinkage > 0) {
    double mu = 0;
    for (size_t j = 0; j < d; ++j) mu += c[j * d + j];
    mu /= static_cast<double>(d);
    for (size_t j = 0; j < d; ++j)
      for (size_t k = 0; k < d; ++k) c[j * d + k] = (1 - shrinkage) * c[j * d + k] + (j == k ? shrinkage * mu : 0.0);
  }
  g.shrinkage = std::max(0.0, shrinkage);
  std::vector<double> l(d * d);
  double logdet;
  g.regularization = factor_covariance(c.data(), d, l.data(), &logdet);
  g.whitening.resize(d * d);
  invert_lower(l.data(), d, g.whitening.data());
}

// gaussianFitAsync(x, rows, cols, robust bool, shrinkage (-1 none, -2 Ledoit-Wolf, else [0,1]),
//                  support h, trials, seed, threads)
Napi::Value GaussianFitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32(info, 0, "x");
  size_t rows = Rows(info, 1), d = Cols(info, 2);
  expect_length(env, x, rows * d, "x");
  bool robust = boolean(info, 3, "robust");
  double shrink = number(info, 4, "shrinkage");
  if (!(shrink == -1 || shrink == -2 || (shrink >= 0 && shrink <= 1)))
    range_fail(env, "Expected -1, -2 or a number in [0, 1] for shrinkage");
  size_t h = static_cast<size_t>(integer(info, 5, "support", 0, INT32_MAX));
  int trials = static_cast<int>(integer(info, 6, "trials", 1, 1000000));
  uint64_t seed = static_cast<uint64_t>(integer(info, 7, "seed", 0, 4294967295LL));
  int threads = static_cast<int>(integer(info, 8, "threads", 0, 1024));
  if (rows < 2) range_fail(env, "Expected at least 2 rows");
  ExpectFinite(env, x);
  if (robust && (h < d + 1 || h > rows))
    range_fail(env, "Expected support in [cols + 1, rows] but received " + std::to_string(h));
  auto res = std::make_shared<GaussFit>();
  const float* xp = x.data;
  auto work = [=]() {
    GaussFit& g = *res;
    double lw = 0;
    if (!robust) {
      g.location.resize(d);
      g.covariance.resize(d * d);
      mean_covariance(xp, rows, d, g.location.data(), g.covariance.data(), &lw, threads);
      g.support = g.raw_support = rows;
    } else {
      McdResult m = fast_mcd(xp, rows, d, h, trials, seed, threads);
      g.location = m.location;
      g.covariance = m.covariance;
      g.support = m.support;
      g.raw_support = m.raw_support;
      g.correction = m.correction;
      if (shrink == -2) {
        // Ledoit-Wolf intensity estimated on the rows the reweighting kept.
        std::vector<float> sub(m.kept.size() * d);
        for (size_t a = 0; a < m.kept.size(); ++a)
          std::copy(xp + m.kept[a] * d, xp + (m.kept[a] + 1) * d, sub.begin() + a * d);
        std::vector<double> mu(d), cov(d * d);
        mean_covariance(sub.data(), m.kept.size(), d, mu.data(), cov.data(), &lw, threads);
      }
    }
    Finish(g, d, shrink == -2 ? lw : shrink);
  };
  auto done = [res](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("location", ToF32(env, res->location));
    o.Set("covariance", ToF64(env, res->covariance));
    o.Set("whitening", ToF32(env, res->whitening));
    o.Set("regularization", res->regularization);
    o.Set("shrinkage", res->shrinkage);
    o.Set("support", static_cast<double>(res->support));
    o.Set("rawSupport", static_cast<double>(res->raw_support));
    o.Set("correction", res->correction);
    return o;
  };
  return Job::Start(env, work, done, {info[0]});
}

// ------------------------------------------------------------------ projection kernels

// Up to this many rows, scoring with lanes over outputs beats lanes over rows.
constexpr size_t kFewRows = 4;

struct ProjArgs {
  const float* x;
  size_t rows, d, k;
  const float* center;
  const float* w;
  bool lower;
  ProjReduce mode;
  const float* weight = nullptr;
  const float* scale = nullptr;
  float* out;
};

// (x, rows, d, center, w, k, lower, mode, weight|null, scale|null, out)
ProjArgs ParseProj(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ProjArgs a;
  auto x = f32(info, 0, "x");
  a.rows = Rows(info, 1);
  a.d = Cols(info, 2);
  expect_length(env, x, a.rows * a.d, "x");
  auto c = f32(info, 3, "center");
  expect_length(env, c, a.d, "center");
  auto w = f32(info, 4, "matrix");
  a.k = static_cast<size_t>(integer(info, 5, "k", 0, 100000));
  expect_length(env, w, a.k * a.d, "matrix");
  a.lower = boolean(info, 6, "lower");
  if (a.lower && a.k != a.d) range_fail(env, "A lower-triangular matrix must be square");
  a.mode = static_cast<ProjReduce>(integer(info, 7, "mode", 0, 2));
  if (a.mode == ProjReduce::Distance) {
    auto wt = f32(info, 8, "weight");
    expect_length(env, wt, a.k, "weight");
    auto sc = f32(info, 9, "scale");
    expect_length(env, sc, a.d, "scale");
    a.weight = wt.data;
    a.scale = sc.data;
  }
  auto out = f32(info, 10, "out");
  expect_length(env, out, a.mode == ProjReduce::Store ? a.rows * a.k : a.rows, "out");
  a.x = x.data;
  a.center = c.data;
  a.w = w.data;
  a.out = out.data;
  return a;
}

// Optional 12th argument: the transposed matrix (d x k), which lets a few rows take the latency
// path (bit-identical to the batch kernel).
Napi::Value ProjectRows(const Napi::CallbackInfo& info) {
  ProjArgs a = ParseProj(info);
  if (info.Length() > 11 && !info[11].IsNull() && !info[11].IsUndefined()) {
    auto wt = f32(info, 11, "transposed");
    expect_length(info.Env(), wt, a.k * a.d, "transposed");
    if (a.rows <= kFewRows) {
      project_rows_few(a.x, a.rows, a.d, a.center, a.w, wt.data, a.k, a.lower, a.mode, a.weight, a.scale, a.out);
      return info.Env().Undefined();
    }
  }
  project_rows(a.x, a.rows, a.d, a.center, a.w, a.k, a.lower, a.mode, a.weight, a.scale, a.out);
  return info.Env().Undefined();
}

// Scalar reference, for the SIMD parity tests.
Napi::Value ProjectRowsScalar(const Napi::CallbackInfo& info) {
  ProjArgs a = ParseProj(info);
  project_rows_scalar(a.x, a.rows, a.d, a.center, a.w, a.k, a.lower, a.mode, a.weight, a.scale, a.out);
  return info.Env().Undefined();
}

// Same arguments plus threads; resolves when out is filled.
Napi::Value ProjectRowsAsync(const Napi::CallbackInfo& info) {
  ProjArgs a = ParseProj(info);
  int threads = static_cast<int>(integer(info, 11, "threads", 0, 1024));
  return Job::Start(
      info.Env(),
      [a, threads]() {
        project_rows_parallel(a.x, a.rows, a.d, a.center, a.w, a.k, a.lower, a.mode, a.weight, a.scale, a.out, threads);
      },
      nullptr, {info[0], info[3], info[4], info[8], info[9], info[10]});
}

// quadraticContributionsAsync(x, rows, d, center, w, k, out rows*d)
Napi::Value QuadraticContributionsAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32(info, 0, "x");
  size_t rows = Rows(info, 1), d = Cols(info, 2);
  expect_length(env, x, rows * d, "x");
  auto c = f32(info, 3, "center");
  expect_length(env, c, d, "center");
  auto w = f32(info, 4, "matrix");
  size_t k = static_cast<size_t>(integer(info, 5, "k", 0, 100000));
  expect_length(env, w, k * d, "matrix");
  auto out = f32(info, 6, "out");
  expect_length(env, out, rows * d, "out");
  return Job::Start(
      env, [=]() { quadratic_contributions(x.data, rows, d, c.data, w.data, k, out.data); }, nullptr,
      {info[0], info[3], info[4], info[6]});
}

// distanceContributionsAsync(x, rows, d, center, scale, v, k, weight, out rows*d)
Napi::Value DistanceContributionsAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32(info, 0, "x");
  size_t rows = Rows(info, 1), d = Cols(info, 2);
  expect_length(env, x, rows * d, "x");
  auto c = f32(info, 3, "center");
  expect_length(env, c, d, "center");
  auto s = f32(info, 4, "scale");
  expect_length(env, s, d, "scale");
  auto v = f32(info, 5, "components");
  size_t k = static_cast<size_t>(integer(info, 6, "k", 0, 100000));
  expect_length(env, v, k * d, "components");
  auto wt = f32(info, 7, "weight");
  expect_length(env, wt, k, "weight");
  auto out = f32(info, 8, "out");
  expect_length(env, out, rows * d, "out");
  return Job::Start(
      env, [=]() { distance_contributions(x.data, rows, d, c.data, s.data, v.data, k, wt.data, out.data); },
      nullptr, {info[0], info[3], info[4], info[5], info[7], info[8]});
}

struct ReconArgs {
  const float *x, *center, *scale, *v, *vt = nullptr;
  size_t rows, d, k;
  float* out;
  float* contrib = nullptr;
};

// (x, rows, d, center, scale, v, k, out, contrib|null, [threads], [transposed v (d x k) | null])
ReconArgs ParseRecon(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReconArgs a;
  auto x = f32(info, 0, "x");
  a.rows = Rows(info, 1);
  a.d = Cols(info, 2);
  expect_length(env, x, a.rows * a.d, "x");
  auto c = f32(info, 3, "center");
  expect_length(env, c, a.d, "center");
  auto s = f32(info, 4, "scale");
  expect_length(env, s, a.d, "scale");
  auto v = f32(info, 5, "components");
  a.k = static_cast<size_t>(integer(info, 6, "k", 0, static_cast<int64_t>(a.d)));
  expect_length(env, v, a.k * a.d, "components");
  auto out = f32(info, 7, "out");
  expect_length(env, out, a.rows, "out");
  if (!info[8].IsNull() && !info[8].IsUndefined()) {
    auto ct = f32(info, 8, "contrib");
    expect_length(env, ct, a.rows * a.d, "contrib");
    a.contrib = ct.data;
  }
  a.x = x.data;
  a.center = c.data;
  a.scale = s.data;
  a.v = v.data;
  if (info.Length() > 10 && !info[10].IsNull() && !info[10].IsUndefined()) {
    auto vt = f32(info, 10, "transposed");
    expect_length(env, vt, a.k * a.d, "transposed");
    a.vt = vt.data;
  }
  a.out = out.data;
  return a;
}

Napi::Value PcaReconstructionError(const Napi::CallbackInfo& info) {
  ReconArgs a = ParseRecon(info);
  pca_reconstruction_error(a.x, a.rows, a.d, a.center, a.scale, a.v, a.k, a.out, a.contrib, 1, a.vt);
  return info.Env().Undefined();
}

Napi::Value PcaReconstructionErrorAsync(const Napi::CallbackInfo& info) {
  ReconArgs a = ParseRecon(info);
  int threads = static_cast<int>(integer(info, 9, "threads", 0, 1024));
  return Job::Start(
      info.Env(),
      [a, threads]() { pca_reconstruction_error(a.x, a.rows, a.d, a.center, a.scale, a.v, a.k, a.out, a.contrib, threads, a.vt); },
      nullptr, {info[0], info[3], info[4], info[5], info[7], info[8], info[10]});
}

// ------------------------------------------------------------------ PCA fit

struct PcaFit {
  std::vector<double> mean, scale, values, vectors;
};

// pcaFitAsync(x, rows, cols, standardize, threads) -> { mean, scale (1/std or 1), values
// (descending, covariance divided by n - 1), vectors (rows = unit components) }.
Napi::Value PcaFitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32(info, 0, "x");
  size_t rows = Rows(info, 1), d = Cols(info, 2);
  expect_length(env, x, rows * d, "x");
  bool standardize = boolean(info, 3, "standardize");
  int threads = static_cast<int>(integer(info, 4, "threads", 0, 1024));
  if (rows < 2) range_fail(env, "Expected at least 2 rows");
  ExpectFinite(env, x);
  auto res = std::make_shared<PcaFit>();
  const float* xp = x.data;
  auto work = [=]() {
    PcaFit& p = *res;
    p.mean.resize(d);
    p.scale.assign(d, 1.0);
    std::vector<double> cov(d * d);
    mean_covariance(xp, rows, d, p.mean.data(), cov.data(), nullptr, threads);
    if (standardize) {
      // Population standard deviation, as scikit-learn's StandardScaler; constant features keep 1.
      for (size_t j = 0; j < d; ++j) {
        double sd = std::sqrt(cov[j * d + j]);
        p.scale[j] = sd > 0 ? 1.0 / sd : 1.0;
      }
      for (size_t j = 0; j < d; ++j)
        for (size_t k = 0; k < d; ++k) cov[j * d + k] *= p.scale[j] * p.scale[k];
    }
    double unbias = static_cast<double>(rows) / static_cast<double>(rows - 1);
    for (double& v : cov) v *= unbias;
    p.values.resize(d);
    p.vectors.resize(d * d);
    symmetric_eigen(cov.data(), d, p.values.data(), p.vectors.data());
    // Sign convention of scikit-learn's PCA (svd_flip on U): the training row with the largest
    // absolute projection on a component projects positively. PyOD's score depends on it.
    std::vector<double> best(d, 0.0), z(d);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < d; ++j) z[j] = (xp[i * d + j] - p.mean[j]) * p.scale[j];
      for (size_t k = 0; k < d; ++k) {
        const double* v = p.vectors.data() + k * d;
        double s = 0;
        for (size_t j = 0; j < d; ++j) s += v[j] * z[j];
        if (std::fabs(s) > std::fabs(best[k])) best[k] = s;
      }
    }
    for (size_t k = 0; k < d; ++k)
      if (best[k] < 0)
        for (size_t j = 0; j < d; ++j) p.vectors[k * d + j] = -p.vectors[k * d + j];
  };
  auto done = [res](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("mean", ToF64(env, res->mean));
    o.Set("scale", ToF64(env, res->scale));
    o.Set("values", ToF64(env, res->values));
    o.Set("vectors", ToF64(env, res->vectors));
    return o;
  };
  return Job::Start(env, work, done, {info[0]});
}

// ------------------------------------------------------------------ test hooks

// symmetricEigen(a Float64Array d*d, d) -> { values, vectors }
Napi::Value SymmetricEigen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = f64(info, 0, "a");
  size_t d = Cols(info, 1);
  expect_length(env, a, d * d, "a");
  std::vector<double> values(d), vectors(d * d);
  try {
    symmetric_eigen(a.data, d, values.data(), vectors.data());
  } catch (const std::exception& e) {
    range_fail(env, e.what());
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("values", ToF64(env, values));
  o.Set("vectors", ToF64(env, vectors));
  return o;
}

Napi::Value Chi2Quantile(const Napi::CallbackInfo& info) {
  double p = number(info, 0, "p"), dof = number(info, 1, "dof");
  if (!(p > 0 && p < 1 && dof > 0)) range_fail(info.Env(), "Expected p in (0, 1) and dof > 0");
  return Napi::Number::New(info.Env(), chi2_quantile(p, dof));
}

}  // namespace

void RegisterCovariance(Napi::Env env, Napi::Object exports) {
  exports.Set("gaussianFitAsync", Napi::Function::New(env, GaussianFitAsync, "gaussianFitAsync"));
  exports.Set("projectRows", Napi::Function::New(env, ProjectRows, "projectRows"));
  exports.Set("projectRowsScalar", Napi::Function::New(env, ProjectRowsScalar, "projectRowsScalar"));
  exports.Set("projectRowsAsync", Napi::Function::New(env, ProjectRowsAsync, "projectRowsAsync"));
  exports.Set("quadraticContributionsAsync", Napi::Function::New(env, QuadraticContributionsAsync, "quadraticContributionsAsync"));
  exports.Set("distanceContributionsAsync", Napi::Function::New(env, DistanceContributionsAsync, "distanceContributionsAsync"));
  exports.Set("pcaReconstructionError", Napi::Function::New(env, PcaReconstructionError, "pcaReconstructionError"));
  exports.Set("pcaReconstructionErrorAsync", Napi::Function::New(env, PcaReconstructionErrorAsync, "pcaReconstructionErrorAsync"));
  exports.Set("pcaFitAsync", Napi::Function::New(env, PcaFitAsync, "pcaFitAsync"));
  exports.Set("symmetricEigen", Napi::Function::New(env, SymmetricEigen, "symmetricEigen"));
  exports.Set("chi2Quantile", Napi::Function::New(env, Chi2Quantile, "chi2Quantile"));
}

}  // namespace nadir::addon
