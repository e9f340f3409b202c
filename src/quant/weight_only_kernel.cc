// The native weight-only Linear kernel: packed int4 / int8 codes and scales
// are the only copy of the weight (kernels/wo_gemv.h has the layout).
// Activations are quantized to int8 per block of 32 and every product is an
// integer dot per block with f32 scales (W4A8 / W8A8): the GEMV for decode,
// the GEMM (weights unpacked per call, reused by every row) for prefill; both
// give the same bits for a row whatever the row count.
// OCTET_WO_GEMV_MAX_ROWS=N (or set_weight_only_gemv_max_rows) caps the rows
// that take this integer path; more rows dequantize panels of kPanel outputs
// to f32 (float(q - zp) * s, exactly the simulated weights) and run the fp32
// GEMM per panel. Default: no cap (the integer GEMM measured faster,
// docs/llm_native_cpu.md); 0 always dequantizes, for comparing the two.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/page_advice.h"
#include "kernels/wo_gemv.h"
#include "octet/error.h"
#include "octet/kernels.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"
#include "quant/weight_only_kernel.h"

namespace octet {
namespace {

constexpr int64_t kPanel = 256;  // outputs dequantized per prefill panel

int64_t rows_from_environment() {
  const char* env = std::getenv("OCTET_WO_GEMV_MAX_ROWS");
  if (!env || !*env) return std::numeric_limits<int64_t>::max();
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  check(end && *end == '\0' && v >= 0, "quantized", "OCTET_WO_GEMV_MAX_ROWS must be a count >= 0, got '{}'", env);
  return static_cast<int64_t>(v);
}

std::atomic<int64_t>& max_rows_setting() {
  static std::atomic<int64_t> rows{rows_from_environment()};
  return rows;
}

int64_t max_gemv_rows() { return max_rows_setting().load(std::memory_order_relaxed); }

// The codes of q as one int8 per value, [out, in].
std::vector<int8_t> unpacked_codes(const QuantizedLinear& q) {
  const Tensor w = q.weight.contiguous();
  const int64_t n = w.numel();
  std::vector<int8_t> codes(static_cast<size_t>(n));
  switch (q.weight_spec.dtype) {
    case DType::I8: std::memcpy(codes.data(), w.raw_data(), size_t(n)); break;
    case DType::I4:
      unpack_int4({static_cast<const uint8_t*>(w.raw_data()), w.nbytes()}, {codes.data(), codes.size()});
      break;
    case DType::U4: {
      std::vector<uint8_t> u(codes.size());
      unpack_uint4({static_cast<const uint8_t*>(w.raw_data()), w.nbytes()}, {u.data(), u.size()});
      for (size_t i = 0; i < u.size(); ++i) codes[i] = static_cast<int8_t>(u[i]);
      break;
    }
    default: fail("quantized", "{}: no weight-only kernel for {}", q.name, to_string(q.weight_spec));
  }
  return codes;
}

// The packed weights of q (has_native_weight_only_kernel(q) checked).
kernels::PackedWoWeights pack_quantized_linear(const QuantizedLinear& q) {
  check(has_native_weight_only_kernel(q), "quantized", "{}: {} has no native weight-only kernel", q.name,
        to_string(q.weight_spec));
  const int64_t n = q.weight.dim(0), k = q.weight.dim(1);
  const bool group = q.weight_spec.granularity == Granularity::PerGroup;
  const int64_t g = group ? q.weight_spec.group_size : k;
  const Tensor scales = q.weight_scale.contiguous();
  const Tensor zps = q.weight_zero_point.defined() ? q.weight_zero_point.contiguous() : Tensor();
  const std::vector<int8_t> codes = unpacked_codes(q);
  // Per channel / per tensor: the [out] scales are [out, 1 group] of k inputs.
  kernels::PackedWoWeights packed = kernels::pack_wo_weights(
      codes.data(), n, k, g, q.weight_spec.dtype == DType::I8 ? 8 : 4, q.weight_spec.dtype == DType::U4,
      scales.data<float>(), zps.defined() ? zps.data<int32_t>() : nullptr);
  // The packed copy is the one the kernel reads: the checkpoint's pages of these codes leave RSS.
  for (const Tensor* t : {&q.weight, &q.weight_scale, &q.weight_zero_point}) page_out_if_borrowed(*t);
  return packed;
}

class NativeWeightOnlyLinear final : public nn::LinearKernel {
 public:
  NativeWeightOnlyLinear(kernels::PackedWoWeights packed, Tensor bias, std::string label)
      : packed_(std::move(packed)), bias_(std::move(bias)), label_(std::move(label)) {
    check(!bias_.defined() || (bias_.dtype() == DType::F32 && bias_.numel() == packed_.n), "quantized",
          "{}: bias {} does not hold {} f32 values", label_, bias_, packed_.n);
    if (bias_.defined()) bias_ = bias_.contiguous();
  }

