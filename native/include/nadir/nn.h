// Dense networks in plain C++: the autoencoder / VAE trainer (Adam, dropout, layer norm,
// reparameterization, early stopping, clipping), the inference forward pass and a blocked SIMD
// GEMM. No Node headers; the addon (native/addon/nn_addon.cc) only converts arguments.
//
// A network is described by a "plan" (int32 array) and a flat float "parameter blob":
//   plan   = [1 (version), kind (0 autoencoder, 1 vae), features, nLayers, nEncoder,
//             then per layer: inputs, outputs, activation, norm (0|1), dropoutAfter (0|1)]
//   blob   = [mean (features), std (features), beta (1),
//             then per layer: W (outputs x inputs), bias (outputs),
//                             if norm: gamma (outputs), normBeta (outputs), epsilon (1)]
// The trainer returns W in PyTorch's layout (outputs x inputs). The inference functions take the
// same blob with every W stored transposed (inputs x outputs, "packed"), which is what the GEMM
// reads directly. For a VAE, layers are encoder[0..nEncoder), mu, logVar, decoder...
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nadir::nn {

enum class Act : int { Identity = 0, Relu = 1, Tanh = 2, Sigmoid = 3, LeakyRelu = 4 };

// Negative-side slope of Act::LeakyRelu (the usual choice for GAN discriminators and encoders).
constexpr double kLeakySlope = 0.2;

struct LayerSpec {
  int in = 0, out = 0;
  Act act = Act::Identity;
  bool norm = false;
  bool dropout = false;  // dropout after the activation (training only)
  size_t w = 0, b = 0, gamma = 0, beta = 0, eps = 0;  // offsets into the blob
};

struct Spec {
  bool vae = false;
  int features = 0;
  int n_encoder = 0;
  std::vector<LayerSpec> layers;
  size_t mean = 0, std = 0, beta = 0;  // offsets into the blob
  size_t size = 0;                     // blob length
  int max_width = 0;
  int latent() const { return vae ? layers[n_encoder].out : 0; }
};

// Validates a plan (throws std::invalid_argument naming the problem) and computes the offsets.
Spec parse_plan(const int32_t* plan, size_t n);

// C[m, n] (= or +=) sum_k A(m, k) * B[k, n] for m < M, n < N, where A(m, k) = A[m * ars + k * acs],
// B and C are row-major with leading dimensions ldb, ldc. When not accumulating and bias is given,
// C starts from bias[n]. Arithmetic per element is the same whatever the blocking, so rows can be
// split across threads without changing results.
void gemm(int M, int N, int K, const float* A, long ars, long acs, const float* B, long ldb,
          float* C, long ldc, bool accumulate, const float* bias);
void gemm_scalar(int M, int N, int K, const float* A, long ars, long acs, const float* B, long ldb,
                 float* C, long ldc, bool accumulate, const float* bias);

// One Adam step over n parameters (PyTorch's formulas, SIMD-dispatched); shared with the
// sequence trainers (seq.h).
struct AdamArgs {
  float b1, b2, step_size, inv_sqrt_bc2, eps, decay;  // step_size = lr / bc1; decay = 1 - lr * weightDecay
};
void adam(float* p, const float* g, float* m, float* v, size_t n, const AdamArgs& a);
void adam_scalar(float* p, const float* g, float* m, float* v, size_t n, const AdamArgs& a);

// gemm in either precision: float runs the SIMD kernel, double a plain loop (gradient test hooks).
inline void gemmT(int M, int N, int K, const float* A, long ars, long acs, const float* B, long ldb,
                  float* C, long ldc, bool acc, const float* bias) {
  gemm(M, N, K, A, ars, acs, B, ldb, C, ldc, acc, bias);
}
inline void gemmT(int M, int N, int K, const double* A, long ars, long acs, const double* B,
                  long ldb, double* C, long ldc, bool acc, const double* bias) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = acc ? C[m * ldc + n] : bias ? bias[n] : 0.0;
      for (int k = 0; k < K; ++k) s += A[m * ars + k * acs] * B[k * ldb + n];
      C[m * ldc + n] = s;
    }
}

