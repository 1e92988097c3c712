// Dense autoencoder / VAE: forward, backward, Adam, the training loop and inference scoring.
// The layer math is templated on the scalar type so the gradient test hook can run it in double;
// training and inference run it in float with the SIMD GEMM (nn_gemm.cc).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <memory>
#include <thread>

#include "nadir/cpu.h"
#include "nadir/kernels.h"
#include "nadir/nn.h"
#include "nadir/parallel.h"
#if NADIR_X86
#include <immintrin.h>
#endif

namespace nadir::nn {
namespace {

// ---------------------------------------------------------------- randomness (seeded, portable)

inline uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL);
  return splitmix(s);
}

struct Rng {
  uint64_t s;
  bool have = false;
  double spare = 0;
  explicit Rng(uint64_t seed = 0) : s(seed) {}
  uint64_t next() { return splitmix(s); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Box-Muller; draws come in pairs.
  double gauss() {
    if (have) { have = false; return spare; }
    double u = std::max(uniform(), 1e-300), v = uniform();
    double r = std::sqrt(-2.0 * std::log(u)), t = 6.283185307179586 * v;
    spare = r * std::sin(t);
    have = true;
    return r * std::cos(t);
  }
};

// ---------------------------------------------------------------- one dense layer

template <class T>
struct LP {
  const T* wt;  // inputs x outputs
  const T* w;   // outputs x inputs (backward only)
  const T* b;
  const T* g;
  const T* be;
  T eps;
};

template <class T>
inline void activate(Act act, T* a, size_t n) {
  switch (act) {
    case Act::Relu:
      for (size_t i = 0; i < n; ++i) a[i] = a[i] > T(0) ? a[i] : T(0);
      break;
    case Act::Tanh:
      for (size_t i = 0; i < n; ++i) a[i] = std::tanh(a[i]);
      break;
    case Act::Sigmoid:
      for (size_t i = 0; i < n; ++i) a[i] = T(1) / (T(1) + std::exp(-a[i]));
      break;
    case Act::LeakyRelu:
      for (size_t i = 0; i < n; ++i) a[i] = a[i] > T(0) ? a[i] : T(kLeakySlope) * a[i];
      break;
    default: break;
  }
}

// a = act(norm(X W^T + b)). With norm, xhat (rows x out) keeps the normalized values and rstd the
// per-row 1/sqrt(var + eps) for the backward pass; inference passes xhat = nullptr.
template <class T>
void layer_forward(const LayerSpec& L, const LP<T>& P, const T* X, int rows, T* a, T* xhat, T* rstd) {
  T* z = (L.norm && xhat) ? xhat : a;
  gemmT(rows, L.out, L.in, X, L.in, 1, P.wt, L.out, z, L.out, false, P.b);
  if (L.norm) {
    const int n = L.out;
    for (int r = 0; r < rows; ++r) {
      T* zr = z + static_cast<size_t>(r) * n;
      T mean = 0, var = 0;
      for (int j = 0; j < n; ++j) mean += zr[j];
      mean /= n;
      for (int j = 0; j < n; ++j) var += (zr[j] - mean) * (zr[j] - mean);
      var /= n;
      T rs = T(1) / std::sqrt(var + P.eps);
      if (rstd) rstd[r] = rs;
      T* ar = a + static_cast<size_t>(r) * n;
      for (int j = 0; j < n; ++j) {
        T xh = (zr[j] - mean) * rs;
        zr[j] = xh;
        ar[j] = P.g[j] * xh + P.be[j];
      }
    }
  }
  activate(L.act, a, static_cast<size_t>(rows) * L.out);
}

// ---------------------------------------------------------------- parameters and workspace

template <class T>
struct Net {
  const Spec& spec;
  T* P;
  std::vector<std::vector<T>> wt;
  Net(const Spec& s, T* params) : spec(s), P(params), wt(s.layers.size()) {
    for (size_t l = 0; l < s.layers.size(); ++l)
      wt[l].resize(static_cast<size_t>(s.layers[l].in) * s.layers[l].out);
  }
  // Keeps the transposed weights the forward GEMM reads in step with P.
  void refresh() {
    for (size_t l = 0; l < spec.layers.size(); ++l) {
      const LayerSpec& L = spec.layers[l];
      const T* w = P + L.w;
      T* t = wt[l].data();
      for (int o = 0; o < L.out; ++o)
        for (int i = 0; i < L.in; ++i) t[static_cast<size_t>(i) * L.out + o] = w[static_cast<size_t>(o) * L.in + i];
    }
  }
  LP<T> lp(size_t l) const {
    const LayerSpec& L = spec.layers[l];
    return LP<T>{wt[l].data(), P + L.w, P + L.b, L.norm ? P + L.gamma : nullptr,
                 L.norm ? P + L.beta : nullptr, L.norm ? P[L.eps] : T(0)};
  }
};

template <class T>
struct Workspace {
  struct Buf {
    std::vector<T> a, xhat, rstd, mask, o, d;
  };
  int cap = 0;
  std::vector<Buf> L;
  std::vector<T> eps, sample, dsample, diff;
  std::vector<T> grad;
  void ensure(const Spec& s, int rows) {
    if (grad.size() != s.size) grad.assign(s.size, T(0));
    if (rows <= cap) return;
    cap = rows;
    L.resize(s.layers.size());
    for (size_t l = 0; l < s.layers.size(); ++l) {
      const LayerSpec& ls = s.layers[l];
      size_t n = static_cast<size_t>(rows) * ls.out;
      Buf& b = L[l];
      b.a.resize(n);
      b.d.resize(n);
      if (ls.norm) { b.xhat.resize(n); b.rstd.resize(rows); }
      if (ls.dropout) { b.mask.resize(n); b.o.resize(n); }
    }
    diff.resize(static_cast<size_t>(rows) * s.features);
    if (s.vae) {
      size_t n = static_cast<size_t>(rows) * s.latent();
      eps.resize(n);
      sample.resize(n);
      dsample.resize(n);
    }
  }
};

// Backward through one layer. g (rows x out) holds dLoss/d(layer output) on entry and is
// overwritten; a is the layer's output; mask (or null) the dropout mask; xhat/rstd the layer-norm
// values (when L.norm). Parameter gradients are written to gw, gb and (with norm) gn = [dgamma,
// dbeta]; dX, when given, receives dLoss/dX (or gains it with add_dX).
template <class T>
void layer_backward_raw(const LayerSpec& L, const LP<T>& P, const T* X, int n, T* g, const T* a,
                        const T* mask, const T* xhat_p, const T* rstd, T* gw, T* gb, T* gn, T* dX,
                        bool add_dX) {
  const int out = L.out;
  const size_t total = static_cast<size_t>(n) * out;
  if (mask)
    for (size_t i = 0; i < total; ++i) g[i] *= mask[i];
  switch (L.act) {
    case Act::Relu:
      for (size_t i = 0; i < total; ++i) g[i] = a[i] > T(0) ? g[i] : T(0);
      break;
    case Act::Tanh:
      for (size_t i = 0; i < total; ++i) g[i] *= T(1) - a[i] * a[i];
      break;
    case Act::Sigmoid:
      for (size_t i = 0; i < total; ++i) g[i] *= a[i] * (T(1) - a[i]);
      break;
    case Act::LeakyRelu:
      for (size_t i = 0; i < total; ++i) g[i] = a[i] > T(0) ? g[i] : T(kLeakySlope) * g[i];
      break;
    default: break;
  }
  if (L.norm) {
    T* dg = gn;
    T* dbe = gn + out;
    std::fill(dg, dg + out, T(0));
    std::fill(dbe, dbe + out, T(0));
    const T* xh = xhat_p;
    for (int r = 0; r < n; ++r)
      for (int j = 0; j < out; ++j) {
        dg[j] += g[static_cast<size_t>(r) * out + j] * xh[static_cast<size_t>(r) * out + j];
        dbe[j] += g[static_cast<size_t>(r) * out + j];
      }
    for (int r = 0; r < n; ++r) {
      T* gr = g + static_cast<size_t>(r) * out;
      const T* xr = xh + static_cast<size_t>(r) * out;
      T m1 = 0, m2 = 0;
      for (int j = 0; j < out; ++j) {
        T gh = gr[j] * P.g[j];
        m1 += gh;
        m2 += gh * xr[j];
      }
      m1 /= out;
      m2 /= out;
      T rs = rstd[r];
      for (int j = 0; j < out; ++j) gr[j] = rs * (gr[j] * P.g[j] - m1 - xr[j] * m2);
    }
  }
  T* db = gb;
  std::fill(db, db + out, T(0));
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < out; ++j) db[j] += g[static_cast<size_t>(r) * out + j];
  // dW (out x in) = g^T (out x n) . X (n x in)
  gemmT(out, L.in, n, g, 1, out, X, L.in, gw, L.in, false, nullptr);
  if (dX) gemmT(n, L.in, out, g, out, 1, P.w, L.in, dX, L.in, add_dX, nullptr);
}

