#include <napi.h>

#include "args.h"
#include "async.h"
#include "modules.h"
#include "nadir/cpu.h"
#include "nadir/kernels.h"

namespace nadir::addon {
namespace {

Napi::Value SimdInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("detected", isa_name(detected_isa()));
  o.Set("active", isa_name(active_isa()));
  return o;
}

// setSimd('scalar' | 'avx2' | 'avx512' | 'auto')
Napi::Value SetSimd(const Napi::CallbackInfo& info) {
  std::string name = string(info, 0, "level");
  if (name == "auto") {
    reset_isa();
    return Napi::String::New(info.Env(), isa_name(active_isa()));
  }
  Isa isa;
  if (!parse_isa(name, &isa))
    range_fail(info.Env(), "Expected 'auto', 'scalar', 'avx2' or 'avx512' for level but received '" + name + "'");
  if (!set_isa(isa))
    range_fail(info.Env(), "This CPU cannot run the '" + name + "' kernels (best available: " +
                               isa_name(detected_isa()) + ")");
  return Napi::String::New(info.Env(), isa_name(active_isa()));
}

Napi::Value SumF32(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), sum_f32(x.data, x.length));
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), static_cast<double>(first_non_finite(x.data, x.length)));
}

// sortScores(x Float32Array) -> Float64Array: x ascending, NaNs last.
Napi::Value SortScores(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  auto out = Napi::Float64Array::New(info.Env(), x.length);
  sort_scores(x.data, x.length, out.Data());
  return out;
}

// reconError(x, r, rows, cols, kind 0|1, out Float32Array(rows), contrib Float32Array(rows*cols) | null)
Napi::Value ReconError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32(info, 0, "x");
  auto r = f32(info, 1, "reconstruction");
  size_t rows = static_cast<size_t>(integer(info, 2, "rows", 0, INT32_MAX));
  size_t cols = static_cast<size_t>(integer(info, 3, "cols", 1, INT32_MAX));
  auto kind = static_cast<ErrorKind>(integer(info, 4, "kind", 0, 1));
  expect_length(env, x, rows * cols, "x");
  expect_length(env, r, rows * cols, "reconstruction");
  auto out = f32(info, 5, "out");
  expect_length(env, out, rows, "out");
  float* contrib = nullptr;
  if (!info[6].IsNull() && !info[6].IsUndefined()) {
    auto c = f32(info, 6, "contrib");
    expect_length(env, c, rows * cols, "contrib");
    contrib = c.data;
  }
  recon_error(x.data, r.data, rows, cols, kind, out.data, contrib);
  return env.Undefined();
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("simdInfo", Napi::Function::New(env, SimdInfo, "simdInfo"));
  exports.Set("setSimd", Napi::Function::New(env, SetSimd, "setSimd"));
  exports.Set("sumF32", Napi::Function::New(env, SumF32, "sumF32"));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite, "firstNonFinite"));
  exports.Set("sortScores", Napi::Function::New(env, SortScores, "sortScores"));
  exports.Set("reconError", Napi::Function::New(env, ReconError, "reconError"));
}

}  // namespace nadir::addon
