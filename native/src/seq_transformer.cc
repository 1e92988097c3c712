// Small causal Transformer encoder forecaster: forward, hand-written backward (templated on the
// scalar so the gradient test runs in double), training windows and batch / streaming prediction.
// Only the last position feeds the head, so the last block computes queries, attention output and
// feed-forward for that position alone (keys and values for all): same result, less work.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "nadir/linalg.h"
#include "nadir/nn.h"
#include "nadir/parallel.h"
#include "nadir/seq.h"
#include "seq_kernels.h"

namespace nadir::seq {
namespace {

using kern::matvec;
using kern::matvec_t;
using kern::outer;

template <class T>
void ln_fwd(const T* x, int d, const T* g, const T* b, T* y, T* xhat, T* rstd) {
  T mu = 0, var = 0;
  for (int j = 0; j < d; ++j) mu += x[j];
  mu /= d;
  for (int j = 0; j < d; ++j) var += (x[j] - mu) * (x[j] - mu);
  var /= d;
  *rstd = T(1) / std::sqrt(var + static_cast<T>(kLayerNormEps));
  for (int j = 0; j < d; ++j) {
    xhat[j] = (x[j] - mu) * *rstd;
    y[j] = g[j] * xhat[j] + b[j];
  }
}

template <class T>
void ln_bwd(const T* dy, const T* xhat, T rstd, int d, const T* g, T* dx, T* dg, T* db) {
  T m1 = 0, m2 = 0;
  for (int j = 0; j < d; ++j) {
    const T dxh = dy[j] * g[j];
    m1 += dxh;
    m2 += dxh * xhat[j];
    dg[j] += dy[j] * xhat[j];
    db[j] += dy[j];
  }
  m1 /= d;
  m2 /= d;
  for (int j = 0; j < d; ++j) dx[j] += rstd * (dy[j] * g[j] - m1 - xhat[j] * m2);
}

// Y[r] = b + W X[r] for rows [r0, r1). W is out x in, or with `packed` (float only) in x out,
// which the GEMM of nn.h reads directly.
template <class T>
void lin(T* Y, const T* X, int r0, int r1, int in, const T* W, const T* b, int out, bool packed) {
  if constexpr (std::is_same_v<T, float>)
    if (packed) {
      nn::gemm(r1 - r0, out, in, X + static_cast<size_t>(r0) * in, in, 1, W, out, Y + static_cast<size_t>(r0) * out, out, false, b);
      return;
    }
  for (int r = r0; r < r1; ++r) {
    T* y = Y + static_cast<size_t>(r) * out;
    for (int o = 0; o < out; ++o) y[o] = b[o];
    matvec(y, W, out, in, X + static_cast<size_t>(r) * in);
  }
}
// Backward of lin: dX (+=, may be null), dW, db.
template <class T>
void lin_bwd(const T* dY, const T* X, int r0, int r1, int in, const T* W, int out, T* dX, T* dW, T* db) {
  if constexpr (std::is_same_v<T, float>) {
    // dW += dY^T X (A read transposed through its strides); dX += dY W.
    const int n = r1 - r0;
    const float* dy = dY + static_cast<size_t>(r0) * out;
    for (int r = 0; r < n; ++r)
      for (int o = 0; o < out; ++o) db[o] += dy[static_cast<size_t>(r) * out + o];
    nn::gemm(out, in, n, dy, 1, out, X + static_cast<size_t>(r0) * in, in, dW, in, true, nullptr);
    if (dX) nn::gemm(n, in, out, dy, out, 1, W, in, dX + static_cast<size_t>(r0) * in, in, true, nullptr);
    return;
  }
  for (int r = r0; r < r1; ++r) {
    const T* dy = dY + static_cast<size_t>(r) * out;
    for (int o = 0; o < out; ++o) db[o] += dy[o];
    outer(dW, dy, out, X + static_cast<size_t>(r) * in, in);
    if (dX) matvec_t(dX + static_cast<size_t>(r) * in, W, out, in, dy);
  }
}

template <class T>
struct LayerTape {
  std::vector<T> A, xh1, rs1, Q, K, V, P, O, X1, xh2, rs2, B, F;
};
template <class T>
struct TfTape {
  std::vector<std::vector<T>> X;  // input of each block, then the output of the last
  std::vector<LayerTape<T>> L;
  std::vector<T> pe, Y, xhf, y;
  T rsf = 0;
  // backward scratch
  std::vector<T> dX, dX1, dA, dO, dQ, dK, dV, dF, dB, dP;
};

template <class T>
void positions(const TfShape& s, std::vector<T>& pe) {
  const int W = s.window, d = s.width;
  if (pe.size() == static_cast<size_t>(W) * d) return;
  pe.resize(static_cast<size_t>(W) * d);
  for (int k = 0; k < W; ++k)
    for (int i = 0; i < d; ++i) {
      const double rate = std::pow(10000.0, -static_cast<double>(i - (i & 1)) / d);
      pe[static_cast<size_t>(k) * d + i] = static_cast<T>((i & 1) ? std::cos(k * rate) : std::sin(k * rate));
    }
}

// Forward over one window Zw (window x C); the head's outputs land in tp.y. `packed`: P holds the
// weight matrices transposed (tf_pack), read by the GEMM.
template <class T>
void forward(const TfShape& s, const T* P, bool packed, const T* Zw, TfTape<T>& tp) {
  const int W = s.window, d = s.width, C = s.channels, H = s.heads, dh = d / H, ff = s.ff, NL = s.layers;
  const size_t Wd = static_cast<size_t>(W) * d;
  positions(s, tp.pe);
  tp.X.resize(NL + 1);
  tp.L.resize(NL);
  tp.X[0].resize(Wd);
  lin(tp.X[0].data(), Zw, 0, W, C, P + s.win, P + s.bin, d, packed);
  for (size_t i = 0; i < Wd; ++i) tp.X[0][i] += tp.pe[i];
  const T inv = T(1) / std::sqrt(static_cast<T>(dh));
  for (int l = 0; l < NL; ++l) {
    const auto& o = s.L[l];
    auto& t = tp.L[l];
    const int q0 = l == NL - 1 ? W - 1 : 0;
    const T* X = tp.X[l].data();
    t.A.resize(Wd); t.xh1.resize(Wd); t.rs1.resize(W);
    t.Q.resize(Wd); t.K.resize(Wd); t.V.resize(Wd); t.O.assign(Wd, T(0));
    t.P.assign(static_cast<size_t>(H) * W * W, T(0));
    t.X1.resize(Wd); t.xh2.resize(Wd); t.rs2.resize(W); t.B.resize(Wd);
    t.F.resize(static_cast<size_t>(W) * ff);
    for (int r = 0; r < W; ++r)
      ln_fwd(X + r * d, d, P + o.g1, P + o.be1, &t.A[r * d], &t.xh1[r * d], &t.rs1[r]);
    lin(t.Q.data(), t.A.data(), q0, W, d, P + o.wq, P + o.bq, d, packed);
    lin(t.K.data(), t.A.data(), 0, W, d, P + o.wk, P + o.bk, d, packed);
    lin(t.V.data(), t.A.data(), 0, W, d, P + o.wv, P + o.bv, d, packed);
    for (int h = 0; h < H; ++h)
      for (int k = q0; k < W; ++k) {
        T* p = &t.P[(static_cast<size_t>(h) * W + k) * W];
        const T* q = &t.Q[k * d + h * dh];
        T mx = -1e30f;
        for (int j = 0; j <= k; ++j) {
          T sc = 0;
          const T* kk = &t.K[j * d + h * dh];
          for (int e = 0; e < dh; ++e) sc += q[e] * kk[e];
          p[j] = sc * inv;
          mx = std::max(mx, p[j]);
        }
        T sum = 0;
        for (int j = 0; j <= k; ++j) sum += (p[j] = std::exp(p[j] - mx));
        for (int j = 0; j <= k; ++j) p[j] /= sum;
        T* out = &t.O[k * d + h * dh];
        for (int j = 0; j <= k; ++j) {
          const T* v = &t.V[j * d + h * dh];
          for (int e = 0; e < dh; ++e) out[e] += p[j] * v[e];
        }
      }
    lin(t.X1.data(), t.O.data(), q0, W, d, P + o.wo, P + o.bo, d, packed);
    for (size_t i = static_cast<size_t>(q0) * d; i < Wd; ++i) t.X1[i] += X[i];
    for (int r = q0; r < W; ++r)
      ln_fwd(&t.X1[r * d], d, P + o.g2, P + o.be2, &t.B[r * d], &t.xh2[r * d], &t.rs2[r]);
    lin(t.F.data(), t.B.data(), q0, W, d, P + o.w1, P + o.b1, ff, packed);
    for (size_t i = static_cast<size_t>(q0) * ff; i < static_cast<size_t>(W) * ff; ++i) t.F[i] = t.F[i] > T(0) ? t.F[i] : T(0);
    tp.X[l + 1].resize(Wd);
    T* Xn = tp.X[l + 1].data();
    lin(Xn, t.F.data(), q0, W, ff, P + o.w2, P + o.b2, d, packed);
    for (size_t i = static_cast<size_t>(q0) * d; i < Wd; ++i) Xn[i] += t.X1[i];
  }
  tp.Y.resize(d);
  tp.xhf.resize(d);
  ln_fwd(tp.X[NL].data() + static_cast<size_t>(W - 1) * d, d, P + s.gf, P + s.bef, tp.Y.data(), tp.xhf.data(), &tp.rsf);
  const int O = s.outputs();
  tp.y.resize(O);
  if (packed) {
    lin(tp.y.data(), tp.Y.data(), 0, 1, d, P + s.head_w, P + s.head_b, O, true);
  } else {
    for (int k = 0; k < O; ++k) tp.y[k] = P[s.head_b + k];
    matvec(tp.y.data(), P + s.head_w, O, d, tp.Y.data());
  }
}

// Backward from dy (head outputs) into grad.
template <class T>
void backward(const TfShape& s, const T* P, const T* Zw, TfTape<T>& tp, const T* dy, T* grad) {
  const int W = s.window, d = s.width, C = s.channels, H = s.heads, dh = d / H, ff = s.ff, NL = s.layers;
  const size_t Wd = static_cast<size_t>(W) * d;
  const int O = s.outputs();
  const T inv = T(1) / std::sqrt(static_cast<T>(dh));
  std::vector<T> dY(d, T(0));
  for (int k = 0; k < O; ++k) grad[s.head_b + k] += dy[k];
  outer(grad + s.head_w, dy, O, tp.Y.data(), d);
  matvec_t(dY.data(), P + s.head_w, O, d, dy);
  tp.dX.assign(Wd, T(0));
  ln_bwd(dY.data(), tp.xhf.data(), tp.rsf, d, P + s.gf, tp.dX.data() + static_cast<size_t>(W - 1) * d, grad + s.gf, grad + s.bef);
  for (int l = NL - 1; l >= 0; --l) {
    const auto& o = s.L[l];
    auto& t = tp.L[l];
    const int q0 = l == NL - 1 ? W - 1 : 0;
    const T* X = tp.X[l].data();
    // Feed-forward: Xn = X1 + W2 relu(W1 B + b1) + b2.
    tp.dF.assign(static_cast<size_t>(W) * ff, T(0));
    lin_bwd(tp.dX.data(), t.F.data(), q0, W, ff, P + o.w2, d, tp.dF.data(), grad + o.w2, grad + o.b2);
    for (size_t i = static_cast<size_t>(q0) * ff; i < static_cast<size_t>(W) * ff; ++i)
      if (!(t.F[i] > T(0))) tp.dF[i] = 0;
    tp.dB.assign(Wd, T(0));
    lin_bwd(tp.dF.data(), t.B.data(), q0, W, d, P + o.w1, ff, tp.dB.data(), grad + o.w1, grad + o.b1);
    tp.dX1 = tp.dX;  // residual
    for (int r = q0; r < W; ++r)
      ln_bwd(&tp.dB[r * d], &t.xh2[r * d], t.rs2[r], d, P + o.g2, &tp.dX1[r * d], grad + o.g2, grad + o.be2);
    // Attention: X1 = X + Wo O + bo.
    tp.dO.assign(Wd, T(0));
    lin_bwd(tp.dX1.data(), t.O.data(), q0, W, d, P + o.wo, d, tp.dO.data(), grad + o.wo, grad + o.bo);
    tp.dQ.assign(Wd, T(0));
    tp.dK.assign(Wd, T(0));
    tp.dV.assign(Wd, T(0));
    tp.dP.resize(W);
    for (int h = 0; h < H; ++h)
      for (int k = q0; k < W; ++k) {
        const T* p = &t.P[(static_cast<size_t>(h) * W + k) * W];
        const T* dout = &tp.dO[k * d + h * dh];
        T dot = 0;
        for (int j = 0; j <= k; ++j) {
          const T* v = &t.V[j * d + h * dh];
          T* dv = &tp.dV[j * d + h * dh];
          T dp = 0;
          for (int e = 0; e < dh; ++e) {
            dp += dout[e] * v[e];
            dv[e] += p[j] * dout[e];
          }
          tp.dP[j] = dp;
          dot += p[j] * dp;
        }
        const T* q = &t.Q[k * d + h * dh];
        T* dq = &tp.dQ[k * d + h * dh];
        for (int j = 0; j <= k; ++j) {
          const T ds = p[j] * (tp.dP[j] - dot) * inv;
          const T* kk = &t.K[j * d + h * dh];
          T* dk = &tp.dK[j * d + h * dh];
          for (int e = 0; e < dh; ++e) {
            dq[e] += ds * kk[e];
            dk[e] += ds * q[e];
          }
        }
      }
    tp.dA.assign(Wd, T(0));
    lin_bwd(tp.dQ.data(), t.A.data(), q0, W, d, P + o.wq, d, tp.dA.data(), grad + o.wq, grad + o.bq);
    lin_bwd(tp.dK.data(), t.A.data(), 0, W, d, P + o.wk, d, tp.dA.data(), grad + o.wk, grad + o.bk);
    lin_bwd(tp.dV.data(), t.A.data(), 0, W, d, P + o.wv, d, tp.dA.data(), grad + o.wv, grad + o.bv);
    // Residual into X, plus the first layer norm.
    tp.dX = tp.dX1;
    for (int r = 0; r < q0; ++r)
      for (int j = 0; j < d; ++j) tp.dX[r * d + j] = 0;
    for (int r = 0; r < W; ++r)
      ln_bwd(&tp.dA[r * d], &t.xh1[r * d], t.rs1[r], d, P + o.g1, &tp.dX[r * d], grad + o.g1, grad + o.be1);
    (void)X;
  }
  lin_bwd(tp.dX.data(), Zw, 0, W, C, P + s.win, d, static_cast<T*>(nullptr), grad + s.win, grad + s.bin);
}

// Q: P packed (forward through the GEMM, float) or null (plain loops).
template <class T>
double window_grad(const TfShape& s, const T* P, const T* Q, const T* Z, size_t start, double scale, T* grad, TfTape<T>& tp) {
  const int C = s.channels, O = s.outputs();
  const T* Zw = Z + start * C;
  forward(s, Q ? Q : P, Q != nullptr, Zw, tp);
  std::vector<T> dy(O);
  double loss = 0;
  for (int k = 0; k < O; ++k) {
    const T e = tp.y[k] - Z[(start + s.window + k / C) * C + k % C];
    loss += static_cast<double>(e) * e;
    dy[k] = static_cast<T>(2 * scale) * e;
  }
  backward(s, P, Zw, tp, dy.data(), grad);
  return loss;
}

}  // namespace

std::vector<float> tf_pack(const TfShape& s, const float* P) {
  std::vector<float> q(P, P + s.size);
  auto transpose = [&](size_t off, int rows, int cols) {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) q[off + static_cast<size_t>(c) * rows + r] = P[off + static_cast<size_t>(r) * cols + c];
  };
  const int d = s.width;
  transpose(s.win, d, s.channels);
  for (const auto& L : s.L) {
    for (size_t w : {L.wq, L.wk, L.wv, L.wo}) transpose(w, d, d);
    transpose(L.w1, s.ff, d);
    transpose(L.w2, d, s.ff);
  }
  transpose(s.head_w, s.outputs(), d);
  return q;
}

