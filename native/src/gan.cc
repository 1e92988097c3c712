// BiGAN trainer and scorer (gan.h). One templated step (float for training, double for the
// gradient test hook) built from nn.h's dense layers; spectral normalization and the collapse
// check live here.
#include "nadir/gan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "nadir/kernels.h"
#include "nadir/linalg.h"
#include "nadir/parallel.h"

namespace nadir::gan {
namespace {

using nn::LayerSpec;

uint64_t mix(uint64_t a, uint64_t b) { return SplitMix(a ^ (b * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL)).next(); }

// Standard normal draws (Box-Muller) from a seeded splitmix64 stream.
struct Gauss {
  SplitMix sm;
  bool have = false;
  double spare = 0;
  explicit Gauss(uint64_t seed) : sm(seed) {}
  double uniform() { return static_cast<double>(sm.next() >> 11) * 0x1.0p-53; }
  double next() {
    if (have) { have = false; return spare; }
    double u = std::max(uniform(), 1e-300), v = uniform();
    double r = std::sqrt(-2.0 * std::log(u)), t = 6.283185307179586 * v;
    spare = r * std::sin(t);
    have = true;
    return r * std::cos(t);
  }
};

// Discriminator input of 2n rows: row i is (a_i, b_i) and row n + i is (c_i, d_i), with a, c rows
// of fa values and b, d rows of fb values.
template <class T>
void pack_pairs(T* out, int n, const T* a, const T* b, const T* c, const T* d, size_t fa, size_t fb) {
  const size_t w = fa + fb;
  for (int i = 0; i < n; ++i) {
    std::memcpy(out + i * w, a + i * fa, sizeof(T) * fa);
    std::memcpy(out + i * w + fa, b + i * fb, sizeof(T) * fb);
    std::memcpy(out + (n + i) * w, c + i * fa, sizeof(T) * fa);
    std::memcpy(out + (n + i) * w + fa, d + i * fb, sizeof(T) * fb);
  }
}

// One Adam step (bias-corrected; step counts from 1) through nn's SIMD kernel.
void adam_step(float* p, const float* g, float* m, float* v, size_t n, double lr, const TrainOptions& o, uint64_t step) {
  const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  nn::adam(p, g, m, v, n, nn::AdamArgs{static_cast<float>(o.beta1), static_cast<float>(o.beta2), static_cast<float>(lr / bc1),
                                       static_cast<float>(1.0 / std::sqrt(bc2)), static_cast<float>(o.adam_eps), 1.f});
}

// BCE with logits: loss of logit s against target t, and its derivative sigmoid(s) - t.
inline double bce(double s, double t) { return std::max(s, 0.0) - s * t + std::log1p(std::exp(-std::fabs(s))); }
inline double sigmoid(double s) { return 1.0 / (1.0 + std::exp(-s)); }

template <class T>
void transpose(const T* w, int out, int in, T* wt) {
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) wt[static_cast<size_t>(i) * out + o] = w[static_cast<size_t>(o) * in + i];
}

// The three players' weights as the step reads them: w (out x in, effective: spectrally
// normalized for D), wt (its transpose) and b, per layer in plan order.
template <class T>
struct Model {
  const Spec& s;
  std::vector<const T*> w, wt, b;
  std::vector<std::vector<T>> wt_own;  // transposes owned by the model
  explicit Model(const Spec& sp) : s(sp), w(sp.layers.size()), wt(sp.layers.size()), b(sp.layers.size()), wt_own(sp.layers.size()) {}
  // Points every layer at P (PyTorch layout) and refreshes the transposes of layers [from, to).
  void bind(const T* P, size_t from, size_t to) {
    for (size_t l = from; l < to; ++l) {
      const LayerSpec& L = s.layers[l];
      w[l] = P + L.w;
      b[l] = P + L.b;
      wt_own[l].resize(static_cast<size_t>(L.in) * L.out);
      transpose(w[l], L.out, L.in, wt_own[l].data());
      wt[l] = wt_own[l].data();
    }
  }
};

template <class T>
struct Work {
  std::vector<std::vector<T>> a, d;  // per layer: activations and their gradients
  std::vector<T> gin, dgin, din, ddin, xin, dxin;
  int cap = 0;
  void ensure(const Spec& s, int n) {
    if (n <= cap) return;
    cap = n;
    const size_t L = s.layers.size();
    a.resize(L);
    d.resize(L);
    for (size_t l = 0; l < L; ++l) {
      // E runs on n rows, G, D and X on 2n.
      size_t rows = static_cast<int>(l) < s.n_e ? n : 2 * static_cast<size_t>(n);
      a[l].resize(rows * s.layers[l].out);
      d[l].resize(rows * s.layers[l].out);
    }
    const size_t k = s.latent, f = s.features;
    gin.resize(2 * n * k);
    dgin.resize(2 * n * k);
    din.resize(2 * n * (f + k));
    ddin.resize(2 * n * (f + k));
    if (s.n_x) {
      xin.resize(2 * n * 2 * f);
      dxin.resize(2 * n * 2 * f);
    }
  }
};

template <class T>
const T* forward_chain(const Model<T>& m, Work<T>& w, size_t from, size_t to, const T* x, int n) {
  for (size_t l = from; l < to; ++l) {
    nn::dense_forward<T>(m.s.layers[l], m.wt[l], m.b[l], x, n, w.a[l].data());
    x = w.a[l].data();
  }
  return x;
}

// On entry w.d[to - 1] holds dLoss/d(chain output); parameter gradients go to grad (blob layout);
// dx (or null) receives dLoss/d(chain input).
template <class T>
void backward_chain(const Model<T>& m, Work<T>& w, size_t from, size_t to, const T* x, int n, T* grad, T* dx) {
  for (size_t l = to; l-- > from;) {
    const LayerSpec& L = m.s.layers[l];
    const T* in = l == from ? x : w.a[l - 1].data();
    T* dIn = l == from ? dx : w.d[l - 1].data();
    nn::dense_backward<T>(L, m.w[l], in, n, w.a[l].data(), w.d[l].data(), grad + L.w, grad + L.b, dIn, false);
  }
}

template <class T>
struct Step {
  const Spec& s;
  size_t e0, g0, d0, dn, xn;  // layer ranges: E [e0, g0), G [g0, d0), D [d0, dn), X [dn, xn)
  explicit Step(const Spec& sp)
      : s(sp), e0(0), g0(sp.n_e), d0(sp.n_e + sp.n_g), dn(sp.n_e + sp.n_g + sp.n_d), xn(sp.layers.size()) {}

