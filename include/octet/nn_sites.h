// Activation sites and swappable Linear kernels: how quantization reaches into
// a model without the model builders knowing about it.
//
// An ActivationSite is a named point of a forward pass (the input of a Linear,
// the query/key/value/probabilities of attention, a residual add, a norm
// input). Calibration installs an observer there; simulated quantization
// installs a transform (fake-quantize). With nothing installed, apply() is
// free: it returns its input.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "octet/kernels.h"
#include "octet/kernels_attention.h"
#include "octet/tensor.h"

namespace octet::nn {

enum class SiteKind {
  LinearInput,
  AttentionQuery,   // q after projection (and rotary), before q k^T
  AttentionKey,     // k after projection (and rotary)
  AttentionValue,   // v after projection
  AttentionProbs,   // softmax output, before probs * v
  ResidualAdd,      // the branch output added to the residual stream
  NormInput,        // the input of a layer/RMS norm
};
std::string_view site_kind_name(SiteKind kind);

class ActivationSite {
 public:
  using Observer = std::function<void(const ActivationSite& site, const Tensor& x)>;
  using Transform = std::function<Tensor(const Tensor& x)>;

  ActivationSite();
  ActivationSite(std::string name, SiteKind kind);

  const std::string& name() const;
  SiteKind kind() const;
  // Observes x (when an observer is set), then returns transform(x) (when a
  // transform is set) or x itself.
  Tensor apply(const Tensor& x) const;
  // apply(), with the result written back into x (a contiguous f32 tensor).
  void apply_in_place(Tensor& x) const;
  bool active() const;

  void set_name(std::string name);
  void set_observer(Observer observer);
  void set_transform(Transform transform);
  const Transform& transform() const;
  void clear();

 private:
  struct State;
  // Shared so that copies of a block (blocks are values) act on the same site.
  std::shared_ptr<State> state_;
};

// An input converted to a kernel's own format (int8 codes and scales), so
// that kernels reading the same format convert it once.
struct PreparedInput {
  virtual ~PreparedInput() = default;
  Shape shape;  // of the f32 input it stands for
};

// What a quantized Linear runs instead of the fp32 GEMM (simulated QDQ weights,
// native int8, ...). forward() gets the input after the Linear's input site.
// The other hooks are optional fusions; their defaults do without.
class LinearKernel {
 public:
  virtual ~LinearKernel() = default;
  virtual Tensor forward(const Tensor& x) const = 0;
  // "f32", "int8-simulated", "int8", ... (inspect / reports).
  virtual std::string describe() const = 0;

  // act(forward(x)); kernels that can apply act in their epilogue do.
  virtual Tensor forward_activated(const Tensor& x, kernels::Activation act) const;
  // How the kernel converts its input: kernels with equal non-empty formats
  // accept each other's prepare_input(). "" (the default): no conversion.
  virtual std::string input_format() const { return {}; }
  virtual std::shared_ptr<const PreparedInput> prepare_input(const Tensor& x) const;
  virtual Tensor forward_prepared(const PreparedInput& input) const;
  // forward(x) of this kernel and of `others` (all reading the same x) as one
  // job: one output per kernel, this one's first, each equal to its
  // kernel's forward(x) bit for bit. Empty (the default) when the kernels
  // cannot run together; the caller then runs them one by one.
  virtual std::vector<Tensor> forward_together(std::span<const LinearKernel* const> others, const Tensor& x) const;
  // act(forward(x)) delivered directly in `next`'s input format (the
  // epilogue requantizes for the next Linear); nullptr when this kernel
  // cannot, and the caller runs the unfused steps.
  virtual std::shared_ptr<const PreparedInput> forward_activated_for(const Tensor& x, kernels::Activation act,
                                                                     const LinearKernel& next) const;
  // Inputs of up to this many rows are computed row by row: output row r of
  // every entry point above depends only on input row r, bit for bit, for
  // any row count up to the limit (what CausalLM::decode_ragged needs to
  // batch independent sequences). 1, the default: no such promise.
  virtual int64_t row_invariant_rows() const { return 1; }
  // The weights the kernel itself holds and computes from (packed codes,
  // scales, zero points; a bf16 copy) as (address, bytes) regions: what a
  // decode step reads of this Linear (`octet bench-llm` reads them to measure
  // the bandwidth decode sees). Empty (the default) for kernels that compute
  // from the Linear's f32 weight.
  virtual std::vector<std::span<const std::byte>> resident_regions() const { return {}; }
  // The regions' total: what a kernel-resident Linear costs in memory (a bf16
  // kernel's copy comes on top of the Linear's f32 weight).
  int64_t resident_bytes() const;
};

// What a quantized attention block runs instead of its query, key, value and
// probabilities sites followed by the f32 attention (native int8 Q K^T and
// P V). It gets q, k, v as they reach the sites and writes `out` as
// kernels::attention does (allocating it when undefined). The block runs it
// on forward passes without a KV cache or KV-cache rounding; cached passes
// keep the sites.
class AttentionKernel {
 public:
  virtual ~AttentionKernel() = default;
  virtual void forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                       const kernels::AttentionParams& params) const = 0;
  // "int8", ... (inspect / reports).
  virtual std::string describe() const = 0;
};

}  // namespace octet::nn