// The trainer's form: b.d holds dLoss/d(layer output) on entry (it is overwritten); the parameter
// gradients go into grad at the layer's offsets and, when dX is given, dLoss/dX (or adds to it).
template <class T>
void layer_backward(const LayerSpec& L, const LP<T>& P, const T* X, int n,
                    typename Workspace<T>::Buf& b, bool dropout, T* grad, T* dX, bool add_dX) {
  layer_backward_raw(L, P, X, n, b.d.data(), b.a.data(), dropout ? b.mask.data() : nullptr,
                     L.norm ? b.xhat.data() : nullptr, L.norm ? b.rstd.data() : nullptr, grad + L.w,
                     grad + L.b, L.norm ? grad + L.gamma : nullptr, dX, add_dX);
}

// Dropout masks (0 or 1/keep) and VAE noise for one row, drawn from that row's own stream so they
// do not depend on how the batch is split across threads.
template <class T>
void draw_row(const Spec& s, Workspace<T>& w, int r, uint64_t seed, double dropout) {
  Rng rng(seed);
  if (dropout > 0) {
    const uint32_t thr = static_cast<uint32_t>(std::lround((1.0 - dropout) * 65536.0));
    const T keep = T(1) / static_cast<T>(1.0 - dropout);
    for (size_t l = 0; l < s.layers.size(); ++l) {
      const LayerSpec& L = s.layers[l];
      if (!L.dropout) continue;
      T* m = w.L[l].mask.data() + static_cast<size_t>(r) * L.out;
      uint64_t bits = 0;
      for (int j = 0; j < L.out; ++j) {
        if ((j & 3) == 0) bits = rng.next();
        m[j] = (static_cast<uint32_t>(bits & 0xffff) < thr) ? keep : T(0);
        bits >>= 16;
      }
    }
  }
  if (s.vae) {
    const int k = s.latent();
    T* e = w.eps.data() + static_cast<size_t>(r) * k;
    for (int j = 0; j < k; ++j) e[j] = static_cast<T>(rng.gauss());
  }
}

