// Isolation forest (Liu, Ting & Zhou 2008) and its extended, hyperplane-split variant (Hariri,
// Kind & Brunner 2018).
//
// Layout built for traversal: every tree is a complete binary tree of fixed depth D stored level
// by level in flat arrays (node g has children 2g+1 and 2g+2; leaves follow the 2^D - 1 internal
// nodes). An external node met before depth D is padded with "always left" splits (threshold or
// offset = +inf) and its value is copied to every leaf below it, so a traversal is exactly D steps
// of idx = 2*idx + 1 + (x[f] > t), with no branches on the tree shape. Leaves hold the path length
// h = depth + c(size) of their external node.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace nadir {

// Largest supported depth: a complete tree of depth 16 has 65535 internal nodes.
constexpr int kForestMaxDepth = 16;

// Average path length of an unsuccessful BST search among n points:
// c(n) = 2H(n-1) - 2(n-1)/n with H(i) = ln(i) + 0.5772156649; c(2) = 1; c(n <= 1) = 0.
double iforest_c(double n);

// A fitted forest: views over arrays owned elsewhere (typed arrays held by TypeScript).
// Axis-parallel forests set feature/threshold; hyperplane forests set normal/offset instead.
struct ForestView {
  int trees = 0;
  int depth = 0;
  int n_features = 0;
  int sample_size = 0;               // psi: the score is 2^(-E[h] / c(psi))
  const int32_t* feature = nullptr;  // trees * internal
  const float* threshold = nullptr;  // trees * internal: go right when x[f] > t
  const float* normal = nullptr;     // trees * n_features * internal (feature-major per tree)
  const float* offset = nullptr;     // trees * internal: go right when dot(x, normal) > offset
  const float* leaf = nullptr;       // trees * leaves: depth + c(size) of the external node
  // trees * nodes(): training rows that reached each node of the complete tree (internal nodes,
  // then leaves; 0 below an external node). Only explain reads it.
  const int32_t* count = nullptr;

  bool hyperplane() const { return normal != nullptr; }
  size_t internal() const { return (size_t{1} << depth) - 1; }
  size_t leaves() const { return size_t{1} << depth; }
  size_t nodes() const { return (size_t{2} << depth) - 1; }
};

// Where fit writes the forest (sized as ForestView describes; unused pointers may be null).
struct ForestOut {
  int32_t* feature = nullptr;
  float* threshold = nullptr;
  float* normal = nullptr;
  float* offset = nullptr;
  float* leaf = nullptr;
  int32_t* count = nullptr;
};

struct ForestParams {
  int trees = 100;
  int sample_size = 256;    // already capped at the row count, >= 2
  int depth = 8;            // 1 .. kForestMaxDepth
  int extension_level = 0;  // 0: axis-parallel; 1 .. n_features-1: hyperplane splits
  uint64_t seed = 0;
  int threads = 0;          // 0 = all cores
};

// Grows the trees in parallel. Tree t draws from its own RNG stream derived from (seed, t), so the
// forest is bit-identical for a given seed whatever the thread count.
void forest_fit(const float* x, size_t rows, size_t cols, const ForestParams& p, const ForestOut& out);

// Anomaly scores 2^(-E[h(x)] / c(psi)) in (0, 1], higher = more anomalous (sklearn's
// -score_samples). Rows are split across threads; every row's score is independent of the SIMD
// level and the thread count (trees are summed in order in float, then finished in double).
//
// `plan` (optional) is the forest compiled by forest_batch_plan; without one, big batches compile
// the forest for the call. Scores do not depend on whether a plan is used.
struct ForestBatchPlan;
void forest_score(const ForestView& f, const float* x, size_t rows, float* out, int threads, const ForestBatchPlan* plan = nullptr);

// Compiles an axis-parallel forest for batch scoring on this CPU (AVX-512: per-level tables of the
// live nodes; with VBMI, rank-mapped 16-bit traversal, see forest.cc). Built once per fitted forest
// (about as costly as scoring a few hundred rows) and reused by every call; null when no plan
// applies (hyperplane forests, no AVX-512, too many features).
std::shared_ptr<const ForestBatchPlan> forest_batch_plan(const ForestView& f);
// forest_score compiles the forest for a call without a plan from this many rows on.
constexpr size_t kForestPlanMinRows = 2048;
// The scalar reference (single thread).
void forest_score_scalar(const ForestView& f, const float* x, size_t rows, float* out);

// Per-feature attributions (rows x n_features); needs f.count. See forest.cc for the definition.
void forest_explain(const ForestView& f, const float* x, size_t rows, float* out, int threads);

// Checks values the traversal trusts (feature indices, finite leaves). Returns nullptr when the
// forest is usable, else a message. Scoring clamps feature indices anyway, so a bad model gives
// wrong scores but never reads out of bounds.
const char* forest_check(const ForestView& f);

}  // namespace nadir
