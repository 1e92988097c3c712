#include "nadir/forest.h"

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "nadir/cpu.h"
#include "nadir/parallel.h"
#if NADIR_X86
#include <immintrin.h>
#endif

namespace nadir {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// splitmix64: tiny, seedable, and good enough to drive random splits.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed, uint64_t stream) : s(seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull) {
    next();
  }
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n) for n <= 2^32 (row and feature counts are below 2^31).
  size_t below(size_t n) { return static_cast<size_t>(((next() >> 32) * n) >> 32); }
  double gaussian() {
    double u = 1.0 - uniform();  // (0, 1]
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }
};

// One dot product used by fit, scoring and explain alike (same order), so the side a training row
// was sent to at fit is the side scoring sends it to. Accumulated in double: a product of two floats
// is exact in double, so whether the compiler contracts s + a * b into an FMA (it may, on builds
// with FMA enabled) cannot change the result.
inline double dot(const float* a, const float* b, size_t n, size_t stride = 1) {
  double s = 0;
  for (size_t j = 0; j < n; ++j) s += static_cast<double>(a[j]) * b[j * stride];
  return s;
}

inline float finish(float sum, double scale) {
  // scale = 1 / (trees * c(psi))
  return static_cast<float>(std::exp2(-static_cast<double>(sum) * scale));
}

double score_scale(const ForestView& f) { return 1.0 / (f.trees * iforest_c(f.sample_size)); }

// ---------------------------------------------------------------- fit

struct Builder {
  const float* x;
  size_t cols;
  const ForestParams& p;
  const ForestOut& out;
  size_t internal, leaves;
  size_t rows;
  // Per-thread scratch, O(sampleSize + cols): nothing here grows with the row count.
  std::vector<uint32_t> idx;       // the tree's sample, partitioned in place
  std::vector<uint32_t> seen;      // open-addressing set for sampling
  int seen_bits = 0;
  std::vector<uint32_t> fperm;     // feature draw order
  std::vector<float> lo, hi;       // bounding box (hyperplane)
  std::vector<float> normal;       // the node's normal before it is stored feature-major
  Rng rng{0, 0};
  size_t t = 0;

  Builder(const float* x_, size_t rows_, size_t cols_, const ForestParams& p_, const ForestOut& o)
      : x(x_), cols(cols_), p(p_), out(o), internal((size_t{1} << p_.depth) - 1), leaves(size_t{1} << p_.depth),
        rows(rows_), idx(p_.sample_size), fperm(cols_), lo(cols_), hi(cols_), normal(cols_) {
    while ((size_t{1} << seen_bits) < 2 * idx.size()) ++seen_bits;
    seen.assign(size_t{1} << seen_bits, kEmpty);
  }

  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;  // rows < 2^31, so never a row index

  bool insert(uint32_t v) {
    const size_t mask = seen.size() - 1;
    size_t h = (static_cast<uint64_t>(v) * 0x9E3779B97F4A7C15ull) >> (64 - seen_bits) & mask;
    for (; seen[h] != kEmpty; h = (h + 1) & mask)
      if (seen[h] == v) return false;
    seen[h] = v;
    return true;
  }

  void tree(size_t tree_index) {
    t = tree_index;
    rng = Rng(p.seed, tree_index);
    // psi distinct rows by Floyd's algorithm. The set depends only on (seed, tree); the order of
    // idx does not matter, since a tree depends only on which rows reach each node.
    const size_t n = rows, psi = static_cast<size_t>(p.sample_size);
    std::fill(seen.begin(), seen.end(), kEmpty);
    for (size_t j = n - psi, k = 0; j < n; ++j, ++k) {
      const uint32_t r = static_cast<uint32_t>(rng.below(j + 1));
      if (insert(r)) {
        idx[k] = r;
      } else {
        insert(static_cast<uint32_t>(j));
        idx[k] = static_cast<uint32_t>(j);
      }
    }
    std::iota(fperm.begin(), fperm.end(), 0u);
    node(0, 0, 0, psi);
  }

  // External node at level k, position j: pad the subtree below with always-left splits and give
  // every leaf under it the value (only the leftmost is reachable).
  void external(int k, size_t j, size_t size) {
    const float v = static_cast<float>(k + iforest_c(static_cast<double>(size)));
    int32_t* cnt = out.count + t * ((size_t{2} << p.depth) - 1);
    for (int m = k; m <= p.depth; ++m) {
      size_t first = (size_t{1} << m) - 1 + (j << (m - k));
      std::fill_n(cnt + first, size_t{1} << (m - k), 0);
    }
    cnt[(size_t{1} << k) - 1 + j] = static_cast<int32_t>(size);
    for (int m = k; m < p.depth; ++m) {
      size_t first = (size_t{1} << m) - 1 + (j << (m - k)), count = size_t{1} << (m - k);
      for (size_t g = first; g < first + count; ++g) {
        size_t at = t * internal + g;
        if (out.feature) {
          out.feature[at] = 0;
          out.threshold[at] = kInf;
        } else {
          for (size_t c = 0; c < cols; ++c) out.normal[(t * cols + c) * internal + g] = 0.0f;
          out.offset[at] = kInf;
        }
      }
    }
    std::fill_n(out.leaf + t * leaves + (j << (p.depth - k)), size_t{1} << (p.depth - k), v);
  }

  void node(int k, size_t j, size_t b, size_t e) {
    if (k == p.depth || e - b <= 1) return external(k, j, e - b);
    const size_t g = t * internal + (size_t{1} << k) - 1 + j;
    out.count[t * ((size_t{2} << p.depth) - 1) + (size_t{1} << k) - 1 + j] = static_cast<int32_t>(e - b);
    size_t mid;
    if (out.feature) {
      // A feature drawn uniformly among those not constant in this node (as sklearn's ExtraTree
      // with max_features=1), then a threshold uniform in [min, max).
      float mn = 0, mx = 0;
      uint32_t f = 0;
      bool found = false;
      for (size_t r = cols; r > 0 && !found; --r) {
        size_t q = rng.below(r);
        f = fperm[q];
        std::swap(fperm[q], fperm[r - 1]);
        mn = mx = x[idx[b] * cols + f];
        for (size_t i = b + 1; i < e; ++i) {
          float v = x[idx[i] * cols + f];
          mn = std::min(mn, v);
          mx = std::max(mx, v);
        }
        found = mn < mx;
      }
      if (!found) return external(k, j, e - b);
      float thr = static_cast<float>(mn + rng.uniform() * (static_cast<double>(mx) - mn));
      if (!(thr < mx)) thr = std::nextafter(mx, -kInf);
      if (thr < mn) thr = mn;
      out.feature[g] = static_cast<int32_t>(f);
      out.threshold[g] = thr;
      mid = std::partition(idx.begin() + b, idx.begin() + e, [&](uint32_t r) { return x[r * cols + f] <= thr; }) - idx.begin();
    } else {
      // Hyperplane through a point uniform in the node's bounding box, with a Gaussian normal of
      // which n_features - 1 - extension_level random components are zero (Hariri et al.).
      bool varied = false;
      for (size_t c = 0; c < cols; ++c) {
        float mn = x[idx[b] * cols + c], mx = mn;
        for (size_t i = b + 1; i < e; ++i) {
          float v = x[idx[i] * cols + c];
          mn = std::min(mn, v);
          mx = std::max(mx, v);
        }
        lo[c] = mn;
        hi[c] = mx;
        varied |= mn < mx;
      }
      if (!varied) return external(k, j, e - b);
      float* nv = normal.data();
      for (size_t c = 0; c < cols; ++c) nv[c] = static_cast<float>(rng.gaussian());
      size_t zeros = cols - 1 - static_cast<size_t>(p.extension_level);
      for (size_t z = 0; z < zeros; ++z) {  // partial shuffle picks which components vanish
        size_t q = z + rng.below(cols - z);
        std::swap(fperm[z], fperm[q]);
        nv[fperm[z]] = 0.0f;
      }
      double off = 0;
      for (size_t c = 0; c < cols; ++c) off += static_cast<double>(nv[c]) * (lo[c] + rng.uniform() * (static_cast<double>(hi[c]) - lo[c]));
      const float offf = static_cast<float>(off);
      out.offset[g] = offf;
      for (size_t c = 0; c < cols; ++c) out.normal[(t * cols + c) * internal + (g - t * internal)] = nv[c];
      // Either side may end up empty: an empty child is an external node of size 0.
      mid = std::partition(idx.begin() + b, idx.begin() + e, [&](uint32_t r) { return !(dot(x + size_t{r} * cols, nv, cols) > offf); }) - idx.begin();
    }
    node(k + 1, 2 * j, b, mid);
    node(k + 1, 2 * j + 1, mid, e);
  }
};

// ---------------------------------------------------------------- scoring: scalar

// Four trees at a time: independent dependency chains overlap, and the leaves are still added in
// tree order so the sum is bit-identical to the one-tree-at-a-time loop the SIMD kernels do per lane.
inline float path_sum_axis(const ForestView& f, const float* xr) {
  const size_t I = f.internal(), L = f.leaves();
  const uint32_t fmax = static_cast<uint32_t>(f.n_features - 1);
  float acc = 0;
  int t = 0;
  for (; t + 4 <= f.trees; t += 4) {
    const int32_t* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    size_t g0 = 0, g1 = 0, g2 = 0, g3 = 0;
    for (int k = 0; k < f.depth; ++k) {
      g0 = 2 * g0 + 1 + (xr[std::min(static_cast<uint32_t>(ft[g0]), fmax)] > th[g0]);
      g1 = 2 * g1 + 1 + (xr[std::min(static_cast<uint32_t>(ft[I + g1]), fmax)] > th[I + g1]);
      g2 = 2 * g2 + 1 + (xr[std::min(static_cast<uint32_t>(ft[2 * I + g2]), fmax)] > th[2 * I + g2]);
      g3 = 2 * g3 + 1 + (xr[std::min(static_cast<uint32_t>(ft[3 * I + g3]), fmax)] > th[3 * I + g3]);
    }
    const float* lf = f.leaf + t * L - I;
    acc += lf[g0];
    acc += lf[L + g1];
    acc += lf[2 * L + g2];
    acc += lf[3 * L + g3];
  }
  for (; t < f.trees; ++t) {
    const int32_t* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    size_t g = 0;
    for (int k = 0; k < f.depth; ++k) g = 2 * g + 1 + (xr[std::min(static_cast<uint32_t>(ft[g]), fmax)] > th[g]);
    acc += f.leaf[t * L + (g - I)];
  }
  return acc;
}

// Same four-trees-at-a-time scheme; each dot product is still the one `dot` computes. Normals are
// stored feature-major per tree (component c of node g at (t * n_features + c) * internal + g).
inline float path_sum_hyper(const ForestView& f, const float* xr) {
  const size_t I = f.internal(), L = f.leaves(), nf = f.n_features;
  const float* of = f.offset;
  float acc = 0;
  int t = 0;
  for (; t + 4 <= f.trees; t += 4) {
    const size_t a0 = t * I, a1 = a0 + I, a2 = a1 + I, a3 = a2 + I;
    const float* n0 = f.normal + a0 * nf;
    const float* n1 = f.normal + a1 * nf;
    const float* n2 = f.normal + a2 * nf;
    const float* n3 = f.normal + a3 * nf;
    size_t g0 = 0, g1 = 0, g2 = 0, g3 = 0;
    for (int k = 0; k < f.depth; ++k) {
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t c = 0; c < nf; ++c) {
        const double v = xr[c];
        s0 += v * n0[c * I + g0];
        s1 += v * n1[c * I + g1];
        s2 += v * n2[c * I + g2];
        s3 += v * n3[c * I + g3];
      }
      g0 = 2 * g0 + 1 + (s0 > of[a0 + g0]);
      g1 = 2 * g1 + 1 + (s1 > of[a1 + g1]);
      g2 = 2 * g2 + 1 + (s2 > of[a2 + g2]);
      g3 = 2 * g3 + 1 + (s3 > of[a3 + g3]);
    }
    const float* lf = f.leaf + t * L - I;
    acc += lf[g0];
    acc += lf[L + g1];
    acc += lf[2 * L + g2];
    acc += lf[3 * L + g3];
  }
  for (; t < f.trees; ++t) {
    const float* nt = f.normal + t * I * nf;
    size_t g = 0;
    for (int k = 0; k < f.depth; ++k) g = 2 * g + 1 + (dot(xr, nt + g, nf, I) > of[t * I + g]);
    acc += f.leaf[t * L + (g - I)];
  }
  return acc;
}

