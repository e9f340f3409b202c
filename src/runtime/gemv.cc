// Threaded few-row GEMV (see gemv.h), the scalar reference, and the f32
// LinearKernel that decoding installs on Linear layers.
#include "runtime/gemv.h"

#include <algorithm>

#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/kernels.h"
#include "octet/thread_pool.h"

namespace octet::runtime {

void gemv_rows_scalar(const float* x, int64_t m, const float* w, int64_t k, const float* bias, float* y, int64_t n,
                      int64_t n_begin, int64_t n_end) {
  for (int64_t j = n_begin; j < n_end; ++j) {
    const float* row = w + j * k;
    for (int64_t r = 0; r < m; ++r) {
      const float* xr = x + r * k;
      float acc = 0.0f;
      for (int64_t i = 0; i < k; ++i) acc += xr[i] * row[i];
      y[r * n + j] = bias ? acc + bias[j] : acc;
    }
  }
}

GemvRowsFn gemv_rows_kernel() {
  static const GemvRowsFn fn = [] {
    const CpuFeatures& f = cpu_features();
    return f.avx2 && f.fma ? &gemv_rows_avx2 : &gemv_rows_scalar;
  }();
  return fn;
}

void gemv(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, GemvRowsFn rows_fn) {
  check(x.defined() && x.dtype() == DType::F32 && x.rank() >= 1 && x.is_contiguous(), "gemv",
        "x must be a contiguous f32 tensor, got {}", x);
  check(w.defined() && w.dtype() == DType::F32 && w.rank() == 2 && w.is_contiguous(), "gemv",
        "weight must be a contiguous f32 [n, k], got {}", w);
  const int64_t n = w.dim(0), k = w.dim(1);
  check(x.dim(-1) == k, "gemv", "x is {} but weight is {}", x, w);
  const int64_t m = x.numel() / std::max<int64_t>(k, 1);
  if (bias.defined())
    check(bias.dtype() == DType::F32 && bias.numel() == n && bias.is_contiguous(), "gemv", "bias is {}, expected [{}]",
          bias, n);
  Shape out_shape = x.shape();
  out_shape.back() = n;
  if (!y.defined()) y = Tensor::empty(out_shape, DType::F32);
  check(y.shape() == out_shape && y.dtype() == DType::F32 && y.is_contiguous(), "gemv", "y is {}, expected f32 {}",
        y, shape_str(out_shape));
  if (!rows_fn) rows_fn = gemv_rows_kernel();
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* yp = y.data<float>();
  // Chunks of whole 64-row blocks (keeps the 4-row unrolling aligned); at
  // least ~256 KiB of weights per chunk so small layers stay on one thread.
  const int64_t block = 64;
  const int64_t blocks = (n + block - 1) / block;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, k * block / 4));
  // Within a chunk, a panel of weight rows (~128 KiB, a multiple of 4 rows)
  // stays in cache while every group of 4 input rows passes over it, so the
  // weights stream from memory once per call whatever m is. Each output is
  // one row's dot product summed in the same order for any panel, chunk or m
  // (see gemv.h: rows are computed independently of each other).
  const int64_t panel = std::max<int64_t>(4, ((int64_t{1} << 15) / std::max<int64_t>(1, k)) & ~int64_t{3});
  parallel_for(
      blocks,
      [&](int64_t b0, int64_t b1) {
        const int64_t end = std::min(n, b1 * block);
        for (int64_t j = b0 * block; j < end; j += panel) rows_fn(xp, m, wp, k, bp, yp, n, j, std::min(end, j + panel));
      },
      grain);
}

namespace {

class GemvLinearKernel final : public nn::LinearKernel {
 public:
  GemvLinearKernel(Tensor weight, Tensor bias) : weight_(std::move(weight)), bias_(std::move(bias)) {}

  Tensor forward(const Tensor& x) const override {
    const int64_t k = weight_.dim(1);
    if (x.is_contiguous() && x.rank() >= 1 && x.dim(-1) == k && x.numel() / std::max<int64_t>(k, 1) <= kGemvMaxRows) {
      Tensor y;
      gemv(x, weight_, bias_, y);
      return y;
    }
    return kernels::linear(x, weight_, bias_);
  }
  std::string describe() const override { return "f32"; }
  // Up to kGemvMaxRows rows every row is its own dot products (the GEMV);
  // more go to the GEMM, whose rows may depend on the row count.
  int64_t row_invariant_rows() const override { return kGemvMaxRows; }

 private:
  Tensor weight_, bias_;
};

}  // namespace
}  // namespace octet::runtime

namespace octet {

void use_decode_kernels(Model& model) {
  model.visit_linears([](nn::Linear& linear) {
    if (!linear.kernel())
      linear.set_kernel(std::make_shared<runtime::GemvLinearKernel>(linear.weight(), linear.bias()));
  });
}

}  // namespace octet
