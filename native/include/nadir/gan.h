// Bidirectional GAN (BiGAN / ALAD family) for vector data in plain C++: an encoder E (x -> z), a
// generator G (z -> x) and a joint discriminator D over (x, z) pairs, trained adversarially on
// standardized rows; scoring is one forward pass. The dense layers, GEMM and Adam are nn.h's.
//
//   plan = [1 (version), features, latent, nE, nG, nD, nX, then per layer (E..., G..., D..., X...):
//           inputs, outputs, activation (nn::Act)]
//   blob = [mean (features), std (features), then per layer: W (outputs x inputs), bias (outputs)]
// E maps features -> latent, G latent -> features, D (features + latent) -> ... -> 1 (the logit of
// "real"); D has at least one hidden layer, whose last one is the "feature" layer. X (nX = 0: none)
// is ALAD's cycle discriminator D_xx over [x, x'] (2 * features -> ... -> 1), telling (x, x) from
// (x, G(E(x))); when present, the feature score uses its last hidden layer instead of D's. The trainer
// returns W in PyTorch's layout with D's spectral normalization folded in (the effective weights);
// the scoring functions take the same blob with every W transposed ("packed").
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "nadir/nn.h"

namespace nadir::gan {

struct Spec {
  int features = 0, latent = 0, n_e = 0, n_g = 0, n_d = 0, n_x = 0;
  std::vector<nn::LayerSpec> layers;  // E..., G..., D..., X... (offsets into the blob)
  size_t mean = 0, std = 0, size = 0;
  int max_width = 0;
  const nn::LayerSpec* e() const { return layers.data(); }
  const nn::LayerSpec* g() const { return layers.data() + n_e; }
  const nn::LayerSpec* d() const { return layers.data() + n_e + n_g; }
};

// Validates a plan (throws std::invalid_argument naming the problem) and computes the offsets.
Spec parse_plan(const int32_t* plan, size_t n);

struct TrainOptions {
  int epochs = 100;
  int batch_size = 64;
  double lr_g = 1e-4, lr_d = 4e-4;  // generator+encoder, discriminator (TTUR)
  double beta1 = 0.5, beta2 = 0.999, adam_eps = 1e-8;
  double real_label = 0.9;   // one-sided label smoothing: D's target for real pairs
  double cycle_weight = 1;   // weight of the explicit cycle loss ||x - G(E(x))||^2 (ALICE)
  bool spectral_norm = true;  // on every D layer, one seeded power iteration per forward
  // Polyak averaging: E and G end as the mean of their weights after every step of the second
  // half of training, which damps the oscillation adversarial training leaves in the last iterate.
  bool average = true;
  int collapse_samples = 512;  // prior draws per epoch for the variance check
  uint64_t seed = 0;
};

struct EpochInfo {
  int epoch;
  double d_loss, g_loss, cycle_loss;
  double d_real, d_fake;  // mean D(x, E(x)) and D(G(z), z) (probabilities) at the D step
  double var_ratio;       // mean over features of var(G(z)) / var(data), z from the prior
  double seconds;
};

struct TrainResult {
  std::vector<float> params;  // blob, W in PyTorch layout, D spectrally normalized
  std::vector<EpochInfo> epochs;
};

// Trains on raw rows (standardized inside; the blob carries the statistics). Single-threaded, so
// the same seed gives the same bits. should_stop is polled between mini-batches (true throws
// nn::Aborted); on_epoch runs on the training thread after every epoch.
TrainResult train(const Spec& spec, const float* X, size_t rows, const TrainOptions& opt,
                  const std::function<void(const EpochInfo&)>& on_epoch,
                  const std::function<bool()>& should_stop);

enum class ScoreKind : int { Reconstruction = 0, Discriminator = 1, Feature = 2, Mix = 3 };

// Scores raw rows with a packed blob. Reconstruction: sum_j (z_j - G(E(z))_j)^2 in standardized
// units (nadir::recon_error). Discriminator: -logit D(z, E(z)) (the logit of 1 - D). Feature: L1
// distance of D's last hidden layer between (z, E(z)) and (G(E(z)), E(z)), or with X, of X's last
// hidden layer between (z, z) and (z, G(E(z))) (ALAD's score). Mix: sum_k weights[k] *
// component k. contrib (rows x features or null) gets the per-feature reconstruction errors;
// components (rows x 3 or null) all three scores.
void score(const Spec& spec, const float* packed, const float* X, size_t rows, ScoreKind kind,
           const float* weights, float* scores, float* contrib, float* components, int threads);

// Test hooks in double. Loss and gradient of one player's objective on standardized rows Z with
// prior draws zp (rows x latent): player 0 = D and X (BCE with the real target real_label),
// player 1 = E and G (non-saturating BCE against D and X + cycle_weight * cycle loss). Gradient w.r.t. every blob entry
// (zero for the other player's and non-parameters). No spectral normalization here.
double loss_and_grad(const Spec& spec, const double* params, const double* Z, const double* zp,
                     size_t rows, int player, double real_label, double cycle_weight, double* grad);

// Spectral normalization W_sn = W / sigma, sigma = u^T W v with u, v the (constant) power-iteration
// vectors: given dL/dW_sn, returns dL/dW = (G - <G, W_sn> u v^T) / sigma. g may be g_sn (in place).
template <class T>
void spectral_backward(const T* W, int out, int in, const double* u, const double* v, double sigma,
                       const T* g_sn, T* g);

}  // namespace nadir::gan