void score_rows_scalar(const ForestView& f, const float* x, size_t rows, float* out, double scale) {
  const size_t nf = f.n_features;
  if (f.hyperplane())
    for (size_t i = 0; i < rows; ++i) out[i] = finish(path_sum_hyper(f, x + i * nf), scale);
  else
    for (size_t i = 0; i < rows; ++i) out[i] = finish(path_sum_axis(f, x + i * nf), scale);
}

#if NADIR_X86
// The SIMD kernels track each lane's position j within the current level (node 2^k - 1 + j).
// Levels with few nodes are looked up with in-register permutes instead of gathers; NB row vectors
// go down each tree together so the gathers' latencies overlap.

// ---------------------------------------------------------------- scoring: AVX2, 8 rows per vector

// With TRANSPOSED, x holds NB blocks of 8 rows stored feature-major (x[b*8*nf + f*8 + lane]).
template <int NB, bool TRANSPOSED>
NADIR_TARGET_AVX2 void axis_rows_avx2(const ForestView& f, const float* x, float* out, double scale) {
  const size_t I = f.internal(), L = f.leaves(), nf = f.n_features;
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_off = TRANSPOSED ? lanes : _mm256_mullo_epi32(lanes, _mm256_set1_epi32(static_cast<int>(nf)));
  const __m256i fmax = _mm256_set1_epi32(f.n_features - 1);
  const uint32_t fmax1 = static_cast<uint32_t>(f.n_features - 1);
  __m256 acc[NB];
  for (int b = 0; b < NB; ++b) acc[b] = _mm256_setzero_ps();
  for (int t = 0; t < f.trees; ++t) {
    const int* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    __m256i j[NB];
    for (int b = 0; b < NB; ++b) j[b] = _mm256_setzero_si256();
    int k = 0;
    if (TRANSPOSED) {  // root: one feature for every lane
      const float* col = x + std::min(static_cast<uint32_t>(ft[0]), fmax1) * 8;
      const __m256 t0 = _mm256_set1_ps(th[0]);
      for (int b = 0; b < NB; ++b)
        j[b] = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cmp_ps(_mm256_load_ps(col + b * 8 * nf), t0, _CMP_GT_OQ)), 31);
      k = 1;
      // Levels 1 and 2: two or four candidate columns, picked by blends instead of gathers.
      if (f.depth > 1) {
        const float* c1 = x + std::min(static_cast<uint32_t>(ft[1]), fmax1) * 8;
        const float* c2 = x + std::min(static_cast<uint32_t>(ft[2]), fmax1) * 8;
        const __m256 t1 = _mm256_set1_ps(th[1]), t2 = _mm256_set1_ps(th[2]);
        for (int b = 0; b < NB; ++b) {
          const __m256 odd = _mm256_castsi256_ps(_mm256_slli_epi32(j[b], 31));
          const __m256 xv = _mm256_blendv_ps(_mm256_load_ps(c1 + b * 8 * nf), _mm256_load_ps(c2 + b * 8 * nf), odd);
          const __m256i right = _mm256_castps_si256(_mm256_cmp_ps(xv, _mm256_blendv_ps(t1, t2, odd), _CMP_GT_OQ));
          j[b] = _mm256_sub_epi32(_mm256_add_epi32(j[b], j[b]), right);
        }
        k = 2;
      }
      if (f.depth > 2) {
        const float* c[4];
        for (int q = 0; q < 4; ++q) c[q] = x + std::min(static_cast<uint32_t>(ft[3 + q]), fmax1) * 8;
        const __m256 T = _mm256_maskload_ps(th + 3, _mm256_setr_epi32(-1, -1, -1, -1, 0, 0, 0, 0));
        for (int b = 0; b < NB; ++b) {
          const size_t o = b * 8 * nf;
          const __m256 b0 = _mm256_castsi256_ps(_mm256_slli_epi32(j[b], 31));
          const __m256 b1 = _mm256_castsi256_ps(_mm256_slli_epi32(j[b], 30));
          const __m256 lo = _mm256_blendv_ps(_mm256_load_ps(c[0] + o), _mm256_load_ps(c[1] + o), b0);
          const __m256 hi = _mm256_blendv_ps(_mm256_load_ps(c[2] + o), _mm256_load_ps(c[3] + o), b0);
          const __m256 xv = _mm256_blendv_ps(lo, hi, b1);
          const __m256i right = _mm256_castps_si256(_mm256_cmp_ps(xv, _mm256_permutevar8x32_ps(T, j[b]), _CMP_GT_OQ));
          j[b] = _mm256_sub_epi32(_mm256_add_epi32(j[b], j[b]), right);
        }
        k = 3;
      }
    }
    for (; k < f.depth; ++k) {
      const int* fk = ft + (1 << k) - 1;
      const float* tk = th + (1 << k) - 1;
      __m256i fi[NB];
      __m256 tv[NB];
      if (k <= 3) {  // <= 8 nodes: one register (deeper levels: gathers beat permute + blend on Zen 4)
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(1 << k), lanes);
        const __m256i F = _mm256_maskload_epi32(fk, m);
        const __m256 T = _mm256_maskload_ps(tk, m);
        for (int b = 0; b < NB; ++b) {
          fi[b] = _mm256_permutevar8x32_epi32(F, j[b]);
          tv[b] = _mm256_permutevar8x32_ps(T, j[b]);
        }
      } else {
        for (int b = 0; b < NB; ++b) {
          fi[b] = _mm256_i32gather_epi32(fk, j[b], 4);
          tv[b] = _mm256_i32gather_ps(tk, j[b], 4);
        }
      }
      for (int b = 0; b < NB; ++b) {
        __m256i fc = _mm256_min_epu32(fi[b], fmax);
        __m256i xi = _mm256_add_epi32(lane_off, TRANSPOSED ? _mm256_slli_epi32(fc, 3) : fc);
        __m256 xv = _mm256_i32gather_ps(x + b * 8 * nf, xi, 4);
        __m256i right = _mm256_castps_si256(_mm256_cmp_ps(xv, tv[b], _CMP_GT_OQ));  // -1 or 0
        j[b] = _mm256_sub_epi32(_mm256_add_epi32(j[b], j[b]), right);
      }
    }
    const float* lf = f.leaf + t * L;
    for (int b = 0; b < NB; ++b) acc[b] = _mm256_add_ps(acc[b], _mm256_i32gather_ps(lf, j[b], 4));
  }
  alignas(32) float sums[8];
  for (int b = 0; b < NB; ++b) {
    _mm256_store_ps(sums, acc[b]);
    for (int l = 0; l < 8; ++l) out[b * 8 + l] = finish(sums[l], scale);
  }
}

// Blocks of 8 rows to feature-major order (see axis_rows_avx2).
NADIR_TARGET_AVX2 void transpose8_avx2(const float* x, size_t nf, size_t blocks, float* xt) {
  const __m256i src = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(nf)));
  for (size_t b = 0; b < blocks; ++b)
    for (size_t c = 0; c < nf; ++c)
      _mm256_store_ps(xt + b * 8 * nf + c * 8, _mm256_i32gather_ps(x + b * 8 * nf, _mm256_add_epi32(src, _mm256_set1_epi32(static_cast<int>(c))), 4));
}

NADIR_TARGET_AVX2 void score_axis_avx2(const ForestView& f, const float* x, size_t rows, float* out, double scale) {
  const size_t nf = f.n_features;
  size_t i = 0;
  if (nf <= 64) {
    alignas(32) float xt[4 * 8 * 64];
    for (; i + 32 <= rows; i += 32) {
      transpose8_avx2(x + i * nf, nf, 4, xt);
      axis_rows_avx2<4, true>(f, xt, out + i, scale);
    }
    for (; i + 8 <= rows; i += 8) {
      transpose8_avx2(x + i * nf, nf, 1, xt);
      axis_rows_avx2<1, true>(f, xt, out + i, scale);
    }
  } else {
    for (; i + 32 <= rows; i += 32) axis_rows_avx2<4, false>(f, x + i * nf, out + i, scale);
    for (; i + 8 <= rows; i += 8) axis_rows_avx2<1, false>(f, x + i * nf, out + i, scale);
  }
  score_rows_scalar(f, x + i * nf, rows - i, out + i, scale);
}

// ---------------------------------------------------------------- scoring: AVX-512, 16 rows per vector