  // E on the real rows, then G on [prior draws; E(x)]: fakes in rows [0, n), reconstructions in [n, 2n).
  const T* forward_eg(const Model<T>& m, Work<T>& w, const T* Z, const T* zp, int n) const {
    const size_t k = s.latent;
    const T* zh = forward_chain(m, w, e0, g0, Z, n);
    std::memcpy(w.gin.data(), zp, sizeof(T) * n * k);
    std::memcpy(w.gin.data() + n * k, zh, sizeof(T) * n * k);
    return forward_chain(m, w, g0, d0, w.gin.data(), 2 * n);
  }
  const T* zhat(const Work<T>& w) const { return w.a[g0 - 1].data(); }
  const T* xgen(const Work<T>& w) const { return w.a[d0 - 1].data(); }

  // D on the real pairs (x, E(x)) in rows [0, n) and the fake pairs (G(z), z) in [n, 2n); logits out.
  const T* forward_d(const Model<T>& m, Work<T>& w, const T* Z, const T* zp, int n) const {
    const size_t f = s.features, k = s.latent;
    const T* zh = zhat(w);
    const T* xg = xgen(w);
    T* din = w.din.data();
    pack_pairs(din, n, Z, zh, xg, zp, f, k);
    if (s.n_x) {
      // X on (x, x) in rows [0, n) and (x, G(E(x))) in [n, 2n).
      T* xin = w.xin.data();
      pack_pairs(xin, n, Z, Z, Z, xg + n * f, f, f);
      forward_chain(m, w, dn, xn, xin, 2 * n);
    }
    return forward_chain(m, w, d0, dn, din, 2 * n);
  }

