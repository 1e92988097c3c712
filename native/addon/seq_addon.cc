// Sequence forecasters (native/include/nadir/seq.h) exposed to JavaScript.
#include <napi.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/seq.h"
#include "training.h"

namespace nadir::addon {
namespace {

template <class Shape, Shape (*Parse)(const int32_t*, size_t)>
std::shared_ptr<Shape> shape_arg(const Napi::CallbackInfo& info, size_t i) {
  auto m = i32(info, i, "meta");
  try {
    return std::make_shared<Shape>(Parse(m.data, m.length));
  } catch (const std::invalid_argument& e) {
    range_fail(info.Env(), e.what());
  }
}
auto lstm_arg = shape_arg<seq::LstmShape, seq::lstm_shape>;
auto tf_arg = shape_arg<seq::TfShape, seq::tf_shape>;

// options Float64Array: [epochs, batchSize, window, learningRate, clipNorm, maxSamples, seed, threads]
seq::TrainOptions train_options(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  auto o = f64(info, i, "options");
  expect_length(env, o, 8, "options");
  auto in = [&](int k, const char* name, double lo, double hi, bool integral) {
    double v = o.data[k];
    if (!(v >= lo && v <= hi) || (integral && v != std::floor(v)))
      range_fail(env, std::string("Expected ") + (integral ? "an integer" : "a number") + " in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "] for options." + name + " but received " + std::to_string(v));
    return v;
  };
  seq::TrainOptions t;
  t.epochs = static_cast<int>(in(0, "epochs", 1, 1e7, true));
  t.batch_size = static_cast<int>(in(1, "batchSize", 1, 1 << 24, true));
  t.window = static_cast<int>(in(2, "window", 1, 1 << 16, true));
  t.learning_rate = in(3, "learningRate", 0, 1e3, false);
  t.clip_norm = in(4, "clipNorm", 0, 1e30, false);
  t.max_samples = static_cast<size_t>(in(5, "maxSamples", 0, 1e12, true));
  t.seed = static_cast<uint64_t>(in(6, "seed", 0, 4294967295.0, true));
  t.threads = static_cast<int>(in(7, "threads", 1, 1024, true));
  return t;
}

// Series argument: a Float32Array of rows x channels.
const float* series_arg(const Napi::CallbackInfo& info, size_t i, size_t len_index, int channels, size_t* len, size_t min_len = 0) {
  auto z = f32(info, i, "Z");
  *len = static_cast<size_t>(integer(info, len_index, "length", static_cast<int64_t>(min_len), INT32_MAX));
  expect_length(info.Env(), z, *len * channels, "Z");
  return z.data;
}

Napi::Value train_result(Napi::Env env, const seq::TrainResult& r) {
  Napi::Object out = Napi::Object::New(env);
  auto p = Napi::Float32Array::New(env, r.params.size());
  std::copy(r.params.begin(), r.params.end(), p.Data());
  auto l = Napi::Float32Array::New(env, r.loss.size());
  std::copy(r.loss.begin(), r.loss.end(), l.Data());
  out.Set("params", p);
  out.Set("loss", l);
  return out;
}

// seqLstmTrain(meta, Z, length, options, abortFlag | null) -> Promise<{ params, loss }>
Napi::Value LstmTrain(const Napi::CallbackInfo& info) {
  auto s = lstm_arg(info, 0);
  size_t len;
  const float* z = series_arg(info, 1, 2, s->channels, &len);
  seq::TrainOptions opt = train_options(info, 3);
  if (len < static_cast<size_t>(opt.window) + s->horizon)
    range_fail(info.Env(), "the series has " + std::to_string(len) + " steps but training needs at least window + horizon = " + std::to_string(opt.window + s->horizon));
  auto flag = abort_arg(info, 4);
  auto res = std::make_shared<seq::TrainResult>();
  auto work = [s, z, len, opt, flag, res]() { *res = seq::lstm_train(*s, z, len, opt, [flag] { return flag && *flag != 0; }); };
  auto done = [res](Napi::Env env) { return train_result(env, *res); };
  return Job::Start(info.Env(), work, done, {info[0], info[1], info[4]});
}

// seqLstmPack(meta, params) -> Float32Array (inference layout)
Napi::Value LstmPack(const Napi::CallbackInfo& info) {
  auto s = lstm_arg(info, 0);
  auto p = f32(info, 1, "params");
  expect_length(info.Env(), p, s->size, "params");
  auto q = seq::lstm_pack(*s, p.data);
  auto out = Napi::Float32Array::New(info.Env(), q.size());
  std::copy(q.begin(), q.end(), out.Data());
  return out;
}

struct RunArgs {
  std::shared_ptr<seq::LstmShape> s;
  const float *packed, *z;
  float *state, *preds;
  size_t len;
};
// (meta, packed, Z, length, state, preds)
RunArgs run_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RunArgs a;
  a.s = lstm_arg(info, 0);
  auto q = f32(info, 1, "packed");
  expect_length(env, q, a.s->size, "packed");
  a.packed = q.data;
  a.z = series_arg(info, 2, 3, a.s->channels, &a.len);
  auto st = f32(info, 4, "state");
  expect_length(env, st, a.s->state_size(), "state");
  auto pr = f32(info, 5, "preds");
  if (pr.length < a.len * a.s->channels) range_fail(env, "preds is shorter than length x channels");
  a.state = st.data;
  a.preds = pr.data;
  return a;
}

Napi::Value LstmRun(const Napi::CallbackInfo& info) {
  RunArgs a = run_args(info);
  seq::lstm_run(*a.s, a.packed, a.z, a.len, a.state, a.preds);
  return info.Env().Undefined();
}

Napi::Value LstmRunAsync(const Napi::CallbackInfo& info) {
  RunArgs a = run_args(info);
  auto work = [a]() { seq::lstm_run(*a.s, a.packed, a.z, a.len, a.state, a.preds); };
  return Job::Start(info.Env(), work, nullptr, {info[0], info[1], info[2], info[4], info[5]});
}

// Gradient hooks: (meta, params F32|F64, Z same type, length, [window,] starts Uint32Array) -> { loss, grad }
template <class Shape, class Fn>
Napi::Value loss_grad(const Napi::CallbackInfo& info, const Shape& s, size_t channels, size_t starts_index, Fn fn) {
  Napi::Env env = info.Env();
  size_t len = static_cast<size_t>(integer(info, 3, "length", 1, INT32_MAX));
  auto st = u32(info, starts_index, "starts");
  Napi::Object out = Napi::Object::New(env);
  try {
    if (info[1].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
      auto p = f64(info, 1, "params");
      auto z = f64(info, 2, "Z");
      expect_length(env, p, s.size, "params");
      expect_length(env, z, len * channels, "Z");
      auto g = Napi::Float64Array::New(env, s.size);
      out.Set("loss", fn(p.data, z.data, len, st.data, st.length, g.Data()));
      out.Set("grad", g);
    } else {
      auto p = f32(info, 1, "params");
      auto z = f32(info, 2, "Z");
      expect_length(env, p, s.size, "params");
      expect_length(env, z, len * channels, "Z");
      auto g = Napi::Float32Array::New(env, s.size);
      out.Set("loss", fn(p.data, z.data, len, st.data, st.length, g.Data()));
      out.Set("grad", g);
    }
  } catch (const std::invalid_argument& e) {
    range_fail(env, e.what());
  }
  return out;
}

Napi::Value LstmLossGrad(const Napi::CallbackInfo& info) {
  auto s = lstm_arg(info, 0);
  int window = static_cast<int>(integer(info, 4, "window", 1, 1 << 16));
  return loss_grad(info, *s, s->channels, 5, [&](auto* p, auto* z, size_t len, const uint32_t* st, size_t n, auto* g) {
    return seq::lstm_loss_grad(*s, p, z, len, window, st, n, g);
  });
}

// seqTfTrain(meta, Z, length, options, abortFlag | null) -> Promise<{ params, loss }>
Napi::Value TfTrain(const Napi::CallbackInfo& info) {
  auto s = tf_arg(info, 0);
  size_t len;
  const float* z = series_arg(info, 1, 2, s->channels, &len);
  seq::TrainOptions opt = train_options(info, 3);
  opt.window = s->window;
  if (len < static_cast<size_t>(s->window) + s->horizon)
    range_fail(info.Env(), "the series has " + std::to_string(len) + " steps but training needs at least window + horizon = " + std::to_string(s->window + s->horizon));
  auto flag = abort_arg(info, 4);
  auto res = std::make_shared<seq::TrainResult>();
  auto work = [s, z, len, opt, flag, res]() { *res = seq::tf_train(*s, z, len, opt, [flag] { return flag && *flag != 0; }); };
  auto done = [res](Napi::Env env) { return train_result(env, *res); };
  return Job::Start(info.Env(), work, done, {info[0], info[1], info[4]});
}

// seqTfPack(meta, params) -> Float32Array (inference layout)
Napi::Value TfPack(const Napi::CallbackInfo& info) {
  auto s = tf_arg(info, 0);
  auto p = f32(info, 1, "params");
  expect_length(info.Env(), p, s->size, "params");
  auto q = seq::tf_pack(*s, p.data);
  auto out = Napi::Float32Array::New(info.Env(), q.size());
  std::copy(q.begin(), q.end(), out.Data());
  return out;
}

struct PredictArgs {
  std::shared_ptr<seq::TfShape> s;
  const float *packed, *z;
  float* preds;
  size_t len, first;
  int threads;
};
// (meta, packed, Z, length, first, preds, threads)
PredictArgs predict_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PredictArgs a;
  a.s = tf_arg(info, 0);
  auto p = f32(info, 1, "packed");
  expect_length(env, p, a.s->size, "packed");
  a.packed = p.data;
  a.z = series_arg(info, 2, 3, a.s->channels, &a.len);
  a.first = static_cast<size_t>(integer(info, 4, "first", a.s->window, INT32_MAX));
  if (a.first > a.len) range_fail(env, "first is past the end of the series");
  auto pr = f32(info, 5, "preds");
  if (pr.length < (a.len + 1 - a.first) * a.s->channels) range_fail(env, "preds is shorter than (length + 1 - first) x channels");
  a.preds = pr.data;
  a.threads = static_cast<int>(integer(info, 6, "threads", 1, 1024));
  return a;
}