template <class T>
const T* layer_output(const Workspace<T>& w, const LayerSpec& L, size_t l, bool train_dropout) {
  return (L.dropout && train_dropout) ? w.L[l].o.data() : w.L[l].a.data();
}

template <class T>
void forward_train_layer(const Spec& s, const Net<T>& net, Workspace<T>& w, size_t l, const T* X,
                         int n, bool dropout_on) {
  const LayerSpec& L = s.layers[l];
  auto& b = w.L[l];
  layer_forward(L, net.lp(l), X, n, b.a.data(), L.norm ? b.xhat.data() : nullptr,
                L.norm ? b.rstd.data() : nullptr);
  if (L.dropout && dropout_on) {
    size_t total = static_cast<size_t>(n) * L.out;
    for (size_t i = 0; i < total; ++i) b.o[i] = b.a[i] * b.mask[i];
  }
}

// Forward (and optionally backward) over n rows of standardized Z. Returns the unscaled loss sum
// (squared errors + beta * KL); gradients are of scale * that sum, written into w.grad.
template <class T>
double run_rows(const Spec& s, const Net<T>& net, Workspace<T>& w, const T* Z, int n, bool train,
                bool backward, double dropout, const uint64_t* rowseed, double scale) {
  w.ensure(s, n);
  const bool drop_on = train && dropout > 0;
  if (train && (drop_on || s.vae))
    for (int r = 0; r < n; ++r) draw_row(s, w, r, rowseed[r], drop_on ? dropout : 0.0);
  const int d = s.features;
  const size_t nl = s.layers.size();
  const T beta = s.vae ? net.P[s.beta] : T(0);
  const T* x = Z;
  const T* recon = nullptr;
  const T *h = Z, *mu = nullptr, *lv = nullptr, *smp = nullptr;
  int k = 0;
  if (!s.vae) {
    for (size_t l = 0; l < nl; ++l) {
      forward_train_layer(s, net, w, l, x, n, drop_on);
      x = layer_output(w, s.layers[l], l, drop_on);
    }
    recon = x;
  } else {
    const size_t ne = static_cast<size_t>(s.n_encoder);
    for (size_t l = 0; l < ne; ++l) {
      forward_train_layer(s, net, w, l, x, n, drop_on);
      x = layer_output(w, s.layers[l], l, drop_on);
    }
    h = x;
    forward_train_layer(s, net, w, ne, h, n, false);
    forward_train_layer(s, net, w, ne + 1, h, n, false);
    mu = w.L[ne].a.data();
    lv = w.L[ne + 1].a.data();
    k = s.latent();
    if (train) {
      T* sp = w.sample.data();
      for (size_t i = 0; i < static_cast<size_t>(n) * k; ++i) sp[i] = mu[i] + std::exp(T(0.5) * lv[i]) * w.eps[i];
      smp = sp;
    } else {
      smp = mu;
    }
    x = smp;
    for (size_t l = ne + 2; l < nl; ++l) {
      forward_train_layer(s, net, w, l, x, n, drop_on);
      x = layer_output(w, s.layers[l], l, drop_on);
    }
    recon = x;
  }
  // Loss
  double sq = 0, kl = 0;
  T* dl = w.L[nl - 1].d.data();
  for (size_t i = 0; i < static_cast<size_t>(n) * d; ++i) {
    T e = recon[i] - Z[i];
    sq += static_cast<double>(e) * e;
    dl[i] = static_cast<T>(2 * scale) * e;
  }
  if (s.vae)
    for (size_t i = 0; i < static_cast<size_t>(n) * k; ++i)
      kl += -0.5 * (1.0 + lv[i] - static_cast<double>(mu[i]) * mu[i] - std::exp(static_cast<double>(lv[i])));
  const double loss = sq + static_cast<double>(beta) * kl;
  if (!backward) return loss;

  T* grad = w.grad.data();
  if (!s.vae) {
    for (size_t l = nl; l-- > 0;) {
      const T* in = l == 0 ? Z : layer_output(w, s.layers[l - 1], l - 1, drop_on);
      T* dX = l == 0 ? nullptr : w.L[l - 1].d.data();
      layer_backward(s.layers[l], net.lp(l), in, n, w.L[l], drop_on && s.layers[l].dropout, grad, dX, false);
    }
    return loss;
  }
  const size_t ne = static_cast<size_t>(s.n_encoder);
  for (size_t l = nl; l-- > ne + 2;) {
    const T* in = l == ne + 2 ? smp : layer_output(w, s.layers[l - 1], l - 1, drop_on);
    T* dX = l == ne + 2 ? w.dsample.data() : w.L[l - 1].d.data();
    layer_backward(s.layers[l], net.lp(l), in, n, w.L[l], drop_on && s.layers[l].dropout, grad, dX, false);
  }
  T* dmu = w.L[ne].d.data();
  T* dlv = w.L[ne + 1].d.data();
  const T kb = static_cast<T>(scale) * beta;
  for (size_t i = 0; i < static_cast<size_t>(n) * k; ++i) {
    T ds = w.dsample[i];
    T ev = std::exp(lv[i]);
    dmu[i] = ds + kb * mu[i];
    dlv[i] = (train ? ds * w.eps[i] * T(0.5) * std::exp(T(0.5) * lv[i]) : T(0)) + kb * T(0.5) * (ev - T(1));
  }
  T* dh = ne > 0 ? w.L[ne - 1].d.data() : nullptr;
  layer_backward(s.layers[ne], net.lp(ne), h, n, w.L[ne], false, grad, dh, false);
  layer_backward(s.layers[ne + 1], net.lp(ne + 1), h, n, w.L[ne + 1], false, grad, dh, true);
  for (size_t l = ne; l-- > 0;) {
    const T* in = l == 0 ? Z : layer_output(w, s.layers[l - 1], l - 1, drop_on);
    T* dX = l == 0 ? nullptr : w.L[l - 1].d.data();
    layer_backward(s.layers[l], net.lp(l), in, n, w.L[l], drop_on && s.layers[l].dropout, grad, dX, false);
  }
  return loss;
}