  // BCE of one discriminator's 2n logits (rows [0, n) against t_real, [n, 2n) against t_fake) and
  // its gradient, scaled by 1/n, into the logit layer's d buffer.
  double bce_rows(Work<T>& w, size_t last, int n, double t_real, double t_fake, double* p_real, double* p_fake) const {
    const T* logit = w.a[last].data();
    T* dl = w.d[last].data();
    double loss = 0, pr = 0, pf = 0;
    for (int i = 0; i < 2 * n; ++i) {
      const double t = i < n ? t_real : t_fake, sg = sigmoid(logit[i]);
      loss += bce(logit[i], t);
      (i < n ? pr : pf) += sg;
      dl[i] = static_cast<T>((sg - t) / n);
    }
    if (p_real) *p_real = pr / n;
    if (p_fake) *p_fake = pf / n;
    return loss / n;
  }

  // D's loss: mean BCE(real, real_label) + mean BCE(fake, 0), plus X's the same way. Gradients of
  // D's and X's layers into grad.
  double d_loss(const Model<T>& m, Work<T>& w, int n, double real_label, T* grad, double* p_real, double* p_fake) const {
    double loss = bce_rows(w, dn - 1, n, real_label, 0.0, p_real, p_fake);
    if (grad) backward_chain(m, w, d0, dn, w.din.data(), 2 * n, grad, static_cast<T*>(nullptr));
    if (s.n_x) {
      loss += bce_rows(w, xn - 1, n, real_label, 0.0, nullptr, nullptr);
      if (grad) backward_chain(m, w, dn, xn, w.xin.data(), 2 * n, grad, static_cast<T*>(nullptr));
    }
    return loss;
  }

  // E and G's loss: non-saturating BCE with flipped labels (real pairs -> 0, fakes -> 1) against D
  // (and X) plus cycle_weight * mean_ij (G(E(x)) - x)^2. dgrad is scratch for D's and X's
  // parameter gradients.
  double ge_loss(const Model<T>& m, Work<T>& w, const T* Z, int n, double cycle_weight, T* grad, T* dgrad, double* cycle) const {
    const size_t f = s.features, k = s.latent, c = f + k;
    double adv = bce_rows(w, dn - 1, n, 0.0, 1.0, nullptr, nullptr);
    if (s.n_x) adv += bce_rows(w, xn - 1, n, 0.0, 1.0, nullptr, nullptr);
    const T* xg = xgen(w);
    double cyc = 0;
    const double cs = 2.0 * cycle_weight / (static_cast<double>(n) * f);
    T* dgo = w.d[d0 - 1].data();
    for (size_t q = 0; q < n * f; ++q) {
      const double e = static_cast<double>(xg[n * f + q]) - Z[q];
      cyc += e * e;
      dgo[n * f + q] = static_cast<T>(cs * e);
    }
    cyc /= static_cast<double>(n) * f;
    if (cycle) *cycle = cyc;
    if (!grad) return adv + cycle_weight * cyc;
    backward_chain(m, w, d0, dn, w.din.data(), 2 * n, dgrad, w.ddin.data());
    const T* dd = w.ddin.data();
    // Fakes' x part feeds G's rows [0, n); real pairs' z part feeds E's output.
    for (int i = 0; i < n; ++i) std::memcpy(dgo + i * f, dd + (n + i) * c, sizeof(T) * f);
    if (s.n_x) {
      // X sees G(E(x)) in the second half of its fake rows.
      backward_chain(m, w, dn, xn, w.xin.data(), 2 * n, dgrad, w.dxin.data());
      const T* dx = w.dxin.data();
      for (int i = 0; i < n; ++i)
        for (size_t j = 0; j < f; ++j) dgo[(n + i) * f + j] += dx[(n + i) * 2 * f + f + j];
    }
    backward_chain(m, w, g0, d0, w.gin.data(), 2 * n, grad, w.dgin.data());
    T* dz = w.d[g0 - 1].data();
    for (int i = 0; i < n; ++i)
      for (size_t j = 0; j < k; ++j) dz[i * k + j] = dd[i * c + f + j] + w.dgin[(n + i) * k + j];
    backward_chain(m, w, e0, g0, Z, n, grad, static_cast<T*>(nullptr));
    return adv + cycle_weight * cyc;
  }
};

// Power iteration state of one D layer.
struct SpectralState {
  std::vector<double> u, v;
  double sigma = 1;
};

// One power-iteration step on W (out x in), then sigma = u^T W v.
void power_step(const float* W, int out, int in, SpectralState& st) {
  std::vector<double>& u = st.u;
  std::vector<double>& v = st.v;
  double nv = 0;
  for (int i = 0; i < in; ++i) {
    double s = 0;
    for (int o = 0; o < out; ++o) s += static_cast<double>(W[static_cast<size_t>(o) * in + i]) * u[o];
    v[i] = s;
    nv += s * s;
  }
  nv = std::sqrt(nv) + 1e-12;
  for (int i = 0; i < in; ++i) v[i] /= nv;
  double nu = 0;
  for (int o = 0; o < out; ++o) {
    double s = 0;
    for (int i = 0; i < in; ++i) s += static_cast<double>(W[static_cast<size_t>(o) * in + i]) * v[i];
    u[o] = s;
    nu += s * s;
  }
  nu = std::sqrt(nu);
  for (int o = 0; o < out; ++o) u[o] /= nu + 1e-12;
  st.sigma = std::max(nu, 1e-12);  // u^T W v = ||W v|| after normalizing u
}

}  // namespace

