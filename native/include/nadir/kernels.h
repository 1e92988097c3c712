// Elementwise and reduction kernels shared by detectors. Each dispatching function uses the active
// ISA (see cpu.h); the *_scalar functions are the references the SIMD paths are tested against.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nadir {

enum class ErrorKind : int { Squared = 0, Absolute = 1 };

// Sum of n floats (accumulated in float lanes, folded in double). Used as the bandwidth reference.
double sum_f32(const float* x, size_t n);
double sum_f32_scalar(const float* x, size_t n);

// Index of the first NaN or +-Inf in x, or -1 when all values are finite.
int64_t first_non_finite(const float* x, size_t n);
int64_t first_non_finite_scalar(const float* x, size_t n);

// x ascending into out (as doubles); NaNs last. Linear time (radix sort).
void sort_scores(const float* x, size_t n, double* out);

// Per-row reconstruction error between x and r (both rows x cols, row-major):
// out[i] = sum_j e(x_ij - r_ij), with e = d^2 (Squared) or |d| (Absolute).
// If contrib is non-null it receives the per-feature terms (rows x cols), which sum to out[i].
void recon_error(const float* x, const float* r, size_t rows, size_t cols, ErrorKind kind,
                 float* out, float* contrib);
void recon_error_scalar(const float* x, const float* r, size_t rows, size_t cols, ErrorKind kind,
                        float* out, float* contrib);

}  // namespace nadir
