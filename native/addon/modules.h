// Each native module registers its functions on the addon's exports.
#pragma once
#include <napi.h>

namespace nadir::addon {
void RegisterKernels(Napi::Env env, Napi::Object exports);
void RegisterCalibrate(Napi::Env env, Napi::Object exports);
void RegisterEcod(Napi::Env env, Napi::Object exports);
void RegisterForest(Napi::Env env, Napi::Object exports);
void RegisterNn(Napi::Env env, Napi::Object exports);
void RegisterCovariance(Napi::Env env, Napi::Object exports);
void RegisterGan(Napi::Env env, Napi::Object exports);
void RegisterSeq(Napi::Env env, Napi::Object exports);
void RegisterCascade(Napi::Env env, Napi::Object exports);
}  // namespace nadir::addon