template <class T>
void spectral_backward(const T* W, int out, int in, const double* u, const double* v, double sigma,
                       const T* g_sn, T* g) {
  const size_t n = static_cast<size_t>(out) * in;
  double lam = 0;  // <G, W_sn>
  for (size_t q = 0; q < n; ++q) lam += static_cast<double>(g_sn[q]) * W[q] / sigma;
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) {
      const size_t q = static_cast<size_t>(o) * in + i;
      g[q] = static_cast<T>((g_sn[q] - lam * u[o] * v[i]) / sigma);
    }
}
template void spectral_backward<float>(const float*, int, int, const double*, const double*, double, const float*, float*);
template void spectral_backward<double>(const double*, int, int, const double*, const double*, double, const double*, double*);

// ---------------------------------------------------------------- plan

Spec parse_plan(const int32_t* p, size_t n) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("invalid GAN plan: " + m); };
  if (n < 7) bad("it has fewer than 7 entries");
  if (p[0] != 1) bad("unknown version " + std::to_string(p[0]));
  Spec s;
  s.features = p[1];
  s.latent = p[2];
  s.n_e = p[3];
  s.n_g = p[4];
  s.n_d = p[5];
  s.n_x = p[6];
  if (s.features < 1 || s.features > (1 << 20)) bad("features out of range");
  if (s.latent < 1 || s.latent > (1 << 16)) bad("latent size out of range");
  if (s.n_e < 1 || s.n_g < 1 || s.n_d < 2 || s.n_e > 64 || s.n_g > 64 || s.n_d > 64 || s.n_x < 0 || s.n_x == 1 || s.n_x > 64)
    bad("E and G need 1..64 layers, D 2..64 (at least one hidden layer) and X 0 or 2..64");
  const int L = s.n_e + s.n_g + s.n_d + s.n_x;
  if (n != 7 + 3 * static_cast<size_t>(L)) bad("length does not match the layer counts");
  const size_t d = static_cast<size_t>(s.features);
  s.mean = 0;
  s.std = d;
  size_t off = 2 * d;
  s.max_width = s.features + s.latent;
  for (int l = 0; l < L; ++l) {
    const int32_t* q = p + 7 + 3 * l;
    LayerSpec ls;
    ls.in = q[0];
    ls.out = q[1];
    if (ls.in < 1 || ls.in > (1 << 20) || ls.out < 1 || ls.out > (1 << 16)) bad("layer " + std::to_string(l) + " size out of range");
    if (static_cast<size_t>(ls.in) * ls.out > (size_t{1} << 26)) bad("layer " + std::to_string(l) + " is too large");
    if (q[2] < 0 || q[2] > 4) bad("layer " + std::to_string(l) + " activation must be 0..4");
    ls.act = static_cast<nn::Act>(q[2]);
    ls.w = off;
    off += static_cast<size_t>(ls.in) * ls.out;
    ls.b = off;
    off += ls.out;
    s.max_width = std::max({s.max_width, ls.in, ls.out});
    s.layers.push_back(ls);
  }
  s.size = off;
  auto chain = [&](int from, int to, int width, const char* what) {
    for (int l = from; l < to; ++l) {
      if (s.layers[l].in != width)
        bad(std::string(what) + " layer " + std::to_string(l - from) + " takes " + std::to_string(s.layers[l].in) + " inputs but receives " + std::to_string(width));
      width = s.layers[l].out;
    }
    return width;
  };
  if (chain(0, s.n_e, s.features, "encoder") != s.latent) bad("the encoder must output the latent size");
  if (chain(s.n_e, s.n_e + s.n_g, s.latent, "generator") != s.features) bad("the generator must output the feature count");
  const int dn = s.n_e + s.n_g + s.n_d;
  if (chain(s.n_e + s.n_g, dn, s.features + s.latent, "discriminator") != 1) bad("the discriminator must output one logit");
  if (s.n_x && chain(dn, L, 2 * s.features, "cycle discriminator") != 1) bad("the cycle discriminator must output one logit");
  return s;
}

