// Minimal fork-join helper for the core: splits [0, n) into contiguous chunks, one per thread.
// Chunk boundaries depend only on n and threads, so results written per index are deterministic.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace nadir {

inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// fn(begin, end, thread_index)
template <class Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::min<size_t>(n, 1024))));
  if (threads <= 1 || n < 2) {
    if (n) fn(size_t{0}, n, 0);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  size_t chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    size_t b = std::min(n, chunk * t), e = std::min(n, b + chunk);
    pool.emplace_back([&, b, e, t] {
      try { if (b < e) fn(b, e, t); } catch (...) { errors[t] = std::current_exception(); }
    });
  }
  try { fn(size_t{0}, std::min(n, chunk), 0); } catch (...) { errors[0] = std::current_exception(); }
  for (auto& th : pool) th.join();
  for (auto& e : errors) if (e) std::rethrow_exception(e);
}

}  // namespace nadir
