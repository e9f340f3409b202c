// nn/ building blocks: device-neutral layers that own their weights as
// Tensors and run f32 forward passes on the kernels of octet/kernels.h.
// Models (models/) compose them; weights use Hugging Face layouts.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "octet/kernels.h"
#include "octet/kernels_attention.h"
#include "octet/nn_sites.h"
#include "octet/rotary.h"
#include "octet/tensor.h"

namespace octet::nn {

// y = x W^T + b with W [out, in] (HF Linear). Quantized variants will keep
// this interface: forward(x) plus access to the weight.
class Linear {
 public:
  Linear() = default;
  // weight [out, in] f32; bias [out] f32 or undefined.
  explicit Linear(Tensor weight, Tensor bias = {});

  // Runs the input site, then the installed kernel or the fp32 GEMM.
  Tensor forward(const Tensor& x) const;
  void forward(const Tensor& x, Tensor& y) const;  // y allocated when undefined
  // act(forward(x)), the activation fused into the kernel when it can.
  Tensor forward_activated(const Tensor& x, kernels::Activation act) const;
  // next.forward(act(forward(x))), with the kernels' fusions: the first one's
  // epilogue may quantize straight into the second's input format.
  static Tensor forward_pair(const Linear& first, kernels::Activation act, const Linear& next, const Tensor& x);
  // forward(x) of several Linears on one input (q, k, v; gate and up): kernels
  // with the same input format convert x once.
  static std::vector<Tensor> forward_shared(const std::vector<const Linear*>& linears, const Tensor& x);

  // A Linear whose weight lives only in the quantized kernel installed on it
  // before it runs (a natively loaded weight-only Linear: packed codes and
  // scales, no f32 copy). weight() is undefined; forward() without a kernel,
  // and the in-place rescalings, throw. Dequantize the QuantizedLinear
  // (dequantized_weight) or load with QuantExecution::Simulated for values.
  static Linear kernel_resident(int64_t out, int64_t in, Tensor bias = {});
  bool kernel_resident() const { return resident_; }

  const Tensor& weight() const { return weight_; }  // undefined when kernel_resident()
  const Tensor& bias() const { return bias_; }
  bool has_bias() const { return bias_.defined(); }
  // In-place rescalings for function-preserving transforms (SmoothQuant, AWQ).
  // They write the weight's own storage, which the model's parameters() share.
  // W[:, c] *= factors[c]:
  void scale_input_columns(std::span<const float> factors);
  // W[first + j, :] /= divisors[j] and b[first + j] /= divisors[j]:
  void divide_output_rows(int64_t first, std::span<const float> divisors);
  // Replaces the weight values (same shape), e.g. with clipped ones; in place as above.
  void assign_weight(const Tensor& values);
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  // The checkpoint module path ("bert.encoder.layer.0.attention.self.query");
  // also names the input site.
  const std::string& name() const { return input_site_.name(); }
  void set_name(std::string name) { input_site_.set_name(std::move(name)); }
  const ActivationSite& input_site() const { return input_site_; }
  ActivationSite& input_site() { return input_site_; }
  // Replaces the fp32 GEMM (quantized execution); nullptr restores it.
  void set_kernel(std::shared_ptr<const LinearKernel> kernel) { kernel_ = std::move(kernel); }
  const LinearKernel* kernel() const { return kernel_.get(); }
  // The installed kernel's row_invariant_rows(); 1 without a kernel (the
  // fp32 GEMM, OpenBLAS, may sum a row differently for different row counts).
  int64_t row_invariant_rows() const { return kernel_ ? kernel_->row_invariant_rows() : 1; }

 private:
  void require_weight() const;  // throws for a kernel-resident Linear without a kernel
  Tensor weight_, bias_;
  int64_t out_ = 0, in_ = 0;
  bool resident_ = false;
  ActivationSite input_site_{"", SiteKind::LinearInput};
  std::shared_ptr<const LinearKernel> kernel_;
};

class LayerNorm {
 public:
  LayerNorm(Tensor gamma, Tensor beta, float eps = 1e-5f);
  Tensor forward(const Tensor& x) const;
  // layer_norm(x + residual), BERT's post-norm residual; `sum` as in kernels::add_layer_norm.
  Tensor forward(const Tensor& x, const Tensor& residual, Tensor* sum = nullptr) const;

  const Tensor& gamma() const { return gamma_; }
  const Tensor& beta() const { return beta_; }
  float eps() const { return eps_; }
  // gamma_j /= d_j, beta_j /= d_j in place: the output's channel j divided by d_j.
  void divide_channels(std::span<const float> divisors);