// ---------------------------------------------------------------- Adam (PyTorch's formulas)

}  // namespace

void adam_scalar(float* p, const float* g, float* m, float* v, size_t n, const AdamArgs& a) {
  for (size_t i = 0; i < n; ++i) {
    float pi = p[i] * a.decay;
    float mi = a.b1 * m[i] + (1.f - a.b1) * g[i];
    float vi = a.b2 * v[i] + (1.f - a.b2) * (g[i] * g[i]);
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - a.step_size * (mi / (std::sqrt(vi) * a.inv_sqrt_bc2 + a.eps));
  }
}

#if NADIR_X86
NADIR_TARGET_AVX512 static void adam_avx512(float* p, const float* g, float* m, float* v, size_t n,
                                            const AdamArgs& a) {
  const __m512 b1 = _mm512_set1_ps(a.b1), c1 = _mm512_set1_ps(1.f - a.b1);
  const __m512 b2 = _mm512_set1_ps(a.b2), c2 = _mm512_set1_ps(1.f - a.b2);
  const __m512 ss = _mm512_set1_ps(a.step_size), ib = _mm512_set1_ps(a.inv_sqrt_bc2);
  const __m512 ep = _mm512_set1_ps(a.eps), dc = _mm512_set1_ps(a.decay);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 gi = _mm512_loadu_ps(g + i);
    __m512 pi = _mm512_mul_ps(_mm512_loadu_ps(p + i), dc);
    __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(c1, gi));
    __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(c2, _mm512_mul_ps(gi, gi)));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), ib), ep);
    _mm512_storeu_ps(p + i, _mm512_sub_ps(pi, _mm512_mul_ps(ss, _mm512_div_ps(mi, den))));
  }
  adam_scalar(p + i, g + i, m + i, v + i, n - i, a);
}

NADIR_TARGET_AVX2 static void adam_avx2(float* p, const float* g, float* m, float* v, size_t n,
                                        const AdamArgs& a) {
  const __m256 b1 = _mm256_set1_ps(a.b1), c1 = _mm256_set1_ps(1.f - a.b1);
  const __m256 b2 = _mm256_set1_ps(a.b2), c2 = _mm256_set1_ps(1.f - a.b2);
  const __m256 ss = _mm256_set1_ps(a.step_size), ib = _mm256_set1_ps(a.inv_sqrt_bc2);
  const __m256 ep = _mm256_set1_ps(a.eps), dc = _mm256_set1_ps(a.decay);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gi = _mm256_loadu_ps(g + i);
    __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), dc);
    __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gi));
    __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(c2, _mm256_mul_ps(gi, gi)));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ib), ep);
    _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(ss, _mm256_div_ps(mi, den))));
  }
  adam_scalar(p + i, g + i, m + i, v + i, n - i, a);
}
#endif

void adam(float* p, const float* g, float* m, float* v, size_t n, const AdamArgs& a) {
#if NADIR_X86
  switch (active_isa()) {
    case Isa::Avx512: return adam_avx512(p, g, m, v, n, a);
    case Isa::Avx2: return adam_avx2(p, g, m, v, n, a);
    default: break;
  }
#endif
  adam_scalar(p, g, m, v, n, a);
}

namespace {

// ---------------------------------------------------------------- a small persistent pool

class Pool {
 public:
  explicit Pool(int workers) : errors_(workers + 1) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { loop(i + 1); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  // Runs fn(0..tasks-1): task 0 on the caller, the rest on workers; tasks <= workers + 1.
  void run(int tasks, const std::function<void(int)>& fn) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      tasks_ = tasks;
      remaining_ = tasks - 1;
      ++gen_;
    }
    cv_.notify_all();
    try { fn(0); } catch (...) { errors_[0] = std::current_exception(); }
    {
      std::unique_lock<std::mutex> lk(mu_);
      done_.wait(lk, [&] { return remaining_ == 0; });
    }
    for (auto& e : errors_)
      if (e) { auto x = e; e = nullptr; std::rethrow_exception(x); }
  }

 private:
  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || gen_ != seen; });
      if (stop_) return;
      seen = gen_;
      if (id >= tasks_) continue;
      const auto* f = job_;
      lk.unlock();
      try { (*f)(id); } catch (...) { errors_[id] = std::current_exception(); }
      lk.lock();
      if (--remaining_ == 0) done_.notify_one();
    }
  }
  std::vector<std::thread> threads_;
  std::vector<std::exception_ptr> errors_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  const std::function<void(int)>* job_ = nullptr;
  int tasks_ = 0, remaining_ = 0;
  uint64_t gen_ = 0;
  bool stop_ = false;
};

