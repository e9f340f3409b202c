// GEMM entry points: shape/dtype checks, then one GemmProblem for the backend.
#include <functional>

#include "kernels/dispatch.h"
#include "kernels/op_checks.h"
#include "octet/kernels.h"

namespace octet::kernels {
namespace {

using detail::require_blas_dim;
using detail::require_f32;

bool overlaps(const Tensor& x, const Tensor& y) {
  const auto* x0 = static_cast<const char*>(x.raw_data());
  const auto* y0 = static_cast<const char*>(y.raw_data());
  // std::less gives a total order even for pointers into different objects.
  return std::less<>{}(x0, y0 + y.nbytes()) && std::less<>{}(y0, x0 + x.nbytes());
}

void check_dims(std::string_view op, int64_t m, int64_t n, int64_t k) {
  require_blas_dim(op, "M", m);
  require_blas_dim(op, "N", n);
  require_blas_dim(op, "K", k);
}

// (rows, cols) of op(B) given B's last two dims.
std::pair<int64_t, int64_t> op_b_dims(const Tensor& b, bool transpose) {
  const int64_t r = b.dim(-2), c = b.dim(-1);
  return transpose ? std::pair{c, r} : std::pair{r, c};
}

}  // namespace

void gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmParams& params, const Tensor& bias) {
  require_f32("gemm", "A", a);
  require_f32("gemm", "B", b);
  check(a.rank() == 2 && b.rank() == 2, "gemm", "A and B must be matrices, got {} and {}", a, b);
  const int64_t m = a.dim(0), k = a.dim(1);
  const auto [kb, n] = op_b_dims(b, params.transpose_b);
  check(k == kb, "gemm", "A is {} but op(B) is [{}, {}] (B {}{}): inner dimensions differ", shape_str(a.shape()), kb,
        n, shape_str(b.shape()), params.transpose_b ? " transposed" : "");
  check(params.beta == 0.0f || c.defined(), "gemm", "beta is {} but C is undefined", params.beta);
  detail::prepare_output("gemm", "C", c, {m, n});
  check(!overlaps(c, a) && !overlaps(c, b), "gemm", "C must not overlap A or B");
  if (bias.defined()) detail::require_vector("gemm", "bias", bias, n, "N");
  check_dims("gemm", m, n, k);
  GemmProblem p;
  p.m = m, p.n = n, p.k = k;
  p.trans_b = params.transpose_b, p.alpha = params.alpha, p.beta = params.beta;
  p.a = a.data<float>(), p.lda = k;
  p.b = b.data<float>(), p.ldb = b.dim(1);
  p.c = c.data<float>(), p.ldc = n;
  p.bias = bias.defined() ? bias.data<float>() : nullptr;
  gemm_backend().run(p);
}

void gemm_batched(const Tensor& a, const Tensor& b, Tensor& c, const GemmParams& params) {
  require_f32("gemm_batched", "A", a);
  require_f32("gemm_batched", "B", b);
  check(a.rank() == 3 && b.rank() == 3, "gemm_batched", "A and B must be [batch, rows, cols], got {} and {}", a, b);
  const int64_t batch = a.dim(0), m = a.dim(1), k = a.dim(2);
  check(b.dim(0) == batch || b.dim(0) == 1, "gemm_batched", "B has batch {}, A has {} (B may also have 1)", b.dim(0),
        batch);
  const auto [kb, n] = op_b_dims(b, params.transpose_b);
  check(k == kb, "gemm_batched", "A is {} but op(B) is [{}, {}]: inner dimensions differ", shape_str(a.shape()), kb, n);
  check(params.beta == 0.0f || c.defined(), "gemm_batched", "beta is {} but C is undefined", params.beta);
  detail::prepare_output("gemm_batched", "C", c, {batch, m, n});
  check(!overlaps(c, a) && !overlaps(c, b), "gemm_batched", "C must not overlap A or B");
  check_dims("gemm_batched", m, n, k);
  GemmProblem p;
  p.batch = batch, p.m = m, p.n = n, p.k = k;
  p.trans_b = params.transpose_b, p.alpha = params.alpha, p.beta = params.beta;
  p.a = a.data<float>(), p.lda = k, p.stride_a = m * k;
  p.b = b.data<float>(), p.ldb = b.dim(2), p.stride_b = b.dim(0) == 1 ? 0 : b.dim(1) * b.dim(2);
  p.c = c.data<float>(), p.ldc = n, p.stride_c = m * n;
  gemm_backend().run(p);
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
  require_f32("linear", "x", x);
  require_f32("linear", "weight", weight);
  check(weight.rank() == 2, "linear", "weight must be [out, in], got {}", weight);
  check(x.rank() >= 1, "linear", "x must have at least one dimension");
  const int64_t out_features = weight.dim(0), in_features = weight.dim(1);
  check(x.dim(-1) == in_features, "linear", "x is {} but weight is {}: last dimension must be {}", x,
        weight, in_features);
  if (bias.defined()) detail::require_vector("linear", "bias", bias, out_features, "out_features");
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  detail::prepare_output("linear", "y", y, out_shape);
  check(!overlaps(y, x) && !overlaps(y, weight), "linear", "y must not overlap x or weight");
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  check_dims("linear", rows, out_features, in_features);
  GemmProblem p;
  p.m = rows, p.n = out_features, p.k = in_features, p.trans_b = true;
  p.a = x.data<float>(), p.lda = in_features;
  p.b = weight.data<float>(), p.ldb = in_features;
  p.c = y.data<float>(), p.ldc = out_features;
  p.bias = bias.defined() ? bias.data<float>() : nullptr;
  gemm_backend().run(p);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor y;
  linear(x, weight, bias, y);
  return y;
}

}  // namespace octet::kernels