Napi::Value TfPredict(const Napi::CallbackInfo& info) {
  PredictArgs a = predict_args(info);
  seq::tf_predict(*a.s, a.packed, a.z, a.len, a.first, a.preds, 1);
  return info.Env().Undefined();
}

Napi::Value TfPredictAsync(const Napi::CallbackInfo& info) {
  PredictArgs a = predict_args(info);
  auto work = [a]() { seq::tf_predict(*a.s, a.packed, a.z, a.len, a.first, a.preds, a.threads); };
  return Job::Start(info.Env(), work, nullptr, {info[0], info[1], info[2], info[5]});
}

Napi::Value TfLossGrad(const Napi::CallbackInfo& info) {
  auto s = tf_arg(info, 0);
  return loss_grad(info, *s, s->channels, 4, [&](auto* p, auto* z, size_t len, const uint32_t* st, size_t n, auto* g) {
    return seq::tf_loss_grad(*s, p, z, len, st, n, g);
  });
}

}  // namespace

void RegisterSeq(Napi::Env env, Napi::Object exports) {
  exports.Set("seqLstmTrain", Napi::Function::New(env, LstmTrain, "seqLstmTrain"));
  exports.Set("seqLstmPack", Napi::Function::New(env, LstmPack, "seqLstmPack"));
  exports.Set("seqLstmRun", Napi::Function::New(env, LstmRun, "seqLstmRun"));
  exports.Set("seqLstmRunAsync", Napi::Function::New(env, LstmRunAsync, "seqLstmRunAsync"));
  exports.Set("seqLstmLossGrad", Napi::Function::New(env, LstmLossGrad, "seqLstmLossGrad"));
  exports.Set("seqTfTrain", Napi::Function::New(env, TfTrain, "seqTfTrain"));
  exports.Set("seqTfPack", Napi::Function::New(env, TfPack, "seqTfPack"));
  exports.Set("seqTfPredict", Napi::Function::New(env, TfPredict, "seqTfPredict"));
  exports.Set("seqTfPredictAsync", Napi::Function::New(env, TfPredictAsync, "seqTfPredictAsync"));
  exports.Set("seqTfLossGrad", Napi::Function::New(env, TfLossGrad, "seqTfLossGrad"));
}

}  // namespace nadir::addon
