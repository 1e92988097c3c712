// Dense-network training and scoring (native/include/nadir/nn.h) exposed to JavaScript.
#include <napi.h>

#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/nn.h"
#include "training.h"

namespace nadir::addon {
namespace {

nn::Spec plan_arg(const Napi::CallbackInfo& info, size_t i) {
  auto p = i32(info, i, "plan");
  try {
    return nn::parse_plan(p.data, p.length);
  } catch (const std::invalid_argument& e) {
    range_fail(info.Env(), e.what());
  }
}

// The onEpoch argument: { epoch, loss, valLoss, seconds }.
Napi::Value epoch_event(Napi::Env env, const nn::EpochInfo& e) {
  Napi::Object ev = Napi::Object::New(env);
  ev.Set("epoch", e.epoch);
  ev.Set("loss", e.loss);
  ev.Set("valLoss", e.val_loss);
  ev.Set("seconds", e.seconds);
  return ev;
}

Napi::Value train_result(Napi::Env env, const nn::TrainResult& r) {
  Napi::Object out = Napi::Object::New(env);
  auto params = Napi::Float32Array::New(env, r.params.size());
  std::copy(r.params.begin(), r.params.end(), params.Data());
  auto loss = Napi::Float32Array::New(env, r.loss.size());
  std::copy(r.loss.begin(), r.loss.end(), loss.Data());
  auto val = Napi::Float32Array::New(env, r.val_loss.size());
  std::copy(r.val_loss.begin(), r.val_loss.end(), val.Data());
  out.Set("params", params);
  out.Set("loss", loss);
  out.Set("valLoss", val);
  out.Set("bestEpoch", r.best_epoch + 1);
  out.Set("stoppedEarly", r.stopped_early);
  return out;
}

// nnTrain(plan, X, rows, options, onEpoch | null, abortFlag Int32Array | null) -> Promise<{ params, loss, valLoss, bestEpoch, stoppedEarly }>
Napi::Value Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto spec = std::make_shared<nn::Spec>(plan_arg(info, 0));
  auto x = f32(info, 1, "X");
  size_t rows = static_cast<size_t>(integer(info, 2, "rows", 1, INT32_MAX));
  expect_length(env, x, rows * spec->features, "X");
  if (!info[3].IsObject()) fail(env, "an object", "options", info[3]);
  Napi::Object o = info[3].As<Napi::Object>();
  nn::TrainOptions opt;
  opt.epochs = opt_int(env, o, "epochs", 1, 1e7);
  opt.batch_size = opt_int(env, o, "batchSize", 1, 1 << 24);
  opt.learning_rate = opt_number(env, o, "learningRate", 0, 1e3);
  opt.beta1 = opt_number(env, o, "beta1", 0, 0.999999);
  opt.beta2 = opt_number(env, o, "beta2", 0, 0.99999999);
  opt.adam_eps = opt_number(env, o, "epsilon", 0, 1);
  opt.weight_decay = opt_number(env, o, "weightDecay", 0, 1e3);
  opt.dropout = opt_number(env, o, "dropout", 0, 0.99);
  opt.validation_split = opt_number(env, o, "validationSplit", 0, 0.9);
  opt.patience = opt_int(env, o, "patience", 0, 1e7);
  opt.clip_norm = opt_number(env, o, "clipNorm", 0, 1e30);
  opt.beta = opt_number(env, o, "beta", 0, 1e6);
  opt.norm_eps = opt_number(env, o, "normEpsilon", 1e-12, 1);
  opt.seed = static_cast<uint64_t>(opt_number(env, o, "seed", 0, 4294967295.0));
  opt.threads = opt_int(env, o, "threads", 1, 1024);
  // 1: the training thread waits for each onEpoch call (order, backpressure); 0: fire and forget.
  const bool wait_epoch = o.Has("waitOnEpoch") ? opt_int(env, o, "waitOnEpoch", 0, 1) == 1 : true;

  const float* xd = x.data;
  auto train = [spec, xd, rows, opt](const std::function<void(const nn::EpochInfo&)>& cb, const std::function<bool()>& stop) {
    return nn::train(*spec, xd, rows, opt, cb, stop);
  };
  return start_training<nn::EpochInfo, nn::TrainResult>(info, 4, 5, "nadir.onEpoch", wait_epoch, epoch_event, train,
                                                         train_result, {info[0], info[1], info[5]});
}

struct ScoreArgs {
  std::shared_ptr<nn::Spec> spec;
  const float* packed;
  const float* x;
  size_t rows;
  int mode, samples;
  uint64_t seed;
  float *scores, *contrib, *recon;
  int threads;
};

// (plan, packed, X, rows, mode, samples, seed, scores, contrib | null, recon | null, threads)
ScoreArgs score_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScoreArgs a;
  a.spec = std::make_shared<nn::Spec>(plan_arg(info, 0));
  const size_t d = a.spec->features;
  auto packed = f32(info, 1, "packed");
  expect_length(env, packed, a.spec->size, "packed");
  auto x = f32(info, 2, "X");
  a.rows = static_cast<size_t>(integer(info, 3, "rows", 0, INT32_MAX));
  expect_length(env, x, a.rows * d, "X");
  a.mode = static_cast<int>(integer(info, 4, "mode", 0, 1));
  if (a.mode == 1 && !a.spec->vae) range_fail(env, "Monte-Carlo scoring (mode 1) needs a VAE");
  a.samples = static_cast<int>(integer(info, 5, "samples", 1, 1 << 20));
  a.seed = static_cast<uint64_t>(integer(info, 6, "seed", 0, 4294967295LL));
  auto s = f32(info, 7, "scores");
  expect_length(env, s, a.rows, "scores");
  a.contrib = nullptr;
  a.recon = nullptr;
  if (!info[8].IsNull() && !info[8].IsUndefined()) {
    auto c = f32(info, 8, "contrib");
    expect_length(env, c, a.rows * d, "contrib");
    a.contrib = c.data;
  }
  if (!info[9].IsNull() && !info[9].IsUndefined()) {
    if (a.mode != 0) range_fail(env, "reconstruction output is only available in mode 0");
    auto r = f32(info, 9, "recon");
    expect_length(env, r, a.rows * d, "recon");
    a.recon = r.data;
  }
  a.threads = static_cast<int>(integer(info, 10, "threads", 0, 1024));
  a.packed = packed.data;
  a.x = x.data;
  a.scores = s.data;
  return a;
}