TfShape tf_shape(const int32_t* meta, size_t n) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("Invalid Transformer shape: " + m); };
  if (n != 8 || meta[0] != 1) bad("expected [1, channels, width, heads, layers, horizon, window, ff]");
  TfShape s;
  s.channels = meta[1]; s.width = meta[2]; s.heads = meta[3]; s.layers = meta[4];
  s.horizon = meta[5]; s.window = meta[6]; s.ff = meta[7];
  if (s.channels < 1 || s.channels > 4096) bad("channels must be in [1, 4096]");
  if (s.width < 1 || s.width > 4096) bad("width must be in [1, 4096]");
  if (s.heads < 1 || s.width % s.heads != 0) bad("heads must divide the width");
  if (s.layers < 1 || s.layers > 16) bad("layers must be in [1, 16]");
  if (s.horizon < 1 || s.horizon > 1024) bad("horizon must be in [1, 1024]");
  if (s.window < 1 || s.window > 4096) bad("window must be in [1, 4096]");
  if (s.ff < 1 || s.ff > 65536) bad("ff must be in [1, 65536]");
  const size_t d = s.width, C = s.channels;
  size_t off = 0;
  auto take = [&](size_t n) { size_t o = off; off += n; return o; };
  s.win = take(d * C);
  s.bin = take(d);
  for (int l = 0; l < s.layers; ++l) {
    TfShape::Layer L{};
    L.g1 = take(d); L.be1 = take(d);
    L.wq = take(d * d); L.wk = take(d * d); L.wv = take(d * d); L.wo = take(d * d);
    L.bq = take(d); L.bk = take(d); L.bv = take(d); L.bo = take(d);
    L.g2 = take(d); L.be2 = take(d);
    L.w1 = take(d * s.ff); L.b1 = take(s.ff);
    L.w2 = take(d * s.ff); L.b2 = take(d);
    s.L.push_back(L);
  }
  s.gf = take(d);
  s.bef = take(d);
  s.head_w = take(d * s.outputs());
  s.head_b = take(s.outputs());
  s.size = off;
  return s;
}