 private:
  Tensor gamma_, beta_;
  float eps_;
};

class RMSNorm {
 public:
  // unit_offset: scale by 1 + weight (Gemma checkpoints store weight - 1).
  explicit RMSNorm(Tensor weight, float eps = 1e-6f, bool unit_offset = false);
  Tensor forward(const Tensor& x) const;

  const Tensor& weight() const { return weight_; }
  float eps() const { return eps_; }
  bool unit_offset() const { return unit_offset_; }
  // The output's channel j divided by d_j, in place (scale_j -> scale_j / d_j).
  void divide_channels(std::span<const float> divisors);

 private:
  Tensor weight_;
  float eps_;
  bool unit_offset_;
};

class Embedding {
 public:
  explicit Embedding(Tensor table);  // [vocab, hidden] f32
  // ids (i64 or i32) [...] -> [..., hidden]; out-of-range ids throw.
  Tensor forward(const Tensor& ids) const;

  const Tensor& table() const { return table_; }
  int64_t vocab_size() const { return table_.dim(0); }
  int64_t hidden_size() const { return table_.dim(1); }

 private:
  Tensor table_;
};

// Feed-forward block: fc2(act(fc1(x))), or gated down(act(gate(x)) * up(x)).
class MLP {
 public:
  MLP(Linear fc1, Linear fc2, kernels::Activation act);
  static MLP gated(Linear gate, Linear up, Linear down, kernels::Activation act);

  Tensor forward(const Tensor& x) const;

  bool is_gated() const { return up_.has_value(); }
  kernels::Activation activation() const { return act_; }
  const Linear& fc1() const { return fc1_; }  // the gate projection when gated
  const Linear& fc2() const { return fc2_; }  // the down projection when gated
  const Linear* up() const { return up_ ? &*up_ : nullptr; }
  // fc1 (gate), up, fc2 (down), for quantization.
  void visit_linears(const std::function<void(Linear&)>& fn) {
    fn(fc1_);
    if (up_) fn(*up_);
    fn(fc2_);
  }

 private:
  MLP(Linear fc1, std::optional<Linear> up, Linear fc2, kernels::Activation act);
  Linear fc1_;
  std::optional<Linear> up_;
  Linear fc2_;
  kernels::Activation act_;
};

// How a fused qkv projection orders its output rows.
enum class QkvLayout {
  Blocked,  // all q heads, then all k heads, then all v heads
  // Per kv head g: its heads / kv_heads query heads, then k, then v
  // (GPT-NeoX and Falcon-RW with kv_heads == heads: q, k, v per head; Falcon-40B's groups).
  Grouped,
};

struct AttentionConfig {
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // 0: num_heads (MHA); 1: MQA; else GQA
  int64_t head_dim = 0;      // 0: hidden_size / num_heads
  bool causal = false;
  std::optional<float> scale;  // default 1 / sqrt(head_dim)
  QkvLayout qkv_layout = QkvLayout::Blocked;
  // > 0 (causal only): a query at sequence index i sees keys j with i - W <= j
  // (transformers' Mistral mask: the token itself and W before it).
  int64_t sliding_window = 0;
};

// How an attention block stores keys and values in its AttentionCache.
// F16 stores each value rounded to half precision (x^ = f16_to_float(
// float_to_f16(x)): nearest even, |x| > 65504 overflows to Inf, no scales;
// half the bytes of f32, as llama.cpp's default cache). Codes follow octet's
// quantization conventions (octet/quant.h), with inv = 1 / scale:
//   I8:      q = clamp(round_half_even(x * inv), -127, 127), x^ = float(q) * scale
//   F8_E4M3: code = float_to_fp8_e4m3(x * inv),              x^ = fp8_e4m3_to_float(code) * scale
// Dynamic scales are amax / 127 (I8) or amax / 448 (F8_E4M3) over the
// head_dim values of one token of one kv head (computed in double, rounded
// once; all-zero row: 1; nonzero row: >= FLT_MIN; NaN/Inf do not count towards amax; in I8 NaN -> 0,
// Inf saturates). Attention always sees x^, with or without a cache.
struct KvCacheQuant {
  DType dtype = DType::F32;  // F32: off; F16 (no scales); I8: symmetric int8 [-127, 127]; F8_E4M3
  bool dynamic = false;      // one scale per (sequence, kv head, token) from that row's max |x|, at run time
  std::vector<float> k_scale, v_scale;  // static: one positive finite scale per kv head
  bool enabled() const { return dtype != DType::F32; }
  bool operator==(const KvCacheQuant&) const = default;
};

// Keys and values of the tokens already seen, for incremental decoding: one
// per attention layer, all [batch, kv_heads, capacity, head_dim] (after
// rotary); positions [0, length) along the third axis are filled.
// Quantization off: k, v are f32. On (quant.enabled()): k, v stay undefined
// and k_codes, v_codes hold F16 values or I8 / F8_E4M3 codes; with dynamic scales
// k_scales, v_scales are f32 [batch, kv_heads, capacity], one per token.
struct AttentionCache {
  Tensor k, v;
  int64_t length = 0;
  Tensor k_codes, v_codes;
  Tensor k_scales, v_scales;
  KvCacheQuant quant;  // how this cache was made (the block's setting then)

