#include "nadir/covariance.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "nadir/linalg.h"
#include "nadir/parallel.h"

namespace nadir {

void mean_covariance(const float* x, size_t n, size_t d, double* mean, double* cov, double* lw,
                     int threads) {
  // Fixed partition (at most 64 blocks, fewer for wide data so the per-block sums stay under
  // ~32 MB) so sums do not depend on the thread count.
  size_t tri_cells = d * (d + 1) / 2 + 1;
  size_t nblocks = std::min<size_t>({64, (n + 4095) / 4096, std::max<size_t>(1, (size_t{4} << 20) / tri_cells)});
  nblocks = std::max<size_t>(nblocks, 1);
  size_t bs = (n + nblocks - 1) / nblocks;
  std::vector<double> part(nblocks * d, 0.0);
  parallel_for(nblocks, threads, [&](size_t b, size_t e, int) {
    for (size_t blk = b; blk < e; ++blk) {
      double* s = part.data() + blk * d;
      for (size_t i = blk * bs; i < std::min(n, (blk + 1) * bs); ++i)
        for (size_t j = 0; j < d; ++j) s[j] += x[i * d + j];
    }
  });
  for (size_t j = 0; j < d; ++j) {
    double s = 0;
    for (size_t blk = 0; blk < nblocks; ++blk) s += part[blk * d + j];
    mean[j] = s / static_cast<double>(n);
  }
  // Second pass on centered data (accurate even with large offsets); lower triangle, plus
  // sum_i |x_i - mean|^4 for Ledoit-Wolf.
  size_t tri = d * (d + 1) / 2;
  std::vector<double> cpart(nblocks * (tri + 1), 0.0);
  parallel_for(nblocks, threads, [&](size_t b, size_t e, int) {
    std::vector<double> z(d);
    for (size_t blk = b; blk < e; ++blk) {
      double* s = cpart.data() + blk * (tri + 1);
      for (size_t i = blk * bs; i < std::min(n, (blk + 1) * bs); ++i) {
        double nn = 0;
        for (size_t j = 0; j < d; ++j) {
          z[j] = x[i * d + j] - mean[j];
          nn += z[j] * z[j];
        }
        size_t t = 0;
        for (size_t j = 0; j < d; ++j)
          for (size_t k = 0; k <= j; ++k) s[t++] += z[j] * z[k];
        s[tri] += nn * nn;
      }
    }
  });
  std::vector<double> tot(tri + 1, 0.0);
  for (size_t blk = 0; blk < nblocks; ++blk)
    for (size_t t = 0; t <= tri; ++t) tot[t] += cpart[blk * (tri + 1) + t];
  size_t t = 0;
  for (size_t j = 0; j < d; ++j)
    for (size_t k = 0; k <= j; ++k, ++t) cov[j * d + k] = cov[k * d + j] = tot[t] / static_cast<double>(n);
  if (lw) {
    // Ledoit & Wolf (2004) optimal intensity towards mu*I, mu = trace/d (as scikit-learn computes it).
    double nd = static_cast<double>(n), dd = static_cast<double>(d);
    double mu = 0, frob = 0;
    for (size_t j = 0; j < d; ++j) mu += cov[j * d + j];
    mu /= dd;
    for (size_t j = 0; j < d * d; ++j) frob += cov[j] * cov[j];
    double beta = (tot[tri] / nd - frob) / (dd * nd);
    double delta = 0;
    for (size_t j = 0; j < d; ++j)
      for (size_t k = 0; k < d; ++k) {
        double v = cov[j * d + k] - (j == k ? mu : 0.0);
        delta += v * v;
      }
    delta /= dd;
    beta = std::min(beta, delta);
    *lw = delta > 0 && beta > 0 ? beta / delta : 0.0;
  }
}

// ---------------------------------------------------------------- FastMCD

namespace {

struct Est {
  std::vector<double> mu, cov, l;
  double logdet = INFINITY;
  bool regularized = false;
};

// Mean and MLE covariance of the rows idx[0..m) of X (n x d double), factored.
void estimate(const double* X, size_t d, const size_t* idx, size_t m, Est& e) {
  e.mu.assign(d, 0.0);
  e.cov.assign(d * d, 0.0);
  e.l.resize(d * d);
  for (size_t a = 0; a < m; ++a) {
    const double* xi = X + idx[a] * d;
    for (size_t j = 0; j < d; ++j) e.mu[j] += xi[j];
  }
  for (size_t j = 0; j < d; ++j) e.mu[j] /= static_cast<double>(m);
  std::vector<double> z(d);
  for (size_t a = 0; a < m; ++a) {
    const double* xi = X + idx[a] * d;
    for (size_t j = 0; j < d; ++j) z[j] = xi[j] - e.mu[j];
    for (size_t j = 0; j < d; ++j) {
      double zj = z[j];
      double* cj = e.cov.data() + j * d;
      for (size_t k = 0; k <= j; ++k) cj[k] += zj * z[k];
    }
  }
  for (size_t j = 0; j < d; ++j)
    for (size_t k = 0; k <= j; ++k) e.cov[k * d + j] = e.cov[j * d + k] /= static_cast<double>(m);
  std::vector<double> c = e.cov;
  e.regularized = factor_covariance(c.data(), d, e.l.data(), &e.logdet) > 0;
}

// Squared Mahalanobis distances of rows idx[0..m) under e (forward substitution with L).
void distances(const double* X, size_t d, const size_t* idx, size_t m, const Est& e, double* out) {
  std::vector<double> y(d);
  for (size_t a = 0; a < m; ++a) {
    const double* xi = X + idx[a] * d;
    double s = 0;
    for (size_t j = 0; j < d; ++j) {
      double t = xi[j] - e.mu[j];
      const double* lj = e.l.data() + j * d;
      for (size_t k = 0; k < j; ++k) t -= lj[k] * y[k];
      y[j] = t / lj[j];
      s += y[j] * y[j];
    }
    out[a] = s;
  }
}

// The h rows of `set` with the smallest distances (ties broken by row index), in row order.
void smallest(const double* dist, const size_t* set, size_t m, size_t h, std::vector<size_t>& out) {
  std::vector<std::pair<double, size_t>> p(m);
  for (size_t a = 0; a < m; ++a) p[a] = {dist[a], set[a]};
  std::nth_element(p.begin(), p.begin() + (h - 1), p.end());
  out.resize(h);
  for (size_t a = 0; a < h; ++a) out[a] = p[a].second;
  std::sort(out.begin(), out.end());
}

// C-steps on `set` (m rows) with subset size h, starting from `start`. The first step is always
// taken (start may come from a small subset); later ones only while the determinant decreases.
Est c_steps(const double* X, size_t d, const size_t* set, size_t m, size_t h, const Est& start,
            int steps) {
  std::vector<double> dist(m);
  std::vector<size_t> sel;
  Est cur;
  distances(X, d, set, m, start, dist.data());
  smallest(dist.data(), set, m, h, sel);
  estimate(X, d, sel.data(), h, cur);
  for (int s = 1; s < steps; ++s) {
    Est next;
    distances(X, d, set, m, cur, dist.data());
    smallest(dist.data(), set, m, h, sel);
    estimate(X, d, sel.data(), h, next);
    if (!(next.logdet < cur.logdet - 1e-12 * std::max(1.0, std::fabs(cur.logdet)))) break;
    cur = std::move(next);
  }
  return cur;
}

uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  SplitMix s(seed ^ (0x632be59bd9b4e019ULL * (stream + 1)));
  s.next();
  return s.next();
}

// One random start: a (d+1)-subset of `set`, grown while its covariance is singular, then C-steps.
Est trial(const double* X, size_t d, const size_t* set, size_t m, size_t h, uint64_t seed, int steps) {
  SplitMix rng(seed);
  std::vector<size_t> pos(set, set + m);
  size_t count = 0, want = std::min(m, d + 1);
  Est start;
  for (;;) {
    for (; count < want; ++count) std::swap(pos[count], pos[count + rng.below(m - count)]);
    estimate(X, d, pos.data(), count, start);
    if (!start.regularized || count >= h) break;
    want = std::min(h, count + std::max<size_t>(1, count / 4));
  }
  return c_steps(X, d, set, m, h, start, steps);
}

// Indices of the `keep` lowest-determinant candidates (ties: lower index first).
std::vector<size_t> best_of(const std::vector<Est>& c, size_t keep) {
  std::vector<size_t> order(c.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c[a].logdet < c[b].logdet; });
  order.resize(std::min(keep, order.size()));
  return order;
}