// ---------------------------------------------------------------- training

TrainResult train(const Spec& spec, const float* X, size_t rows, const TrainOptions& opt,
                  const std::function<void(const EpochInfo&)>& on_epoch,
                  const std::function<bool()>& should_stop) {
  if (rows < 2) throw std::invalid_argument("GAN training needs at least two rows");
  const int d = spec.features, k = spec.latent;
  TrainResult res;
  std::vector<float>& P = res.params;
  P.assign(spec.size, 0.f);
  // Standardization as the autoencoder's (population std; a constant column is only centered).
  std::vector<double> var_data;
  std::vector<float> Z = nn::standardize_columns(X, rows, d, &P[spec.mean], &P[spec.std], &var_data);

  // PyTorch's default Linear initialization: U(-1/sqrt(in), 1/sqrt(in)).
  Gauss init(mix(opt.seed, 1));
  for (const auto& L : spec.layers) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(L.in));
    for (size_t i = 0; i < static_cast<size_t>(L.in) * L.out; ++i) P[L.w + i] = static_cast<float>((init.uniform() * 2 - 1) * bound);
    for (int i = 0; i < L.out; ++i) P[L.b + i] = static_cast<float>((init.uniform() * 2 - 1) * bound);
  }
  const size_t L = spec.layers.size();
  const size_t d0 = static_cast<size_t>(spec.n_e + spec.n_g);
  // Spectral normalization: a seeded unit u per D layer.
  std::vector<SpectralState> sn(L);
  Gauss sn_rng(mix(opt.seed, 4));
  for (size_t l = d0; l < L; ++l) {
    sn[l].u.resize(spec.layers[l].out);
    sn[l].v.resize(spec.layers[l].in);
    double nu = 0;
    for (auto& x : sn[l].u) { x = sn_rng.next(); nu += x * x; }
    for (auto& x : sn[l].u) x /= std::sqrt(nu) + 1e-12;
  }
  // Effective D weights: W / sigma after one power iteration (or W itself without normalization).
  std::vector<float> Peff;
  Model<float> model(spec);
  auto refresh_d = [&]() {
    if (!opt.spectral_norm) { model.bind(P.data(), d0, L); return; }
    Peff = P;  // D's weight slots replaced by W_sn
    for (size_t l = d0; l < L; ++l) {
      const LayerSpec& ls = spec.layers[l];
      power_step(P.data() + ls.w, ls.out, ls.in, sn[l]);
      const float inv = static_cast<float>(1.0 / sn[l].sigma);
      for (size_t q = 0; q < static_cast<size_t>(ls.in) * ls.out; ++q) Peff[ls.w + q] = P[ls.w + q] * inv;
    }
    model.bind(Peff.data(), d0, L);
  };
  model.bind(P.data(), 0, d0);
  refresh_d();

  const int bs = static_cast<int>(std::max<size_t>(1, std::min<size_t>(opt.batch_size, rows)));
  Step<float> step(spec);
  Work<float> work;
  work.ensure(spec, std::max(bs, (opt.collapse_samples + 1) / 2));
  std::vector<float> grad(spec.size, 0.f), dscratch(spec.size, 0.f), m(spec.size, 0.f), v(spec.size, 0.f);
  std::vector<float> Zb(static_cast<size_t>(bs) * d), zp(static_cast<size_t>(bs) * k);
  std::vector<uint32_t> order(rows);
  for (size_t i = 0; i < rows; ++i) order[i] = static_cast<uint32_t>(i);
  SplitMix shuffle(mix(opt.seed, 3));
  Gauss prior(mix(opt.seed, 5));
  const size_t eg_begin = spec.layers[0].w, eg_end = spec.layers[d0].w, d_end = spec.size;
  uint64_t t_d = 0, t_g = 0;

  std::vector<double> avg;
  uint64_t n_avg = 0;
  bool averaging = false;
  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    if (opt.average && !averaging && epoch >= opt.epochs / 2) {
      averaging = true;
      avg.assign(eg_end - eg_begin, 0.0);
    }
    for (size_t i = rows; i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
    double dl = 0, gl = 0, cl = 0, pr = 0, pf = 0;
    int batches = 0;
    for (size_t b0 = 0; b0 < rows; b0 += bs) {
      if (should_stop && should_stop()) throw nn::Aborted();
      const int n = static_cast<int>(std::min<size_t>(bs, rows - b0));
      for (int r = 0; r < n; ++r) std::memcpy(&Zb[static_cast<size_t>(r) * d], &Z[static_cast<size_t>(order[b0 + r]) * d], sizeof(float) * d);
      for (size_t q = 0; q < static_cast<size_t>(n) * k; ++q) zp[q] = static_cast<float>(prior.next());
      // Discriminator step.
      step.forward_eg(model, work, Zb.data(), zp.data(), n);
      step.forward_d(model, work, Zb.data(), zp.data(), n);
      double a = 0, b = 0;
      dl += step.d_loss(model, work, n, opt.real_label, grad.data(), &a, &b);
      pr += a;
      pf += b;
      if (opt.spectral_norm)
        for (size_t l = d0; l < L; ++l) {
          const LayerSpec& ls = spec.layers[l];
          spectral_backward<float>(P.data() + ls.w, ls.out, ls.in, sn[l].u.data(), sn[l].v.data(), sn[l].sigma,
                                   grad.data() + ls.w, grad.data() + ls.w);
        }
      adam_step(P.data() + eg_end, grad.data() + eg_end, m.data() + eg_end, v.data() + eg_end, d_end - eg_end, opt.lr_d, opt, ++t_d);
      refresh_d();
      // Encoder + generator step against the updated discriminator.
      step.forward_d(model, work, Zb.data(), zp.data(), n);
      double c = 0;
      gl += step.ge_loss(model, work, Zb.data(), n, opt.cycle_weight, grad.data(), dscratch.data(), &c) - opt.cycle_weight * c;
      cl += c;
      adam_step(P.data() + eg_begin, grad.data() + eg_begin, m.data() + eg_begin, v.data() + eg_begin, eg_end - eg_begin, opt.lr_g, opt, ++t_g);
      model.bind(P.data(), 0, d0);
      ++batches;
      if (averaging) {
        ++n_avg;
        const double wn = 1.0 / n_avg;
        for (size_t q = eg_begin; q < eg_end; ++q) avg[q - eg_begin] += (static_cast<double>(P[q]) - avg[q - eg_begin]) * wn;
      }
    }
    if (!std::isfinite(dl) || !std::isfinite(gl) || !std::isfinite(cl))
      throw std::runtime_error("GAN training diverged (a loss became NaN or infinite): lower the learning rates");
    // Collapse check: variance of generated samples against the data's, per feature.
    double ratio = 0;
    {
      const int ns = std::max(2, opt.collapse_samples);
      Gauss probe(mix(opt.seed ^ 0xc011a95eULL, static_cast<uint64_t>(epoch)));
      std::vector<double> s1(d, 0.0), s2(d, 0.0);
      for (int c0 = 0; c0 < ns; c0 += 2 * work.cap) {
        const int nc = std::min(2 * work.cap, ns - c0);
        for (size_t q = 0; q < static_cast<size_t>(nc) * k; ++q) work.gin[q] = static_cast<float>(probe.next());
        const float* xg = forward_chain(model, work, spec.n_e, d0, work.gin.data(), nc);
        for (int i = 0; i < nc; ++i)
          for (int j = 0; j < d; ++j) {
            const double x = xg[static_cast<size_t>(i) * d + j];
            s1[j] += x;
            s2[j] += x * x;
          }
      }
      int used = 0;
      for (int j = 0; j < d; ++j) {
        if (var_data[j] <= 0) continue;
        const double mu = s1[j] / ns, var = std::max(0.0, s2[j] / ns - mu * mu);
        ratio += std::min(1.0, var / var_data[j]);
        ++used;
      }
      ratio = used ? ratio / used : 1.0;
    }
    EpochInfo info{epoch + 1, dl / batches, gl / batches, cl / batches, pr / batches, pf / batches, ratio,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    res.epochs.push_back(info);
    if (on_epoch) on_epoch(info);
  }
  if (averaging && n_avg > 0)
    for (size_t q = eg_begin; q < eg_end; ++q) P[q] = static_cast<float>(avg[q - eg_begin]);
  // The effective (spectrally normalized) D weights are the model.
  if (opt.spectral_norm)
    for (size_t l = d0; l < L; ++l) {
      const LayerSpec& ls = spec.layers[l];
      const float inv = static_cast<float>(1.0 / sn[l].sigma);
      for (size_t q = 0; q < static_cast<size_t>(ls.in) * ls.out; ++q) P[ls.w + q] *= inv;
    }
  return res;
}

