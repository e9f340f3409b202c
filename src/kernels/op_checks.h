// Shared argument checks and the row-parallel loop of the device-neutral op files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "octet/tensor.h"
#include "octet/thread_pool.h"

namespace octet::kernels::detail {

// `t` is defined, f32 and contiguous; errors name the op and the argument.
void require_f32(std::string_view op, std::string_view name, const Tensor& t);
// Allocates `out` when undefined; otherwise checks it is f32, contiguous and `shape`.
void prepare_output(std::string_view op, std::string_view name, Tensor& out, const Shape& shape);
// A 1-D parameter (gamma, bias, ...) of `size` elements.
void require_vector(std::string_view op, std::string_view name, const Tensor& t, int64_t size,
                    std::string_view size_name);
// BLAS takes 32-bit dimensions.
void require_blas_dim(std::string_view op, std::string_view name, int64_t value);

// Work per pool task: enough that waking a thread (~10 us) is amortised.
inline constexpr int64_t kMinElementsPerTask = 16384;

// fn(row_begin, row_end) over rows of `cols` elements, split across the pool.
template <typename Fn>
void parallel_rows(int64_t rows, int64_t cols, Fn&& fn) {
  const int64_t grain = std::max<int64_t>(1, kMinElementsPerTask / std::max<int64_t>(1, cols));
  parallel_for(rows, fn, grain);
}

}  // namespace octet::kernels::detail