Napi::Value Score(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  nn::score(*a.spec, a.packed, a.x, a.rows, a.mode, a.samples, a.seed, a.scores, a.contrib, a.recon, a.threads);
  return info.Env().Undefined();
}

Napi::Value ScoreAsync(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  auto work = [a]() { nn::score(*a.spec, a.packed, a.x, a.rows, a.mode, a.samples, a.seed, a.scores, a.contrib, a.recon, a.threads); };
  return Job::Start(info.Env(), work, nullptr, {info[0], info[1], info[2], info[7], info[8], info[9]});
}

// nnLossGrad(plan, params F32|F64, Z same type, rows, train, dropout, seed) -> { loss, grad }
Napi::Value LossGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  nn::Spec spec = plan_arg(info, 0);
  size_t rows = static_cast<size_t>(integer(info, 3, "rows", 1, INT32_MAX));
  bool train = boolean(info, 4, "train");
  double dropout = number(info, 5, "dropout");
  if (!(dropout >= 0 && dropout < 1)) range_fail(env, "Expected dropout in [0, 1)");
  uint64_t seed = static_cast<uint64_t>(integer(info, 6, "seed", 0, 4294967295LL));
  Napi::Object out = Napi::Object::New(env);
  Napi::Value pv = info[1];
  if (pv.IsTypedArray() && pv.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
    auto p = f64(info, 1, "params");
    auto z = f64(info, 2, "Z");
    expect_length(env, p, spec.size, "params");
    expect_length(env, z, rows * spec.features, "Z");
    auto g = Napi::Float64Array::New(env, spec.size);
    double loss = nn::loss_and_grad<double>(spec, p.data, z.data, rows, train, dropout, seed, g.Data());
    out.Set("loss", loss);
    out.Set("grad", g);
  } else {
    auto p = f32(info, 1, "params");
    auto z = f32(info, 2, "Z");
    expect_length(env, p, spec.size, "params");
    expect_length(env, z, rows * spec.features, "Z");
    auto g = Napi::Float32Array::New(env, spec.size);
    double loss = nn::loss_and_grad<float>(spec, p.data, z.data, rows, train, dropout, seed, g.Data());
    out.Set("loss", loss);
    out.Set("grad", g);
  }
  return out;
}

// nnGemm(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, bias | null): test hook for the kernel.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int M = static_cast<int>(integer(info, 0, "M", 0, 1 << 20));
  int N = static_cast<int>(integer(info, 1, "N", 0, 1 << 20));
  int K = static_cast<int>(integer(info, 2, "K", 0, 1 << 20));
  auto A = f32(info, 3, "A");
  long ars = static_cast<long>(integer(info, 4, "ars", 0, 1 << 30));
  long acs = static_cast<long>(integer(info, 5, "acs", 0, 1 << 30));
  auto B = f32(info, 6, "B");
  long ldb = static_cast<long>(integer(info, 7, "ldb", 0, 1 << 30));
  auto C = f32(info, 8, "C");
  long ldc = static_cast<long>(integer(info, 9, "ldc", 0, 1 << 30));
  bool acc = boolean(info, 10, "accumulate");
  const float* bias = nullptr;
  if (!info[11].IsNull() && !info[11].IsUndefined()) {
    auto b = f32(info, 11, "bias");
    if (b.length < static_cast<size_t>(N)) range_fail(env, "bias is shorter than N");
    bias = b.data;
  }
  if (M > 0 && N > 0) {
    if (K > 0 && static_cast<size_t>((M - 1) * ars + (K - 1) * acs) >= A.length) range_fail(env, "A is too short");
    if (K > 0 && static_cast<size_t>((K - 1) * ldb + N) > B.length) range_fail(env, "B is too short");
    if (ldc < N || static_cast<size_t>((M - 1) * ldc + N) > C.length) range_fail(env, "C is too short");
    if (ldb < N && K > 1) range_fail(env, "ldb must be at least N");
  }
  nn::gemm(M, N, K, A.data, ars, acs, B.data, ldb, C.data, ldc, acc, bias);
  return env.Undefined();
}

}  // namespace

void RegisterNn(Napi::Env env, Napi::Object exports) {
  exports.Set("nnTrain", Napi::Function::New(env, Train, "nnTrain"));
  exports.Set("nnScore", Napi::Function::New(env, Score, "nnScore"));
  exports.Set("nnScoreAsync", Napi::Function::New(env, ScoreAsync, "nnScoreAsync"));
  exports.Set("nnLossGrad", Napi::Function::New(env, LossGrad, "nnLossGrad"));
  exports.Set("nnGemm", Napi::Function::New(env, Gemm, "nnGemm"));
}

}  // namespace nadir::addon