struct Segment {
  size_t off, len;
  bool decay;
};

std::vector<Segment> trainable(const Spec& s) {
  std::vector<Segment> out;
  for (const auto& L : s.layers) {
    out.push_back({L.w, static_cast<size_t>(L.in) * L.out, true});
    out.push_back({L.b, static_cast<size_t>(L.out), false});
    if (L.norm) out.push_back({L.gamma, static_cast<size_t>(2 * L.out), false});  // gamma, beta adjacent
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- plan

Spec parse_plan(const int32_t* p, size_t n) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("invalid network plan: " + m); };
  if (n < 5) bad("it has fewer than 5 entries");
  if (p[0] != 1) bad("unknown version " + std::to_string(p[0]));
  if (p[1] != 0 && p[1] != 1) bad("kind must be 0 (autoencoder) or 1 (vae)");
  Spec s;
  s.vae = p[1] == 1;
  s.features = p[2];
  const int L = p[3];
  s.n_encoder = p[4];
  if (s.features < 1 || s.features > (1 << 20)) bad("features out of range");
  if (L < 1 || L > 256) bad("layer count out of range");
  if (n != 5 + 5 * static_cast<size_t>(L)) bad("length does not match the layer count");
  const size_t d = static_cast<size_t>(s.features);
  s.mean = 0;
  s.std = d;
  s.beta = 2 * d;
  size_t off = 2 * d + 1;
  s.max_width = s.features;
  for (int l = 0; l < L; ++l) {
    const int32_t* q = p + 5 + 5 * l;
    LayerSpec ls;
    ls.in = q[0];
    ls.out = q[1];
    if (ls.in < 1 || ls.in > (1 << 20) || ls.out < 1 || ls.out > (1 << 16)) bad("layer " + std::to_string(l) + " size out of range");
    if (static_cast<size_t>(ls.in) * ls.out > (size_t{1} << 28)) bad("layer " + std::to_string(l) + " is too large");
    if (q[2] < 0 || q[2] > 4) bad("layer " + std::to_string(l) + " activation must be 0..4");
    if ((q[3] != 0 && q[3] != 1) || (q[4] != 0 && q[4] != 1)) bad("layer " + std::to_string(l) + " flags must be 0 or 1");
    ls.act = static_cast<Act>(q[2]);
    ls.norm = q[3] == 1;
    ls.dropout = q[4] == 1;
    ls.w = off;
    off += static_cast<size_t>(ls.in) * ls.out;
    ls.b = off;
    off += ls.out;
    if (ls.norm) {
      ls.gamma = off;
      off += ls.out;
      ls.beta = off;
      off += ls.out;
      ls.eps = off;
      off += 1;
    }
    s.max_width = std::max({s.max_width, ls.in, ls.out});
    s.layers.push_back(ls);
  }
  s.size = off;
  auto chain = [&](int from, int to, int width) {
    for (int l = from; l < to; ++l) {
      if (s.layers[l].in != width) bad("layer " + std::to_string(l) + " takes " + std::to_string(s.layers[l].in) + " inputs but receives " + std::to_string(width));
      width = s.layers[l].out;
    }
    return width;
  };
  if (!s.vae) {
    if (s.n_encoder != 0) bad("an autoencoder plan has nEncoder 0");
    if (chain(0, L, s.features) != s.features) bad("the last layer must output the feature count");
  } else {
    const int ne = s.n_encoder;
    if (ne < 0 || L < ne + 3) bad("a vae needs encoder, mu, logVar and at least one decoder layer");
    int h = chain(0, ne, s.features);
    const LayerSpec &mu = s.layers[ne], &lv = s.layers[ne + 1];
    if (mu.in != h || lv.in != h) bad("mu and logVar must take the encoder output");
    if (mu.out != lv.out) bad("mu and logVar must have the same size");
    if (mu.act != Act::Identity || lv.act != Act::Identity || mu.norm || lv.norm || mu.dropout || lv.dropout)
      bad("mu and logVar must be plain linear layers");
    if (chain(ne + 2, L, mu.out) != s.features) bad("the last layer must output the feature count");
  }
  return s;
}

// ---------------------------------------------------------------- training

std::vector<float> standardize_columns(const float* X, size_t rows, int d, float* mean, float* std,
                                       std::vector<double>* varies) {
  if (varies) varies->assign(d, 0.0);
  for (int j = 0; j < d; ++j) {
    double m = 0;
    for (size_t i = 0; i < rows; ++i) m += X[i * d + j];
    m /= rows;
    double v = 0;
    for (size_t i = 0; i < rows; ++i) v += (X[i * d + j] - m) * (X[i * d + j] - m);
    double sd = std::sqrt(v / rows);
    const bool varying = sd > 1e-6 * std::max(1.0, std::fabs(m));
    if (varies) (*varies)[j] = varying ? 1.0 : 0.0;
    if (!varying) sd = 1;
    mean[j] = static_cast<float>(m);
    std[j] = static_cast<float>(sd);
  }
  std::vector<float> Z(rows * d);
  for (size_t i = 0; i < rows; ++i)
    for (int j = 0; j < d; ++j) Z[i * d + j] = (X[i * d + j] - mean[j]) / std[j];
  return Z;
}

