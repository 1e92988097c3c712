// BiGAN training and scoring (native/include/nadir/gan.h) exposed to JavaScript.
#include <napi.h>

#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/gan.h"
#include "training.h"

namespace nadir::addon {
namespace {

gan::Spec plan_arg(const Napi::CallbackInfo& info, size_t i) {
  auto p = i32(info, i, "plan");
  try {
    return gan::parse_plan(p.data, p.length);
  } catch (const std::invalid_argument& e) {
    range_fail(info.Env(), e.what());
  }
}

constexpr int kEpochFields = 8;  // epoch, dLoss, gLoss, cycleLoss, dReal, dFake, varRatio, seconds

void put_epoch(const gan::EpochInfo& e, double* out) {
  const double v[kEpochFields] = {static_cast<double>(e.epoch), e.d_loss, e.g_loss, e.cycle_loss, e.d_real, e.d_fake, e.var_ratio, e.seconds};
  std::copy(v, v + kEpochFields, out);
}

// The onEpoch argument: a Float64Array of kEpochFields.
Napi::Value epoch_event(Napi::Env env, const gan::EpochInfo& e) {
  auto arr = Napi::Float64Array::New(env, kEpochFields);
  put_epoch(e, arr.Data());
  return arr;
}

Napi::Value train_result(Napi::Env env, const gan::TrainResult& r) {
  Napi::Object out = Napi::Object::New(env);
  auto params = Napi::Float32Array::New(env, r.params.size());
  std::copy(r.params.begin(), r.params.end(), params.Data());
  auto epochs = Napi::Float64Array::New(env, r.epochs.size() * kEpochFields);
  for (size_t i = 0; i < r.epochs.size(); ++i) put_epoch(r.epochs[i], epochs.Data() + i * kEpochFields);
  out.Set("params", params);
  out.Set("epochs", epochs);
  return out;
}

// ganTrain(plan, X, rows, options, onEpoch | null, abortFlag Int32Array | null)
//   -> Promise<{ params: Float32Array, epochs: Float64Array (8 per epoch) }>
Napi::Value Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto spec = std::make_shared<gan::Spec>(plan_arg(info, 0));
  auto x = f32(info, 1, "X");
  size_t rows = static_cast<size_t>(integer(info, 2, "rows", 2, INT32_MAX));
  expect_length(env, x, rows * spec->features, "X");
  if (!info[3].IsObject()) fail(env, "an object", "options", info[3]);
  Napi::Object o = info[3].As<Napi::Object>();
  gan::TrainOptions opt;
  opt.epochs = opt_int(env, o, "epochs", 1, 1e7);
  opt.batch_size = opt_int(env, o, "batchSize", 1, 1 << 24);
  opt.lr_g = opt_number(env, o, "generatorLearningRate", 0, 10);
  opt.lr_d = opt_number(env, o, "discriminatorLearningRate", 0, 10);
  opt.beta1 = opt_number(env, o, "beta1", 0, 0.999999);
  opt.beta2 = opt_number(env, o, "beta2", 0, 0.99999999);
  opt.real_label = opt_number(env, o, "realLabel", 0.5, 1);
  opt.cycle_weight = opt_number(env, o, "cycleWeight", 0, 1e6);
  opt.spectral_norm = opt_int(env, o, "spectralNorm", 0, 1) == 1;
  opt.average = opt_int(env, o, "averageWeights", 0, 1) == 1;
  opt.collapse_samples = opt_int(env, o, "collapseSamples", 2, 1 << 20);
  opt.seed = static_cast<uint64_t>(opt_number(env, o, "seed", 0, 4294967295.0));

