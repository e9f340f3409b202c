#include "kernels/op_checks.h"

#include <limits>

namespace octet::kernels::detail {

void require_f32(std::string_view op, std::string_view name, const Tensor& t) {
  check(t.defined(), op, "{} is undefined", name);
  check(t.dtype() == DType::F32, op, "{} must be f32, got {}", name, t);
  check(t.is_contiguous(), op, "{} {} must be contiguous", name, t);
}

void prepare_output(std::string_view op, std::string_view name, Tensor& out, const Shape& shape) {
  if (!out.defined()) {
    out = Tensor::empty(shape, DType::F32);
    return;
  }
  require_f32(op, name, out);
  check(out.shape() == shape, op, "{} is {}, expected shape {}", name, out, shape_str(shape));
}

void require_vector(std::string_view op, std::string_view name, const Tensor& t, int64_t size,
                    std::string_view size_name) {
  require_f32(op, name, t);
  check(t.rank() == 1 && t.numel() == size, op, "{} has {} elements{}, {} is {}", name, t.numel(),
        t.rank() == 1 ? "" : fmt::format(" (shape {})", shape_str(t.shape())), size_name, size);
}

void require_blas_dim(std::string_view op, std::string_view name, int64_t value) {
  check(value <= std::numeric_limits<int32_t>::max(), op, "{} = {} exceeds the 32-bit BLAS limit", name, value);
}

}  // namespace octet::kernels::detail