TrainResult train(const Spec& spec, const float* X, size_t rows, const TrainOptions& opt,
                  const std::function<void(const EpochInfo&)>& on_epoch,
                  const std::function<bool()>& should_stop) {
  if (rows < 1) throw std::invalid_argument("training needs at least one row");
  const int d = spec.features;
  TrainResult res;
  std::vector<float>& P = res.params;
  P.assign(spec.size, 0.f);
  std::vector<float> Z = standardize_columns(X, rows, d, &P[spec.mean], &P[spec.std]);
  P[spec.beta] = static_cast<float>(opt.beta);

  // PyTorch's default Linear initialization: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases.
  Rng init(mix(opt.seed, 1));
  for (const auto& L : spec.layers) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(L.in));
    for (size_t i = 0; i < static_cast<size_t>(L.in) * L.out; ++i) P[L.w + i] = static_cast<float>((init.uniform() * 2 - 1) * bound);
    for (int i = 0; i < L.out; ++i) P[L.b + i] = static_cast<float>((init.uniform() * 2 - 1) * bound);
    if (L.norm) {
      for (int i = 0; i < L.out; ++i) { P[L.gamma + i] = 1.f; P[L.beta + i] = 0.f; }
      P[L.eps] = static_cast<float>(opt.norm_eps);
    }
  }

  // Validation split: a seeded random subset.
  std::vector<uint32_t> perm(rows);
  for (size_t i = 0; i < rows; ++i) perm[i] = static_cast<uint32_t>(i);
  Rng split_rng(mix(opt.seed, 2));
  for (size_t i = rows; i > 1; --i) std::swap(perm[i - 1], perm[split_rng.next() % i]);
  size_t n_val = static_cast<size_t>(std::floor(rows * opt.validation_split));
  if (n_val >= rows) n_val = rows - 1;
  std::vector<uint32_t> tr(perm.begin() + n_val, perm.end());
  std::sort(tr.begin(), tr.end());
  std::vector<float> Zval(n_val * d);
  {
    std::vector<uint32_t> va(perm.begin(), perm.begin() + n_val);
    std::sort(va.begin(), va.end());
    for (size_t i = 0; i < n_val; ++i) std::memcpy(&Zval[i * d], &Z[static_cast<size_t>(va[i]) * d], sizeof(float) * d);
  }
  const size_t n_tr = tr.size();

  // Batches never exceed the training rows; threads never exceed the shards a batch can use.
  const int bs = static_cast<int>(std::max<size_t>(1, std::min<size_t>(opt.batch_size, n_tr)));
  const int threads = std::max(1, std::min(opt.threads, bs / 64));
  Net<float> net(spec, P.data());
  net.refresh();
  std::vector<Workspace<float>> ws(threads);
  std::unique_ptr<Pool> pool;
  if (threads > 1) pool.reset(new Pool(threads - 1));
  const auto segs = trainable(spec);
  std::vector<float> m(spec.size, 0.f), v(spec.size, 0.f), best;
  std::vector<float> Zb(static_cast<size_t>(bs) * d);
  std::vector<uint64_t> rowseed(bs);
  Rng shuffle(mix(opt.seed, 3));
  double best_val = std::numeric_limits<double>::infinity();
  int wait = 0;
  uint64_t step = 0;
  const bool early = n_val > 0 && opt.patience > 0;

  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = n_tr; i > 1; --i) std::swap(tr[i - 1], tr[shuffle.next() % i]);
    double loss_sum = 0;
    for (size_t b0 = 0; b0 < n_tr; b0 += bs) {
      if (should_stop && should_stop()) throw Aborted();
      const int n = static_cast<int>(std::min<size_t>(bs, n_tr - b0));
      for (int r = 0; r < n; ++r) std::memcpy(&Zb[static_cast<size_t>(r) * d], &Z[static_cast<size_t>(tr[b0 + r]) * d], sizeof(float) * d);
      const uint64_t step_seed = mix(opt.seed ^ 0x5eed5eed5eedULL, step);
      for (int r = 0; r < n; ++r) rowseed[r] = mix(step_seed, r);
      const double scale = 1.0 / (static_cast<double>(n) * d);
      const int S = std::max(1, std::min(threads, n / 64));  // >= 64 rows per shard
      if (S == 1) {
        loss_sum += run_rows(spec, net, ws[0], Zb.data(), n, true, true, opt.dropout, rowseed.data(), scale);
      } else {
        std::vector<double> part(S);
        pool->run(S, [&](int t) {
          int r0 = static_cast<int>(static_cast<int64_t>(n) * t / S), r1 = static_cast<int>(static_cast<int64_t>(n) * (t + 1) / S);
          part[t] = run_rows(spec, net, ws[t], Zb.data() + static_cast<size_t>(r0) * d, r1 - r0, true, true,
                             opt.dropout, rowseed.data() + r0, scale);
        });
        for (int t = 0; t < S; ++t) loss_sum += part[t];
        for (int t = 1; t < S; ++t)
          for (const auto& sg : segs)
            for (size_t i = 0; i < sg.len; ++i) ws[0].grad[sg.off + i] += ws[t].grad[sg.off + i];
      }
      float* g = ws[0].grad.data();
      if (opt.clip_norm > 0) {
        double sq = 0;
        for (const auto& sg : segs)
          for (size_t i = 0; i < sg.len; ++i) sq += static_cast<double>(g[sg.off + i]) * g[sg.off + i];
        double coef = opt.clip_norm / (std::sqrt(sq) + 1e-6);
        if (coef < 1)
          for (const auto& sg : segs)
            for (size_t i = 0; i < sg.len; ++i) g[sg.off + i] = static_cast<float>(g[sg.off + i] * coef);
      }
      ++step;
      const double bc1 = 1 - std::pow(opt.beta1, static_cast<double>(step));
      const double bc2 = 1 - std::pow(opt.beta2, static_cast<double>(step));
      AdamArgs a{static_cast<float>(opt.beta1), static_cast<float>(opt.beta2),
                 static_cast<float>(opt.learning_rate / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
                 static_cast<float>(opt.adam_eps), 1.f};
      for (const auto& sg : segs) {
        a.decay = sg.decay ? static_cast<float>(1.0 - opt.learning_rate * opt.weight_decay) : 1.f;
        adam(P.data() + sg.off, g + sg.off, m.data() + sg.off, v.data() + sg.off, sg.len, a);
      }
      net.refresh();
    }
    const double train_loss = loss_sum / (static_cast<double>(n_tr) * d);
    double val_loss = std::numeric_limits<double>::quiet_NaN();
    if (n_val > 0) {
      double s = 0;
      const int chunk = 1024;
      for (size_t v0 = 0; v0 < n_val; v0 += chunk) {
        int n = static_cast<int>(std::min<size_t>(chunk, n_val - v0));
        s += run_rows(spec, net, ws[0], Zval.data() + v0 * d, n, false, false, 0.0, nullptr, 1.0);
      }
      val_loss = s / (static_cast<double>(n_val) * d);
    }
    if (!std::isfinite(train_loss) || (n_val > 0 && !std::isfinite(val_loss)))
      throw std::runtime_error("training diverged (the loss became NaN or infinite): lower learningRate or set clipNorm");
    res.loss.push_back(static_cast<float>(train_loss));
    res.val_loss.push_back(static_cast<float>(val_loss));
    bool stop = false;
    if (early) {
      if (val_loss < best_val) {
        best_val = val_loss;
        res.best_epoch = epoch;
        best = P;
        wait = 0;
      } else if (++wait >= opt.patience) {
        stop = true;
      }
    } else {
      res.best_epoch = epoch;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (on_epoch) on_epoch(EpochInfo{epoch + 1, train_loss, val_loss, secs});
    if (stop) { res.stopped_early = true; break; }
  }
  if (early && !best.empty()) P = best;
  return res;
}

