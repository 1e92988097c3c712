// Stacked LSTM forecaster: forward, backpropagation through time over training windows
// (templated on the scalar so the gradient test runs in double), and the stateful inference step.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "nadir/linalg.h"
#include "nadir/nn.h"
#include "nadir/seq.h"
#include "seq_kernels.h"

namespace nadir::seq {
namespace {

using kern::sigm;

template <class T>
struct Tape {
  std::vector<T> gates, c, tc, h;  // per layer, window steps each: 4H, H, H, H
  std::vector<T> y, dy, dh, dx, dz, dhn, dcn;
};

// The blob with every W, U and Wh transposed (inputs x outputs): what the GEMM reads.
template <class T>
void pack_into(const LstmShape& s, const T* P, std::vector<T>& q) {
  q.assign(P, P + s.size);
  auto transpose = [&](size_t off, int rows, int cols) {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) q[off + static_cast<size_t>(c) * rows + r] = P[off + static_cast<size_t>(r) * cols + c];
  };
  for (int l = 0; l < s.layers; ++l) {
    transpose(s.w[l], 4 * s.hidden, s.inputs(l));
    transpose(s.u[l], 4 * s.hidden, s.hidden);
  }
  transpose(s.head_w, s.outputs(), s.hidden);
}

// One window: forward, loss (sum of squared errors) and gradient scaled by `scale`. P is the blob,
// Q the same packed. Per layer, the input terms of all steps are one GEMM, the recurrent term one
// GEMM per step; backward mirrors it (weight gradients as GEMMs over all steps at once).
template <class T>
double window_grad(const LstmShape& s, const T* P, const T* Q, const T* Z, size_t start, int W,
                   double scale, T* grad, Tape<T>& tp) {
  using nn::gemmT;
  const int H = s.hidden, G = 4 * H, C = s.channels, L = s.layers, O = s.outputs();
  const size_t lw = static_cast<size_t>(W);
  tp.gates.resize(L * lw * G);
  tp.c.resize(L * lw * H);
  tp.tc.resize(L * lw * H);
  tp.h.resize(L * lw * H);
  auto input = [&](int l) { return l == 0 ? Z + start * C : tp.h.data() + (l - 1) * lw * H; };
  for (int l = 0; l < L; ++l) {
    const int I = s.inputs(l);
    T* gates = tp.gates.data() + l * lw * G;
    gemmT(W, G, I, input(l), I, 1, Q + s.w[l], G, gates, G, false, Q + s.b[l]);
    for (int k = 0; k < W; ++k) {
      T* z = gates + k * G;
      const size_t at = (l * lw + k) * H;
      if (k) gemmT(1, G, H, tp.h.data() + at - H, H, 1, Q + s.u[l], G, z, G, true, nullptr);
      T* c = tp.c.data() + at;
      T* tc = tp.tc.data() + at;
      T* h = tp.h.data() + at;
      for (int j = 0; j < H; ++j) {
        T i = sigm(z[j]), f = sigm(z[H + j]), g = std::tanh(z[2 * H + j]), o = sigm(z[3 * H + j]);
        z[j] = i; z[H + j] = f; z[2 * H + j] = g; z[3 * H + j] = o;
        c[j] = (k ? f * c[j - H] : T(0)) + i * g;
        tc[j] = std::tanh(c[j]);
        h[j] = o * tc[j];
      }
    }
  }
  // Head at every step.
  const T* top = tp.h.data() + (L - 1) * lw * H;
  tp.y.resize(lw * O);
  tp.dy.resize(lw * O);
  gemmT(W, O, H, top, H, 1, Q + s.head_w, O, tp.y.data(), O, false, Q + s.head_b);
  double loss = 0;
  for (int k = 0; k < W; ++k)
    for (int o = 0; o < O; ++o) {
      const T e = tp.y[k * O + o] - Z[(start + k + 1 + o / C) * C + o % C];
      loss += static_cast<double>(e) * e;
      const T d = static_cast<T>(2 * scale) * e;
      tp.dy[k * O + o] = d;
      grad[s.head_b + o] += d;
    }
  gemmT(O, H, W, tp.dy.data(), 1, O, top, H, grad + s.head_w, H, true, nullptr);
  tp.dh.resize(lw * H);
  gemmT(W, H, O, tp.dy.data(), O, 1, P + s.head_w, H, tp.dh.data(), H, false, nullptr);
  // Backpropagation through time, layer by layer from the top.
  tp.dz.resize(lw * G);
  tp.dhn.resize(H);
  tp.dcn.resize(H);
  for (int l = L - 1; l >= 0; --l) {
    const int I = s.inputs(l);
    std::fill(tp.dhn.begin(), tp.dhn.end(), T(0));
    std::fill(tp.dcn.begin(), tp.dcn.end(), T(0));
    for (int k = W - 1; k >= 0; --k) {
      const size_t at = (l * lw + k) * H;
      const T* a = tp.gates.data() + (l * lw + k) * G;
      const T* tc = tp.tc.data() + at;
      T* dz = tp.dz.data() + k * G;
      for (int j = 0; j < H; ++j) {
        const T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
        const T cp = k ? tp.c[at - H + j] : T(0);
        const T dh = tp.dh[k * H + j] + tp.dhn[j];
        const T dc = tp.dcn[j] + dh * o * (T(1) - tc[j] * tc[j]);
        dz[j] = dc * g * i * (T(1) - i);
        dz[H + j] = dc * cp * f * (T(1) - f);
        dz[2 * H + j] = dc * i * (T(1) - g * g);
        dz[3 * H + j] = dh * tc[j] * o * (T(1) - o);
        tp.dcn[j] = dc * f;
      }
      if (k) gemmT(1, H, G, dz, G, 1, P + s.u[l], H, tp.dhn.data(), H, false, nullptr);
    }
    for (int k = 0; k < W; ++k)
      for (int j = 0; j < G; ++j) grad[s.b[l] + j] += tp.dz[k * G + j];
    gemmT(G, I, W, tp.dz.data(), 1, G, input(l), I, grad + s.w[l], I, true, nullptr);
    if (W > 1) gemmT(G, H, W - 1, tp.dz.data() + G, 1, G, tp.h.data() + l * lw * H, H, grad + s.u[l], H, true, nullptr);
    if (l > 0) {
      tp.dx.resize(lw * I);
      gemmT(W, I, G, tp.dz.data(), G, 1, P + s.w[l], I, tp.dx.data(), I, false, nullptr);
      tp.dh.swap(tp.dx);  // dx of this layer is dh of the one below
    }
  }
  return loss;
}

}  // namespace

