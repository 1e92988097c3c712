#include "nadir/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace nadir {
namespace {

Isa probe() {
#if NADIR_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa env_default() {
  const char* v = std::getenv("NADIR_FORCE_SCALAR");
  if (v && *v && std::strcmp(v, "0") != 0) return Isa::Scalar;
  return detected_isa();
}

std::atomic<int>& active() {
  static std::atomic<int> level{static_cast<int>(env_default())};
  return level;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = probe();
  return isa;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

bool set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa())) return false;
  active().store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

void reset_isa() { active().store(static_cast<int>(env_default()), std::memory_order_relaxed); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "scalar") { *out = Isa::Scalar; return true; }
  if (name == "avx2") { *out = Isa::Avx2; return true; }
  if (name == "avx512") { *out = Isa::Avx512; return true; }
  return false;
}

}  // namespace nadir
