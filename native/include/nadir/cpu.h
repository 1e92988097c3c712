// Run-time SIMD dispatch. Every kernel has a scalar reference; the best level the CPU supports is
// chosen once, and can be lowered (never raised past the hardware) for tests and debugging.
#pragma once
#include <string>

#if defined(__x86_64__) || defined(_M_X64)
#define NADIR_X86 1
#define NADIR_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define NADIR_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#else
#define NADIR_X86 0
#endif

namespace nadir {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// Best level this CPU supports (ignores any override).
Isa detected_isa();
// Level kernels use now: detected, lowered by NADIR_FORCE_SCALAR=1 or set_isa().
Isa active_isa();
// Sets the active level; returns false (and changes nothing) if the CPU cannot run it.
bool set_isa(Isa isa);
// Back to the detected level (still honouring NADIR_FORCE_SCALAR).
void reset_isa();

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa* out);

}  // namespace nadir