// With TRANSPOSED, x holds NB blocks of 16 rows stored feature-major (x[b*16*nf + f*16 + lane]):
// the gathers then touch a few adjacent cache lines, and the root level is a plain load.
template <int NB, bool TRANSPOSED>
NADIR_TARGET_AVX512 void axis_rows_avx512(const ForestView& f, const float* x, float* out, double scale) {
  const size_t I = f.internal(), L = f.leaves(), nf = f.n_features;
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i lane_off = TRANSPOSED ? lanes : _mm512_mullo_epi32(lanes, _mm512_set1_epi32(static_cast<int>(nf)));
  const uint32_t fmax1 = static_cast<uint32_t>(f.n_features - 1);
  const __m512i fmax = _mm512_set1_epi32(f.n_features - 1);
  const __m512i one = _mm512_set1_epi32(1);
  __m512 acc[NB];
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_setzero_ps();
  for (int t = 0; t < f.trees; ++t) {
    const int* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    __m512i j[NB];
    for (int b = 0; b < NB; ++b) j[b] = _mm512_setzero_si512();
    int k = 0;
    if (TRANSPOSED) {  // root: one feature for every lane
      const float* col = x + std::min(static_cast<uint32_t>(ft[0]), fmax1) * 16;
      const __m512 t0 = _mm512_set1_ps(th[0]);
      for (int b = 0; b < NB; ++b) {
        __mmask16 right = _mm512_cmp_ps_mask(_mm512_load_ps(col + b * 16 * nf), t0, _CMP_GT_OQ);
        j[b] = _mm512_maskz_mov_epi32(right, one);
      }
      k = 1;
      if (f.depth > 1) {  // level 1: two candidate columns, picked by a blend instead of a gather
        const float* c1 = x + std::min(static_cast<uint32_t>(ft[1]), fmax1) * 16;
        const float* c2 = x + std::min(static_cast<uint32_t>(ft[2]), fmax1) * 16;
        const __m512 t1 = _mm512_set1_ps(th[1]), t2 = _mm512_set1_ps(th[2]);
        for (int b = 0; b < NB; ++b) {
          const __mmask16 odd = _mm512_test_epi32_mask(j[b], one);
          const __m512 xv = _mm512_mask_blend_ps(odd, _mm512_load_ps(c1 + b * 16 * nf), _mm512_load_ps(c2 + b * 16 * nf));
          const __mmask16 right = _mm512_cmp_ps_mask(xv, _mm512_mask_blend_ps(odd, t1, t2), _CMP_GT_OQ);
          j[b] = _mm512_mask_add_epi32(_mm512_add_epi32(j[b], j[b]), right, _mm512_add_epi32(j[b], j[b]), one);
        }
        k = 2;
      }
      if (f.depth > 2) {  // level 2: four candidate columns
        const float* c[4];
        for (int q = 0; q < 4; ++q) c[q] = x + std::min(static_cast<uint32_t>(ft[3 + q]), fmax1) * 16;
        const __m512 T = _mm512_maskz_loadu_ps(0xF, th + 3);
        const __m512i two = _mm512_set1_epi32(2);
        for (int b = 0; b < NB; ++b) {
          const size_t o = b * 16 * nf;
          const __mmask16 b0 = _mm512_test_epi32_mask(j[b], one), b1 = _mm512_test_epi32_mask(j[b], two);
          const __m512 lo = _mm512_mask_blend_ps(b0, _mm512_load_ps(c[0] + o), _mm512_load_ps(c[1] + o));
          const __m512 hi = _mm512_mask_blend_ps(b0, _mm512_load_ps(c[2] + o), _mm512_load_ps(c[3] + o));
          const __m512 xv = _mm512_mask_blend_ps(b1, lo, hi);
          const __mmask16 right = _mm512_cmp_ps_mask(xv, _mm512_permutexvar_ps(j[b], T), _CMP_GT_OQ);
          j[b] = _mm512_mask_add_epi32(_mm512_add_epi32(j[b], j[b]), right, _mm512_add_epi32(j[b], j[b]), one);
        }
        k = 3;
      }
      if (f.depth > 3) {  // level 3: eight candidate columns
        const float* c[8];
        for (int q = 0; q < 8; ++q) c[q] = x + std::min(static_cast<uint32_t>(ft[7 + q]), fmax1) * 16;
        const __m512 T = _mm512_maskz_loadu_ps(0xFF, th + 7);
        const __m512i two = _mm512_set1_epi32(2), four = _mm512_set1_epi32(4);
        for (int b = 0; b < NB; ++b) {
          const size_t o = b * 16 * nf;
          const __mmask16 b0 = _mm512_test_epi32_mask(j[b], one), b1 = _mm512_test_epi32_mask(j[b], two), b2 = _mm512_test_epi32_mask(j[b], four);
          const __m512 q0 = _mm512_mask_blend_ps(b0, _mm512_load_ps(c[0] + o), _mm512_load_ps(c[1] + o));
          const __m512 q1 = _mm512_mask_blend_ps(b0, _mm512_load_ps(c[2] + o), _mm512_load_ps(c[3] + o));
          const __m512 q2 = _mm512_mask_blend_ps(b0, _mm512_load_ps(c[4] + o), _mm512_load_ps(c[5] + o));
          const __m512 q3 = _mm512_mask_blend_ps(b0, _mm512_load_ps(c[6] + o), _mm512_load_ps(c[7] + o));
          const __m512 xv = _mm512_mask_blend_ps(b2, _mm512_mask_blend_ps(b1, q0, q1), _mm512_mask_blend_ps(b1, q2, q3));
          const __mmask16 right = _mm512_cmp_ps_mask(xv, _mm512_permutexvar_ps(j[b], T), _CMP_GT_OQ);
          j[b] = _mm512_mask_add_epi32(_mm512_add_epi32(j[b], j[b]), right, _mm512_add_epi32(j[b], j[b]), one);
        }
        k = 4;
      }
    }
    for (; k < f.depth; ++k) {
      const int* fk = ft + (1 << k) - 1;
      const float* tk = th + (1 << k) - 1;
      __m512i fi[NB];
      __m512 tv[NB];
      if (k <= 4) {  // <= 16 nodes: one register
        const __mmask16 m = static_cast<__mmask16>(k == 4 ? 0xFFFFu : (1u << (1 << k)) - 1u);
        const __m512i F = _mm512_maskz_loadu_epi32(m, fk);
        const __m512 T = _mm512_maskz_loadu_ps(m, tk);
        for (int b = 0; b < NB; ++b) {
          fi[b] = _mm512_permutexvar_epi32(j[b], F);
          tv[b] = _mm512_permutexvar_ps(j[b], T);
        }
      } else if (k == 5) {  // 32 nodes: two registers
        const __m512i F0 = _mm512_loadu_si512(fk), F1 = _mm512_loadu_si512(fk + 16);
        const __m512 T0 = _mm512_loadu_ps(tk), T1 = _mm512_loadu_ps(tk + 16);
        for (int b = 0; b < NB; ++b) {
          fi[b] = _mm512_permutex2var_epi32(F0, j[b], F1);
          tv[b] = _mm512_permutex2var_ps(T0, j[b], T1);
        }
      } else if (k == 6) {  // 64 nodes: two pairs of registers, picked by bit 5 of j
        const __m512i F0 = _mm512_loadu_si512(fk), F1 = _mm512_loadu_si512(fk + 16);
        const __m512i F2 = _mm512_loadu_si512(fk + 32), F3 = _mm512_loadu_si512(fk + 48);
        const __m512 T0 = _mm512_loadu_ps(tk), T1 = _mm512_loadu_ps(tk + 16);
        const __m512 T2 = _mm512_loadu_ps(tk + 32), T3 = _mm512_loadu_ps(tk + 48);
        for (int b = 0; b < NB; ++b) {
          const __mmask16 upper = _mm512_test_epi32_mask(j[b], _mm512_set1_epi32(32));
          fi[b] = _mm512_mask_blend_epi32(upper, _mm512_permutex2var_epi32(F0, j[b], F1), _mm512_permutex2var_epi32(F2, j[b], F3));
          tv[b] = _mm512_mask_blend_ps(upper, _mm512_permutex2var_ps(T0, j[b], T1), _mm512_permutex2var_ps(T2, j[b], T3));
        }
      } else if (k == 7) {  // 128 nodes: four pairs of registers, picked by bits 5-6 of j
        __m512i F[8];
        __m512 T[8];
        for (int r = 0; r < 8; ++r) {
          F[r] = _mm512_loadu_si512(fk + 16 * r);
          T[r] = _mm512_loadu_ps(tk + 16 * r);
        }
        for (int b = 0; b < NB; ++b) {
          const __mmask16 b5 = _mm512_test_epi32_mask(j[b], _mm512_set1_epi32(32));
          const __mmask16 b6 = _mm512_test_epi32_mask(j[b], _mm512_set1_epi32(64));
          __m512i flo = _mm512_mask_blend_epi32(b5, _mm512_permutex2var_epi32(F[0], j[b], F[1]), _mm512_permutex2var_epi32(F[2], j[b], F[3]));
          __m512i fhi = _mm512_mask_blend_epi32(b5, _mm512_permutex2var_epi32(F[4], j[b], F[5]), _mm512_permutex2var_epi32(F[6], j[b], F[7]));
          fi[b] = _mm512_mask_blend_epi32(b6, flo, fhi);
          __m512 tlo = _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(T[0], j[b], T[1]), _mm512_permutex2var_ps(T[2], j[b], T[3]));
          __m512 thi = _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(T[4], j[b], T[5]), _mm512_permutex2var_ps(T[6], j[b], T[7]));
          tv[b] = _mm512_mask_blend_ps(b6, tlo, thi);
        }
      } else {
        for (int b = 0; b < NB; ++b) {
          fi[b] = _mm512_i32gather_epi32(j[b], fk, 4);
          tv[b] = _mm512_i32gather_ps(j[b], tk, 4);
        }
      }
      for (int b = 0; b < NB; ++b) {
        __m512i fc = _mm512_min_epu32(fi[b], fmax);
        __m512i xi = _mm512_add_epi32(lane_off, TRANSPOSED ? _mm512_slli_epi32(fc, 4) : fc);
        __m512 xv = _mm512_i32gather_ps(xi, x + b * 16 * nf, 4);
        __mmask16 right = _mm512_cmp_ps_mask(xv, tv[b], _CMP_GT_OQ);
        j[b] = _mm512_mask_add_epi32(_mm512_add_epi32(j[b], j[b]), right, _mm512_add_epi32(j[b], j[b]), one);
      }
    }
    const float* lf = f.leaf + t * L;
    for (int b = 0; b < NB; ++b) acc[b] = _mm512_add_ps(acc[b], _mm512_i32gather_ps(j[b], lf, 4));
  }
  alignas(64) float sums[16];
  for (int b = 0; b < NB; ++b) {
    _mm512_store_ps(sums, acc[b]);
    for (int l = 0; l < 16; ++l) out[b * 16 + l] = finish(sums[l], scale);
  }
}

// One row (the scoreSync latency path and batch tails): 16 trees per vector, two vectors in flight.
// The 16 leaf values are then added one by one in tree order, so the sum is bit-identical to the
// scalar reference.
NADIR_TARGET_AVX512 float path_sum_axis_avx512(const ForestView& f, const float* xr) {
  const size_t I = f.internal(), L = f.leaves();
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i node0 = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(static_cast<int>(I)));
  const __m512i leaf0 = _mm512_sub_epi32(_mm512_mullo_epi32(lanes, _mm512_set1_epi32(static_cast<int>(L))), _mm512_set1_epi32(static_cast<int>(I)));
  const __m512i fmax = _mm512_set1_epi32(f.n_features - 1);
  const __m512i one = _mm512_set1_epi32(1);
  alignas(64) float v[32];
  float acc = 0;
  int t = 0;
  for (; t + 32 <= f.trees; t += 32) {
    const int* fa = f.feature + t * I;
    const int* fb = fa + 16 * I;
    const float* ta = f.threshold + t * I;
    const float* tb = ta + 16 * I;
    __m512i ga = _mm512_setzero_si512(), gb = ga;
    for (int k = 0; k < f.depth; ++k) {
      const __m512i ia = _mm512_add_epi32(node0, ga), ib = _mm512_add_epi32(node0, gb);
      const __m512i xa = _mm512_min_epu32(_mm512_i32gather_epi32(ia, fa, 4), fmax);
      const __m512i xb = _mm512_min_epu32(_mm512_i32gather_epi32(ib, fb, 4), fmax);
      const __mmask16 ra = _mm512_cmp_ps_mask(_mm512_i32gather_ps(xa, xr, 4), _mm512_i32gather_ps(ia, ta, 4), _CMP_GT_OQ);
      const __mmask16 rb = _mm512_cmp_ps_mask(_mm512_i32gather_ps(xb, xr, 4), _mm512_i32gather_ps(ib, tb, 4), _CMP_GT_OQ);
      ga = _mm512_add_epi32(_mm512_add_epi32(ga, ga), one);
      gb = _mm512_add_epi32(_mm512_add_epi32(gb, gb), one);
      ga = _mm512_mask_add_epi32(ga, ra, ga, one);
      gb = _mm512_mask_add_epi32(gb, rb, gb, one);
    }
    const float* lf = f.leaf + t * L;
    _mm512_store_ps(v, _mm512_i32gather_ps(_mm512_add_epi32(leaf0, ga), lf, 4));
    _mm512_store_ps(v + 16, _mm512_i32gather_ps(_mm512_add_epi32(leaf0, gb), lf + 16 * L, 4));
    for (int l = 0; l < 32; ++l) acc += v[l];
  }
  for (; t + 16 <= f.trees; t += 16) {
    const int* fa = f.feature + t * I;
    const float* ta = f.threshold + t * I;
    __m512i ga = _mm512_setzero_si512();
    for (int k = 0; k < f.depth; ++k) {
      const __m512i ia = _mm512_add_epi32(node0, ga);
      const __m512i xa = _mm512_min_epu32(_mm512_i32gather_epi32(ia, fa, 4), fmax);
      const __mmask16 ra = _mm512_cmp_ps_mask(_mm512_i32gather_ps(xa, xr, 4), _mm512_i32gather_ps(ia, ta, 4), _CMP_GT_OQ);
      ga = _mm512_add_epi32(_mm512_add_epi32(ga, ga), one);
      ga = _mm512_mask_add_epi32(ga, ra, ga, one);
    }
    _mm512_store_ps(v, _mm512_i32gather_ps(_mm512_add_epi32(leaf0, ga), f.leaf + t * L, 4));
    for (int l = 0; l < 16; ++l) acc += v[l];
  }
  const uint32_t fmax1 = static_cast<uint32_t>(f.n_features - 1);
  for (; t < f.trees; ++t) {
    const int32_t* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    size_t g = 0;
    for (int k = 0; k < f.depth; ++k) g = 2 * g + 1 + (xr[std::min(static_cast<uint32_t>(ft[g]), fmax1)] > th[g]);
    acc += f.leaf[t * L + (g - I)];
  }
  return acc;
}