struct TrainOptions {
  int epochs = 100;
  int batch_size = 32;
  double learning_rate = 1e-3, beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  double weight_decay = 0;  // decoupled (AdamW), on weight matrices only
  double dropout = 0.2;
  double validation_split = 0.1;
  int patience = 10;  // 0 = no early stopping
  double clip_norm = 0;  // 0 = no clipping
  double beta = 1;  // VAE KL weight
  double norm_eps = 1e-5;
  uint64_t seed = 0;
  int threads = 1;
};

struct EpochInfo {
  int epoch;
  double loss, val_loss, seconds;
};

struct TrainResult {
  std::vector<float> params;  // blob, W in PyTorch layout
  std::vector<float> loss, val_loss;
  int best_epoch = -1;
  bool stopped_early = false;
};

struct Aborted : std::exception {
  const char* what() const noexcept override { return "training was aborted"; }
};

// Trains on raw rows (standardized inside with the training statistics, which the result's blob
// carries). on_epoch runs on the training thread after every epoch. should_stop, when set, is
// polled between mini-batches; true throws Aborted.
// Standardization statistics of the training data (population std, as scikit-learn's
// StandardScaler): writes mean[d] and std[d] and returns Z = (X - mean) / std. A column whose std
// is zero or negligible next to its mean is only centered (std := 1); `varies`, when given,
// receives 1 for the other columns and 0 for those.
std::vector<float> standardize_columns(const float* X, size_t rows, int d, float* mean, float* std,
                                       std::vector<double>* varies = nullptr);

TrainResult train(const Spec& spec, const float* X, size_t rows, const TrainOptions& opt,
                  const std::function<void(const EpochInfo&)>& on_epoch,
                  const std::function<bool()>& should_stop);

// Scores raw rows with a packed blob. mode 0: reconstruction error of the decoded mean (+ beta * KL
// for a VAE); mode 1 (VAE): Monte-Carlo mean over `samples` latent draws of the reconstruction
// error, each row's draws seeded from `seed` and the row's values. contrib (rows x features, or
// null) receives per-feature errors; recon (rows x features, or null) the reconstruction in
// standardized units (mode 0 only).
void score(const Spec& spec, const float* packed, const float* X, size_t rows, int mode,
           int samples, uint64_t seed, float* scores, float* contrib, float* recon, int threads);

// Test hook: loss and gradient (w.r.t. every blob entry; zero for non-parameters) of the training
// objective on already-standardized rows Z, in float or double. train=true applies dropout and the
// VAE's sampled latent (KL weight: the blob's beta), with masks and noise drawn from `seed` (the same seed gives the same masks).
template <class T>
double loss_and_grad(const Spec& spec, const T* params, const T* Z, size_t rows, bool train,
                     double dropout, uint64_t seed, T* grad);

// ---------------------------------------------------------------- building blocks for other trainers
// (gan.cc): one dense layer without layer norm or dropout, in the same code the autoencoder trainer
// runs. T is float (SIMD GEMM) or double (gradient checks).

// a (rows x out) = act(X W^T + b), with wt = W transposed (in x out).
template <class T>
void dense_forward(const LayerSpec& L, const T* wt, const T* b, const T* X, int rows, T* a);

// Backward of dense_forward: d (rows x out) holds dLoss/da on entry and is overwritten; a is the
// forward output; w = W (out x in). Overwrites gw (out x in) and gb (out) with the parameter
// gradients; dX (rows x in), when given, receives (or with add_dX gains) dLoss/dX.
template <class T>
void dense_backward(const LayerSpec& L, const T* w, const T* X, int rows, const T* a, T* d, T* gw,
                    T* gb, T* dX, bool add_dX);


}  // namespace nadir::nn