  // The tensor whose shape describes the cache: k, or k_codes when quantized.
  const Tensor& layout() const { return quant.enabled() ? k_codes : k; }
  int64_t capacity() const { return layout().defined() ? layout().dim(2) : 0; }
  int64_t batch() const { return layout().defined() ? layout().dim(0) : 0; }
  // Bytes of every allocated tensor (f32 k, v or codes plus scales).
  size_t bytes() const;
};

struct AttentionInputs {
  // [batch, seq] key padding mask, nonzero = token (HF attention_mask); with a
  // cache it covers the cached tokens too: [batch, cache->length + seq].
  Tensor attention_mask;
  Tensor position_bias;   // additive [batch or 1, heads or 1, seq, seq]; overrides the bias hook
  Tensor position_ids;    // [batch, seq], for q/k transforms such as rotary embeddings
  // Rotary cos/sin for position_ids, when the caller computed them once for
  // all layers; else the block computes them from position_ids.
  RotaryTables rotary;
  // When set, the new keys/values are appended to it (length advances by seq)
  // and the queries attend to all cached keys, read in place.
  AttentionCache* cache = nullptr;
};

// Runs on q [batch, heads, seq, head_dim] and k [batch, kv_heads, seq, head_dim]
// after projection (where rotary embeddings go).
using QueryKeyTransform = std::function<void(Tensor& q, Tensor& k, const AttentionInputs& inputs)>;
// Additive position bias for (seq_q, seq_k) when the inputs carry none (ALiBi, relative buckets).
using PositionBiasFn = std::function<Tensor(int64_t seq_q, int64_t seq_k)>;

// Self-attention: projections, scaled dot-product attention, output projection.
class MultiHeadAttention {
 public:
  // Separate projections: q [heads * head_dim, hidden], k and v [kv_heads * head_dim, hidden],
  // out [hidden, heads * head_dim]. Biases follow each Linear.
  MultiHeadAttention(const AttentionConfig& config, Linear q, Linear k, Linear v, Linear out);
  // One fused projection [(heads + 2 kv_heads) * head_dim, hidden], rows ordered q, k, v.
  MultiHeadAttention(const AttentionConfig& config, Linear qkv, Linear out);

  // hidden [batch, seq, hidden_size] -> [batch, seq, hidden_size].
  Tensor forward(const Tensor& hidden, const AttentionInputs& inputs = {}) const;
  // One decode step of n independent sequences: hidden [n, 1, hidden_size],
  // row i appended to *caches[i] (batch 1, its own length) and attending over
  // it. The projections run once on all n rows; then each row runs the cached
  // attention of forward() on its own cache. inputs.position_ids [n, 1] (and
  // inputs.rotary for them) give each row's position; the other fields must
  // be empty. Row i equals forward(hidden[i], {position_ids[i], cache =
  // caches[i]}) bit for bit when the Linear kernels are row invariant for n
  // rows (Linear::row_invariant_rows) and no activation site is active.
  Tensor forward_ragged(const Tensor& hidden, std::span<AttentionCache* const> caches,
                        const AttentionInputs& inputs) const;

  void set_query_key_transform(QueryKeyTransform fn) { qk_transform_ = std::move(fn); }
  void set_position_bias(PositionBiasFn fn) { position_bias_ = std::move(fn); }
  // Rotary embeddings on q and k (after the q/k transform, before the sites).
  void set_rotary(RotaryEmbedding rotary) { rotary_ = std::move(rotary); }
  const RotaryEmbedding& rotary() const { return rotary_; }
  // An empty cache for `batch` sequences of up to `capacity` tokens, stored as
  // kv_quant() says.
  AttentionCache make_cache(int64_t batch, int64_t capacity) const;
  // Quantizes keys and values as attention reads them, with or without a
  // cache (the key/value sites still see the raw values first). Throws
  // Error("multi_head_attention") for a dtype other than F32, I8, F8_E4M3,
  // static scales that are not num_kv_heads positive finite values per k and
  // v, dynamic with scales, or F32 with scales or dynamic. A cache made
  // before a change no longer matches and is refused by forward().
  void set_kv_quant(KvCacheQuant quant);
  const KvCacheQuant& kv_quant() const { return kv_quant_; }
  // Runs instead of the query/key/value/probabilities sites and the f32
  // attention on passes without a KV cache or KV-cache rounding (nullptr: none).
  void set_attention_kernel(std::shared_ptr<const AttentionKernel> kernel) { attention_kernel_ = std::move(kernel); }
  const AttentionKernel* attention_kernel() const { return attention_kernel_.get(); }

