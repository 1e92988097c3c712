#include <napi.h>

#include "modules.h"

// N-API modules are context-aware: nothing here keeps JS values in statics, so the addon loads in
// any number of worker_threads.
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nadir::addon::RegisterKernels(env, exports);
  nadir::addon::RegisterCalibrate(env, exports);
  nadir::addon::RegisterEcod(env, exports);
  nadir::addon::RegisterForest(env, exports);
  nadir::addon::RegisterNn(env, exports);
  nadir::addon::RegisterCovariance(env, exports);
  nadir::addon::RegisterGan(env, exports);
  nadir::addon::RegisterSeq(env, exports);
  nadir::addon::RegisterCascade(env, exports);
  return exports;
}

NODE_API_MODULE(nadir, Init)
