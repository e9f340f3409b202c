// FP8 e4m3 Linears natively on the CPU. The activations are quantized
// exactly as the simulated recipe does (code = e4m3(x * (1 / scale)), octet's
// saturating encoder), and those codes' values and the weights' enter the
// FP8 GEMM as bf16 (exact), whose products are exact in f32. So the native
// result is the simulated one, sum_k (w_k s_w)(a_k s_a), up to where f32
// rounds: the simulated path rounds both scaled factors and sums in the
// sgemm's order, the native one sums the unscaled products in a fixed order
// and scales once (y = acc * (s_w * s_a) + bias).
#include "quant/fp8_kernel.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <vector>

#include "core/error_tags.h"
#include "core/page_advice.h"
#include "kernels/fp8_gemm.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

const std::array<uint16_t, 256>& bf16_of_code() {
  static const std::array<uint16_t, 256> table = [] {
    std::array<uint16_t, 256> t{};
    for (int c = 0; c < 256; ++c) t[size_t(c)] = kernels::fp8_e4m3_to_bf16(static_cast<uint8_t>(c));
    return t;
  }();
  return table;
}

class NativeFp8Linear final : public nn::LinearKernel {
 public:
  NativeFp8Linear(const QuantizedLinear& q, Tensor bias) : bias_(std::move(bias)) {
    check(has_native_fp8_kernel(q), kQuantizedTag, "{}: {} with {} activations has no native FP8 kernel", q.name,
          to_string(q.weight_spec), q.input ? to_string(q.input->spec) : "f32");
    const int64_t n = q.weight.dim(0), k = q.weight.dim(1);
    const Tensor codes = q.weight.contiguous();
    packed_ = kernels::pack_fp8_weights(static_cast<const uint8_t*>(codes.raw_data()), n, k);
    input_scale_ = q.input->scale;
    const Tensor scales = q.weight_scale.contiguous();
    out_scale_.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) out_scale_[size_t(i)] = scales.data<float>()[i] * input_scale_;
    for (const Tensor* t : {&q.weight, &q.weight_scale}) page_out_if_borrowed(*t);
    check(!bias_.defined() || (bias_.dtype() == DType::F32 && bias_.numel() == n), kQuantizedTag,
          "{}: bias {} does not hold {} f32 values", q.name, bias_, n);
    if (bias_.defined()) bias_ = bias_.contiguous();
    label_ = fmt::format("{} weights packed, {} activations (native, bf16 dot products)", to_string(q.weight_spec),
                         to_string(q.input->spec));
  }

  Tensor forward(const Tensor& x_in) const override {
    check(x_in.defined() && x_in.dtype() == DType::F32 && x_in.rank() >= 1 && x_in.dim(-1) == packed_.k, "linear",
          "input {} does not end in {} features", x_in, packed_.k);
    const Tensor x = x_in.contiguous();
    const int64_t k = packed_.k, rows = x.numel() / k, lda = 2 * packed_.k_pairs();
    Shape out_shape = x.shape();
    out_shape.back() = packed_.n;
    Tensor y = Tensor::empty(out_shape, DType::F32);
    // The activations' e4m3 codes (as fake_quantize_activation computes them) as bf16, zero past k; the
    // buffers are kept between calls (one per Linear per decode step, a task's per pool thread), and the
    // pool reaches the calling thread's through a pointer.
    thread_local std::vector<uint16_t> buffer;
    buffer.resize(size_t(rows * lda));
    uint16_t* const a = buffer.data();
    const float* src = x.data<float>();
    const float inv = 1.0f / input_scale_;
    const auto& table = bf16_of_code();
    parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
          thread_local std::vector<float> scaled;
          thread_local std::vector<uint8_t> codes;
          scaled.resize(static_cast<size_t>(k));
          codes.resize(static_cast<size_t>(k));
          for (int64_t r = r0; r < r1; ++r) {
            for (int64_t j = 0; j < k; ++j) scaled[size_t(j)] = src[r * k + j] * inv;
            convert_f32_to_fp8_e4m3(scaled, codes);
            for (int64_t j = 0; j < k; ++j) a[r * lda + j] = table[codes[size_t(j)]];
            if (lda > k) a[r * lda + k] = 0;  // the pad of an odd k
          }
        },
        std::max<int64_t>(1, 16384 / k));
    kernels::fp8_gemm(packed_, a, lda, rows, out_scale_.data(), bias_.defined() ? bias_.data<float>() : nullptr,
                      y.data<float>(), kernels::fp8_gemm_default_isa());
    return y;
  }
  std::string describe() const override { return label_; }
  std::vector<std::span<const std::byte>> resident_regions() const override {
    return {{static_cast<const std::byte*>(packed_.codes.raw_data()), packed_.codes.nbytes()},
            std::as_bytes(std::span(out_scale_))};
  }
  // Every row is quantized on its own and summed in one fixed order, whatever the row count.
  int64_t row_invariant_rows() const override { return std::numeric_limits<int64_t>::max(); }

 private:
  kernels::PackedFp8Weights packed_;
  std::vector<float> out_scale_;
  float input_scale_ = 1.0f;
  Tensor bias_;
  std::string label_;
};

}  // namespace

bool has_native_fp8_kernel(const QuantizedLinear& q) {
  const QuantSpec& s = q.weight_spec;
  const bool per_row = s.granularity == Granularity::PerTensor || (s.granularity == Granularity::PerChannel && s.axis == 0);
  if (s.dtype != DType::F8_E4M3 || !per_row || q.group_index.defined() || !q.weight.defined() || q.weight.rank() != 2 ||
      q.weight.dim(0) == 0 || q.weight.dim(1) == 0)
    return false;
  if (!q.input || q.input->dynamic || q.input->spec.dtype != DType::F8_E4M3 ||
      q.input->spec.granularity != Granularity::PerTensor || !(q.input->scale > 0.0f))
    return false;
  const Tensor codes = q.weight.contiguous();
  const auto* c = static_cast<const uint8_t*>(codes.raw_data());
  return std::none_of(c, c + codes.numel(), [](uint8_t v) { return (v & 0x7F) == 0x7F; });
}

std::shared_ptr<const nn::LinearKernel> make_native_fp8_kernel(const QuantizedLinear& q, const Tensor& bias) {
  return std::make_shared<NativeFp8Linear>(q, bias);
}

}  // namespace octet