LstmShape lstm_shape(const int32_t* meta, size_t n) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("Invalid LSTM shape: " + m); };
  if (n != 5 || meta[0] != 1) bad("expected [1, channels, hidden, layers, horizon]");
  LstmShape s;
  s.channels = meta[1];
  s.hidden = meta[2];
  s.layers = meta[3];
  s.horizon = meta[4];
  if (s.channels < 1 || s.channels > 4096) bad("channels must be in [1, 4096]");
  if (s.hidden < 1 || s.hidden > 4096) bad("hidden must be in [1, 4096]");
  if (s.layers < 1 || s.layers > 16) bad("layers must be in [1, 16]");
  if (s.horizon < 1 || s.horizon > 1024) bad("horizon must be in [1, 1024]");
  const size_t H = s.hidden, G = 4 * H;
  size_t off = 0;
  for (int l = 0; l < s.layers; ++l) {
    s.w.push_back(off);
    off += G * s.inputs(l);
    s.u.push_back(off);
    off += G * H;
    s.b.push_back(off);
    off += G;
  }
  s.head_w = off;
  off += static_cast<size_t>(s.outputs()) * H;
  s.head_b = off;
  off += s.outputs();
  s.size = off;
  return s;
}

std::vector<float> lstm_init(const LstmShape& s, uint64_t seed) {
  std::vector<float> p(s.size);
  SplitMix rng(seed ^ 0x15f3u);
  const double bound = 1.0 / std::sqrt(static_cast<double>(s.hidden));
  for (auto& x : p) x = static_cast<float>((static_cast<double>(rng.next() >> 11) * 0x1.0p-53 * 2 - 1) * bound);
  // Forget-gate bias 1: remember by default (Jozefowicz et al. 2015).
  for (int l = 0; l < s.layers; ++l)
    for (int j = 0; j < s.hidden; ++j) p[s.b[l] + s.hidden + j] = 1.f;
  return p;
}