// Blocks of 16 rows to feature-major order (see axis_rows_avx512).
NADIR_TARGET_AVX512 void transpose16_avx512(const float* x, size_t nf, size_t blocks, float* xt) {
  const __m512i src = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(static_cast<int>(nf)));
  for (size_t b = 0; b < blocks; ++b)
    for (size_t c = 0; c < nf; ++c)
      _mm512_store_ps(xt + b * 16 * nf + c * 16, _mm512_i32gather_ps(_mm512_add_epi32(src, _mm512_set1_epi32(static_cast<int>(c))), x + b * 16 * nf, 4));
}

// ---------------------------------------------------------------- scoring: AVX-512 batch plan

// Feature values are what a batch kernel pays for most: each level's lanes stand at different
// nodes, so x[f] is a gather. But below its first few levels an isolation tree is mostly padding
// (external nodes are met early), and the few live nodes of a level test few distinct features.
// For up to 16 features and big batches, the forest is first compiled into a plan, per tree and
// level: the first levels (up to 16 nodes) keep their positions; deeper levels number their live
// nodes 1..n, 0 standing for every padded node (a lane there only goes left from then on). An
// entry holds its threshold, a slot naming its feature among the level's distinct features and,
// on numbered levels and the one above them, the numbers of its children. Lanes look entries up
// with in-register permutes (up to 32 entries; gathers beyond) and pick their feature value among
// the level's columns with blends (up to 8 of them; a gather beyond). Every comparison is still
// x[f] > t with the same x and t as the reference, so scores are bit-identical to it.
constexpr size_t kPlanMaxFeatures = 16;
constexpr size_t kPlanMinRows = kForestPlanMinRows;  // compiling costs about as much as scoring 200-1000 rows
constexpr size_t kPlanUseRows = 32;    // a given (prebuilt) plan is used from this batch size on
constexpr size_t kPlanPositional = 5;  // levels 0..4 (up to 16 nodes) are indexed by position

struct LevelPlan {
  uint32_t at = 0;      // first entry in ForestPlan::thr and ::slot (cap entries) and ::child (2 cap)
  uint32_t cap = 16;    // entries: 16 or 32 (registers), else a multiple of 16 (gathers)
  uint32_t m = 1;       // distinct features rounded up to 1, 2, 4 or 8; 0: more (slot = column offset)
  int32_t col[8] = {};  // the slots' column offsets (feature * 16)
};

struct ForestPlan {
  std::vector<LevelPlan> level;  // trees * depth
  std::vector<float> thr;
  std::vector<int32_t> slot, child;
};

// Level k of one tree (ft, th: the tree's internal nodes, level by level): the features its live
// splits test, as bits (feature indices above fmax clamped to it).
uint32_t level_features(const int32_t* ft, const float* th, size_t k, uint32_t fmax) {
  uint32_t used = 0;
  for (size_t g = (size_t{1} << k) - 1; g < (size_t{2} << k) - 1; ++g)
    if (th[g] < kInf) used |= 1u << std::min(static_cast<uint32_t>(ft[g]), fmax);
  return used;
}

// The plans' entry of each node of level k: its position on positional levels (k < P); on numbered
// levels 1..n for live nodes and 0 for padding (a node that sends every row left -- threshold +inf
// or NaN -- into padding or the leaves). Reads id of level k + 1, so levels go bottom up. Returns n.
int32_t number_level(const float* th, size_t k, size_t P, size_t D, int32_t* id) {
  const size_t first = (size_t{1} << k) - 1;
  int32_t n = 0;
  for (size_t g = first; g < 2 * first + 1; ++g)
    id[g] = k < P ? static_cast<int32_t>(g - first) : th[g] < kInf || (k + 1 < D && id[2 * g + 1] != 0) ? ++n : 0;
  return n;
}

// Needs f.n_features <= kPlanMaxFeatures (features are bits of a 32-bit mask).
ForestPlan build_plan(const ForestView& f) {
  const size_t I = f.internal(), D = f.depth, P = std::min(D, kPlanPositional);
  const uint32_t fmax = static_cast<uint32_t>(f.n_features - 1);
  ForestPlan p;
  p.level.resize(f.trees * D);
  std::vector<int32_t> id(I);  // each node's entry (number_level)
  std::vector<uint32_t> used(D);  // per level: bit f set when a node can send rows right on feature f
  p.thr.reserve(f.trees * D * 20);  // most levels take 16 entries
  p.slot.reserve(f.trees * D * 20);
  p.child.reserve(f.trees * D * 40);
  for (int t = 0; t < f.trees; ++t) {
    const int32_t* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    LevelPlan* lv = p.level.data() + t * D;
    for (size_t k = D; k-- > 0;) {
      used[k] = level_features(ft, th, k, fmax);
      const int32_t n = number_level(th, k, P, D, id.data());
      const size_t entries = k < P ? size_t{1} << k : static_cast<size_t>(n) + 1;
      const size_t nc = std::bitset<32>(used[k]).count();
      LevelPlan& lp = lv[k];
      lp.cap = entries <= 16 ? 16 : entries <= 32 ? 32 : static_cast<uint32_t>((entries + 15) / 16 * 16);
      lp.m = nc <= 1 ? 1 : nc <= 2 ? 2 : nc <= 4 ? 4 : nc <= 8 ? 8 : 0;
      for (uint32_t c = 0, q = 0; c < 32; ++c)
        if (used[k] >> c & 1 && q < 8) lp.col[q++] = static_cast<int32_t>(c * 16);
      for (size_t q = std::min<size_t>(nc, 8); q < 8; ++q) lp.col[q] = lp.col[0];
    }
    for (size_t k = 0; k < D; ++k) {
      LevelPlan& lp = lv[k];
      lp.at = static_cast<uint32_t>(p.thr.size());
      p.thr.resize(lp.at + lp.cap, kInf);
      p.slot.resize(lp.at + lp.cap, 0);
      p.child.resize(2 * (lp.at + lp.cap), 0);
      const size_t first = (size_t{1} << k) - 1;
      for (size_t g = first; g < 2 * first + 1; ++g) {
        if (k >= P && id[g] == 0) continue;
        const size_t e = lp.at + static_cast<size_t>(id[g]);
        const uint32_t fc = std::min(static_cast<uint32_t>(ft[g]), fmax);
        p.thr[e] = th[g];
        // A padded entry's slot is never used for the decision: 0 is as good as any.
        if (th[g] < kInf)
          p.slot[e] = lp.m ? static_cast<int32_t>(std::bitset<32>(used[k] & ((1u << fc) - 1)).count()) : static_cast<int32_t>(fc * 16);
        if (k + 1 >= P && k + 1 < D) {
          p.child[2 * e] = id[2 * g + 1];
          p.child[2 * e + 1] = id[2 * g + 2];
        }
      }
    }
  }
  return p;
}

// Each lane's value among M columns (slot s picks col[s]), by a tree of blends on the slot's bits.
template <int M>
NADIR_TARGET_AVX512 inline __m512 pick_column(const float* base, const int32_t* col, __m512i s) {
  if constexpr (M == 1) {
    return _mm512_load_ps(base + col[0]);
  } else {
    const __mmask16 upper = _mm512_test_epi32_mask(s, _mm512_set1_epi32(M / 2));
    return _mm512_mask_blend_ps(upper, pick_column<M / 2>(base, col, s), pick_column<M / 2>(base, col + M / 2, s));
  }
}

// NB blocks of 16 rows stored feature-major (x[b*16*nf + f*16 + lane]). Lanes track their position
// j in the complete tree (for the leaf) and, on numbered levels, their entry c in the plan.
template <int NB>
NADIR_TARGET_AVX512 void plan_rows_avx512(const ForestView& f, const ForestPlan& p, const float* x, float* out, double scale) {
  const size_t L = f.leaves(), nf = f.n_features, D = f.depth, P = std::min(D, kPlanPositional);
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i one = _mm512_set1_epi32(1), b5 = _mm512_set1_epi32(32);
  __m512 acc[NB];
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_setzero_ps();
  for (int t = 0; t < f.trees; ++t) {
    const LevelPlan* lv = p.level.data() + t * D;
    __m512i j[NB], c[NB];
    for (int b = 0; b < NB; ++b) j[b] = c[b] = _mm512_setzero_si512();
    for (size_t k = 0; k < D; ++k) {
      const LevelPlan& Q = lv[k];
      const float* T = p.thr.data() + Q.at;
      const int32_t* S = p.slot.data() + Q.at;
      __m512 tv[NB];
      __m512i sv[NB];
      // Thresholds and slots of the lanes' entries e (positions j, or numbers c).
      auto lookup = [&](const __m512i* e) NADIR_TARGET_AVX512 {
        if (Q.cap == 16) {
          const __m512 T0 = _mm512_loadu_ps(T);
          const __m512i S0 = _mm512_loadu_si512(S);
          for (int b = 0; b < NB; ++b) {
            tv[b] = _mm512_permutexvar_ps(e[b], T0);
            sv[b] = _mm512_permutexvar_epi32(e[b], S0);
          }
        } else if (Q.cap == 32) {
          const __m512 T0 = _mm512_loadu_ps(T), T1 = _mm512_loadu_ps(T + 16);
          const __m512i S0 = _mm512_loadu_si512(S), S1 = _mm512_loadu_si512(S + 16);
          for (int b = 0; b < NB; ++b) {
            tv[b] = _mm512_permutex2var_ps(T0, e[b], T1);
            sv[b] = _mm512_permutex2var_epi32(S0, e[b], S1);
          }
        } else {
          for (int b = 0; b < NB; ++b) {
            tv[b] = _mm512_i32gather_ps(e[b], T, 4);
            sv[b] = _mm512_i32gather_epi32(e[b], S, 4);
          }
        }
      };
      if (k == 0) {
        for (int b = 0; b < NB; ++b) {
          tv[b] = _mm512_set1_ps(T[0]);
          sv[b] = _mm512_set1_epi32(S[0]);
        }
      } else if (k < P) {
        lookup(j);
      } else {
        lookup(c);
      }
      __mmask16 right[NB];
      switch (Q.m) {
        case 1:
          for (int b = 0; b < NB; ++b) right[b] = _mm512_cmp_ps_mask(pick_column<1>(x + b * 16 * nf, Q.col, sv[b]), tv[b], _CMP_GT_OQ);
          break;
        case 2:
          for (int b = 0; b < NB; ++b) right[b] = _mm512_cmp_ps_mask(pick_column<2>(x + b * 16 * nf, Q.col, sv[b]), tv[b], _CMP_GT_OQ);
          break;
        case 4:
          for (int b = 0; b < NB; ++b) right[b] = _mm512_cmp_ps_mask(pick_column<4>(x + b * 16 * nf, Q.col, sv[b]), tv[b], _CMP_GT_OQ);
          break;
        case 8:
          for (int b = 0; b < NB; ++b) right[b] = _mm512_cmp_ps_mask(pick_column<8>(x + b * 16 * nf, Q.col, sv[b]), tv[b], _CMP_GT_OQ);
          break;
        default:  // more than 8 features: the slot is the column offset
          for (int b = 0; b < NB; ++b)
            right[b] = _mm512_cmp_ps_mask(_mm512_i32gather_ps(_mm512_add_epi32(lanes, sv[b]), x + b * 16 * nf, 4), tv[b], _CMP_GT_OQ);
      }
      for (int b = 0; b < NB; ++b) j[b] = _mm512_mask_add_epi32(_mm512_add_epi32(j[b], j[b]), right[b], _mm512_add_epi32(j[b], j[b]), one);
      if (k + 1 < P || k + 1 == D) continue;
      // Children's entries on the next (numbered) level, looked up at 2 * entry + right (which is j
      // itself on the last positional level).
      __m512i ci[NB];
      for (int b = 0; b < NB; ++b)
        ci[b] = k < P ? j[b] : _mm512_mask_add_epi32(_mm512_add_epi32(c[b], c[b]), right[b], _mm512_add_epi32(c[b], c[b]), one);
      const int32_t* C = p.child.data() + 2 * Q.at;
      if (Q.cap == 16) {
        const __m512i C0 = _mm512_loadu_si512(C), C1 = _mm512_loadu_si512(C + 16);
        for (int b = 0; b < NB; ++b) c[b] = _mm512_permutex2var_epi32(C0, ci[b], C1);
      } else if (Q.cap == 32) {
        const __m512i C0 = _mm512_loadu_si512(C), C1 = _mm512_loadu_si512(C + 16);
        const __m512i C2 = _mm512_loadu_si512(C + 32), C3 = _mm512_loadu_si512(C + 48);
        for (int b = 0; b < NB; ++b)
          c[b] = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(ci[b], b5), _mm512_permutex2var_epi32(C0, ci[b], C1), _mm512_permutex2var_epi32(C2, ci[b], C3));
      } else {
        for (int b = 0; b < NB; ++b) c[b] = _mm512_i32gather_epi32(ci[b], C, 4);
      }
    }
    const float* lf = f.leaf + t * L;
    for (int b = 0; b < NB; ++b) acc[b] = _mm512_add_ps(acc[b], _mm512_i32gather_ps(j[b], lf, 4));
  }
  alignas(64) float sums[16];
  for (int b = 0; b < NB; ++b) {
    _mm512_store_ps(sums, acc[b]);
    for (int l = 0; l < 16; ++l) out[b * 16 + l] = finish(sums[l], scale);
  }
}