  Tensor forward(const Tensor& x_in) const override {
    const Tensor x = checked_input(x_in);
    const int64_t rows = x.numel() / packed_.k;
    Tensor y = output_for(x);
    if (rows <= max_gemv_rows()) {
      kernels::wo_gemv(packed_, x.data<float>(), rows, bias_pointer(), y.data<float>(), kernels::wo_gemv_default_isa());
      return y;
    }
    prefill(x.reshape({rows, packed_.k}), y.data<float>());
    return y;
  }
  // On the integer path, one wo_gemv_shared job for all the weight-only kernels (x quantized once).
  std::vector<Tensor> forward_together(std::span<const nn::LinearKernel* const> others, const Tensor& x_in) const override {
    std::vector<const NativeWeightOnlyLinear*> group{this};
    for (const nn::LinearKernel* other : others) {
      const auto* wo = dynamic_cast<const NativeWeightOnlyLinear*>(other);
      if (!wo || wo->packed_.k != packed_.k) return {};
      group.push_back(wo);
    }
    const Tensor x = checked_input(x_in);
    const int64_t rows = x.numel() / packed_.k;
    if (rows > max_gemv_rows()) return {};
    std::vector<Tensor> out;
    std::vector<kernels::WoGemvOutput> products;
    for (const NativeWeightOnlyLinear* member : group) {
      out.push_back(member->output_for(x));
      products.push_back({&member->packed_, member->bias_pointer(), out.back().data<float>()});
    }
    kernels::wo_gemv_shared(products, x.data<float>(), rows, kernels::wo_gemv_default_isa());
    return out;
  }
  std::string describe() const override { return label_; }
  std::vector<std::span<const std::byte>> resident_regions() const override {
    std::vector<std::span<const std::byte>> regions;
    for (const Tensor* t : packed_.tensors())
      regions.push_back({static_cast<const std::byte*>(t->raw_data()), t->nbytes()});
    return regions;
  }
  // The integer path quantizes each row on its own and sums each output in a
  // fixed order (GEMV and GEMM alike); past the row cap the dequantize + sgemm
  // path's rows depend on M.
  int64_t row_invariant_rows() const override { return std::max<int64_t>(1, max_gemv_rows()); }

 private:
  void prefill(const Tensor& x, float* y) const {
    const int64_t rows = x.dim(0), n = packed_.n, k = packed_.k;
    Tensor panel = Tensor::empty({std::min(kPanel, n), k}, DType::F32);  // the per-call scratch
    for (int64_t n0 = 0; n0 < n; n0 += kPanel) {
      const int64_t n1 = std::min(n, n0 + kPanel), width = n1 - n0;
      Tensor w = width == panel.dim(0) ? panel : panel.slice(0, 0, width);
      float* wp = w.data<float>();
      parallel_for(
          width, [&](int64_t b, int64_t e) { kernels::dequantize_wo_panel(packed_, n0 + b, n0 + e, wp + b * k); }, 16);
      const Tensor part = kernels::linear(x, w, bias_.defined() ? bias_.slice(0, n0, n1) : Tensor());
      const float* src = part.data<float>();
      for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * n + n0, src + r * width, size_t(width) * sizeof(float));
    }
  }

  Tensor checked_input(const Tensor& x) const {
    check(x.defined() && x.dtype() == DType::F32 && x.rank() >= 1 && x.dim(-1) == packed_.k, "linear",
          "input {} does not end in {} features", x, packed_.k);
    return x.contiguous();
  }
  Tensor output_for(const Tensor& x) const {
    Shape shape = x.shape();
    shape.back() = packed_.n;
    return Tensor::empty(shape, DType::F32);
  }
  const float* bias_pointer() const { return bias_.defined() ? bias_.data<float>() : nullptr; }

  kernels::PackedWoWeights packed_;
  Tensor bias_;
  std::string label_;
};

}  // namespace

bool has_native_weight_only_kernel(const QuantizedLinear& q) {
  const QuantSpec& s = q.weight_spec;
  if (q.input || q.group_index.defined() || !q.weight.defined() || q.weight.rank() != 2) return false;
  if (s.rounding != Rounding::NearestEven) return false;
  const int64_t k = q.weight.dim(1);
  if (k % kernels::kWoBlock != 0 || q.weight.dim(0) == 0) return false;
  const bool group = s.granularity == Granularity::PerGroup && (s.axis == -1 || s.axis == 1) && s.group_size > 0 &&
                     s.group_size % kernels::kWoBlock == 0 && k % s.group_size == 0;
  const bool per_row = s.granularity == Granularity::PerTensor || (s.granularity == Granularity::PerChannel && s.axis == 0);
  switch (s.dtype) {
    case DType::I8: return s.scheme == QuantScheme::Symmetric && (per_row || group);
    case DType::I4: return s.scheme == QuantScheme::Symmetric && group;
    case DType::U4: return s.scheme == QuantScheme::Affine && group;
    default: return false;
  }
}

int64_t set_weight_only_gemv_max_rows(int64_t rows) {
  check(rows >= 0, "quantized", "the weight-only GEMV row limit must be >= 0, got {}", rows);
  return max_rows_setting().exchange(rows);
}

std::shared_ptr<const nn::LinearKernel> make_native_weight_only_kernel(const QuantizedLinear& q, const Tensor& bias) {
  return std::make_shared<NativeWeightOnlyLinear>(
      pack_quantized_linear(q), bias, fmt::format("{} weights packed, int8 per-32 activations (native)", to_string(q.weight_spec)));
}

std::shared_ptr<const nn::LinearKernel> make_packed_weight_only_kernel(kernels::PackedWoWeights packed,
                                                                       const Tensor& bias, std::string label) {
  return std::make_shared<NativeWeightOnlyLinear>(std::move(packed), bias, std::move(label));
}

}  // namespace octet
