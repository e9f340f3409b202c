// layer_norm, add_layer_norm, rms_norm: checks, then rows across the pool.
#include "kernels/dispatch.h"
#include "kernels/op_checks.h"
#include "octet/kernels.h"

namespace octet::kernels {
namespace {

// Rows and hidden size of x, after checking it is an f32 tensor with a last dim.
std::pair<int64_t, int64_t> rows_and_hidden(std::string_view op, const Tensor& x) {
  detail::require_f32(op, "x", x);
  check(x.rank() >= 1, op, "x must have at least one dimension");
  const int64_t hidden = x.dim(-1);
  check(hidden > 0, op, "x {} has an empty last dimension", x);
  return {x.numel() / hidden, hidden};
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  // Not a structured binding: lambdas below capture these, which clang < 16 refuses for bindings.
  const auto [rows, hidden_size] = rows_and_hidden("layer_norm", x);
  const int64_t hidden = hidden_size;
  detail::require_vector("layer_norm", "gamma", gamma, hidden, "hidden size");
  detail::require_vector("layer_norm", "beta", beta, hidden, "hidden size");
  detail::prepare_output("layer_norm", "y", y, x.shape());
  const RowKernels& k = row_kernels();
  const float* px = x.data<float>();
  const float* pg = gamma.data<float>();
  const float* pb = beta.data<float>();
  float* py = y.data<float>();
  detail::parallel_rows(rows, hidden, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) k.layer_norm(px + r * hidden, pg, pb, eps, py + r * hidden, hidden);
  });
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  Tensor y;
  layer_norm(x, gamma, beta, eps, y);
  return y;
}

void add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta, float eps,
                    Tensor& y, Tensor* sum) {
  // Not a structured binding: lambdas below capture these, which clang < 16 refuses for bindings.
  const auto [rows, hidden_size] = rows_and_hidden("add_layer_norm", x);
  const int64_t hidden = hidden_size;
  detail::require_f32("add_layer_norm", "residual", residual);
  check(residual.shape() == x.shape(), "add_layer_norm", "residual is {}, x is {}", residual, x);
  detail::require_vector("add_layer_norm", "gamma", gamma, hidden, "hidden size");
  detail::require_vector("add_layer_norm", "beta", beta, hidden, "hidden size");
  detail::prepare_output("add_layer_norm", "y", y, x.shape());
  if (sum) detail::prepare_output("add_layer_norm", "sum", *sum, x.shape());
  const RowKernels& k = row_kernels();
  const float* px = x.data<float>();
  const float* pr = residual.data<float>();
  const float* pg = gamma.data<float>();
  const float* pb = beta.data<float>();
  float* py = y.data<float>();
  // Without a sum output the sum is staged in y and normalised in place.
  float* ps = sum ? sum->data<float>() : py;
  detail::parallel_rows(rows, hidden, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r * hidden;
      k.add_layer_norm(px + o, pr + o, pg, pb, eps, ps + o, py + o, hidden);
    }
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, bool unit_offset, Tensor& y) {
  // Not a structured binding: lambdas below capture these, which clang < 16 refuses for bindings.
  const auto [rows, hidden_size] = rows_and_hidden("rms_norm", x);
  const int64_t hidden = hidden_size;
  detail::require_vector("rms_norm", "weight", weight, hidden, "hidden size");
  detail::prepare_output("rms_norm", "y", y, x.shape());
  const RowKernels& k = row_kernels();
  const float* px = x.data<float>();
  const float* pw = weight.data<float>();
  float* py = y.data<float>();
  detail::parallel_rows(rows, hidden, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) k.rms_norm(px + r * hidden, pw, eps, unit_offset, py + r * hidden, hidden);
  });
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, bool unit_offset) {
  Tensor y;
  rms_norm(x, weight, eps, unit_offset, y);
  return y;
}

}  // namespace octet::kernels