// ---------------------------------------------------------------- scoring: AVX-512 rank plan (16-bit lanes)

// A comparison x[f] > t only depends on where x falls among the forest's thresholds on feature f:
// with R(x) = #{thresholds u of f : u < x} and r(t) = R(t) for a threshold t, x > t exactly when
// R(x) > r(t) (NaN and -inf get 0 and never go right; a padded split gets 32767, above any R).
// Once a block of rows is mapped to ranks (a search per value, rank_rows_avx512), the traversal
// runs on 16-bit words, 32 rows per vector: the per-level scheme of the float plan above, with
// every level of the default depth (<= 8) looked up by position in registers (vpermw / vpermt2w:
// up to 128 words without a gather), deeper levels numbered; the rank and the slot share one word
// (rank << shift | slot), so one lookup gives both; the column is picked by blends; leaves are
// read by byte code (vpermi2b) and value (vpermi2ps) instead of a gather. Decisions are the
// reference's, so scores are bit-identical to it. The plan needs AVX-512 VBMI, n_features <= 32,
// at most 128 live nodes per level and ranks that fit 15 bits beside the slot; other forests use
// the float plan or the kernels above.
constexpr size_t kRankMaxFeatures = 32;
constexpr size_t kRankPositional = 8;  // levels 0..7 (up to 128 nodes: one to four registers of words) by position
constexpr int kRankMax = 32766;
constexpr int16_t kRankNever = 32767;
constexpr size_t kRankKeys = 16;       // keys per node of the rank search tree (16 or 32; 32 measured slower)
constexpr size_t kRankMaxBlocks = 8;   // blocks of 32 rows per rank_rows_avx512 call
constexpr int kRankNB = 5;  // blocks per traversal pass: measured best of 3..8 (fewer: latency-bound; more: code size)

struct RankLevel {
  uint32_t at = 0;      // first entry in RankPlan::thr (cap entries) and ::child (2 cap)
  uint32_t cap = 32;    // 32, 64 or 128 entries
  uint32_t n = 1;       // distinct features (at least 1)
  uint8_t col[32] = {};  // the slots' features
};

struct RankPlan {
  std::vector<RankLevel> level;  // trees * depth
  // thr: r(t) << shift | slot (the slot in the low bits picks the column; ranks are stored as
  // R(x) << shift, so R(x) << shift > thr exactly when R(x) > r(t)).
  std::vector<int16_t> thr, child;
  uint32_t shift = 0;
  // Per feature, its sorted distinct thresholds A as an implicit search tree of W-key nodes and
  // fanout F = W + 1 (W = kRankKeys; levels 0..h-1 from search_at[f]; level l has F^l nodes): node n
  // of level l holds the keys at (k + 1) F^(h-1-l) - 1 of its range, k < W, padded with +inf. The
  // number of keys below x in each visited node, read as base-F digits, is R(x).
  std::vector<float> search;
  std::vector<uint32_t> search_at, search_h;
  // Most features skip the search tree: a bucket b = bucket_of(x) (monotone in x) names where x's
  // bucket starts among the sorted thresholds (bk_base[bk_at[f] + b]); a bucket holds at most
  // bk_w[f] (8 or 16) of them, so one compare of the bk_w keys from there counts the rest (keys of
  // later buckets are above x, padding is +inf). bk_n[f] = 0: the feature uses the search tree.
  std::vector<float> bk_lo, bk_inv, bk_max, keys;
  std::vector<uint32_t> bk_n, bk_w, bk_at, key_at;
  std::vector<int16_t> bk_base;
  // bk_lo, bk_inv, bk_max repeated over 16 rows (16 * n_features each, 0 for search-tree
  // features): the buckets of 16 row-major values at a time.
  std::vector<float> pat_lo, pat_inv, pat_max;
  // Leaves without gathers (depth <= 8, AVX-512 VBMI): per tree, a byte code per leaf position
  // (256) and the distinct leaf values (64); leaf_n[t] = 32 or 64 values, 0 when the tree has more
  // than 64 (its leaves are gathered).
  std::vector<uint8_t> leaf_code, leaf_n;
  std::vector<float> leaf_val;
};

bool cpu_has_vbmi() {
#if NADIR_X86
  static const bool yes = __builtin_cpu_supports("avx512vbmi");
  return yes;
#else
  return false;
#endif
}

// The bucket of x for a feature with bucket index (lo, inv, max): monotone non-decreasing in x
// (rounding is), NaN and -inf in bucket 0. Build and kernel run this same code.
inline uint32_t bucket_of(float x, float lo, float inv, float mx) {
  float q = (x - lo) * inv;
  q = q > 0.0f ? q : 0.0f;
  q = q < mx ? q : mx;
  return static_cast<uint32_t>(static_cast<int32_t>(q));
}

// A bucket index for the sorted distinct thresholds v: the fewest buckets (a power of two) holding
// at most W = 8 thresholds each (one 8-key compare per value), else at most 16; false when neither
// fits in 2^14 resp. 2^16 buckets (the search tree then ranks the feature).
bool build_buckets(const std::vector<float>& v, RankPlan& p) {
  const size_t n = v.size();
  const float lo = n ? v[0] : 0.0f;
  if (n > static_cast<size_t>(kRankMax)) return false;
  for (uint32_t w : {8u, 16u})
    for (size_t nb = 16; nb <= (w == 8 ? 16384u : 65536u); nb *= 2) {
      const float inv = n > 1 ? static_cast<float>(nb) / (v[n - 1] - lo) : 0.0f;
      if (!(inv < kInf)) return false;
      const float mx = static_cast<float>(nb - 1);
      std::vector<int32_t> base(nb + 1, 0);
      for (float u : v) ++base[bucket_of(u, lo, inv, mx) + 1];
      bool fits = true;
      for (size_t b = 1; b <= nb; ++b) fits = fits && base[b] <= static_cast<int32_t>(w), base[b] += base[b - 1];
      if (!fits) continue;
      p.bk_lo.push_back(lo);
      p.bk_inv.push_back(inv);
      p.bk_max.push_back(mx);
      p.bk_n.push_back(static_cast<uint32_t>(nb));
      p.bk_w.push_back(w);
      p.bk_at.push_back(static_cast<uint32_t>(p.bk_base.size()));
      p.bk_base.insert(p.bk_base.end(), base.begin(), base.begin() + nb);  // ranks fit 15 bits (checked by the caller)
      p.key_at.push_back(static_cast<uint32_t>(p.keys.size()));
      p.keys.insert(p.keys.end(), v.begin(), v.end());
      p.keys.insert(p.keys.end(), 16, kInf);
      return true;
    }
  return false;
}