// ---------------------------------------------------------------- inference

namespace {

struct Infer {
  std::vector<float> z, recon, acc, accc, sample;
  std::vector<std::vector<float>> a;
  std::vector<Rng> rngs;
  void ensure(const Spec& s, int rows) {
    size_t d = static_cast<size_t>(rows) * s.features;
    if (z.size() < d) { z.resize(d); recon.resize(d); accc.resize(d); }
    if (acc.size() < static_cast<size_t>(rows)) acc.resize(rows);
    if (a.size() < s.layers.size()) a.resize(s.layers.size());
    for (size_t l = 0; l < s.layers.size(); ++l) {
      size_t n = static_cast<size_t>(rows) * s.layers[l].out;
      if (a[l].size() < n) a[l].resize(n);
    }
    if (s.vae && sample.size() < static_cast<size_t>(rows) * s.latent()) sample.resize(static_cast<size_t>(rows) * s.latent());
    if (rngs.size() < static_cast<size_t>(rows)) rngs.resize(rows);
  }
};

LP<float> packed_lp(const Spec& s, const float* P, size_t l) {
  const LayerSpec& L = s.layers[l];
  return LP<float>{P + L.w, nullptr, P + L.b, L.norm ? P + L.gamma : nullptr, L.norm ? P + L.beta : nullptr,
                   L.norm ? P[L.eps] : 0.f};
}

const float* run_layers(const Spec& s, const float* P, Infer& w, size_t from, size_t to, const float* x, int n) {
  for (size_t l = from; l < to; ++l) {
    layer_forward<float>(s.layers[l], packed_lp(s, P, l), x, n, w.a[l].data(), nullptr, nullptr);
    x = w.a[l].data();
  }
  return x;
}

void score_block(const Spec& s, const float* P, const float* X, int n, int mode, int samples,
                 uint64_t seed, float* scores, float* contrib, float* recon, Infer& w) {
  const int d = s.features;
  w.ensure(s, n);
  const float* mean = P + s.mean;
  const float* sd = P + s.std;
  float* z = w.z.data();
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) z[static_cast<size_t>(i) * d + j] = (X[static_cast<size_t>(i) * d + j] - mean[j]) / sd[j];
  const size_t nl = s.layers.size();
  const float* r;
  if (!s.vae) {
    r = run_layers(s, P, w, 0, nl, z, n);
    recon_error(z, r, n, d, ErrorKind::Squared, scores, contrib);
    if (recon) std::memcpy(recon, r, sizeof(float) * n * d);
    return;
  }
  const size_t ne = static_cast<size_t>(s.n_encoder);
  const int k = s.latent();
  const float* h = run_layers(s, P, w, 0, ne, z, n);
  const float* mu = run_layers(s, P, w, ne, ne + 1, h, n);
  const float* lv = run_layers(s, P, w, ne + 1, ne + 2, h, n);
  if (mode == 0) {
    r = run_layers(s, P, w, ne + 2, nl, mu, n);
    recon_error(z, r, n, d, ErrorKind::Squared, scores, contrib);
    if (recon) std::memcpy(recon, r, sizeof(float) * n * d);
    const float beta = P[s.beta];
    for (int i = 0; i < n; ++i) {
      double kl = 0;
      for (int j = 0; j < k; ++j) {
        double m = mu[static_cast<size_t>(i) * k + j], l = lv[static_cast<size_t>(i) * k + j];
        kl += -0.5 * (1 + l - m * m - std::exp(l));
      }
      scores[i] += static_cast<float>(beta * kl);
    }
    return;
  }
  // Monte-Carlo: each row's draws come from a stream seeded by the seed and the row's own values,
  // so a row scores the same alone or inside any batch.
  for (int i = 0; i < n; ++i) {
    uint64_t hsh = mix(seed, 0x6d63);
    for (int j = 0; j < d; ++j) {
      uint32_t bits;
      std::memcpy(&bits, &X[static_cast<size_t>(i) * d + j], 4);
      hsh = mix(hsh, bits);
    }
    w.rngs[i] = Rng(hsh);
  }
  std::fill(scores, scores + n, 0.f);
  if (contrib) std::fill(contrib, contrib + static_cast<size_t>(n) * d, 0.f);
  const float inv = 1.f / static_cast<float>(samples);
  float* sp = w.sample.data();
  for (int t = 0; t < samples; ++t) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < k; ++j) {
        size_t q = static_cast<size_t>(i) * k + j;
        sp[q] = mu[q] + std::exp(0.5f * lv[q]) * static_cast<float>(w.rngs[i].gauss());
      }
    r = run_layers(s, P, w, ne + 2, nl, sp, n);
    recon_error(z, r, n, d, ErrorKind::Squared, w.acc.data(), contrib ? w.accc.data() : nullptr);
    for (int i = 0; i < n; ++i) scores[i] += w.acc[i] * inv;
    if (contrib)
      for (size_t q = 0; q < static_cast<size_t>(n) * d; ++q) contrib[q] += w.accc[q] * inv;
  }
}

}  // namespace

