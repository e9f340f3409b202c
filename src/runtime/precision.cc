// The bf16 Linear kernel and the CPU precision switch (octet/precision.h).
#include "octet/precision.h"

#include <limits>
#include <memory>
#include <string_view>

#include "core/error_tags.h"
#include "kernels/gemm_backend.h"
#include "octet/error.h"
#include "octet/gemm_bf16.h"
#include "octet/kernels.h"
#include "octet/model.h"
#include "octet/nn.h"

namespace octet {
namespace {

// x [..., k] -> y [..., n]: checks x, makes it contiguous, allocates y and
// lets `gemm(x, rows, y)` fill it (rows of k in, rows of n out).
template <typename Gemm>
Tensor run_rows(const char* what, const Tensor& x, int64_t k, int64_t n, const Gemm& gemm) {
  check(x.dtype() == DType::F32 && x.rank() >= 1 && x.dim(-1) == k, kPrecisionTag, "{} Linear [{}, {}]: input is {}",
        what, n, k, x);
  const Tensor xc = x.contiguous();
  Shape out_shape = x.shape();
  out_shape.back() = n;
  Tensor y = Tensor::empty(out_shape, DType::F32);
  gemm(xc.data<float>(), xc.numel() / k, y.data<float>());
  return y;
}

class Bf16LinearKernel final : public nn::LinearKernel {
 public:
  Bf16LinearKernel(const Tensor& weight, Tensor bias)
      : packed_(pack_bf16_weights(weight.contiguous().data<float>(), weight.dim(0), weight.dim(1))),
        bias_(std::move(bias)) {}

  Tensor forward(const Tensor& x) const override {
    return run_rows("bf16", x, packed_.k(), packed_.n(), [&](const float* xp, int64_t m, float* y) {
      gemm_bf16(xp, m, packed_.k(), packed_, bias_.defined() ? bias_.data<float>() : nullptr, y, packed_.n());
    });
  }
  std::string describe() const override { return "bf16"; }
  // gemm_bf16 computes every row the same way whatever the row count.
  int64_t row_invariant_rows() const override { return std::numeric_limits<int64_t>::max(); }
  std::vector<std::span<const std::byte>> resident_regions() const override {
    return {{reinterpret_cast<const std::byte*>(packed_.data()), packed_.bytes()}};
  }

 private:
  PackedBf16Weights packed_;
  Tensor bias_;
};

// fp32 with the weights packed once for octet's AVX-512 GEMM: the same
// values as the plain fp32 Linear (bit for bit), without re-packing the
// weights from memory on every call.
class PackedF32LinearKernel final : public nn::LinearKernel {
 public:
  PackedF32LinearKernel(const Tensor& weight, Tensor bias)
      : packed_(kernels::pack_linear_b(weight.contiguous().data<float>(), weight.dim(0), weight.dim(1))),
        bias_(std::move(bias)) {}

  Tensor forward(const Tensor& x) const override {
    return run_rows("fp32", x, packed_.k, packed_.n, [&](const float* xp, int64_t m, float* y) {
      kernels::linear_prepacked(xp, m, packed_.k, packed_, bias_.defined() ? bias_.data<float>() : nullptr, y,
                                packed_.n);
    });
  }
  std::string describe() const override { return "f32-packed"; }
  size_t bytes() const { return packed_.data.size() * sizeof(float); }

 private:
  kernels::PackedLinearB packed_;
  Tensor bias_;
};

}  // namespace

bool packed_fp32_supported() { return std::string_view(kernels::small_gemm_variant()) == "avx512"; }

void use_packed_fp32_kernels(Model& model) {
  if (!packed_fp32_supported()) return;
  model.visit_linears([](nn::Linear& linear) {
    if (linear.kernel() || linear.kernel_resident()) return;  // quantized / bf16 Linears keep theirs
    const Tensor bias = linear.has_bias() ? linear.bias().contiguous() : Tensor{};
    linear.set_kernel(std::make_shared<PackedF32LinearKernel>(linear.weight(), bias));
  });
}

void use_bf16_kernels(Model& model) {
  require_bf16_gemm(kPrecisionTag);
  model.visit_linears([](nn::Linear& linear) {
    if (linear.kernel() && linear.kernel()->describe() == "bf16") return;
    if (linear.kernel() && linear.kernel()->describe() == "f32-packed") linear.set_kernel(nullptr);
    check(!linear.kernel() && !linear.kernel_resident(), kPrecisionTag,
          "{} already runs a {} kernel: bf16 applies to fp32 models, not quantized ones", linear.name(),
          linear.kernel() ? linear.kernel()->describe() : std::string("weight-only"));
  });
  model.visit_linears([](nn::Linear& linear) {
    if (linear.kernel()) return;
    const Tensor bias = linear.has_bias() ? linear.bias().contiguous() : Tensor{};
    linear.set_kernel(std::make_shared<Bf16LinearKernel>(linear.weight(), bias));
  });
}

void apply_cpu_precision(Model& model, std::string_view precision) {
  check(precision == "fp32" || precision == "bf16", kPrecisionTag, "unknown CPU precision '{}' (fp32 or bf16)",
        precision);
  if (precision == "bf16") return use_bf16_kernels(model);
  // Decoder LLMs keep their fp32 weights once (use_decode_kernels runs them).
  if (!model.info().is_decoder) use_packed_fp32_kernels(model);
}

size_t packed_fp32_weight_bytes(Model& model) {
  size_t bytes = 0;
  model.visit_linears([&](nn::Linear& linear) {
    if (const auto* k = dynamic_cast<const PackedF32LinearKernel*>(linear.kernel())) bytes += k->bytes();
  });
  return bytes;
}

size_t bf16_weight_bytes(Model& model) {
  size_t bytes = 0;
  model.visit_linears([&](nn::Linear& linear) {
    if (const auto* k = dynamic_cast<const Bf16LinearKernel*>(linear.kernel())) bytes += size_t(k->resident_bytes());
  });
  return bytes;
}

}  // namespace octet
