// The training loop shared by the sequence forecasters: seeded window sampling, mini-batches
// split across threads, gradient clipping and Adam (from nn.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "nadir/linalg.h"
#include "nadir/nn.h"
#include "nadir/parallel.h"
#include "nadir/seq.h"

namespace nadir::seq {

TrainResult train_windows(std::vector<float> init, size_t n_windows, size_t outputs_per_window,
                          const TrainOptions& opt, const WindowGrad& grad_fn,
                          const std::function<bool()>& should_stop) {
  TrainResult res;
  res.params = std::move(init);
  const size_t P = res.params.size();
  if (n_windows == 0) return res;
  std::vector<float> m(P, 0.f), v(P, 0.f), g(P);
  // Each mini-batch is cut into at most kChunks fixed slices whatever the thread count; slices are
  // spread over the threads and their gradients summed in slice order, so the model depends on the
  // seed only, not on `threads`.
  constexpr int kChunks = 8;
  const int threads = std::max(1, opt.threads);
  std::vector<std::vector<float>> part(kChunks, std::vector<float>(P));
  std::vector<double> part_loss(kChunks);
  std::vector<uint32_t> order(n_windows);
  for (size_t i = 0; i < n_windows; ++i) order[i] = static_cast<uint32_t>(i);
  SplitMix rng(opt.seed ^ 0x5e9u);
  const size_t per_epoch = opt.max_samples > 0 ? std::min(opt.max_samples, n_windows) : n_windows;
  const size_t bs = std::max<size_t>(1, std::min<size_t>(opt.batch_size, per_epoch));
  long step = 0;
  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    // Fisher-Yates with the seeded generator: the same seed gives the same batches.
    for (size_t i = n_windows; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    double loss_sum = 0;
    for (size_t b0 = 0; b0 < per_epoch; b0 += bs) {
      if (should_stop && should_stop()) throw Aborted();
      const size_t n = std::min(bs, per_epoch - b0);
      const double scale = 1.0 / (static_cast<double>(n) * outputs_per_window);
      const int S = static_cast<int>(std::min<size_t>(kChunks, n));
      parallel_for(static_cast<size_t>(S), threads, [&](size_t t0, size_t t1, int) {
        for (size_t t = t0; t < t1; ++t) {
          size_t r0 = n * t / S, r1 = n * (t + 1) / S;
          std::fill(part[t].begin(), part[t].end(), 0.f);
          part_loss[t] = grad_fn(res.params.data(), order.data() + b0 + r0, r1 - r0, scale, part[t].data());
        }
      });
      std::copy(part[0].begin(), part[0].end(), g.begin());
      double batch_loss = part_loss[0];
      for (int t = 1; t < S; ++t) {
        for (size_t i = 0; i < P; ++i) g[i] += part[t][i];
        batch_loss += part_loss[t];
      }
      loss_sum += batch_loss;
      if (opt.clip_norm > 0) {
        double sq = 0;
        for (size_t i = 0; i < P; ++i) sq += static_cast<double>(g[i]) * g[i];
        const double norm = std::sqrt(sq);
        if (norm > opt.clip_norm) {
          const float coef = static_cast<float>(opt.clip_norm / norm);
          for (size_t i = 0; i < P; ++i) g[i] *= coef;
        }
      }
      ++step;
      const double bc1 = 1 - std::pow(opt.beta1, static_cast<double>(step));
      const double bc2 = 1 - std::pow(opt.beta2, static_cast<double>(step));
      nn::AdamArgs a{static_cast<float>(opt.beta1), static_cast<float>(opt.beta2),
                     static_cast<float>(opt.learning_rate / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
                     static_cast<float>(opt.adam_eps), 1.f};
      nn::adam(res.params.data(), g.data(), m.data(), v.data(), P, a);
    }
    res.loss.push_back(static_cast<float>(loss_sum / (static_cast<double>(per_epoch) * outputs_per_window)));
  }
  return res;
}

}  // namespace nadir::seq