void score(const Spec& s, const float* packed, const float* X, size_t rows, int mode, int samples,
           uint64_t seed, float* scores, float* contrib, float* recon, int threads) {
  const size_t blk = 64;
  const size_t nblk = (rows + blk - 1) / blk;
  const int d = s.features;
  auto body = [&](size_t b0, size_t b1, int) {
    thread_local Infer w;
    for (size_t b = b0; b < b1; ++b) {
      size_t r0 = b * blk;
      int n = static_cast<int>(std::min(blk, rows - r0));
      score_block(s, packed, X + r0 * d, n, mode, samples, seed, scores + r0,
                  contrib ? contrib + r0 * d : nullptr, recon ? recon + r0 * d : nullptr, w);
    }
  };
  const int t = resolve_threads(threads);
  if (t <= 1 || rows < 2048) body(0, nblk, 0);
  else parallel_for(nblk, t, body);
}

// ---------------------------------------------------------------- gradient test hook

template <class T>
double loss_and_grad(const Spec& s, const T* params, const T* Z, size_t rows, bool train,
                     double dropout, uint64_t seed, T* grad) {
  std::vector<T> P(params, params + s.size);
  Net<T> net(s, P.data());
  net.refresh();
  Workspace<T> w;
  std::vector<uint64_t> rs(rows);
  for (size_t r = 0; r < rows; ++r) rs[r] = mix(seed, r);
  const double scale = 1.0 / (static_cast<double>(rows) * s.features);
  double loss = run_rows(s, net, w, Z, static_cast<int>(rows), train, true, dropout, rs.data(), scale);
  std::fill(grad, grad + s.size, T(0));
  for (const auto& sg : trainable(s))
    for (size_t i = 0; i < sg.len; ++i) grad[sg.off + i] = w.grad[sg.off + i];
  return loss * scale;
}

template double loss_and_grad<float>(const Spec&, const float*, const float*, size_t, bool, double, uint64_t, float*);
template double loss_and_grad<double>(const Spec&, const double*, const double*, size_t, bool, double, uint64_t, double*);

// ---------------------------------------------------------------- building blocks (nn.h)

template <class T>
void dense_forward(const LayerSpec& L, const T* wt, const T* b, const T* X, int rows, T* a) {
  layer_forward<T>(L, LP<T>{wt, nullptr, b, nullptr, nullptr, T(0)}, X, rows, a, nullptr, nullptr);
}

template <class T>
void dense_backward(const LayerSpec& L, const T* w, const T* X, int rows, const T* a, T* d, T* gw,
                    T* gb, T* dX, bool add_dX) {
  layer_backward_raw<T>(L, LP<T>{nullptr, w, nullptr, nullptr, nullptr, T(0)}, X, rows, d, a, nullptr,
                        nullptr, nullptr, gw, gb, nullptr, dX, add_dX);
}

template void dense_forward<float>(const LayerSpec&, const float*, const float*, const float*, int, float*);
template void dense_forward<double>(const LayerSpec&, const double*, const double*, const double*, int, double*);
template void dense_backward<float>(const LayerSpec&, const float*, const float*, int, const float*, float*, float*, float*, float*, bool);
template void dense_backward<double>(const LayerSpec&, const double*, const double*, int, const double*, double*, double*, double*, double*, bool);

}  // namespace nadir::nn