// ---------------------------------------------------------------- scoring

namespace {

struct Infer {
  std::vector<float> z, din, xin;
  std::vector<std::vector<float>> a;
  std::vector<float> comp;
  void ensure(const Spec& s, int n) {
    const size_t f = s.features, k = s.latent;
    if (z.size() < n * f) z.resize(n * f);
    if (din.size() < 2 * n * (f + k)) din.resize(2 * n * (f + k));
    if (s.n_x && xin.size() < 4 * n * f) xin.resize(4 * n * f);
    if (comp.size() < static_cast<size_t>(n) * 3) comp.resize(static_cast<size_t>(n) * 3);
    a.resize(s.layers.size());
    for (size_t l = 0; l < s.layers.size(); ++l) {
      size_t need = 2 * static_cast<size_t>(n) * s.layers[l].out;
      if (a[l].size() < need) a[l].resize(need);
    }
  }
};

const float* run(const Spec& s, const float* P, Infer& w, size_t from, size_t to, const float* x, int n) {
  for (size_t l = from; l < to; ++l) {
    const LayerSpec& L = s.layers[l];
    nn::dense_forward<float>(L, P + L.w, P + L.b, x, n, w.a[l].data());
    x = w.a[l].data();
  }
  return x;
}

void score_block(const Spec& s, const float* P, const float* X, int n, ScoreKind kind, const float* weights,
                 float* scores, float* contrib, float* components, Infer& w) {
  const size_t f = s.features, k = s.latent;
  w.ensure(s, n);
  const float* mean = P + s.mean;
  const float* sd = P + s.std;
  float* z = w.z.data();
  for (int i = 0; i < n; ++i)
    for (size_t j = 0; j < f; ++j) z[i * f + j] = (X[i * f + j] - mean[j]) / sd[j];
  const size_t g0 = s.n_e, d0 = s.n_e + s.n_g, dn = d0 + s.n_d, xn = s.layers.size();
  const float* zh = run(s, P, w, 0, g0, z, n);
  const float* xr = run(s, P, w, g0, d0, zh, n);
  const bool need_d = kind != ScoreKind::Reconstruction || components;
  float* rec = kind == ScoreKind::Reconstruction && !components ? scores : w.comp.data();
  recon_error(z, xr, n, f, ErrorKind::Squared, rec, contrib);
  if (!need_d) return;
  float* din = w.din.data();
  pack_pairs(din, n, z, zh, xr, zh, f, k);
  const float* logit = run(s, P, w, d0, dn, din, 2 * n);
  size_t fl = dn - 2;  // the feature layer: D's last hidden one, or X's
  if (s.n_x) {
    float* xin = w.xin.data();
    pack_pairs(xin, n, z, z, z, xr, f, f);
    run(s, P, w, dn, xn, xin, 2 * n);
    fl = xn - 2;
  }
  const float* feat = w.a[fl].data();
  const size_t h = s.layers[fl].out;
  for (int i = 0; i < n; ++i) {
    const float disc = -logit[i];
    float fe = 0;
    for (size_t j = 0; j < h; ++j) fe += std::fabs(feat[i * h + j] - feat[(n + i) * h + j]);
    const float r = rec[i];
    if (components) {
      components[i * 3] = r;
      components[i * 3 + 1] = disc;
      components[i * 3 + 2] = fe;
    }
    switch (kind) {
      case ScoreKind::Reconstruction: scores[i] = r; break;
      case ScoreKind::Discriminator: scores[i] = disc; break;
      case ScoreKind::Feature: scores[i] = fe; break;
      default: scores[i] = weights[0] * r + weights[1] * disc + weights[2] * fe; break;
    }
  }
}

}  // namespace

