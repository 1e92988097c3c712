// Argument checks for the addon layer. Every native entry point re-checks what TypeScript already
// validated: a wrong argument is a thrown JS error naming it, never a crash.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace nadir::addon {

template <class T>
struct Span {
  T* data = nullptr;
  size_t length = 0;
};

inline std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "number " + v.ToString().Utf8Value();
  if (v.IsBoolean()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint32_array: return "Uint32Array";
      case napi_uint8_array: return "Uint8Array";
      default: return "another typed array";
    }
  }
  if (v.IsArray()) return "Array";
  if (v.IsFunction()) return "function";
  return "object";
}

[[noreturn]] inline void fail(Napi::Env env, const std::string& what, const char* name,
                              const Napi::Value& got) {
  throw Napi::TypeError::New(env, "Expected " + what + " for " + name + " but received " +
                                      describe(got));
}

[[noreturn]] inline void range_fail(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

template <class T, napi_typedarray_type K>
Span<T> typed(const Napi::CallbackInfo& info, size_t i, const char* name, const char* what) {
  // One napi call per argument (type, length and data together): latency paths pass several arrays.
  Napi::Value v = info[i];
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != K)
    fail(info.Env(), what, name, v);
  return Span<T>{static_cast<T*>(data), length};
}

inline Span<float> f32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed<float, napi_float32_array>(info, i, name, "Float32Array");
}
inline Span<double> f64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed<double, napi_float64_array>(info, i, name, "Float64Array");
}
inline Span<int32_t> i32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed<int32_t, napi_int32_array>(info, i, name, "Int32Array");
}
inline Span<uint32_t> u32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed<uint32_t, napi_uint32_array>(info, i, name, "Uint32Array");
}
inline Span<uint8_t> u8(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed<uint8_t, napi_uint8_array>(info, i, name, "Uint8Array");
}

inline double number(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) fail(info.Env(), "a number", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == d)) fail(info.Env(), "a number (not NaN)", name, v);
  return d;
}

// Integer in [lo, hi].
inline int64_t integer(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo,
                       int64_t hi) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) fail(info.Env(), "an integer", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d)))
    range_fail(info.Env(), std::string("Expected an integer in [") + std::to_string(lo) + ", " +
                               std::to_string(hi) + "] for " + name + " but received " + describe(v));
  return static_cast<int64_t>(d);
}

inline bool boolean(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) fail(info.Env(), "a boolean", name, v);
  return v.As<Napi::Boolean>().Value();
}

inline std::string string(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsString()) fail(info.Env(), "a string", name, v);
  return v.As<Napi::String>().Utf8Value();
}

// Checks that a buffer holds exactly `expected` elements.
template <class T>
void expect_length(Napi::Env env, const Span<T>& s, size_t expected, const char* name) {
  if (s.length != expected)
    range_fail(env, std::string("Expected ") + std::to_string(expected) + " elements in " + name +
                        " but received " + std::to_string(s.length));
}

// A number field of an options object, in [lo, hi].
inline double opt_number(Napi::Env env, const Napi::Object& o, const char* name, double lo, double hi) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected a number for options.") + name + " but received " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi))
    throw Napi::RangeError::New(env, std::string("Expected options.") + name + " in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] but received " + std::to_string(d));
  return d;
}

// An integer field of an options object, in [lo, hi].
inline int opt_int(Napi::Env env, const Napi::Object& o, const char* name, double lo, double hi) {
  double d = opt_number(env, o, name, lo, hi);
  if (d != std::floor(d)) throw Napi::RangeError::New(env, std::string("Expected an integer for options.") + name);
  return static_cast<int>(d);
}

}  // namespace nadir::addon