std::vector<float> tf_init(const TfShape& s, uint64_t seed) {
  std::vector<float> p(s.size, 0.f);
  SplitMix rng(seed ^ 0x7f0du);
  auto fill = [&](size_t off, size_t n, int fan_in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (size_t i = 0; i < n; ++i) p[off + i] = static_cast<float>((static_cast<double>(rng.next() >> 11) * 0x1.0p-53 * 2 - 1) * bound);
  };
  const size_t d = s.width;
  fill(s.win, d * s.channels, s.channels);
  for (const auto& L : s.L) {
    for (size_t j = 0; j < d; ++j) p[L.g1 + j] = p[L.g2 + j] = 1.f;
    fill(L.wq, d * d, s.width); fill(L.wk, d * d, s.width); fill(L.wv, d * d, s.width); fill(L.wo, d * d, s.width);
    fill(L.w1, d * s.ff, s.width); fill(L.w2, d * s.ff, s.ff);
  }
  for (size_t j = 0; j < d; ++j) p[s.gf + j] = 1.f;
  fill(s.head_w, d * s.outputs(), s.width);
  return p;
}

template <class T>
double tf_loss_grad(const TfShape& s, const T* params, const T* Z, size_t len, const uint32_t* starts, size_t n, T* grad) {
  TfTape<T> tp;
  // In float the forward pass runs through the GEMM on the packed blob, as in training.
  std::vector<float> packed;
  const T* Q = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    packed = tf_pack(s, params);
    Q = packed.data();
  }
  double loss = 0;
  for (size_t i = 0; i < n; ++i) {
    if (static_cast<size_t>(starts[i]) + s.window + s.horizon > len)
      throw std::invalid_argument("window " + std::to_string(i) + " runs past the end of the series");
    loss += window_grad(s, params, Q, Z, starts[i], 1.0, grad, tp);
  }
  return loss;
}
template double tf_loss_grad<float>(const TfShape&, const float*, const float*, size_t, const uint32_t*, size_t, float*);
template double tf_loss_grad<double>(const TfShape&, const double*, const double*, size_t, const uint32_t*, size_t, double*);

