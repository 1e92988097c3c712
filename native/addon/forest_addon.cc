// Isolation forest entry points. The fitted forest lives in JS typed arrays and is handed to every
// call (zero-copy); all shapes and indices are re-checked here.
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/forest.h"

namespace nadir::addon {
namespace {

constexpr size_t kCalibrationRows = 32768;

bool absent(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

// Arguments from index `at`: trees, depth, sampleSize, feature, threshold, normal, offset, leaf
// (axis forests pass null for normal/offset, hyperplane forests null for feature/threshold).
ForestView model(const Napi::CallbackInfo& info, size_t at, size_t cols) {
  Napi::Env env = info.Env();
  ForestView f;
  f.n_features = static_cast<int>(cols);
  f.trees = static_cast<int>(integer(info, at, "trees", 1, 100000));
  f.depth = static_cast<int>(integer(info, at + 1, "depth", 1, kForestMaxDepth));
  f.sample_size = static_cast<int>(integer(info, at + 2, "sampleSize", 2, INT32_MAX));
  const size_t I = f.internal() * f.trees;
  if (!absent(info[at + 3]) || !absent(info[at + 4])) {
    auto feature = i32(info, at + 3, "feature");
    auto threshold = f32(info, at + 4, "threshold");
    expect_length(env, feature, I, "feature");
    expect_length(env, threshold, I, "threshold");
    if (!absent(info[at + 5]) || !absent(info[at + 6])) range_fail(env, "A forest has either feature/threshold or normal/offset, not both");
    f.feature = feature.data;
    f.threshold = threshold.data;
  } else {
    auto normal = f32(info, at + 5, "normal");
    auto offset = f32(info, at + 6, "offset");
    expect_length(env, normal, I * cols, "normal");
    expect_length(env, offset, I, "offset");
    f.normal = normal.data;
    f.offset = offset.data;
  }
  auto leaf = f32(info, at + 7, "leaf");
  expect_length(env, leaf, f.leaves() * f.trees, "leaf");
  f.leaf = leaf.data;
  return f;
}

// A compiled forest (forest_batch_plan) travels to JS as an External owning a shared_ptr; a job
// copies the shared_ptr, so the plan outlives the call even if JS drops it meanwhile. The External
// is type-tagged, so an External made by anything else is refused before its data is read.
struct PlanBox {
  std::shared_ptr<const ForestBatchPlan> plan;
};

constexpr napi_type_tag kPlanTag = {0x6e61646972666f72ull, 0x657374706c616e31ull};

Napi::Value plan_value(Napi::Env env, std::shared_ptr<const ForestBatchPlan> plan) {
  if (!plan) return env.Null();
  auto* box = new PlanBox;
  box->plan = std::move(plan);
  auto ext = Napi::External<PlanBox>::New(env, box, [](Napi::Env, PlanBox* b) { delete b; });
  ext.TypeTag(&kPlanTag);
  return ext;
}

// Argument `at`: null/undefined, or a plan from forestFit/forestPlan.
std::shared_ptr<const ForestBatchPlan> plan_arg(const Napi::CallbackInfo& info, size_t at) {
  if (info.Length() <= at || absent(info[at])) return nullptr;
  if (!info[at].IsExternal() || !info[at].As<Napi::External<PlanBox>>().CheckTypeTag(&kPlanTag))
    fail(info.Env(), "a forest plan (from forestFit or forestPlan)", "plan", info[at]);
  auto* box = info[at].As<Napi::External<PlanBox>>().Data();
  if (!box) fail(info.Env(), "a forest plan (from forestFit or forestPlan)", "plan", info[at]);
  return box->plan;
}

struct Input {
  Span<float> x;
  size_t rows, cols;
};

Input input(const Napi::CallbackInfo& info) {
  Input in;
  in.x = f32(info, 0, "x");
  in.rows = static_cast<size_t>(integer(info, 1, "rows", 0, INT32_MAX));
  in.cols = static_cast<size_t>(integer(info, 2, "cols", 1, INT32_MAX));
  expect_length(info.Env(), in.x, in.rows * in.cols, "x");
  return in;
}

// forestFit(x, rows, cols, trees, sampleSize, depth, extensionLevel, seed, threads)
//   -> Promise<{ feature, threshold } | { normal, offset }, plus leaf, count and scores (training scores,
//      of at most kCalibrationRows evenly spaced rows)>
Napi::Value ForestFit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Input in = input(info);
  ForestParams p;
  p.trees = static_cast<int>(integer(info, 3, "trees", 1, 100000));
  p.sample_size = static_cast<int>(integer(info, 4, "sampleSize", 2, INT32_MAX));
  p.depth = static_cast<int>(integer(info, 5, "depth", 1, kForestMaxDepth));
  p.extension_level = static_cast<int>(integer(info, 6, "extensionLevel", 0, static_cast<int64_t>(in.cols) - 1));
  p.seed = static_cast<uint64_t>(integer(info, 7, "seed", 0, 4294967295LL));
  p.threads = static_cast<int>(integer(info, 8, "threads", 0, 1024));
  if (static_cast<size_t>(p.sample_size) > in.rows)
    range_fail(env, "sampleSize (" + std::to_string(p.sample_size) + ") exceeds the " + std::to_string(in.rows) + " rows of x");
  const bool hyper = p.extension_level > 0;
  const size_t I = ((size_t{1} << p.depth) - 1) * p.trees, L = (size_t{1} << p.depth) * p.trees;
  const size_t floats = I * (hyper ? in.cols + 1 : 2) + 3 * L;
  if (floats > (size_t{1} << 28)) range_fail(env, "The forest would need " + std::to_string(floats * 4 >> 20) + " MiB; use fewer trees or a smaller maxDepth");

  Napi::Object result = Napi::Object::New(env);
  ForestOut out;
  if (hyper) {
    auto normal = Napi::Float32Array::New(env, I * in.cols);
    auto offset = Napi::Float32Array::New(env, I);
    out.normal = normal.Data();
    out.offset = offset.Data();
    result.Set("normal", normal);
    result.Set("offset", offset);
  } else {
    auto feature = Napi::Int32Array::New(env, I);
    auto threshold = Napi::Float32Array::New(env, I);
    out.feature = feature.Data();
    out.threshold = threshold.Data();
    result.Set("feature", feature);
    result.Set("threshold", threshold);
  }
  auto leaf = Napi::Float32Array::New(env, L);
  auto count = Napi::Int32Array::New(env, ((size_t{2} << p.depth) - 1) * p.trees);
  out.count = count.Data();
  result.Set("count", count);
  // The threshold and the normalization table are quantiles of the training scores; beyond
  // kCalibrationRows rows they are estimated from evenly spaced rows, so fit on big data is not
  // dominated by scoring the training set.
  const size_t cal_rows = std::min(in.rows, kCalibrationRows);
  auto scores = Napi::Float32Array::New(env, cal_rows);
  out.leaf = leaf.Data();
  result.Set("leaf", leaf);
  result.Set("scores", scores);

  ForestView view;
  view.trees = p.trees;
  view.depth = p.depth;
  view.n_features = static_cast<int>(in.cols);
  view.sample_size = p.sample_size;
  view.feature = out.feature;
  view.threshold = out.threshold;
  view.normal = out.normal;
  view.offset = out.offset;
  view.leaf = out.leaf;
  const float* x = in.x.data;
  float* s = scores.Data();
  const size_t rows = in.rows, cols = in.cols;
  auto ref = Napi::Persistent(result);
  auto holder = std::make_shared<Napi::ObjectReference>(std::move(ref));
  // When the calibration batch is big enough to pay for compiling the forest, that is done once
  // here and the plan handed back for later batches (else the first big score call compiles it).
  auto plan = std::make_shared<std::shared_ptr<const ForestBatchPlan>>();
  return Job::Start(
      env,
      [=] {
        forest_fit(x, rows, cols, p, out);
        if (cal_rows >= kForestPlanMinRows) *plan = forest_batch_plan(view);
        if (cal_rows == rows) return forest_score(view, x, rows, s, p.threads, plan->get());
        std::vector<float> sample(cal_rows * cols);
        for (size_t k = 0; k < cal_rows; ++k) {
          const float* src = x + (k * rows / cal_rows) * cols;
          std::copy(src, src + cols, sample.begin() + k * cols);
        }
        forest_score(view, sample.data(), cal_rows, s, p.threads, plan->get());
      },
      [holder, plan](Napi::Env env) {
        Napi::Object r = holder->Value();
        if (*plan) r.Set("plan", plan_value(env, *plan));
        return r;
      },
      {info[0], result});
}

// The arguments of forestScore and forestScoreAsync, checked.
struct ScoreCall {
  Input in;
  ForestView f;
  Span<float> out;
  int threads;
  std::shared_ptr<const ForestBatchPlan> plan;
};

ScoreCall score_call(const Napi::CallbackInfo& info) {
  Input in = input(info);
  ForestView f = model(info, 3, in.cols);
  auto out = f32(info, 11, "out");
  expect_length(info.Env(), out, in.rows, "out");
  int threads = static_cast<int>(integer(info, 12, "threads", 0, 1024));
  return {in, f, out, threads, plan_arg(info, 13)};
}

// forestScore(x, rows, cols, trees, depth, sampleSize, feature, threshold, normal, offset, leaf, out, threads, plan?)
Napi::Value ForestScore(const Napi::CallbackInfo& info) {
  ScoreCall c = score_call(info);
  forest_score(c.f, c.in.x.data, c.in.rows, c.out.data, c.threads, c.plan.get());
  return info.Env().Undefined();
}

// forestPlan(cols, trees, depth, sampleSize, feature, threshold, normal, offset, leaf) -> a plan,
// or null when none applies. Runs on the calling thread (about as long as scoring a few hundred rows).
Napi::Value ForestPlan(const Napi::CallbackInfo& info) {
  size_t cols = static_cast<size_t>(integer(info, 0, "cols", 1, INT32_MAX));
  ForestView f = model(info, 1, cols);
  return plan_value(info.Env(), forest_batch_plan(f));
}

// Same arguments; runs off the main thread and resolves to `out`.
Napi::Value ForestScoreAsync(const Napi::CallbackInfo& info) {
  ScoreCall c = score_call(info);
  Napi::Value outv = info[11];
  auto holder = std::make_shared<Napi::ObjectReference>(Napi::Persistent(outv.As<Napi::Object>()));
  return Job::Start(
      info.Env(), [c] { forest_score(c.f, c.in.x.data, c.in.rows, c.out.data, c.threads, c.plan.get()); },
      [holder](Napi::Env) { return holder->Value(); },
      {info[0], info[6], info[7], info[8], info[9], info[10], info[11]});
}

// forestExplainAsync(x, rows, cols, trees, depth, sampleSize, feature, threshold, normal, offset,
//   leaf, count, out (rows * cols), threads) -> Promise<out>
Napi::Value ForestExplainAsync(const Napi::CallbackInfo& info) {
  Input in = input(info);
  ForestView f = model(info, 3, in.cols);
  auto count = i32(info, 11, "count");
  expect_length(info.Env(), count, f.nodes() * f.trees, "count");
  f.count = count.data;
  auto out = f32(info, 12, "out");
  expect_length(info.Env(), out, in.rows * in.cols, "out");
  int threads = static_cast<int>(integer(info, 13, "threads", 0, 1024));
  const float* x = in.x.data;
  float* o = out.data;
  size_t rows = in.rows;
  Napi::Value outv = info[12];
  auto holder = std::make_shared<Napi::ObjectReference>(Napi::Persistent(outv.As<Napi::Object>()));
  return Job::Start(
      info.Env(), [=] { forest_explain(f, x, rows, o, threads); },
      [holder](Napi::Env) { return holder->Value(); },
      {info[0], info[6], info[7], info[8], info[9], info[10], info[11], info[12]});
}

// forestCheck(cols, trees, depth, sampleSize, feature, threshold, normal, offset, leaf, count)
//   -> null when usable, else a message. Used when a saved forest is loaded.
Napi::Value ForestCheck(const Napi::CallbackInfo& info) {
  size_t cols = static_cast<size_t>(integer(info, 0, "cols", 1, INT32_MAX));
  ForestView f = model(info, 1, cols);
  auto count = i32(info, 9, "count");
  expect_length(info.Env(), count, f.nodes() * f.trees, "count");
  f.count = count.data;
  const char* msg = forest_check(f);
  return msg ? Napi::String::New(info.Env(), msg) : info.Env().Null();
}

}  // namespace

void RegisterForest(Napi::Env env, Napi::Object exports) {
  exports.Set("forestFit", Napi::Function::New(env, ForestFit, "forestFit"));
  exports.Set("forestScore", Napi::Function::New(env, ForestScore, "forestScore"));
  exports.Set("forestScoreAsync", Napi::Function::New(env, ForestScoreAsync, "forestScoreAsync"));
  exports.Set("forestExplainAsync", Napi::Function::New(env, ForestExplainAsync, "forestExplainAsync"));
  exports.Set("forestCheck", Napi::Function::New(env, ForestCheck, "forestCheck"));
  exports.Set("forestPlan", Napi::Function::New(env, ForestPlan, "forestPlan"));
}

}  // namespace nadir::addon