void score(const Spec& s, const float* packed, const float* X, size_t rows, ScoreKind kind,
           const float* weights, float* scores, float* contrib, float* components, int threads) {
  const size_t blk = 64;
  const size_t nblk = (rows + blk - 1) / blk;
  const size_t f = s.features;
  auto body = [&](size_t b0, size_t b1, int) {
    thread_local Infer w;
    for (size_t b = b0; b < b1; ++b) {
      const size_t r0 = b * blk;
      const int n = static_cast<int>(std::min(blk, rows - r0));
      score_block(s, packed, X + r0 * f, n, kind, weights, scores + r0, contrib ? contrib + r0 * f : nullptr,
                  components ? components + r0 * 3 : nullptr, w);
    }
  };
  const int t = resolve_threads(threads);
  if (t <= 1 || rows < 2048) body(0, nblk, 0);
  else parallel_for(nblk, t, body);
}

// ---------------------------------------------------------------- gradient test hook

double loss_and_grad(const Spec& s, const double* params, const double* Z, const double* zp, size_t rows,
                     int player, double real_label, double cycle_weight, double* grad) {
  Model<double> m(s);
  m.bind(params, 0, s.layers.size());
  Work<double> w;
  const int n = static_cast<int>(rows);
  w.ensure(s, n);
  Step<double> st(s);
  std::vector<double> g(s.size, 0.0), scratch(s.size, 0.0);
  st.forward_eg(m, w, Z, zp, n);
  st.forward_d(m, w, Z, zp, n);
  double loss;
  if (player == 0) {
    loss = st.d_loss(m, w, n, real_label, g.data(), nullptr, nullptr);
    std::fill(g.begin(), g.begin() + s.layers[st.d0].w, 0.0);
  } else {
    loss = st.ge_loss(m, w, Z, n, cycle_weight, g.data(), scratch.data(), nullptr);
    std::fill(g.begin() + s.layers[st.d0].w, g.end(), 0.0);
  }
  std::fill(g.begin(), g.begin() + 2 * s.features, 0.0);
  std::copy(g.begin(), g.end(), grad);
  return loss;
}

}  // namespace nadir::gan
