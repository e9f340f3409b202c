// Quantized Linear kernels (simulated and native int8) and the activation
// quantizer both share, so that they see identical codes.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "octet/error.h"
#include "octet/gemm_int8.h"
#include "octet/kernels.h"
#include "octet/quantized_model.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

constexpr std::string_view kTag = "quantized";

// Rows per parallel_for task when quantizing activations (a row is one token).
constexpr int64_t kRowsPerTask = 16;

void check_activation_quant(const ActivationQuant& q) {
  if (q.dynamic) return;
  const QuantSpec& s = q.spec;
  check(s.dtype == DType::I8 && s.granularity == Granularity::PerTensor, kTag,
        "static activations must be int8 per tensor, got {}", to_string(s));
  check(std::isfinite(q.scale) && q.scale > 0, kTag, "activation scale {} must be positive and finite", q.scale);
  check(q.zero_point >= -128 && q.zero_point <= 127, kTag, "activation zero point {} is outside [-128, 127]",
        q.zero_point);
  check(s.scheme == QuantScheme::Affine || q.zero_point == 0, kTag, "a symmetric activation has zero point {}, not 0",
        q.zero_point);
}

Tensor contiguous_f32(const Tensor& x, std::string_view what) {
  check(x.defined() && x.dtype() == DType::F32 && x.rank() >= 1, kTag, "{}: expected an f32 tensor, got {}", what,
        x.describe());
  return x.contiguous();
}

// Shape with the last dimension replaced.
Shape with_last(const Shape& shape, int64_t last) {
  Shape s = shape;
  s.back() = last;
  return s;
}

}  // namespace

std::string_view execution_name(QuantExecution exec) {
  return exec == QuantExecution::Native ? "native" : "simulated";
}

QuantExecution parse_execution(std::string_view name) {
  if (name == "native") return QuantExecution::Native;
  if (name == "simulated") return QuantExecution::Simulated;
  fail(kTag, "unknown execution '{}' (simulated, native)", name);
}

QuantizedActivation quantize_activation(const Tensor& x_in, const ActivationQuant& q) {
  check_activation_quant(q);
  const Tensor x = contiguous_f32(x_in, "quantize_activation");
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.numel() / cols;
  QuantizedActivation out;
  out.codes = Tensor::empty(x.shape(), DType::I8);
  if (q.dynamic) out.row_scales.resize(static_cast<size_t>(rows));
  const float* src = x.data<float>();
  int8_t* codes = out.codes.data<int8_t>();
  const bool clamp_symmetric = !q.dynamic && q.spec.scheme == QuantScheme::Symmetric;
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        const float* xs = src + begin * cols;
        int8_t* qs = codes + begin * cols;
        if (q.dynamic) {
          quantize_int8_per_token(xs, end - begin, cols, cols, qs, cols, out.row_scales.data() + begin);
          return;
        }
        // The symmetric grid is [-127, 127] (quant.h); affine codes use all of [-128, 127].
        quantize_int8_per_tensor_clamped(xs, end - begin, cols, cols, q.scale, q.zero_point,
                                         clamp_symmetric ? -127 : -128, qs, cols);
      },
      kRowsPerTask);
  return out;
}

namespace {

// (q - zp) * scale, row by row: the dequantized activation the simulated GEMM multiplies.
Tensor dequantize_activation(const QuantizedActivation& a, const ActivationQuant& q) {
  const int64_t cols = a.codes.dim(-1), rows = cols == 0 ? 0 : a.codes.numel() / cols;
  Tensor out = Tensor::empty(a.codes.shape(), DType::F32);
  const int8_t* codes = a.codes.data<int8_t>();
  float* dst = out.data<float>();
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const float scale = q.dynamic ? a.row_scales[size_t(r)] : q.scale;
          const int32_t zp = q.dynamic ? 0 : q.zero_point;
          for (int64_t c = 0; c < cols; ++c)
            dst[r * cols + c] = static_cast<float>(int32_t(codes[r * cols + c]) - zp) * scale;
        }
      },
      kRowsPerTask);
  return out;
}

}  // namespace

Tensor fake_quantize_activation(const Tensor& x, const ActivationQuant& q) {
  return dequantize_activation(quantize_activation(x, q), q);
}

