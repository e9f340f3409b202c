// Native INT8 execution of a QdqPlan on the int8 GEMM (include/octet/gemm_int8.h):
// weights packed once, activations quantized per tensor with the plan's scale
// and zero point (x / s rounded half to even, saturated to [-128, 127], as
// ONNX's QuantizeLinear), exact int32 accumulation, f32 epilogue
// float(acc) * s_a * s_w[n] + bias[n]. This is what ONNX Runtime's
// MatMulIntegerToFloat computes for the same QDQ graph.
//
// uint8 activations (affine, zero point z) run as int8 with zero point z - 128:
// the codes differ by exactly 128, so the products are the same. Sites other
// than Linear inputs in the plan (residual adds, norm inputs, q/k/v) stay
// simulated (fake-quantize on fp32), as their ops run in fp32 anyway.
//
// The int8 GEMM comes from branch int8; until it is merged this file builds
// a stand-in that says so (__has_include keeps the tree building either way).
#include <vector>

#include "octet/bench.h"
#include "octet/error.h"

#if __has_include("octet/gemm_int8.h")
#include "octet/gemm_int8.h"
#define OCTET_HAVE_GEMM_INT8 1
#endif

namespace octet {
namespace {

constexpr const char* kTag = "bench";

#ifdef OCTET_HAVE_GEMM_INT8
class NativeInt8Linear final : public nn::LinearKernel {
 public:
  NativeInt8Linear(const nn::Linear& linear, const QdqWeight& w, const QdqActivation& a)
      : n_(linear.out_features()), k_(linear.in_features()), bias_(linear.bias()) {
    check(w.spec.dtype == DType::I8 && w.spec.scheme == QuantScheme::Symmetric, kTag,
          "Linear '{}': native int8 needs symmetric int8 weights, got {}", linear.name(), to_string(w.spec));
    check(a.spec.dtype == DType::I8 || a.spec.dtype == DType::U8, kTag,
          "Linear '{}': native int8 needs int8 / uint8 activations, got {}", linear.name(), to_string(a.spec));
    check(a.spec.granularity == Granularity::PerTensor, kTag, "Linear '{}': activations must be per tensor",
          linear.name());
    // Per-channel scales; a per-tensor weight scale repeats.
    const Tensor s = w.params.scale.contiguous();
    std::vector<float> scales(static_cast<size_t>(n_));
    for (int64_t o = 0; o < n_; ++o) scales[size_t(o)] = s.numel() == 1 ? s.data<float>()[0] : s.data<float>()[o];
    const Tensor codes = w.codes.contiguous();
    packed_ = pack_int8_weights(codes.data<int8_t>(), n_, k_, scales.data());
    a_scale_ = a.params.scale;
    a_zero_point_ = a.spec.dtype == DType::U8 ? a.params.zero_point - 128 : a.params.zero_point;
    if (bias_.defined()) bias_ = bias_.contiguous();
  }

  Tensor forward(const Tensor& x) const override {
    const Tensor in = x.contiguous();
    check(in.dtype() == DType::F32 && in.rank() >= 1 && in.dim(in.rank() - 1) == k_, kTag,
          "native int8 Linear: input {} for {} features", in.describe(), k_);
    const int64_t rows = in.numel() / k_;
    Shape out_shape = in.shape();
    out_shape.back() = n_;
    Tensor y = Tensor::empty(out_shape, DType::F32);
    if (rows == 0) return y;
    std::vector<int8_t> q(size_t(rows * k_));
    quantize_int8_per_tensor(in.data<float>(), rows, k_, k_, a_scale_, a_zero_point_, q.data(), k_);
    Int8Epilogue ep;
    ep.a_scale = a_scale_;
    ep.bias = bias_.defined() ? bias_.data<float>() : nullptr;
    gemm_int8(q.data(), rows, k_, a_zero_point_, packed_, ep, y.data<float>(), n_);
    return y;
  }
  std::string describe() const override { return "int8"; }

 private:
  int64_t n_, k_;
  Tensor bias_;
  PackedInt8Weights packed_;
  float a_scale_ = 1;
  int32_t a_zero_point_ = 0;
};
#endif

}  // namespace

bool native_int8_available() {
#ifdef OCTET_HAVE_GEMM_INT8
  return true;
#else
  return false;
#endif
}

void install_native_int8(Model& model, const QdqPlan& plan) {
#ifdef OCTET_HAVE_GEMM_INT8
  // Everything the plan names runs simulated first; quantized Linears then get native kernels
  // and lose the fake-quant on their input (the kernel quantizes).
  install_simulated_plan(model, plan);
  try {
    model.visit_linears([&](nn::Linear& linear) {
      const auto w = plan.weights.find(linear.name());
      const auto a = plan.activations.find(linear.name());
      if (w == plan.weights.end() || a == plan.activations.end()) return;  // weight-only or fp32 input: simulated
      linear.set_kernel(std::make_shared<NativeInt8Linear>(linear, w->second, a->second));
      linear.input_site().set_transform({});
    });
  } catch (...) {
    remove_installed_quantization(model);
    throw;
  }
#else
  (void)model;
  (void)plan;
  fail(kTag, "native int8 needs the int8 GEMM (octet/gemm_int8.h, branch int8), which is not in this build yet");
#endif
}

}  // namespace octet