// Returns false when the forest does not fit the rank plan (see above).
bool build_rank_plan(const ForestView& f, RankPlan& p) {
  const size_t I = f.internal(), D = f.depth, P = std::min(D, kRankPositional), nf = f.n_features;
  const uint32_t fmax = static_cast<uint32_t>(nf - 1);
  if (nf > kRankMaxFeatures || f.hyperplane()) return false;
  std::vector<std::vector<float>> byf(nf);
  for (size_t g = 0; g < f.trees * I; ++g)
    if (f.threshold[g] < kInf) byf[std::min(static_cast<uint32_t>(f.feature[g]), fmax)].push_back(f.threshold[g]);
  p.search_at.resize(nf);
  p.search_h.resize(nf);
  size_t most = 0;  // thresholds of the busiest feature
  for (size_t c = 0; c < nf; ++c) {
    auto& v = byf[c];
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    most = std::max(most, v.size());
    if (!build_buckets(v, p)) {
      p.bk_lo.push_back(0.0f), p.bk_inv.push_back(0.0f), p.bk_max.push_back(0.0f);
      p.bk_n.push_back(0), p.bk_w.push_back(0), p.bk_at.push_back(0), p.key_at.push_back(0);
    }
    constexpr size_t W = kRankKeys, F = kRankKeys + 1;
    size_t h = 1, span = F;  // span = F^h: the tree holds span - 1 keys
    while (span - 1 < v.size()) ++h, span *= F;
    p.search_at[c] = static_cast<uint32_t>(p.search.size());
    p.search_h[c] = static_cast<uint32_t>(h);
    for (size_t l = 0, nodes = 1, sub = span / F; l < h; ++l, nodes *= F, sub /= F)
      for (size_t n = 0; n < nodes; ++n)
        for (size_t k = 0; k < W; ++k) {
          const size_t at = n * sub * F + (k + 1) * sub - 1;
          p.search.push_back(at < v.size() ? v[at] : kInf);
        }
  }
  for (size_t i = 0; i < 16 * nf; ++i) {
    const size_t c = i % nf;
    p.pat_lo.push_back(p.bk_lo[c]);
    p.pat_inv.push_back(p.bk_inv[c]);
    p.pat_max.push_back(p.bk_max[c]);
  }
  p.leaf_n.assign(f.trees, 0);
  if (D <= 8) {
    const size_t L = f.leaves();
    p.leaf_code.assign(f.trees * 256, 0);
    p.leaf_val.assign(f.trees * 64, 0.0f);
    for (int t = 0; t < f.trees; ++t) {
      const float* lf = f.leaf + t * L;
      float* val = p.leaf_val.data() + t * 64;
      size_t n = 0;
      for (size_t g = 0; g < L && n <= 64; ++g) {
        // Leaves below one external node repeat its value: most match the previous leaf.
        size_t c = g > 0 && std::memcmp(lf + g - 1, lf + g, 4) == 0 ? p.leaf_code[t * 256 + g - 1] : 0;
        while (c < n && std::memcmp(val + c, lf + g, 4) != 0) ++c;
        if (c == n && n++ < 64) val[c] = lf[g];
        if (c < 64) p.leaf_code[t * 256 + g] = static_cast<uint8_t>(c);
      }
      p.leaf_n[t] = n <= 32 ? 32 : n <= 64 ? 64 : 0;
    }
  }
  auto rank_of = [&](uint32_t c, float t) {
    return static_cast<uint32_t>(std::lower_bound(byf[c].begin(), byf[c].end(), t) - byf[c].begin());
  };
  p.level.resize(f.trees * D);
  // The slot needs log2(most distinct features on a level) bits below the rank.
  // Every level's feature mask, kept for the tables below.
  std::vector<uint32_t> masks(f.trees * D);
  {
    uint32_t widest = 1;
    for (int t = 0; t < f.trees; ++t)
      for (size_t k = 0; k < D; ++k) {
        const uint32_t u = masks[t * D + k] = level_features(f.feature + t * I, f.threshold + t * I, k, fmax);
        widest = std::max(widest, static_cast<uint32_t>(std::bitset<32>(u).count()));
      }
    while ((1u << p.shift) < widest) ++p.shift;
    if ((most << p.shift) > static_cast<size_t>(kRankMax)) return false;
  }
  std::vector<int32_t> id(I);
  for (int t = 0; t < f.trees; ++t) {
    const int32_t* ft = f.feature + t * I;
    const float* th = f.threshold + t * I;
    RankLevel* lv = p.level.data() + t * D;
    const uint32_t* used = masks.data() + t * D;
    for (size_t k = D; k-- > 0;) {
      const int32_t n = number_level(th, k, P, D, id.data());
      const size_t entries = k < P ? size_t{1} << k : static_cast<size_t>(n) + 1;
      if (entries > 128) return false;
      const size_t nc = std::bitset<32>(used[k]).count();
      RankLevel& lp = lv[k];
      lp.cap = entries <= 32 ? 32 : entries <= 64 ? 64 : 128;
      lp.n = std::max<uint32_t>(1, static_cast<uint32_t>(nc));
      for (uint32_t c = 0, q = 0; c < 32; ++c)
        if (used[k] >> c & 1) lp.col[q++] = static_cast<uint8_t>(c);
      for (size_t q = nc; q < 32; ++q) lp.col[q] = lp.col[0];
    }
    for (size_t k = 0; k < D; ++k) {
      RankLevel& lp = lv[k];
      lp.at = static_cast<uint32_t>(p.thr.size());
      p.thr.resize(lp.at + lp.cap, kRankNever);
      p.child.resize(2 * (lp.at + lp.cap), 0);
      const size_t first = (size_t{1} << k) - 1;
      for (size_t g = first; g < 2 * first + 1; ++g) {
        if (k >= P && id[g] == 0) continue;
        const size_t e = lp.at + static_cast<size_t>(id[g]);
        const uint32_t fc = std::min(static_cast<uint32_t>(ft[g]), fmax);
        if (th[g] < kInf)
          p.thr[e] = static_cast<int16_t>(rank_of(fc, th[g]) << p.shift | std::bitset<32>(used[k] & ((1u << fc) - 1)).count());
        if (k + 1 >= P && k + 1 < D) {
          p.child[2 * e] = static_cast<int16_t>(id[2 * g + 1]);
          p.child[2 * e + 1] = static_cast<int16_t>(id[2 * g + 2]);
        }
      }
    }
  }
  p.thr.resize(p.thr.size() + 32, kRankNever);  // a 32-entry level may be read as 64 (rank_plan_rows_avx512)
  return true;
}

#define NADIR_TARGET_AVX512VBMI __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512vbmi,avx2,fma,popcnt")))

// Blocks of 32 rows to ranks, feature-major (xr[b*32*nf + f*32 + lane]): per value, its bucket
// and one compare (bucketed features), or one compare of 16 keys per search tree level, sixteen
// values going down together so that their dependency chains overlap.
NADIR_TARGET_AVX512VBMI void rank_rows_avx512(const RankPlan& p, const float* x, size_t nf, size_t blocks, int16_t* xr) {
  constexpr int G = 16;
  // Every value's bucket first (the operations of bucket_of, sixteen row-major values at a time).
  alignas(64) int32_t bk[32 * kRankMaxBlocks * kRankMaxFeatures];
  for (size_t i = 0, o = 0; i < 32 * blocks * nf; i += 16, o = o + 16 == 16 * nf ? 0 : o + 16) {
    __m512 q = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(p.pat_lo.data() + o)), _mm512_loadu_ps(p.pat_inv.data() + o));
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), _mm512_loadu_ps(p.pat_max.data() + o));  // q > 0 ? q : 0, then q < mx ? q : mx
    _mm512_store_si512(bk + i, _mm512_cvttps_epi32(q));
  }
  for (size_t c = 0; c < nf; ++c) {
    if (p.bk_n[c]) {
      const int16_t* base = p.bk_base.data() + p.bk_at[c];
      const float* keys = p.keys.data() + p.key_at[c];
      // Per value: its bucket, then one compare of the bucket's keys.
      const uint32_t sh = p.shift;
      for (size_t bl = 0; bl < blocks; ++bl) {
        const float* xb = x + bl * 32 * nf + c;
        const int32_t* bb = bk + bl * 32 * nf + c;
        int16_t* o = xr + bl * 32 * nf + c * 32;
        if (p.bk_w[c] == 8) {
          for (int l = 0; l < 32; ++l) {
            const float* xv = xb + l * nf;
            const int32_t a = base[bb[l * nf]];
            const uint32_t below = _mm256_cmp_ps_mask(_mm256_loadu_ps(keys + a), _mm256_broadcast_ss(xv), _CMP_LT_OQ);
            o[l] = static_cast<int16_t>((a + __builtin_popcount(below)) << sh);
          }
        } else {
          for (int l = 0; l < 32; ++l) {
            const float* xv = xb + l * nf;
            const int32_t a = base[bb[l * nf]];
            const uint32_t below = _mm512_cmp_ps_mask(_mm512_loadu_ps(keys + a), _mm512_set1_ps(*xv), _CMP_LT_OQ);
            o[l] = static_cast<int16_t>((a + __builtin_popcount(below)) << sh);
          }
        }
      }
      continue;
    }
    const float* tree0 = p.search.data() + p.search_at[c];
    const uint32_t h = p.search_h[c];
    for (size_t r = 0; r < 32 * blocks; r += G) {
      __m512 v[G];
      uint32_t n[G];
      for (int i = 0; i < G; ++i) {
        v[i] = _mm512_set1_ps(x[(r + i) * nf + c]);
        n[i] = 0;
      }
      const float* tree = tree0;
      constexpr uint32_t W = kRankKeys, F = kRankKeys + 1;
      for (uint32_t l = 0, nodes = 1; l < h; ++l, nodes *= F) {
        for (int i = 0; i < G; ++i) {
          const float* node = tree + W * n[i];
          uint32_t below = _mm512_cmp_ps_mask(_mm512_loadu_ps(node), v[i], _CMP_LT_OQ);
          if constexpr (W == 32) below |= static_cast<uint32_t>(_mm512_cmp_ps_mask(_mm512_loadu_ps(node + 16), v[i], _CMP_LT_OQ)) << 16;
          n[i] = F * n[i] + static_cast<uint32_t>(__builtin_popcount(below));
        }
        tree += W * nodes;
      }
      int16_t* o = xr + (r / 32) * 32 * nf + c * 32 + r % 32;
      for (int i = 0; i < G; ++i) o[i] = static_cast<int16_t>(n[i] << p.shift);
    }
  }
}

// acc[32b .. 32b+31] += the leaf values at positions j[b] (words < 256), looked up by byte code
// (two vpermi2b) and value (vpermi2ps): no gathers. Same value, same order as the gather.
NADIR_TARGET_AVX512VBMI inline void leaf_add_vbmi(const uint8_t* code, const float* val, int n, const __m512i* j, float* acc, int nb) {
  const __m512i C0 = _mm512_loadu_si512(code), C1 = _mm512_loadu_si512(code + 64);
  const __m512i C2 = _mm512_loadu_si512(code + 128), C3 = _mm512_loadu_si512(code + 192);
  const __m512 V0 = _mm512_loadu_ps(val), V1 = _mm512_loadu_ps(val + 16);
  const __m512i low = _mm512_set1_epi16(0xFF), b5 = _mm512_set1_epi32(32);
  for (int b = 0; b < nb; ++b) {
    const __m512i lo7 = _mm512_permutex2var_epi8(C0, j[b], C1), hi7 = _mm512_permutex2var_epi8(C2, j[b], C3);
    const __m512i cw = _mm512_and_si512(_mm512_mask_blend_epi8(_mm512_movepi8_mask(j[b]), lo7, hi7), low);
    const __m512i c0 = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(cw)), c1 = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(cw, 1));
    __m512 v0 = _mm512_permutex2var_ps(V0, c0, V1), v1 = _mm512_permutex2var_ps(V0, c1, V1);
    if (n > 32) {
      const __m512 V2 = _mm512_loadu_ps(val + 32), V3 = _mm512_loadu_ps(val + 48);
      v0 = _mm512_mask_blend_ps(_mm512_test_epi32_mask(c0, b5), v0, _mm512_permutex2var_ps(V2, c0, V3));
      v1 = _mm512_mask_blend_ps(_mm512_test_epi32_mask(c1, b5), v1, _mm512_permutex2var_ps(V2, c1, V3));
    }
    _mm512_store_ps(acc + 32 * b, _mm512_add_ps(_mm512_load_ps(acc + 32 * b), v0));
    _mm512_store_ps(acc + 32 * b + 16, _mm512_add_ps(_mm512_load_ps(acc + 32 * b + 16), v1));
  }
}

// Words of a table of N (32..256) entries at the lanes' indices e (low bits only are read).
template <int N>
NADIR_TARGET_AVX512VBMI inline __m512i lookup16(const int16_t* T, __m512i e) {
  if constexpr (N == 32) {
    return _mm512_permutexvar_epi16(e, _mm512_loadu_si512(T));
  } else if constexpr (N == 64) {
    return _mm512_permutex2var_epi16(_mm512_loadu_si512(T), e, _mm512_loadu_si512(T + 32));
  } else {
    const __mmask32 upper = _mm512_test_epi16_mask(e, _mm512_set1_epi16(N / 2));
    return _mm512_mask_blend_epi16(upper, lookup16<N / 2>(T, e), lookup16<N / 2>(T + N / 2, e));
  }
}

// f(std::integral_constant<int, v>) for v in [LO, HI], chosen by a tree of compares: a switch
// would become a jump table, whose indirect jump mispredicts far more often here (the levels'
// shapes vary from one level to the next) than these conditional branches do.
template <int LO, int HI, class F>
NADIR_TARGET_AVX512VBMI inline __attribute__((always_inline)) void dispatch_range(uint32_t v, F&& f) {
  if constexpr (LO == HI) {
    f(std::integral_constant<int, LO>{});
  } else {
    constexpr int MID = (LO + HI) / 2;
    if (v <= static_cast<uint32_t>(MID)) dispatch_range<LO, MID>(v, f); else dispatch_range<MID + 1, HI>(v, f);
  }
}

