#include <napi.h>

#include "args.h"
#include "modules.h"
#include "nadir/calibrate.h"

namespace nadir::addon {
namespace {

// calibrate(scores, quantiles, mean, std, kind 0..4, tieBreak, out)
Napi::Value Calibrate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = f32(info, 0, "scores");
  auto q = f32(info, 1, "quantiles");
  if (q.length < 2) range_fail(env, "Expected at least 2 quantiles but received " + std::to_string(q.length));
  double mean = number(info, 2, "mean");
  double sd = number(info, 3, "std");
  auto kind = static_cast<CalibrationKind>(integer(info, 4, "kind", 0, 4));
  double w = number(info, 5, "tieBreak");
  auto out = f32(info, 6, "out");
  expect_length(env, out, s.length, "out");
  calibrate_scores(s.data, s.length, q.data, q.length, mean, sd, kind, w, out.data);
  return env.Undefined();
}

}  // namespace

void RegisterCalibrate(Napi::Env env, Napi::Object exports) {
  exports.Set("calibrate", Napi::Function::New(env, Calibrate, "calibrate"));
}

}  // namespace nadir::addon
