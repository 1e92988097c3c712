// Cascade routing: what one stage of a Cascade decides, and the rows it sends on (src/hybrid/cascade.ts).
#pragma once
#include <cstddef>
#include <cstdint>

namespace nadir {

// A routing stage's fitted band. Rows with raw score in (low_raw, high_raw] go on; the others are
// decided. low / high: the band's edges on the cascade's [0, 1] scale; blend: the later stages' weight.
struct CascadeBand {
  double low_raw, high_raw, low, high, blend;
};

// Where each row reaching a stage came from and where its band lies on the scale; all null at the
// first stage (row k is input row k, placed on [0, 1]).
struct CascadePlace {
  const int32_t* rows = nullptr;
  const double* lo = nullptr;
  const double* span = nullptr;
};

// Decides the rows of one stage: scaled[k] is row k's score on the cascade scale, scores[k] its raw
// score. With band == nullptr (the last stage) every row is decided. A decided row r gets
// out[r] = lo + span * scaled (float) and stage[r] = index; the local positions of the others go to
// next (capacity n), in order. Returns how many go on; *normal = how many were decided normal.
// Every place.rows[k] must be < the length of out (the caller checks).
size_t cascade_decide(const float* scores, const float* scaled, size_t n, const CascadeBand* band, CascadePlace place,
                      float* out, uint8_t* stage, uint8_t index, int32_t* next, size_t* normal);

// For the count forwarded rows next[j]: their place inside the band (the Cascade's fit and scoring
// both route through here), their input row, and their features (x: n x cols) gathered into gathered
// (count x cols).
void cascade_forward(const float* scaled, const int32_t* next, size_t count, const CascadeBand& band, CascadePlace place,
                     const float* x, size_t cols, int32_t* next_rows, double* next_lo, double* next_span, float* gathered);

}  // namespace nadir