// Each lane's rank among N columns (slot s picks col[s]), by a tree of blends on the slot's bits:
// N - 1 blends.
template <int N>
NADIR_TARGET_AVX512VBMI inline __attribute__((always_inline)) __m512i pick_rank(const int16_t* base, const uint8_t* col, __m512i s, const __m512i* bit) {
  if constexpr (N == 1) {
    return _mm512_load_si512(reinterpret_cast<const char*>(base) + (static_cast<size_t>(col[0]) << 6));
  } else {
    constexpr int H = N > 16 ? 16 : N > 8 ? 8 : N > 4 ? 4 : N > 2 ? 2 : 1;  // slots below H: bit log2(H) clear
    const __mmask32 upper = _mm512_test_epi16_mask(s, bit[__builtin_ctz(H)]);
    return _mm512_mask_blend_epi16(upper, pick_rank<H>(base, col, s, bit), pick_rank<N - H>(base, col + H, s, bit));
  }
}

// NB blocks of 32 rows as ranks (see rank_rows_avx512). Lanes track their position j (16 bits:
// j < 2^depth <= 2^16) and, on numbered levels, their entry c, as in plan_rows_avx512.
// ALLPOS: every level is looked up by position (depth <= kRankPositional), so the entry numbers c
// are compiled out. A level's shape (table size, column count) picks one straight-line body for it
// (no branches inside), which then goes block after block: lookup, pick, compare, step. Only j and
// c stay live across blocks, which leaves the registers to the pick's blend tree.
template <int NB, bool ALLPOS>
NADIR_TARGET_AVX512VBMI void rank_plan_rows_avx512(const ForestView& f, const RankPlan& p, const int16_t* xr, float* out, double scale) {
  const size_t L = f.leaves(), nf = f.n_features, D = f.depth, P = std::min(D, kRankPositional);
  const __m512i one = _mm512_set1_epi16(1);
  // The sums stay in memory (touched once per tree), leaving the registers to the level loop.
  alignas(64) float acc[32 * NB] = {};
  // The slot bits, opaque to the compiler: it would otherwise broadcast them anew for every test
  // (two uops) where a load from the stack (one) does.
  __m512i bit[5];
  for (int i = 0; i < 5; ++i) {
    bit[i] = _mm512_set1_epi16(static_cast<int16_t>(1 << i));
    asm volatile("" : "+m"(bit[i]));
  }
  for (int t = 0; t < f.trees; ++t) {
    const RankLevel* lv = p.level.data() + t * D;
    __m512i j[NB], c[NB];
    for (int b = 0; b < NB; ++b) j[b] = c[b] = _mm512_setzero_si512();
    for (size_t k = 0; k < D; ++k) {
      const RankLevel& Q = lv[k];
      const int16_t* T = p.thr.data() + Q.at;
      const int16_t* C = p.child.data() + 2 * Q.at;
      // Entries by position, or by number; the children's entries are looked up at 2 * entry +
      // right (which is j itself on the last positional level).
      const bool pos = ALLPOS || k < P, numbered_next = !ALLPOS && k + 1 >= P && k + 1 < D;
      auto level = [&](auto cap, auto n) NADIR_TARGET_AVX512VBMI __attribute__((always_inline)) {
        constexpr int CAP = decltype(cap)::value, N = decltype(n)::value;
        __mmask32 right[NB];
#pragma GCC unroll 16
        for (int b = 0; b < NB; ++b) {
          const __m512i tv = lookup16<CAP>(T, pos ? j[b] : c[b]);
          right[b] = _mm512_cmpgt_epi16_mask(pick_rank<N>(xr + b * 32 * nf, Q.col, tv, bit), tv);
          const __m512i j2 = _mm512_add_epi16(j[b], j[b]);
          j[b] = _mm512_mask_add_epi16(j2, right[b], j2, one);
        }
        if (ALLPOS || !numbered_next) return;
#pragma GCC unroll 16
        for (int b = 0; b < NB; ++b) {
          const __m512i c2 = _mm512_add_epi16(c[b], c[b]);
          c[b] = lookup16<2 * CAP>(C, k < P ? j[b] : _mm512_mask_add_epi16(c2, right[b], c2, one));
        }
      };
      // A body per column count n (no branches in the block loop): n itself up to 16, else n
      // rounded up to a multiple of 4. Tail passes (fewer blocks, run once per batch) round n up
      // to a power of two, which keeps the binary small. Rounding up is exact: the padding columns
      // repeat col[0] and no slot picks them.
      auto by_n = [&](auto cap) NADIR_TARGET_AVX512VBMI __attribute__((always_inline)) {
        auto body = [&](auto n) NADIR_TARGET_AVX512VBMI __attribute__((always_inline)) { level(cap, n); };
        if constexpr (NB == kRankNB) {
          if (Q.n <= 16)
            dispatch_range<1, 16>(Q.n, body);
          else
            dispatch_range<5, 8>((Q.n + 3) / 4, [&](auto q) NADIR_TARGET_AVX512VBMI __attribute__((always_inline)) {
              body(std::integral_constant<int, 4 * decltype(q)::value>{});
            });
        } else {
          dispatch_range<0, 5>(Q.n <= 1 ? 0 : 32 - __builtin_clz(Q.n - 1), [&](auto e) NADIR_TARGET_AVX512VBMI __attribute__((always_inline)) {
            body(std::integral_constant<int, 1 << decltype(e)::value>{});
          });
        }
      };
      // Positional tables of 32 entries are read as 64 (vpermt2w, as fast as vpermw; one set of
      // bodies fewer): build_rank_plan pads the table for the last one.
      if (Q.cap == 128)
        by_n(std::integral_constant<int, 128>{});
      else if (ALLPOS || Q.cap == 64)
        by_n(std::integral_constant<int, 64>{});
      else
        by_n(std::integral_constant<int, 32>{});
    }
    if (p.leaf_n[t]) {
      leaf_add_vbmi(p.leaf_code.data() + t * 256, p.leaf_val.data() + t * 64, p.leaf_n[t], j, acc, NB);
      continue;
    }
    const float* lf = f.leaf + t * L;
    for (int b = 0; b < NB; ++b) {
      const __m512i lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(j[b]));
      const __m512i hi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(j[b], 1));
      _mm512_store_ps(acc + 32 * b, _mm512_add_ps(_mm512_load_ps(acc + 32 * b), _mm512_i32gather_ps(lo, lf, 4)));
      _mm512_store_ps(acc + 32 * b + 16, _mm512_add_ps(_mm512_load_ps(acc + 32 * b + 16), _mm512_i32gather_ps(hi, lf, 4)));
    }
  }
  for (int l = 0; l < 32 * NB; ++l) out[l] = finish(acc[l], scale);
}


// The traversal of `blocks` (1..NB) blocks: one instantiation per block count.
template <int NB>
NADIR_TARGET_AVX512VBMI void rank_plan_some(const ForestView& f, const RankPlan& p, bool allpos, size_t blocks, const int16_t* xr, float* out, double scale) {
  if constexpr (NB > 1)
    if (blocks < NB) return rank_plan_some<NB - 1>(f, p, allpos, blocks, xr, out, scale);
  if (allpos) rank_plan_rows_avx512<NB, true>(f, p, xr, out, scale); else rank_plan_rows_avx512<NB, false>(f, p, xr, out, scale);
}

// All rows through the rank plan, NB blocks of 32 at a time; the rest goes as one pass of fewer
// blocks, the last one scored from a zero-padded copy.
NADIR_TARGET_AVX512VBMI void score_rank_avx512(const ForestView& f, const RankPlan& p, const float* x, size_t rows, float* out, double scale) {
  const size_t nf = f.n_features;
  const bool allpos = static_cast<size_t>(f.depth) <= kRankPositional;
  constexpr int NB = kRankNB;
  static_assert(NB <= kRankMaxBlocks, "rank_rows_avx512 takes up to kRankMaxBlocks blocks");
  alignas(64) int16_t xr[NB * 32 * kRankMaxFeatures];
  size_t i = 0;
  for (; i + NB * 32 <= rows; i += NB * 32) {
    rank_rows_avx512(p, x + i * nf, nf, NB, xr);
    rank_plan_some<NB>(f, p, allpos, NB, xr, out + i, scale);
  }
  if (i == rows) return;
  const size_t left = rows - i, blocks = (left + 31) / 32;
  std::vector<float> pad;
  const float* src = x + i * nf;
  if (left % 32) {
    pad.assign(blocks * 32 * nf, 0.0f);
    std::copy(src, src + left * nf, pad.begin());
    src = pad.data();
  }
  rank_rows_avx512(p, src, nf, blocks, xr);
  alignas(64) float part[NB * 32];
  rank_plan_some<NB>(f, p, allpos, blocks, xr, part, scale);
  std::copy(part, part + left, out + i);
}

NADIR_TARGET_AVX512 void score_axis_avx512(const ForestView& f, const ForestPlan* plan, const float* x, size_t rows, float* out, double scale) {
  const size_t nf = f.n_features;
  size_t i = 0;
  if (plan) {  // built only for nf <= kPlanMaxFeatures
    alignas(64) float xt[4 * 16 * kPlanMaxFeatures];
    for (; i + 64 <= rows; i += 64) {
      transpose16_avx512(x + i * nf, nf, 4, xt);
      plan_rows_avx512<4>(f, *plan, xt, out + i, scale);
    }
    for (; i + 16 <= rows; i += 16) {
      transpose16_avx512(x + i * nf, nf, 1, xt);
      plan_rows_avx512<1>(f, *plan, xt, out + i, scale);
    }
  } else if (nf <= 64) {
    alignas(64) float xt[8 * 16 * 64];
    for (; i + 128 <= rows; i += 128) {
      transpose16_avx512(x + i * nf, nf, 8, xt);
      axis_rows_avx512<8, true>(f, xt, out + i, scale);
    }
    for (; i + 16 <= rows; i += 16) {
      transpose16_avx512(x + i * nf, nf, 1, xt);
      axis_rows_avx512<1, true>(f, xt, out + i, scale);
    }
  } else {
    for (; i + 64 <= rows; i += 64) axis_rows_avx512<4, false>(f, x + i * nf, out + i, scale);
    for (; i + 16 <= rows; i += 16) axis_rows_avx512<1, false>(f, x + i * nf, out + i, scale);
  }
  for (; i < rows; ++i) out[i] = finish(path_sum_axis_avx512(f, x + i * nf), scale);
}
// ---------------------------------------------------------------- hyperplane scoring: AVX-512