template <class T>
double lstm_loss_grad(const LstmShape& s, const T* params, const T* Z, size_t len, int window,
                      const uint32_t* starts, size_t n, T* grad) {
  Tape<T> tp;
  std::vector<T> Q;
  pack_into(s, params, Q);
  double loss = 0;
  for (size_t i = 0; i < n; ++i) {
    if (window < 1 || static_cast<size_t>(starts[i]) + window + s.horizon > len)
      throw std::invalid_argument("window " + std::to_string(i) + " runs past the end of the series");
    loss += window_grad(s, params, Q.data(), Z, starts[i], window, 1.0, grad, tp);
  }
  return loss;
}
template double lstm_loss_grad<float>(const LstmShape&, const float*, const float*, size_t, int, const uint32_t*, size_t, float*);
template double lstm_loss_grad<double>(const LstmShape&, const double*, const double*, size_t, int, const uint32_t*, size_t, double*);

TrainResult lstm_train(const LstmShape& s, const float* Z, size_t T, const TrainOptions& opt,
                       const std::function<bool()>& should_stop) {
  if (T < static_cast<size_t>(opt.window) + s.horizon) throw std::invalid_argument("the series is shorter than window + horizon");
  const size_t n_windows = T - opt.window - s.horizon + 1;
  auto fn = [&](const float* P, const uint32_t* starts, size_t n, double scale, float* grad) {
    thread_local Tape<float> tp;  // one per worker thread
    thread_local std::vector<float> Q;
    pack_into(s, P, Q);
    double loss = 0;
    for (size_t i = 0; i < n; ++i) loss += window_grad(s, P, Q.data(), Z, starts[i], opt.window, scale, grad, tp);
    return loss;
  };
  return train_windows(lstm_init(s, opt.seed), n_windows, static_cast<size_t>(opt.window) * s.outputs(), opt, fn, should_stop);
}

std::vector<float> lstm_pack(const LstmShape& s, const float* P) {
  std::vector<float> q;
  pack_into(s, P, q);
  return q;
}

void lstm_run(const LstmShape& s, const float* Q, const float* Z, size_t T, float* state, float* preds) {
  const int H = s.hidden, G = 4 * H, C = s.channels, O = s.outputs();
  thread_local std::vector<float> z;
  if (z.size() < static_cast<size_t>(G)) z.resize(G);
  float* hs = state;
  float* cs = state + static_cast<size_t>(s.layers) * H;
  float* top = hs + static_cast<size_t>(s.layers - 1) * H;
  for (size_t t = 0; t < T; ++t) {
    // Forecast of step t from the state before it (first horizon step only).
    nn::gemm(1, C, H, top, H, 1, Q + s.head_w, O, preds + t * C, C, false, Q + s.head_b);
    for (int l = 0; l < s.layers; ++l) {
      const int I = s.inputs(l);
      const float* x = l == 0 ? Z + t * C : hs + static_cast<size_t>(l - 1) * H;
      float* h = hs + static_cast<size_t>(l) * H;
      float* c = cs + static_cast<size_t>(l) * H;
      nn::gemm(1, G, I, x, I, 1, Q + s.w[l], G, z.data(), G, false, Q + s.b[l]);
      nn::gemm(1, G, H, h, H, 1, Q + s.u[l], G, z.data(), G, true, nullptr);
      for (int j = 0; j < H; ++j) {
        const float i = sigm(z[j]), f = sigm(z[H + j]), g = std::tanh(z[2 * H + j]), o = sigm(z[3 * H + j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * std::tanh(c[j]);
      }
    }
  }
}

}  // namespace nadir::seq