namespace {

void check_quantized_linear(const QuantizedLinear& q, const Tensor& bias) {
  check(q.weight.defined() && q.weight.dtype() == DType::I8 && q.weight.rank() == 2, kTag,
        "{}: weight must be an int8 [out, in] tensor, got {}", q.name,
        q.weight.defined() ? q.weight.describe() : "nothing");
  const int64_t out = q.weight.dim(0);
  check(q.weight_scale.defined() && q.weight_scale.dtype() == DType::F32 && q.weight_scale.shape() == Shape{out},
        kTag, "{}: weight_scale must be f32 [{}], got {}", q.name, out,
        q.weight_scale.defined() ? q.weight_scale.describe() : "nothing");
  check(q.weight_spec.dtype == DType::I8 && q.weight_spec.scheme == QuantScheme::Symmetric &&
            (q.weight_spec.granularity == Granularity::PerTensor ||
             (q.weight_spec.granularity == Granularity::PerChannel && q.weight_spec.axis == 0)),
        kTag, "{}: weights must be int8 symmetric per tensor or per channel(0), got {}", q.name,
        to_string(q.weight_spec));
  check(!bias.defined() || (bias.dtype() == DType::F32 && bias.shape() == Shape{out}), kTag,
        "{}: bias must be f32 [{}], got {}", q.name, out, bias.defined() ? bias.describe() : "");
  check_activation_quant(q.input);
}

// W^ = q_w * s_w (f32 [out, in]), the dequantized weight the simulated path and the loader use.
Tensor dequantize_weight(const QuantizedLinear& q) {
  const Tensor codes = q.weight.contiguous(), scales = q.weight_scale.contiguous();
  const int64_t out = codes.dim(0), in = codes.dim(1);
  Tensor w = Tensor::empty({out, in}, DType::F32);
  const int8_t* c = codes.data<int8_t>();
  const float* s = scales.data<float>();
  float* dst = w.data<float>();
  for (int64_t n = 0; n < out; ++n)
    for (int64_t k = 0; k < in; ++k) dst[n * in + k] = static_cast<float>(c[n * in + k]) * s[n];
  return w;
}

class SimulatedInt8Linear final : public nn::LinearKernel {
 public:
  SimulatedInt8Linear(const QuantizedLinear& q, Tensor bias)
      : weight_(dequantize_weight(q)), bias_(std::move(bias)), input_(q.input) {}

  Tensor forward(const Tensor& x) const override {
    check(x.defined() && x.rank() >= 1 && x.dim(-1) == weight_.dim(1), "linear",
          "input {} does not end in {} features", x.defined() ? x.describe() : "undefined", weight_.dim(1));
    return kernels::linear(fake_quantize_activation(x, input_), weight_, bias_);
  }
  std::string describe() const override { return input_.dynamic ? "int8-dynamic-simulated" : "int8-simulated"; }

 private:
  Tensor weight_, bias_;
  ActivationQuant input_;
};

// The activations the int8 epilogue applies itself.
std::optional<Int8Activation> epilogue_activation(kernels::Activation act) {
  switch (act) {
    case kernels::Activation::Gelu: return Int8Activation::GeluErf;
    case kernels::Activation::GeluTanh: return Int8Activation::GeluTanh;
    case kernels::Activation::Relu: return Int8Activation::Relu;
    default: return std::nullopt;
  }
}

// An activation quantized once for every kernel of the same input format.
struct Int8PreparedInput final : nn::PreparedInput {
  std::string format;
  QuantizedActivation activation;
};

class NativeInt8Linear final : public nn::LinearKernel {
 public:
  NativeInt8Linear(const QuantizedLinear& q, Tensor bias) : bias_(std::move(bias)), input_(q.input) {
    const Tensor codes = q.weight.contiguous(), scales = q.weight_scale.contiguous();
    out_ = codes.dim(0);
    in_ = codes.dim(1);
    packed_ = pack_int8_weights(codes.data<int8_t>(), out_, in_, scales.data<float>());
    if (bias_.defined()) bias_ = bias_.contiguous();
    // Equal formats quantize every input to identical codes.
    format_ = input_.dynamic ? "int8 per token"
                             : fmt::format("int8 per tensor scale {:a} zero point {} {}", input_.scale,
                                           input_.zero_point, to_string(input_.spec));
  }

  Tensor forward(const Tensor& x) const override { return forward_activated_int8(x, Int8Activation::None); }
  Tensor forward_activated(const Tensor& x, kernels::Activation act) const override {
    const auto fused = epilogue_activation(act);
    return fused ? forward_activated_int8(x, *fused) : LinearKernel::forward_activated(x, act);
  }
  std::string describe() const override { return input_.dynamic ? "int8-dynamic" : "int8"; }

