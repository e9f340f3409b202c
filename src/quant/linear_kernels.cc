// Quantized Linear kernels (simulated and native int8) and the activation
// quantizer both share, so that they see identical codes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/error_tags.h"
#include "core/page_advice.h"
#include "octet/error.h"
#include "octet/gemm_int8.h"
#include "octet/kernels.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"
#include "octet/thread_pool.h"
#include "quant/fp8_kernel.h"
#include "quant/weight_only_kernel.h"

namespace octet {
namespace {

// Rows per parallel_for task when quantizing activations (a row is one token).
constexpr int64_t kRowsPerTask = 16;

void check_activation_quant(const ActivationQuant& q) {
  if (q.dynamic) return;
  const QuantSpec& s = q.spec;
  const bool int8 = s.dtype == DType::I8, fp8 = s.dtype == DType::F8_E4M3;
  check((int8 || (fp8 && s.scheme == QuantScheme::Symmetric)) && s.granularity == Granularity::PerTensor, kQuantizedTag,
        "static activations must be int8 or fp8_e4m3:sym per tensor, got {}", to_string(s));
  check(std::isfinite(q.scale) && q.scale > 0, kQuantizedTag, "activation scale {} must be positive and finite",
        q.scale);
  check(q.zero_point >= -128 && q.zero_point <= 127, kQuantizedTag, "activation zero point {} is outside [-128, 127]",
        q.zero_point);
  check(s.scheme == QuantScheme::Affine || q.zero_point == 0, kQuantizedTag,
        "a symmetric activation has zero point {}, not 0", q.zero_point);
}

bool is_fp8(const ActivationQuant& q) { return !q.dynamic && q.spec.dtype == DType::F8_E4M3; }

Tensor contiguous_f32(const Tensor& x, std::string_view what) {
  check(x.defined() && x.dtype() == DType::F32 && x.rank() >= 1, kQuantizedTag, "{}: expected an f32 tensor, got {}",
        what, x);
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
  fail(kQuantizedTag, "unknown execution '{}' (simulated, native)", name);
}

QuantizedActivation quantize_activation(const Tensor& x_in, const ActivationQuant& q) {
  check_activation_quant(q);
  check(!is_fp8(q), kQuantizedTag, "quantize_activation gives int8 codes; {} activations are fake-quantized only",
        to_string(q.spec));
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

namespace {

// e4m3(x / scale) * scale, with octet's conversions (nearest even, saturating
// at +-448): x * (1 / scale) as quant.h computes it, then the bulk encoder and
// decoder, which equal the scalar ones bit for bit.
Tensor fake_quantize_fp8(const Tensor& x_in, const ActivationQuant& q) {
  const Tensor x = contiguous_f32(x_in, "fake_quantize_activation");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  const float inv = 1.0f / q.scale, scale = q.scale;
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  constexpr int64_t kChunk = 4096;
  parallel_for(
      (x.numel() + kChunk - 1) / kChunk,
      [&](int64_t begin, int64_t end) {
        std::vector<float> scaled(kChunk);
        std::vector<uint8_t> codes(kChunk);
        for (int64_t c = begin; c < end; ++c) {
          const int64_t first = c * kChunk, n = std::min(kChunk, x.numel() - first);
          for (int64_t i = 0; i < n; ++i) scaled[size_t(i)] = src[first + i] * inv;
          convert_f32_to_fp8_e4m3({scaled.data(), size_t(n)}, {codes.data(), size_t(n)});
          convert_fp8_e4m3_to_f32({codes.data(), size_t(n)}, {dst + first, size_t(n)});
          for (int64_t i = 0; i < n; ++i) dst[first + i] *= scale;
        }
      },
      1);
  return out;
}

}  // namespace

Tensor fake_quantize_activation(const Tensor& x, const ActivationQuant& q) {
  check_activation_quant(q);
  if (is_fp8(q)) return fake_quantize_fp8(x, q);
  return dequantize_activation(quantize_activation(x, q), q);
}

namespace {


// Whether the weight spec is one of the formats quantized_model.h lists.
bool supported_weight_spec(const QuantSpec& s) {
  const bool per_row = s.granularity == Granularity::PerTensor ||
                       (s.granularity == Granularity::PerChannel && s.axis == 0);
  const bool group = s.granularity == Granularity::PerGroup && (s.axis == -1 || s.axis == 1) && s.group_size > 0;
  if (s.rounding != Rounding::NearestEven) return false;
  switch (s.dtype) {
    case DType::I8: return s.scheme == QuantScheme::Symmetric && (per_row || group);
    case DType::I4: return s.scheme == QuantScheme::Symmetric && group;
    case DType::U4: return s.scheme == QuantScheme::Affine && group;
    case DType::F8_E4M3: return per_row;
    default: return false;
  }
}

std::string describe_or_nothing(const Tensor& t) { return t.defined() ? t.describe() : "nothing"; }

void check_quantized_linear(const QuantizedLinear& q, const Tensor& bias) {
  const QuantSpec& spec = q.weight_spec;
  check(supported_weight_spec(spec), kQuantizedTag,
        "{}: weights must be int8:sym:per_channel(0) / per_tensor / group(G), int4:sym:group(G), "
        "uint4:affine:group(G) or fp8_e4m3:sym:per_tensor / per_channel(0), got {}",
        q.name, to_string(spec));
  check(q.weight.defined() && q.weight.dtype() == spec.dtype && q.weight.rank() == 2, kQuantizedTag,
        "{}: weight must be a {} [out, in] tensor, got {}", q.name, dtype_name(spec.dtype),
        describe_or_nothing(q.weight));
  const int64_t out = q.weight.dim(0), in = q.weight.dim(1);
  const bool group = spec.granularity == Granularity::PerGroup;
  check(!group || in % spec.group_size == 0, kQuantizedTag, "{}: group size {} does not divide the {} input features",
        q.name, spec.group_size, in);
  const Shape scale_shape = group ? Shape{out, in / spec.group_size} : Shape{out};
  check(q.weight_scale.defined() && q.weight_scale.dtype() == DType::F32 && q.weight_scale.shape() == scale_shape,
        kQuantizedTag, "{}: weight_scale must be f32 {}, got {}", q.name, shape_str(scale_shape),
        describe_or_nothing(q.weight_scale));
  if (spec.scheme == QuantScheme::Affine)
    check(q.weight_zero_point.defined() && q.weight_zero_point.dtype() == DType::I32 &&
              q.weight_zero_point.shape() == scale_shape,
          kQuantizedTag, "{}: weight_zero_point must be i32 {}, got {}", q.name, shape_str(scale_shape),
          describe_or_nothing(q.weight_zero_point));
  if (q.group_index.defined()) {
    check(group && q.group_index.dtype() == DType::I32 && q.group_index.shape() == Shape{in}, kQuantizedTag,
          "{}: group_index must be i32 [{}] on a group spec, got {} with {}", q.name, in, q.group_index,
          to_string(spec));
    const int64_t groups = in / spec.group_size;
    for (const int32_t g : q.group_index.contiguous().span<int32_t>())
      check(g >= 0 && g < groups, kQuantizedTag, "{}: group_index holds {}, outside [0, {})", q.name, g, groups);
  }
  check(!bias.defined() || (bias.dtype() == DType::F32 && bias.shape() == Shape{out}), kQuantizedTag,
        "{}: bias must be f32 [{}], got {}", q.name, out, bias.defined() ? bias.describe() : "");
  if (q.input) check_activation_quant(*q.input);
}

// The scale / zero point of `q` shaped as quant.h's dequantize() expects them.
QuantParams weight_params(const QuantizedLinear& q) {
  const Shape shape = quant_param_shape(q.weight_spec, q.weight.shape());
  QuantParams p;
  if (q.weight_spec.granularity == Granularity::PerTensor) {
    p.scale = Tensor::full({}, q.weight_scale.contiguous().data<float>()[0]);
  } else {
    p.scale = q.weight_scale.contiguous().reshape(shape);
  }
  p.zero_point = q.weight_zero_point.defined() ? q.weight_zero_point.contiguous().reshape(shape)
                                               : Tensor::zeros(shape, DType::I32);
  return p;
}

// W^ = (q_w - zp) * s_w (f32 [out, in]) with quant.h's dequantize(): the weight
// the simulated path multiplies and the loader gives the model's Linear.
// With a group_index, column k's scale and zero point are those of group
// group_index[k]: they are gathered into per-column tensors and dequantized
// as groups of one, the same arithmetic float(q - zp) * s.
Tensor dequantize_weight(const QuantizedLinear& q) {
  if (!q.group_index.defined()) return dequantize(q.weight.contiguous(), q.weight_spec, weight_params(q));
  const int64_t out = q.weight.dim(0), in = q.weight.dim(1), groups = in / q.weight_spec.group_size;
  const Tensor scales = q.weight_scale.contiguous(), index = q.group_index.contiguous();
  const Tensor zeros = q.weight_zero_point.defined() ? q.weight_zero_point.contiguous() : Tensor();
  QuantParams p{Tensor::empty({out, in}, DType::F32), Tensor::zeros({out, in}, DType::I32)};
  const float* s = scales.data<float>();
  const int32_t* g = index.data<int32_t>();
  float* ps = p.scale.data<float>();
  int32_t* pz = p.zero_point.data<int32_t>();
  for (int64_t n = 0; n < out; ++n)
    for (int64_t k = 0; k < in; ++k) {
      ps[n * in + k] = s[n * groups + g[k]];
      if (zeros.defined()) pz[n * in + k] = zeros.data<int32_t>()[n * groups + g[k]];
    }
  QuantSpec per_column = q.weight_spec;
  per_column.group_size = 1;
  return dequantize(q.weight.contiguous(), per_column, p);
}

// The simulated kernel of every format: dequantized f32 weights, the input
// fake-quantized (unless weight-only), an f32 GEMM.
class SimulatedLinear final : public nn::LinearKernel {
 public:
  SimulatedLinear(const QuantizedLinear& q, Tensor bias)
      : weight_(dequantize_weight(q)), bias_(std::move(bias)), input_(q.input), label_(simulated_label(q)) {}

  Tensor forward(const Tensor& x) const override {
    check(x.defined() && x.rank() >= 1 && x.dim(-1) == weight_.dim(1), "linear",
          "input {} does not end in {} features", x, weight_.dim(1));
    return kernels::linear(input_ ? fake_quantize_activation(x, *input_) : x, weight_, bias_);
  }
  std::string describe() const override { return label_; }

 private:
  // "int8-simulated" / "int8-dynamic-simulated" for the int8 formats the
  // native kernel also runs; else the formats, e.g. "int4:sym:group(128) weights, f32 activations (simulated)".
  static std::string simulated_label(const QuantizedLinear& q) {
    const bool int8_rows = q.weight_spec.dtype == DType::I8 && q.weight_spec.granularity != Granularity::PerGroup;
    if (int8_rows && q.input && q.input->spec.dtype == DType::I8)
      return q.input->dynamic ? "int8-dynamic-simulated" : "int8-simulated";
    std::string act = "f32";
    if (q.input) act = q.input->dynamic ? "int8 per-token" : to_string(q.input->spec);
    return fmt::format("{} weights, {} activations (simulated)", to_string(q.weight_spec), act);
  }

  Tensor weight_, bias_;
  std::optional<ActivationQuant> input_;
  std::string label_;
};

// Whether the native int8 kernel runs this Linear: int8 weights per channel or
// per tensor with int8 activations (static or per token).
// Codes of -128 (compressed-tensors' symmetric int8 grid is [-128, 127];
// octet's and the int8 GEMM's is [-127, 127]) keep such a Linear simulated.
bool has_native_int8_kernel(const QuantizedLinear& q) {
  if (!(q.weight_spec.dtype == DType::I8 && q.weight_spec.granularity != Granularity::PerGroup && q.input &&
        (q.input->dynamic || q.input->spec.dtype == DType::I8)))
    return false;
  const auto codes = q.weight.contiguous().span<int8_t>();
  return std::find(codes.begin(), codes.end(), int8_t(-128)) == codes.end();
}

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
  NativeInt8Linear(const QuantizedLinear& q, Tensor bias) : bias_(std::move(bias)), input_(*q.input) {
    const Tensor codes = q.weight.contiguous(), scales = q.weight_scale.contiguous();
    out_ = codes.dim(0);
    in_ = codes.dim(1);
    packed_ = pack_int8_weights(codes.data<int8_t>(), out_, in_, scales.data<float>());
    for (const Tensor* t : {&q.weight, &q.weight_scale}) page_out_if_borrowed(*t);  // the packed copy is the one read
    if (bias_.defined()) bias_ = bias_.contiguous();
    // Equal formats quantize every input to identical codes.
    format_ = input_.dynamic ? "int8 per token"
                             : fmt::format("int8 per tensor scale {:a} zero point {} {}", input_.scale,
                                           input_.zero_point, to_string(input_.spec));
  }

  Tensor forward(const Tensor& x) const override { return forward_activated_int8(x, Int8Activation::None); }
  std::vector<std::span<const std::byte>> resident_regions() const override {
    return {{reinterpret_cast<const std::byte*>(packed_.data()), size_t(packed_.n_padded() * packed_.k_padded())},
            std::as_bytes(packed_.scales()),
            std::as_bytes(packed_.row_sums())};
  }
  Tensor forward_activated(const Tensor& x, kernels::Activation act) const override {
    const auto fused = epilogue_activation(act);
    return fused ? forward_activated_int8(x, *fused) : LinearKernel::forward_activated(x, act);
  }
  std::string describe() const override { return input_.dynamic ? "int8-dynamic" : "int8"; }
  // Rows are quantized on their own (a static per-tensor scale is a constant;
  // dynamic scales are per token), the int32 dots are exact whatever the
  // tiling, and the epilogue is per element: any row count.
  int64_t row_invariant_rows() const override { return std::numeric_limits<int64_t>::max(); }

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
    check(x.defined() && x.rank() >= 1 && x.dim(-1) == in_, "linear", "input {} does not end in {} features", x, in_);
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
  if (exec == QuantExecution::Native && has_native_int8_kernel(q)) return std::make_shared<NativeInt8Linear>(q, bias);
  if (exec == QuantExecution::Native && has_native_weight_only_kernel(q)) return make_native_weight_only_kernel(q, bias);
  if (exec == QuantExecution::Native && has_native_fp8_kernel(q)) return make_native_fp8_kernel(q, bias);
  return std::make_shared<SimulatedLinear>(q, bias);
}

bool has_resident_native_kernel(const QuantizedLinear& q) {
  return has_native_int8_kernel(q) || has_native_weight_only_kernel(q) || has_native_fp8_kernel(q);
}

void validate_quantized_linear(const QuantizedLinear& q) { check_quantized_linear(q, {}); }

Tensor dequantized_weight(const QuantizedLinear& q) {
  check_quantized_linear(q, {});
  return dequantize_weight(q);
}

}  // namespace octet
