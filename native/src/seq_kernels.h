// Small dense helpers shared by the sequence models (seq_lstm.cc, seq_transformer.cc), templated
// on the scalar so the gradient test hooks run them in double.
#pragma once
#include <cmath>
#include <cstddef>

namespace nadir::seq::kern {

template <class T>
inline T sigm(T x) { return T(1) / (T(1) + std::exp(-x)); }

// out[r] += sum_i M[r, i] x[i] for a row-major rows x cols M.
template <class T>
inline void matvec(T* out, const T* M, int rows, int cols, const T* x) {
  for (int r = 0; r < rows; ++r) {
    const T* m = M + static_cast<size_t>(r) * cols;
    T acc = 0;
    for (int i = 0; i < cols; ++i) acc += m[i] * x[i];
    out[r] += acc;
  }
}
// out[i] += sum_r M[r, i] d[r]
template <class T>
inline void matvec_t(T* out, const T* M, int rows, int cols, const T* d) {
  for (int r = 0; r < rows; ++r) {
    const T* m = M + static_cast<size_t>(r) * cols;
    const T dr = d[r];
    for (int i = 0; i < cols; ++i) out[i] += m[i] * dr;
  }
}
// G[r, i] += d[r] x[i]
template <class T>
inline void outer(T* G, const T* d, int rows, const T* x, int cols) {
  for (int r = 0; r < rows; ++r) {
    T* g = G + static_cast<size_t>(r) * cols;
    const T dr = d[r];
    for (int i = 0; i < cols; ++i) g[i] += dr * x[i];
  }
}

}  // namespace nadir::seq::kern