// 16 rows per pair of double vectors, NB pairs per pass, rows feature-major as in axis_rows_avx512.
// Each lane accumulates its dot product in double in feature order, exactly as `dot` does (float
// products are exact in double), so scores equal the scalar path's bit for bit. Lanes track their
// position j within the level; levels of up to 32 nodes read normal components and offsets from
// registers (normals are stored feature-major, so a level's c-th components are contiguous).
template <int NB>
NADIR_TARGET_AVX512 void hyper_rows_avx512(const ForestView& f, const float* xt, float* out, double scale) {
  const size_t I = f.internal(), L = f.leaves(), nf = f.n_features;
  const __m512i one = _mm512_set1_epi32(1);
  __m512 acc[NB];
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_setzero_ps();
  for (int t = 0; t < f.trees; ++t) {
    const float* nt = f.normal + t * I * nf;
    const float* ot = f.offset + t * I;
    __m512i j[NB];
    for (int b = 0; b < NB; ++b) j[b] = _mm512_setzero_si512();
    for (int k = 0; k < f.depth; ++k) {
      const size_t first = (size_t{1} << k) - 1;
      // Component c (or the offset, from `base`) of each lane's node at this level.
      auto pick = [&](const float* base, const __m512i& jj) NADIR_TARGET_AVX512 {
        if (k <= 4) {
          const __mmask16 m = static_cast<__mmask16>(k == 4 ? 0xFFFFu : (1u << (1 << k)) - 1u);
          return _mm512_permutexvar_ps(jj, _mm512_maskz_loadu_ps(m, base));
        }
        if (k == 5) return _mm512_permutex2var_ps(_mm512_loadu_ps(base), jj, _mm512_loadu_ps(base + 16));
        return _mm512_i32gather_ps(jj, base, 4);
      };
      __m512d lo[NB], hi[NB];
      for (int b = 0; b < NB; ++b) lo[b] = hi[b] = _mm512_setzero_pd();
      for (size_t c = 0; c < nf; ++c) {
        const float* base = nt + c * I + first;
        for (int b = 0; b < NB; ++b) {
          const __m512 n = pick(base, j[b]);
          const __m512 xv = _mm512_load_ps(xt + b * 16 * nf + c * 16);
          lo[b] = _mm512_add_pd(lo[b], _mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(xv)), _mm512_cvtps_pd(_mm512_castps512_ps256(n))));
          hi[b] = _mm512_add_pd(hi[b], _mm512_mul_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xv), 1))),
                                                     _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(n), 1)))));
        }
      }
      for (int b = 0; b < NB; ++b) {
        const __m512 o = pick(ot + first, j[b]);
        const __mmask8 rl = _mm512_cmp_pd_mask(lo[b], _mm512_cvtps_pd(_mm512_castps512_ps256(o)), _CMP_GT_OQ);
        const __mmask8 rh = _mm512_cmp_pd_mask(hi[b], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(o), 1))), _CMP_GT_OQ);
        const __mmask16 right = static_cast<__mmask16>(rl | (static_cast<unsigned>(rh) << 8));
        j[b] = _mm512_mask_add_epi32(_mm512_add_epi32(j[b], j[b]), right, _mm512_add_epi32(j[b], j[b]), one);
      }
    }
    const float* lf = f.leaf + t * L;
    for (int b = 0; b < NB; ++b) acc[b] = _mm512_add_ps(acc[b], _mm512_i32gather_ps(j[b], lf, 4));
  }
  alignas(64) float sums[16];
  for (int b = 0; b < NB; ++b) {
    _mm512_store_ps(sums, acc[b]);
    for (int l = 0; l < 16; ++l) out[b * 16 + l] = finish(sums[l], scale);
  }
}

NADIR_TARGET_AVX512 void score_hyper_avx512(const ForestView& f, const float* x, size_t rows, float* out, double scale) {
  const size_t nf = f.n_features;
  alignas(64) float xt[4 * 16 * 64];
  size_t i = 0;
  for (; i + 64 <= rows; i += 64) {
    transpose16_avx512(x + i * nf, nf, 4, xt);
    hyper_rows_avx512<4>(f, xt, out + i, scale);
  }
  for (; i + 16 <= rows; i += 16) {
    transpose16_avx512(x + i * nf, nf, 1, xt);
    hyper_rows_avx512<1>(f, xt, out + i, scale);
  }
  score_rows_scalar(f, x + i * nf, rows - i, out + i, scale);
}
#endif  // NADIR_X86

struct ForestPlan;  // defined with the AVX-512 kernels (x86 only)

// `plan` is null or built for f (AVX-512 only).
void score_rows(const ForestView& f, const ForestPlan* plan, const float* x, size_t rows, float* out, double scale) {
#if NADIR_X86
  // The gathers index rows with 32-bit lane offsets (lane * n_features).
  if (!f.hyperplane() && f.n_features <= (1 << 26)) {
    switch (active_isa()) {
      case Isa::Avx512: return score_axis_avx512(f, plan, x, rows, out, scale);
      case Isa::Avx2: return score_axis_avx2(f, x, rows, out, scale);
      default: break;
    }
  }
  if (f.hyperplane() && f.n_features <= 64 && active_isa() == Isa::Avx512) return score_hyper_avx512(f, x, rows, out, scale);
#endif
  score_rows_scalar(f, x, rows, out, scale);
}

// Threads only pay off when each gets a few thousand rows.
int score_threads(size_t rows, int threads) {
  size_t cap = std::max<size_t>(1, rows / 2048);
  return static_cast<int>(std::min<size_t>(cap, static_cast<size_t>(resolve_threads(threads))));
}

}  // namespace

double iforest_c(double n) {
  if (n <= 1) return 0;
  if (n <= 2) return 1;
  return 2.0 * (std::log(n - 1.0) + 0.5772156649) - 2.0 * (n - 1.0) / n;
}

void forest_fit(const float* x, size_t rows, size_t cols, const ForestParams& p, const ForestOut& out) {
  const int threads = std::min(resolve_threads(p.threads), p.trees);
  parallel_for(static_cast<size_t>(p.trees), threads, [&](size_t b, size_t e, int) {
    Builder bld(x, rows, cols, p, out);
    for (size_t t = b; t < e; ++t) bld.tree(t);
  });
}

void forest_score_scalar(const ForestView& f, const float* x, size_t rows, float* out) {
  score_rows_scalar(f, x, rows, out, score_scale(f));
}

// The compiled forest: the rank plan where the CPU has AVX-512 VBMI and the forest fits it, else
// the float plan for up to kPlanMaxFeatures features on AVX-512, else nothing.
struct ForestBatchPlan {
  int trees = 0, depth = 0, n_features = 0;
#if NADIR_X86
  bool has_rank = false, has_flat = false;
  RankPlan rank;
  ForestPlan flat;
#endif
};

std::shared_ptr<const ForestBatchPlan> forest_batch_plan(const ForestView& f) {
#if NADIR_X86
  if (f.hyperplane() || detected_isa() != Isa::Avx512) return nullptr;
  auto p = std::make_shared<ForestBatchPlan>();
  p->trees = f.trees;
  p->depth = f.depth;
  p->n_features = f.n_features;
  if (cpu_has_vbmi() && static_cast<size_t>(f.n_features) <= kRankMaxFeatures) p->has_rank = build_rank_plan(f, p->rank);
  if (!p->has_rank && static_cast<size_t>(f.n_features) <= kPlanMaxFeatures) {
    p->flat = build_plan(f);
    p->has_flat = true;
  }
  if (!p->has_rank && !p->has_flat) return nullptr;
  return p;
#else
  (void)f;
  return nullptr;
#endif
}

void forest_score(const ForestView& f, const float* x, size_t rows, float* out, int threads, const ForestBatchPlan* given) {
  const double scale = score_scale(f);
  const size_t nf = f.n_features;
  const ForestPlan* plan = nullptr;
#if NADIR_X86
  // A plan built for another forest shape is ignored (one of the same shape would only give wrong
  // scores, never out-of-bounds reads: every index it holds is within its own tables).
  if (given && (given->trees != f.trees || given->depth != f.depth || given->n_features != f.n_features || f.hyperplane())) given = nullptr;
  // Without a plan, one is built for this call when the batch is big enough for that to pay.
  std::shared_ptr<const ForestBatchPlan> built;
  if (!given && !f.hyperplane() && active_isa() == Isa::Avx512 && rows >= kPlanMinRows) {
    built = forest_batch_plan(f);
    given = built.get();
  }
  if (given && active_isa() == Isa::Avx512 && rows >= kPlanUseRows) {
    if (given->has_rank && cpu_has_vbmi()) {
      parallel_for(rows, score_threads(rows, threads), [&](size_t b, size_t e, int) {
        score_rank_avx512(f, given->rank, x + b * nf, e - b, out + b, scale);
      });
      return;
    }
    if (given->has_flat) plan = &given->flat;
  }
#else
  (void)given;
#endif
  parallel_for(rows, score_threads(rows, threads), [&](size_t b, size_t e, int) {
    score_rows(f, plan, x + b * nf, e - b, out + b, scale);
  });
}

// Attribution. A split that sends the row from a node holding n training rows into a child holding
// m of them isolates it by log2((n + 1) / (m + 1)) bits; that credit goes to the split's feature
// (a hyperplane split spreads it over the features in proportion to |normal component|). Splits
// that cut the row off from most of the data -- the ones that isolate it quickly -- count most, as
// in DIFFI's imbalance weighting. Along a path the credits add up to log2((psi + 1) / (m_leaf + 1)),
// so each tree's attribution decomposes how far it isolated the row; the result is the mean over
// trees. Padding splits below external nodes carry no credit.
void forest_explain(const ForestView& f, const float* x, size_t rows, float* out, int threads) {
  const size_t I = f.internal(), N = f.nodes(), nf = f.n_features;
  const uint32_t fmax = static_cast<uint32_t>(f.n_features - 1);
  const float inv_trees = 1.0f / static_cast<float>(f.trees);
  parallel_for(rows, score_threads(rows * 8, threads), [&](size_t b, size_t e, int) {
    for (size_t i = b; i < e; ++i) {
      const float* xr = x + i * nf;
      float* o = out + i * nf;
      std::fill_n(o, nf, 0.0f);
      for (int t = 0; t < f.trees; ++t) {
        const int32_t* cnt = f.count + t * N;
        size_t g = 0;
        for (int k = 0; k < f.depth; ++k) {
          const size_t at = t * I + g;
          const bool hyper = f.hyperplane();
          const bool real = hyper ? f.offset[at] != kInf : f.threshold[at] != kInf;
          const float* nv = hyper ? f.normal + t * I * nf + g : nullptr;  // component c at nv[c * I]
          const bool right = hyper ? dot(xr, nv, nf, I) > f.offset[at]
                                   : xr[std::min(static_cast<uint32_t>(f.feature[at]), fmax)] > f.threshold[at];
          const size_t child = 2 * g + 1 + right;
          if (!real) break;  // padding: the row has reached its external node
          const float w = inv_trees * std::log2((std::max(cnt[g], 0) + 1.0f) / (std::max(cnt[child], 0) + 1.0f));
          if (hyper) {
            float norm = 0;
            for (size_t c = 0; c < nf; ++c) norm += std::fabs(nv[c * I]);
            if (norm > 0)
              for (size_t c = 0; c < nf; ++c) o[c] += w * std::fabs(nv[c * I]) / norm;
          } else {
            o[std::min(static_cast<uint32_t>(f.feature[at]), fmax)] += w;
          }
          g = child;
        }
      }
    }
  });
}

const char* forest_check(const ForestView& f) {
  if (f.trees < 1 || f.depth < 1 || f.depth > kForestMaxDepth || f.n_features < 1 || f.sample_size < 2)
    return "forest shape is out of range";
  const size_t I = f.internal(), L = f.leaves();
  if (!f.hyperplane()) {
    for (size_t k = 0; k < f.trees * I; ++k)
      if (f.feature[k] < 0 || f.feature[k] >= f.n_features) return "a split refers to a feature index out of range";
    for (size_t k = 0; k < f.trees * I; ++k)
      if (std::isnan(f.threshold[k])) return "a split threshold is NaN";
  } else {
    for (size_t k = 0; k < f.trees * I * f.n_features; ++k)
      if (!std::isfinite(f.normal[k])) return "a split normal is not finite";
    for (size_t k = 0; k < f.trees * I; ++k)
      if (std::isnan(f.offset[k])) return "a split offset is NaN";
  }
  for (size_t k = 0; k < f.trees * L; ++k)
    if (!std::isfinite(f.leaf[k]) || f.leaf[k] < 0) return "a leaf path length is not a finite non-negative number";
  if (f.count)
    for (size_t k = 0; k < f.trees * f.nodes(); ++k)
      if (f.count[k] < 0 || f.count[k] > f.sample_size) return "a node count is out of range";
  return nullptr;
}

}  // namespace nadir
