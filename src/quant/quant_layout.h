// How the elements of a tensor map to their scale / zero point slot, as runs
// of contiguous elements (private to src/quant).
//
// Every granularity is a 3-level view [n0, n1, n2] of the row-major tensor in
// which the slot of element (i0, i1, i2) is i0*s0 + i1*s1 + i2*s2, with s2 in
// {0, 1}: a row of n2 elements shares one slot (s2 = 0) or walks a contiguous
// slice of slots (s2 = 1), so kernels always see contiguous runs.
//   per tensor:                 [1, 1, N]                s = (0, 0, 0)
//   per channel, axis a:        [O, A, I]                s = (0, 1, 0)   (O, I: sizes before / after a)
//     ... last axis (I == 1):   [O, 1, A]                s = (0, 0, 1)
//   per group k along a:        [O*G, k, I]              s = (I, 0, 1)   (G = A / k)
//     ... last axis (I == 1):   [O*G, 1, k]              s = (1, 0, 0)
//   per token:                  [N / last, 1, last]      s = (1, 0, 0)
#pragma once

#include <algorithm>
#include <cstdint>

#include "octet/quant.h"

namespace octet::quant_detail {

struct RunLayout {
  int64_t n0 = 1, n1 = 1, n2 = 1;
  int64_t s0 = 0, s1 = 0, s2 = 0;
  int64_t numel = 0;
  int64_t slots = 1;  // number of scale / zero point entries
};

// Validates spec against shape (Error "quant").
RunLayout make_run_layout(const QuantSpec& spec, const Shape& shape);

// Calls fn(pos, len, slot, slot_stride) for the runs covering elements [begin, end).
template <typename Fn>
void for_each_run(const RunLayout& l, int64_t begin, int64_t end, Fn&& fn) {
  int64_t pos = begin;
  while (pos < end) {
    const int64_t row = pos / l.n2;
    const int64_t i2 = pos - row * l.n2;
    const int64_t len = std::min(end - pos, l.n2 - i2);
    const int64_t i0 = row / l.n1;
    const int64_t i1 = row - i0 * l.n1;
    fn(pos, len, i0 * l.s0 + i1 * l.s1 + i2 * l.s2, l.s2);
    pos += len;
  }
}

// Elements per parallel work block: even, so blocks never share an int4 byte.
inline constexpr int64_t kQuantBlock = 16384;

}  // namespace octet::quant_detail
