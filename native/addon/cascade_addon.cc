#include <napi.h>

#include <string>
#include <vector>

#include "args.h"
#include "modules.h"
#include "nadir/calibrate.h"
#include "nadir/cascade.h"

namespace nadir::addon {
namespace {

bool absent(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

// cascadeRoute(scores, quantiles, mean, std, tieBreak, band (f64 [lowRaw, highRaw, low, high, blend]) | null,
//              rows | null, lo | null, span | null, x (n x cols) | null, cols, out, stage, index)
// One stage's pass: scale its scores (tie-break ecdf), decide what it decides into out / stage, and
// for a routing stage (band given) return { forwarded, normal, rows, lo, span, data } for the next
// stage (data = the forwarded rows' features); for the last stage (band null) { forwarded: 0, normal: 0 }.
Napi::Value CascadeRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto scores = f32(info, 0, "scores");
  auto q = f32(info, 1, "quantiles");
  if (q.length < 2) range_fail(env, "Expected at least 2 quantiles but received " + std::to_string(q.length));
  const double mean = number(info, 2, "mean");
  const double sd = number(info, 3, "std");
  const double w = number(info, 4, "tieBreak");
  const size_t n = scores.length;
  const bool routing = !absent(info[5]);
  CascadeBand band{};
  if (routing) {
    auto b = f64(info, 5, "band");
    expect_length(env, b, 5, "band");
    band = {b.data[0], b.data[1], b.data[2], b.data[3], b.data[4]};
  }
  auto out = f32(info, 11, "out");
  auto stage = u8(info, 12, "stage");
  expect_length(env, stage, out.length, "stage");
  const auto index = static_cast<uint8_t>(integer(info, 13, "index", 0, 255));
  CascadePlace place;
  if (absent(info[6])) {
    if (n > out.length) range_fail(env, "scores has " + std::to_string(n) + " rows but out only " + std::to_string(out.length));
  } else {
    auto rows = i32(info, 6, "rows");
    auto lo = f64(info, 7, "lo");
    auto span = f64(info, 8, "span");
    expect_length(env, rows, n, "rows");
    expect_length(env, lo, n, "lo");
    expect_length(env, span, n, "span");
    for (size_t k = 0; k < n; k++)
      if (rows.data[k] < 0 || static_cast<size_t>(rows.data[k]) >= out.length)
        range_fail(env, "rows[" + std::to_string(k) + "] = " + std::to_string(rows.data[k]) + " is outside the " + std::to_string(out.length) + " output rows");
    place = {rows.data, lo.data, span.data};
  }
  std::vector<float> scaled(n);
  calibrate_scores(scores.data, n, q.data, q.length, mean, sd, CalibrationKind::kTieBreak, w, scaled.data());
  Napi::Object result = Napi::Object::New(env);
  size_t normal = 0;
  if (!routing) {
    cascade_decide(scores.data, scaled.data(), n, nullptr, place, out.data, stage.data, index, nullptr, &normal);
    result.Set("forwarded", 0.0);
    result.Set("normal", 0.0);
    return result;
  }
  auto x = f32(info, 9, "x");
  const auto cols = static_cast<size_t>(integer(info, 10, "cols", 1, 1 << 30));
  if (x.length != n * cols) range_fail(env, "x holds " + std::to_string(x.length) + " values but " + std::to_string(n) + " rows x " + std::to_string(cols) + " columns need " + std::to_string(n * cols));
  std::vector<int32_t> next(n);
  const size_t count = cascade_decide(scores.data, scaled.data(), n, &band, place, out.data, stage.data, index, next.data(), &normal);
  auto rows = Napi::Int32Array::New(env, count);
  auto lo = Napi::Float64Array::New(env, count);
  auto span = Napi::Float64Array::New(env, count);
  auto data = Napi::Float32Array::New(env, count * cols);
  cascade_forward(scaled.data(), next.data(), count, band, place, x.data, cols, rows.Data(), lo.Data(), span.Data(), data.Data());
  result.Set("forwarded", static_cast<double>(count));
  result.Set("normal", static_cast<double>(normal));
  result.Set("rows", rows);
  result.Set("lo", lo);
  result.Set("span", span);
  result.Set("data", data);
  return result;
}

}  // namespace

void RegisterCascade(Napi::Env env, Napi::Object exports) {
  exports.Set("cascadeRoute", Napi::Function::New(env, CascadeRoute, "cascadeRoute"));
}

}  // namespace nadir::addon
