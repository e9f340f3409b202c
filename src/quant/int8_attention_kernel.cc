#include "quant/int8_attention_kernel.h"

#include <optional>

#include "kernels/attention_int8.h"

namespace octet {
namespace {

class Int8AttentionKernel final : public nn::AttentionKernel {
 public:
  explicit Int8AttentionKernel(const kernels::Int8AttentionQuant& quant) : quant_(quant) {}
  void forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
               const kernels::AttentionParams& params) const override {
    kernels::attention_int8(q, k, v, out, params, quant_);
  }
  std::string describe() const override { return "int8"; }

 private:
  kernels::Int8AttentionQuant quant_;
};

// The grid quantize_activation uses for a static int8 site: the spec's own (symmetric stops at -127).
std::optional<kernels::Int8Grid> static_int8_grid(const ActivationQuant& a) {
  if (a.dynamic || a.spec.dtype != DType::I8 || a.spec.granularity != Granularity::PerTensor) return std::nullopt;
  return kernels::Int8Grid{a.scale, a.zero_point, quant_limits(a.spec).qmin};
}

}  // namespace

std::shared_ptr<const nn::AttentionKernel> make_int8_attention_kernel(const ActivationQuant& query,
                                                                      const ActivationQuant& key,
                                                                      const ActivationQuant& value,
                                                                      const ActivationQuant& probabilities) {
  const auto q = static_int8_grid(query), k = static_int8_grid(key), v = static_int8_grid(value),
             p = static_int8_grid(probabilities);
  if (!q || !k || !v || !p) return nullptr;
  const kernels::Int8AttentionQuant quant{*q, *k, *v, *p};
  if (!kernels::int8_attention_unsupported(quant).empty()) return nullptr;
  return std::make_shared<Int8AttentionKernel>(quant);
}

}  // namespace octet