  const AttentionConfig& config() const { return config_; }
  bool fused_qkv() const { return qkv_.has_value(); }
  const Linear* qkv_proj() const { return qkv_ ? &*qkv_ : nullptr; }
  const Linear* q_proj() const { return q_ ? &*q_ : nullptr; }
  const Linear* k_proj() const { return k_ ? &*k_ : nullptr; }
  const Linear* v_proj() const { return v_ ? &*v_ : nullptr; }
  const Linear& out_proj() const { return out_; }

  // Every projection (q, k, v or the fused qkv, then out) for quantization.
  void visit_linears(const std::function<void(Linear&)>& fn);
  // The query/key/value sites (after projection and any q/k transform) and
  // the probabilities site (softmax output, before it multiplies v).
  void visit_sites(const std::function<void(ActivationSite&)>& fn);
  // Names the sites "<prefix>:query" etc.; Linear names are set by the builder.
  void set_name(const std::string& prefix);
  // The prefix given to set_name ("" until then).
  const std::string& name() const { return name_; }

 private:
  void validate();
  // q [B, H, S, d], k and v [B, KVH, S, d]: projected, transformed (q/k
  // transform, rotary) and through the sites. With `views_allowed` and nothing
  // to transform, they are views of the projection's output (no copy) and
  // project returns true; else contiguous copies and false.
  bool project(const Tensor& hidden, const AttentionInputs& inputs, Tensor& q, Tensor& k, Tensor& v,
               bool views_allowed = false) const;
  // Appends k, v to *inputs.cache and attends q over everything cached.
  Tensor attend_with_cache(const Tensor& q, Tensor k, Tensor v, const AttentionInputs& inputs) const;
  // Attention of q over k, v (the keys of this call only), into `out` when it
  // is given (a [B, H, S, d] view), else into a new contiguous tensor.
  Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionInputs& inputs,
                Tensor out = {}) const;
  // Attention of q (the last q.dim(2) tokens) over every key in `cache`, in place.
  Tensor attend_cache(const Tensor& q, const AttentionCache& cache, int64_t past, const Tensor& key_mask) const;
  AttentionConfig config_;
  std::optional<Linear> qkv_, q_, k_, v_;
  Linear out_;
  QueryKeyTransform qk_transform_;
  PositionBiasFn position_bias_;
  RotaryEmbedding rotary_;
  ActivationSite query_site_{"", SiteKind::AttentionQuery};
  ActivationSite key_site_{"", SiteKind::AttentionKey};
  ActivationSite value_site_{"", SiteKind::AttentionValue};
  ActivationSite probs_site_{"", SiteKind::AttentionProbs};
  KvCacheQuant kv_quant_;
  std::shared_ptr<const AttentionKernel> attention_kernel_;
  std::string name_;
  // Whether a pass with these inputs runs attention_kernel_ (and skips the sites).
  bool kernel_replaces_sites(const AttentionInputs& inputs) const {
    return attention_kernel_ && !inputs.cache && !kv_quant_.enabled();
  }
};

// Where per-channel divisors of a Linear input can be absorbed: the input's
// channel j divided by s_j at its producer, and every consumer's weight column
// j multiplied by s_j, computes the same function (SmoothQuant, AWQ).
struct ChannelScaleProducer {
  std::string name;      // module path of the norm or Linear ("model.layers.0.input_layernorm")
  int64_t channels = 0;  // the producer's output channels
  // Consumer input column c comes from producer channel channel_of[c] (empty:
  // c itself); columns sharing a channel must share its factor (GQA heads sharing v).
  std::vector<int64_t> channel_of;
  std::function<void(std::span<const float> divisors)> divide;  // producer channel j divided by divisors[j]
};

// Linears that read the same activation, in execution order.
struct LinearInputGroup {
  std::string name;    // "model.layers.0.self_attn.q_proj+k_proj+v_proj"
  int64_t layer = -1;  // decoder layer index; -1 outside the layers (lm_head, projections)
  bool output_head = false;  // the LM head (kept f32 by LLM recipes unless asked)
  std::vector<Linear*> linears;
  std::optional<ChannelScaleProducer> producer;  // none when the input cannot absorb factors
};

}  // namespace octet::nn