  std::string input_format() const override { return format_; }
  std::shared_ptr<const nn::PreparedInput> prepare_input(const Tensor& x) const override {
    check_input(x);
    auto p = std::make_shared<Int8PreparedInput>();
    p->shape = x.shape();
    p->format = format_;
    p->activation = quantize_activation(x, input_);
    return p;
  }
  Tensor forward_prepared(const nn::PreparedInput& input) const override {
    const auto* p = dynamic_cast<const Int8PreparedInput*>(&input);
    check(p && p->format == format_ && !p->shape.empty() && p->shape.back() == in_, "linear",
          "the prepared input is not in this kernel's format ({}, {} features)", format_, in_);
    return gemm(p->activation, p->shape, Int8Activation::None);
  }
  // fc1 -> act -> fc2 with fc2 static: the epilogue applies act and
  // quantizes with fc2's input parameters, the codes fc2's own quantizer
  // would give for act(forward(x)) computed in f32.
  std::shared_ptr<const nn::PreparedInput> forward_activated_for(const Tensor& x, kernels::Activation act,
                                                                 const nn::LinearKernel& next) const override {
    const auto* n = dynamic_cast<const NativeInt8Linear*>(&next);
    const auto fused = epilogue_activation(act);
    if (!n || n->input_.dynamic || n->in_ != out_ || !fused) return nullptr;
    check_input(x);
    const QuantizedActivation a = quantize_activation(x, input_);
    auto p = std::make_shared<Int8PreparedInput>();
    p->shape = with_last(x.shape(), out_);
    p->format = n->format_;
    p->activation.codes = Tensor::empty(p->shape, DType::I8);
    Int8OutputQuant oq;
    oq.scale = n->input_.scale;
    oq.zero_point = n->input_.zero_point;
    oq.qmin = n->input_.spec.scheme == QuantScheme::Symmetric ? -127 : -128;  // as quantize_activation
    gemm_int8_requantize(a.codes.data<int8_t>(), rows_of(a), in_, a_zero_point(), packed_, epilogue(a, *fused), oq,
                         p->activation.codes.data<int8_t>(), out_);
    return p;
  }

 private:
  void check_input(const Tensor& x) const {
    check(x.defined() && x.rank() >= 1 && x.dim(-1) == in_, "linear", "input {} does not end in {} features",
          x.defined() ? x.describe() : "undefined", in_);
  }
  int64_t rows_of(const QuantizedActivation& a) const { return in_ == 0 ? 0 : a.codes.numel() / in_; }
  int32_t a_zero_point() const { return input_.dynamic ? 0 : input_.zero_point; }
  Int8Epilogue epilogue(const QuantizedActivation& a, Int8Activation act) const {
    Int8Epilogue ep;
    ep.a_scale = input_.scale;
    if (input_.dynamic) ep.a_row_scales = a.row_scales.data();
    ep.bias = bias_.defined() ? bias_.data<float>() : nullptr;
    ep.activation = act;
    return ep;
  }
  Tensor forward_activated_int8(const Tensor& x, Int8Activation act) const {
    check_input(x);
    return gemm(quantize_activation(x, input_), x.shape(), act);
  }
  Tensor gemm(const QuantizedActivation& a, const Shape& input_shape, Int8Activation act) const {
    Tensor y = Tensor::empty(with_last(input_shape, out_), DType::F32);
    gemm_int8(a.codes.data<int8_t>(), rows_of(a), in_, a_zero_point(), packed_, epilogue(a, act), y.data<float>(),
              out_);
    return y;
  }

  PackedInt8Weights packed_;
  Tensor bias_;
  ActivationQuant input_;
  int64_t out_ = 0, in_ = 0;
  std::string format_;
};

}  // namespace

std::shared_ptr<const nn::LinearKernel> make_quantized_linear_kernel(const QuantizedLinear& q, const Tensor& bias,
                                                                      QuantExecution exec) {
  check_quantized_linear(q, bias);
  if (exec == QuantExecution::Native) return std::make_shared<NativeInt8Linear>(q, bias);
  return std::make_shared<SimulatedInt8Linear>(q, bias);
}

Tensor dequantized_weight(const QuantizedLinear& q) {
  check_quantized_linear(q, {});
  return dequantize_weight(q);
}

}  // namespace octet
