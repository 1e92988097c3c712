#include <napi.h>

#include <memory>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/ecod.h"

namespace nadir::addon {
namespace {

// ecodFit(X, rows, cols, threads) -> Promise<{ sorted: Float32Array(rows*cols), skewness: Float64Array(cols) }>
Napi::Value EcodFit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32(info, 0, "X");
  size_t rows = static_cast<size_t>(integer(info, 1, "rows", 1, INT32_MAX));
  size_t cols = static_cast<size_t>(integer(info, 2, "cols", 1, INT32_MAX));
  int threads = static_cast<int>(integer(info, 3, "threads", 0, 1024));
  expect_length(env, x, rows * cols, "X");
  auto sorted = std::make_shared<std::vector<float>>(rows * cols);
  auto skew = std::make_shared<std::vector<double>>(cols);
  const float* xd = x.data;
  return Job::Start(
      env, [=] { ecod_fit(xd, rows, cols, sorted->data(), skew->data(), threads); },
      [=](Napi::Env env) -> Napi::Value {
        auto s = Napi::Float32Array::New(env, sorted->size());
        std::copy(sorted->begin(), sorted->end(), s.Data());
        auto k = Napi::Float64Array::New(env, skew->size());
        std::copy(skew->begin(), skew->end(), k.Data());
        Napi::Object o = Napi::Object::New(env);
        o.Set("sorted", s);
        o.Set("skewness", k);
        return o;
      },
      {info[0]});
}

struct ScoreArgs {
  const float* x;
  size_t rows, cols, n;
  const float* sorted;
  const double* table;
  const double* skewness;
  float* out;
  float* contrib;
  EcodAggregate agg;
};

// (X, rows, cols, sorted, table, skewness, aggregate 0|1, out, contrib | null): every length re-checked.
ScoreArgs score_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScoreArgs a{};
  auto x = f32(info, 0, "X");
  a.rows = static_cast<size_t>(integer(info, 1, "rows", 0, INT32_MAX));
  a.cols = static_cast<size_t>(integer(info, 2, "cols", 1, INT32_MAX));
  expect_length(env, x, a.rows * a.cols, "X");
  auto sorted = f32(info, 3, "sorted");
  auto table = f64(info, 4, "table");
  auto skew = f64(info, 5, "skewness");
  expect_length(env, skew, a.cols, "skewness");
  if (sorted.length == 0 || sorted.length % a.cols != 0)
    range_fail(env, "Expected a non-empty multiple of " + std::to_string(a.cols) +
                        " elements in sorted but received " + std::to_string(sorted.length));
  a.n = sorted.length / a.cols;
  // The table is indexed by counts 0..n; a short one would be read out of bounds.
  expect_length(env, table, a.n + 1, "table");
  a.agg = static_cast<EcodAggregate>(integer(info, 6, "aggregate", 0, 1));
  auto out = f32(info, 7, "out");
  expect_length(env, out, a.rows, "out");
  if (!info[8].IsNull() && !info[8].IsUndefined()) {
    auto c = f32(info, 8, "contrib");
    expect_length(env, c, a.rows * a.cols, "contrib");
    a.contrib = c.data;
  }
  a.x = x.data;
  a.sorted = sorted.data;
  a.table = table.data;
  a.skewness = skew.data;
  a.out = out.data;
  return a;
}

// ecodScore(X, rows, cols, sorted, table, skewness, aggregate, out, contrib|null): synchronous, on the calling thread.
Napi::Value EcodScore(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  ecod_score(a.x, a.rows, a.cols, a.sorted, a.n, a.table, a.skewness, a.agg, a.out, a.contrib, 1);
  return info.Env().Undefined();
}

// ecodScoreAsync(X, rows, cols, sorted, table, skewness, aggregate, out, contrib|null, threads) -> Promise<void>
Napi::Value EcodScoreAsync(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  int threads = static_cast<int>(integer(info, 9, "threads", 0, 1024));
  return Job::Start(
      info.Env(),
      [=] { ecod_score(a.x, a.rows, a.cols, a.sorted, a.n, a.table, a.skewness, a.agg, a.out, a.contrib, threads); },
      nullptr, {info[0], info[3], info[4], info[5], info[7], info[8]});
}

// ecodScoreReference(...same as ecodScore): std::lower/upper_bound reference, for tests.
Napi::Value EcodScoreReference(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  ecod_score_scalar_reference(a.x, a.rows, a.cols, a.sorted, a.n, a.skewness, a.agg, a.out, a.contrib);
  return info.Env().Undefined();
}

// ecodTailTable(n) -> Float64Array(n + 1): -log((c + 1) / (n + 1)) for c = 0..n.
Napi::Value EcodTailTable(const Napi::CallbackInfo& info) {
  size_t n = static_cast<size_t>(integer(info, 0, "n", 1, INT32_MAX));
  auto t = Napi::Float64Array::New(info.Env(), n + 1);
  ecod_tail_table(n, t.Data());
  return t;
}

}  // namespace

void RegisterEcod(Napi::Env env, Napi::Object exports) {
  exports.Set("ecodFit", Napi::Function::New(env, EcodFit, "ecodFit"));
  exports.Set("ecodTailTable", Napi::Function::New(env, EcodTailTable, "ecodTailTable"));
  exports.Set("ecodScore", Napi::Function::New(env, EcodScore, "ecodScore"));
  exports.Set("ecodScoreAsync", Napi::Function::New(env, EcodScoreAsync, "ecodScoreAsync"));
  exports.Set("ecodScoreReference", Napi::Function::New(env, EcodScoreReference, "ecodScoreReference"));
}

}  // namespace nadir::addon