size_t scaled_h(size_t m, size_t h, size_t n) {
  size_t v = static_cast<size_t>(std::ceil(static_cast<double>(m) * static_cast<double>(h) / static_cast<double>(n)));
  return std::max<size_t>(1, std::min(m, v));
}

}  // namespace

McdResult fast_mcd(const float* xf, size_t n, size_t d, size_t h, int trials, uint64_t seed,
                   int threads) {
  if (h < d + 1 || h > n) throw std::runtime_error("support size must lie in [d + 1, n]");
  std::vector<double> Xd(xf, xf + n * d);
  const double* X = Xd.data();
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), size_t{0});
  const int kSteps = 3, kConverge = 100;
  const size_t kBest = 10;
  trials = std::max(trials, 1);

  std::vector<Est> finalists;
  const std::vector<size_t>* final_set = &all;
  if (n <= 600) {
    std::vector<Est> cand(trials);
    parallel_for(static_cast<size_t>(trials), threads, [&](size_t b, size_t e, int) {
      for (size_t t = b; t < e; ++t) cand[t] = trial(X, d, all.data(), n, h, stream_seed(seed, 1 + t), kSteps);
    });
    for (size_t i : best_of(cand, kBest)) finalists.push_back(std::move(cand[i]));
  } else {
    // Disjoint random subsets (about 300 rows each, at most 5) whose union is the merged set.
    size_t k = std::min<size_t>(5, n / 300);
    size_t m = std::min<size_t>(n, 1500);
    std::vector<size_t> perm = all;
    SplitMix prng(stream_seed(seed, 0));
    for (size_t i = 0; i < m; ++i) std::swap(perm[i], perm[i + prng.below(n - i)]);
    std::vector<size_t> merged(perm.begin(), perm.begin() + m);
    size_t per = (static_cast<size_t>(trials) + k - 1) / k;
    std::vector<Est> pool;
    for (size_t s = 0; s < k; ++s) {
      size_t b = s * (m / k), e = s + 1 == k ? m : (s + 1) * (m / k);
      std::vector<size_t> sub(merged.begin() + b, merged.begin() + e);
      std::sort(sub.begin(), sub.end());
      size_t hs = std::max(scaled_h(sub.size(), h, n), std::min(sub.size(), d + 1));
      std::vector<Est> cand(per);
      parallel_for(per, threads, [&](size_t tb, size_t te, int) {
        for (size_t t = tb; t < te; ++t)
          cand[t] = trial(X, d, sub.data(), sub.size(), hs, stream_seed(seed, 1 + s * 1000003 + t), kSteps);
      });
      for (size_t i : best_of(cand, kBest)) pool.push_back(std::move(cand[i]));
    }
    std::sort(merged.begin(), merged.end());
    size_t hm = std::max(scaled_h(m, h, n), std::min(m, d + 1));
    std::vector<Est> refined(pool.size());
    parallel_for(pool.size(), threads, [&](size_t b, size_t e, int) {
      for (size_t i = b; i < e; ++i) refined[i] = c_steps(X, d, merged.data(), m, hm, pool[i], 2);
    });
    for (size_t i : best_of(refined, kBest)) finalists.push_back(std::move(refined[i]));
  }
  // Refine the finalists to convergence on all rows; keep the lowest determinant.
  std::vector<Est> done(finalists.size());
  parallel_for(finalists.size(), threads, [&](size_t b, size_t e, int) {
    for (size_t i = b; i < e; ++i) done[i] = c_steps(X, d, final_set->data(), n, h, finalists[i], kConverge);
  });
  Est best = std::move(done[best_of(done, 1)[0]]);

  McdResult res;
  res.raw_logdet = best.logdet;
  res.raw_support = h;
  // Consistency at the normal model: scale so the median distance matches chi2(d)'s median.
  std::vector<double> dist(n);
  {
    size_t chunk = 4096, nb = (n + chunk - 1) / chunk;
    parallel_for(nb, threads, [&](size_t b, size_t e, int) {
      for (size_t blk = b; blk < e; ++blk) {
        size_t r0 = blk * chunk, r1 = std::min(n, r0 + chunk);
        distances(X, d, all.data() + r0, r1 - r0, best, dist.data() + r0);
      }
    });
  }
  std::vector<double> sorted = dist;
  size_t mid = n / 2;
  std::nth_element(sorted.begin(), sorted.begin() + mid, sorted.end());
  double med = sorted[mid];
  if (n % 2 == 0) {
    double lo = *std::max_element(sorted.begin(), sorted.begin() + mid);
    med = 0.5 * (med + lo);
  }
  double correction = med / chi2_quantile(0.5, static_cast<double>(d));
  if (!(correction > 0)) correction = 1;
  res.correction = correction;
  res.raw_location = best.mu;
  res.raw_covariance = best.cov;
  for (double& v : res.raw_covariance) v *= correction;
  // Reweighting: keep rows whose corrected distance is under the chi2(d) 97.5% quantile.
  double cut = chi2_quantile(0.975, static_cast<double>(d));
  std::vector<size_t> keep;
  for (size_t i = 0; i < n; ++i)
    if (dist[i] / correction < cut) keep.push_back(i);
  if (keep.size() < d + 1) keep = std::vector<size_t>(all.begin(), all.end());
  Est fin;
  estimate(X, d, keep.data(), keep.size(), fin);
  res.location = fin.mu;
  res.covariance = fin.cov;
  res.support = keep.size();
  res.kept = std::move(keep);
  return res;
}

}  // namespace nadir
