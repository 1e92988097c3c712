#include "nadir/cascade.h"

#include <algorithm>
#include <cstring>

namespace nadir {

size_t cascade_decide(const float* scores, const float* scaled, size_t n, const CascadeBand* band, CascadePlace place,
                      float* out, uint8_t* stage, uint8_t index, int32_t* next, size_t* normal) {
  const bool first = place.rows == nullptr;
  // Row k gets its final score (placed on the cascade's scale when it came from an earlier stage).
  auto decide = [&](size_t k) {
    if (first) {
      out[k] = scaled[k];
      stage[k] = index;
    } else {
      const int32_t r = place.rows[k];
      out[r] = static_cast<float>(place.lo[k] + place.span[k] * static_cast<double>(scaled[k]));
      stage[r] = index;
    }
  };
  size_t forwarded = 0;
  size_t low_count = 0;
  if (band == nullptr) {
    for (size_t k = 0; k < n; k++) decide(k);
    *normal = 0;
    return 0;
  }
  const double low_raw = band->low_raw;
  const double high_raw = band->high_raw;
  for (size_t k = 0; k < n; k++) {
    const double s = scores[k];
    if (s > low_raw && s <= high_raw) {
      next[forwarded++] = static_cast<int32_t>(k);
      continue;
    }
    decide(k);
    // NaN scores are decided (neither in the band nor below it): they count as anomalous.
    if (s <= low_raw) low_count++;
  }
  *normal = low_count;
  return forwarded;
}

void cascade_forward(const float* scaled, const int32_t* next, size_t count, const CascadeBand& band, CascadePlace place,
                     const float* x, size_t cols, int32_t* next_rows, double* next_lo, double* next_span, float* gathered) {
  const double width = band.high - band.low;
  const double keep = width * (1 - band.blend);
  const bool first = place.rows == nullptr;
  for (size_t j = 0; j < count; j++) {
    const size_t k = static_cast<size_t>(next[j]);
    const double p = width > 0 ? std::min(1.0, std::max(0.0, (static_cast<double>(scaled[k]) - band.low) / width)) : 0.5;
    const double l0 = first ? 0.0 : place.lo[k];
    const double s0 = first ? 1.0 : place.span[k];
    next_lo[j] = l0 + s0 * (band.low + keep * p);
    next_span[j] = s0 * width * band.blend;
    next_rows[j] = first ? static_cast<int32_t>(k) : place.rows[k];
    std::memcpy(gathered + j * cols, x + k * cols, cols * sizeof(float));
  }
}

}  // namespace nadir