  const float* xd = x.data;
  auto train = [spec, xd, rows, opt](const std::function<void(const gan::EpochInfo&)>& cb, const std::function<bool()>& stop) {
    return gan::train(*spec, xd, rows, opt, cb, stop);
  };
  // The training thread always waits for onEpoch (order, and calls before the promise settles).
  return start_training<gan::EpochInfo, gan::TrainResult>(info, 4, 5, "nadir.ganOnEpoch", true, epoch_event, train,
                                                           train_result, {info[0], info[1], info[5]});
}

struct ScoreArgs {
  std::shared_ptr<gan::Spec> spec;
  const float *packed, *x;
  size_t rows;
  gan::ScoreKind kind;
  float weights[3];
  float *scores, *contrib, *components;
  int threads;
};

// (plan, packed, X, rows, kind 0..3, weights Float32Array(3), scores, contrib | null, components | null, threads)
ScoreArgs score_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScoreArgs a;
  a.spec = std::make_shared<gan::Spec>(plan_arg(info, 0));
  const size_t d = a.spec->features;
  auto packed = f32(info, 1, "packed");
  expect_length(env, packed, a.spec->size, "packed");
  auto x = f32(info, 2, "X");
  a.rows = static_cast<size_t>(integer(info, 3, "rows", 0, INT32_MAX));
  expect_length(env, x, a.rows * d, "X");
  a.kind = static_cast<gan::ScoreKind>(integer(info, 4, "kind", 0, 3));
  auto w = f32(info, 5, "weights");
  expect_length(env, w, 3, "weights");
  std::copy(w.data, w.data + 3, a.weights);
  auto s = f32(info, 6, "scores");
  expect_length(env, s, a.rows, "scores");
  a.contrib = nullptr;
  a.components = nullptr;
  if (!info[7].IsNull() && !info[7].IsUndefined()) {
    auto c = f32(info, 7, "contrib");
    expect_length(env, c, a.rows * d, "contrib");
    a.contrib = c.data;
  }
  if (!info[8].IsNull() && !info[8].IsUndefined()) {
    auto c = f32(info, 8, "components");
    expect_length(env, c, a.rows * 3, "components");
    a.components = c.data;
  }
  a.threads = static_cast<int>(integer(info, 9, "threads", 0, 1024));
  a.packed = packed.data;
  a.x = x.data;
  a.scores = s.data;
  return a;
}

Napi::Value Score(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  gan::score(*a.spec, a.packed, a.x, a.rows, a.kind, a.weights, a.scores, a.contrib, a.components, a.threads);
  return info.Env().Undefined();
}

Napi::Value ScoreAsync(const Napi::CallbackInfo& info) {
  ScoreArgs a = score_args(info);
  auto work = [a]() { gan::score(*a.spec, a.packed, a.x, a.rows, a.kind, a.weights, a.scores, a.contrib, a.components, a.threads); };
  return Job::Start(info.Env(), work, nullptr, {info[0], info[1], info[2], info[6], info[7], info[8]});
}

// ganLossGrad(plan, params F64, Z F64, zp F64, rows, player 0|1, realLabel, cycleWeight) -> { loss, grad }
Napi::Value LossGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  gan::Spec spec = plan_arg(info, 0);
  auto p = f64(info, 1, "params");
  auto z = f64(info, 2, "Z");
  auto zp = f64(info, 3, "zp");
  size_t rows = static_cast<size_t>(integer(info, 4, "rows", 1, 1 << 20));
  int player = static_cast<int>(integer(info, 5, "player", 0, 1));
  double real_label = number(info, 6, "realLabel");
  double cycle = number(info, 7, "cycleWeight");
  expect_length(env, p, spec.size, "params");
  expect_length(env, z, rows * spec.features, "Z");
  expect_length(env, zp, rows * spec.latent, "zp");
  auto g = Napi::Float64Array::New(env, spec.size);
  double loss = gan::loss_and_grad(spec, p.data, z.data, zp.data, rows, player, real_label, cycle, g.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", loss);
  out.Set("grad", g);
  return out;
}

// ganSpectralBackward(W F64 (out x in), out, in, u F64, v F64, sigma, gSn F64) -> dL/dW F64
Napi::Value SpectralBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto w = f64(info, 0, "W");
  int out = static_cast<int>(integer(info, 1, "out", 1, 1 << 16));
  int in = static_cast<int>(integer(info, 2, "in", 1, 1 << 16));
  auto u = f64(info, 3, "u");
  auto v = f64(info, 4, "v");
  double sigma = number(info, 5, "sigma");
  auto g = f64(info, 6, "gSn");
  const size_t n = static_cast<size_t>(out) * in;
  expect_length(env, w, n, "W");
  expect_length(env, u, out, "u");
  expect_length(env, v, in, "v");
  expect_length(env, g, n, "gSn");
  if (!(sigma > 0)) range_fail(env, "Expected sigma > 0");
  auto r = Napi::Float64Array::New(env, n);
  gan::spectral_backward<double>(w.data, out, in, u.data, v.data, sigma, g.data, r.Data());
  return r;
}

}  // namespace

void RegisterGan(Napi::Env env, Napi::Object exports) {
  exports.Set("ganTrain", Napi::Function::New(env, Train, "ganTrain"));
  exports.Set("ganScore", Napi::Function::New(env, Score, "ganScore"));
  exports.Set("ganScoreAsync", Napi::Function::New(env, ScoreAsync, "ganScoreAsync"));
  exports.Set("ganLossGrad", Napi::Function::New(env, LossGrad, "ganLossGrad"));
  exports.Set("ganSpectralBackward", Napi::Function::New(env, SpectralBackward, "ganSpectralBackward"));
}

}  // namespace nadir::addon
