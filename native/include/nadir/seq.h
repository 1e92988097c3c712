// Sequence forecasters for time series: a stacked LSTM and a small causal Transformer encoder,
// each with a dense head predicting the next `horizon` steps of every channel. Plain C++17, no
// Node headers; the addon (native/addon/seq_addon.cc) only converts arguments.
//
// Series are row-major T x C float arrays, already standardized per channel by the caller.
// Parameters are one flat float blob per model (layouts below); the training loop (seq_train.cc)
// is shared: seeded sampling of training windows, mini-batches cut into fixed slices spread over
// the threads (one gradient buffer per slice, summed in slice order: bit-identical for the same
// seed whatever the thread count), global-norm gradient clipping and Adam (nn::adam).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace nadir::seq {

struct TrainOptions {
  int epochs = 20;
  int batch_size = 32;
  int window = 32;
  double learning_rate = 1e-3, beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  double clip_norm = 1.0;     // 0 = no clipping
  size_t max_samples = 0;     // training windows per epoch (drawn without replacement); 0 = all
  uint64_t seed = 0;
  int threads = 1;
};

struct TrainResult {
  std::vector<float> params;
  std::vector<float> loss;  // mean training loss per epoch
};

// Gradient of the summed loss over windows starting at starts[0..n) (added into grad, scaled by
// `scale`); returns the unscaled loss sum.
using WindowGrad = std::function<double(const float* params, const uint32_t* starts, size_t n,
                                        double scale, float* grad)>;

TrainResult train_windows(std::vector<float> init, size_t n_windows, size_t outputs_per_window,
                          const TrainOptions& opt, const WindowGrad& grad_fn,
                          const std::function<bool()>& should_stop);

struct Aborted : std::exception {
  const char* what() const noexcept override { return "training was aborted"; }
};

// ---------------------------------------------------------------- LSTM
// meta = [1 (version), channels, hidden, layers, horizon]
// blob, per layer l (inputs I = channels for l = 0, else hidden; G = 4 * hidden, gate rows in the
// order input, forget, cell, output): W (G x I), U (G x hidden), b (G); then the head
// Wh (horizon * channels x hidden), bh (horizon * channels). Output k * channels + c is step k+1 of
// channel c.
struct LstmShape {
  int channels = 0, hidden = 0, layers = 0, horizon = 0;
  std::vector<size_t> w, u, b;  // per-layer offsets
  size_t head_w = 0, head_b = 0, size = 0;
  int inputs(int l) const { return l == 0 ? channels : hidden; }
  int outputs() const { return horizon * channels; }
  size_t state_size() const { return static_cast<size_t>(2) * layers * hidden; }  // h then c
};
LstmShape lstm_shape(const int32_t* meta, size_t n);  // throws std::invalid_argument

std::vector<float> lstm_init(const LstmShape& s, uint64_t seed);

// Training windows: inputs Z[s, s + window), the state from zero, and at every step k the
// prediction of Z[s + k + 1 .. s + k + horizon]; squared error averaged over all predictions.
TrainResult lstm_train(const LstmShape& s, const float* Z, size_t T, const TrainOptions& opt,
                       const std::function<bool()>& should_stop);

// Inference layout: every W, U and Wh transposed (inputs x outputs) for the GEMM.
std::vector<float> lstm_pack(const LstmShape& s, const float* params);

// Runs the LSTM over Z[0..T) continuing from `state` (updated in place): preds[t] (C values) is
// the one-step forecast of Z[t] made from the state before Z[t] is read. The same code serves
// batch scoring and streaming, so both give identical numbers.
void lstm_run(const LstmShape& s, const float* packed, const float* Z, size_t T, float* state,
              float* preds);

// Test hook: loss (sum of squared errors over the windows at `starts`) and its gradient w.r.t.
// the blob, in float or double.
template <class T>
double lstm_loss_grad(const LstmShape& s, const T* params, const T* Z, size_t len, int window,
                      const uint32_t* starts, size_t n, T* grad);

// ---------------------------------------------------------------- Transformer
// meta = [1 (version), channels, width d, heads, layers, horizon, window, ff]
// blob: Win (d x C), bin (d); per layer: ln1 gamma, beta (d each), Wq, Wk, Wv, Wo (d x d each),
// bq, bk, bv, bo (d each), ln2 gamma, beta, W1 (ff x d), b1 (ff), W2 (d x ff), b2 (d); final
// layer norm gamma, beta (d); head Wh (horizon * C x d), bh. Pre-norm blocks, causal multi-head
// attention, ReLU feed-forward, fixed sinusoidal positions 0..window-1 added after the input
// projection; the head reads the last position's final-norm output.
struct TfShape {
  int channels = 0, width = 0, heads = 0, layers = 0, horizon = 0, window = 0, ff = 0;
  size_t win = 0, bin = 0;
  struct Layer {
    size_t g1, be1, wq, wk, wv, wo, bq, bk, bv, bo, g2, be2, w1, b1, w2, b2;
  };
  std::vector<Layer> L;
  size_t gf = 0, bef = 0, head_w = 0, head_b = 0, size = 0;
  int outputs() const { return horizon * channels; }
};
TfShape tf_shape(const int32_t* meta, size_t n);
std::vector<float> tf_init(const TfShape& s, uint64_t seed);
constexpr double kLayerNormEps = 1e-5;

// Training windows: Z[s, s + window) predicts Z[s + window .. s + window + horizon).
TrainResult tf_train(const TfShape& s, const float* Z, size_t T, const TrainOptions& opt,
                     const std::function<bool()>& should_stop);

// Inference layout: every weight matrix transposed (inputs x outputs) for the GEMM.
std::vector<float> tf_pack(const TfShape& s, const float* params);

// preds (rows t = first..T, C values each): the one-step forecast of Z[t] from Z[t - window, t);
// t = T forecasts the next, unseen step. Needs first >= window. Takes the packed blob.
void tf_predict(const TfShape& s, const float* packed, const float* Z, size_t T, size_t first,
                float* preds, int threads);

template <class T>
double tf_loss_grad(const TfShape& s, const T* params, const T* Z, size_t len,
                    const uint32_t* starts, size_t n, T* grad);

}  // namespace nadir::seq