TrainResult tf_train(const TfShape& s, const float* Z, size_t T, const TrainOptions& opt,
                     const std::function<bool()>& should_stop) {
  if (T < static_cast<size_t>(s.window) + s.horizon) throw std::invalid_argument("the series is shorter than window + horizon");
  const size_t n_windows = T - s.window - s.horizon + 1;
  auto fn = [&](const float* P, const uint32_t* starts, size_t n, double scale, float* grad) {
    thread_local TfTape<float> tp;  // one per worker thread
    const std::vector<float> Q = tf_pack(s, P);
    double loss = 0;
    for (size_t i = 0; i < n; ++i) loss += window_grad(s, P, Q.data(), Z, starts[i], scale, grad, tp);
    return loss;
  };
  return train_windows(tf_init(s, opt.seed), n_windows, static_cast<size_t>(s.outputs()), opt, fn, should_stop);
}

void tf_predict(const TfShape& s, const float* packed, const float* Z, size_t T, size_t first, float* preds, int threads) {
  const int C = s.channels;
  if (first < static_cast<size_t>(s.window) || first > T) throw std::invalid_argument("first must be in [window, length]");
  const size_t n = T + 1 - first;
  parallel_for(n, n >= 64 ? threads : 1, [&](size_t b, size_t e, int) {
    thread_local TfTape<float> tp;
    for (size_t i = b; i < e; ++i) {
      forward(s, packed, true, Z + (first + i - s.window) * C, tp);
      std::copy(tp.y.begin(), tp.y.begin() + C, preds + i * C);
    }
  });
}

}  // namespace nadir::seq
