// CudaEncoder (octet/cuda_encoder.h): BERT / RoBERTa / XLM-R on the CUDA ops
// of octet/cuda_ops.h. Host code only, on the public octet::cuda API, so it
// compiles in every build; without CUDA the first cuda:: call (the Stream)
// throws the stand-in's Error "cuda".
//
// One layer, activations f16 [tokens, hidden] between ops:
//   qkv  = linear(x, Wqkv)                      q, k, v weights concatenated: one GEMM
//   ctx  = attention(qkv views, key mask)       reads the packed qkv in place
//   a    = linear(ctx, Wo)
//   h1   = add_layer_norm(a, x)
//   mid  = linear(h1, W1) with bias + GELU      (int8: requantized in the epilogue
//                                                 straight into fc2's input codes)
//   m    = linear(mid, W2)
//   x    = add_layer_norm(m, h1)
// An int8 / fp8 Linear quantizes its f16 input first (cuda::quantize), unless
// the producer wrote the codes already (fc1 -> fc2 above).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <optional>

#include "core/error_tags.h"
#include "models/encoder_common.h"
#include "octet/cuda.h"
#include "octet/cuda_encoder.h"
#include "octet/cuda_ops.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"

namespace octet {
namespace {

namespace cu = octet::cuda;

enum class Precision { F16, I8, F8 };

Precision parse_precision(const std::string& p) {
  if (p == "fp16") return Precision::F16;
  if (p == "int8") return Precision::I8;
  if (p == "fp8") return Precision::F8;
  fail(kCudaTag, "CUDA encoder precision '{}' is not supported (fp16, int8, fp8)", p);
}

// How a Linear's input reaches its GEMM.
enum class InputKind {
  Float,          // f16 activations as they are
  StaticI8,       // int8 codes with the recipe's per-tensor scale
  TokenI8,        // int8 codes with per-token scales computed at run time
  StaticF8,       // e4m3 codes with a static per-tensor scale
  TensorF8,       // e4m3 codes with a per-tensor scale computed at run time
};

struct LinearPlan {
  std::string name;
  cu::GemmWeight weight;
  cu::DeviceTensor bias;          // f16 for f16 / fp8 GEMMs (fused in cuBLASLt), f32 for int8
  InputKind input = InputKind::Float;
  float static_scale = 0;         // StaticI8 / StaticF8
  cu::DeviceTensor static_scale_d;  // f32 [1]
  int64_t out_features() const { return weight.out_features(); }
  bool int8_input() const { return input == InputKind::StaticI8 || input == InputKind::TokenI8; }
};

struct LayerPlan {
  std::vector<LinearPlan> qkv;  // one packed [3H, H] GEMM, or q, k, v apart
  LinearPlan out, fc1, fc2;
  cu::DeviceTensor ln1_gamma, ln1_beta, ln2_gamma, ln2_beta;
  float ln1_eps = 1e-12f, ln2_eps = 1e-12f;
  cu::GemmEpilogue fc1_epilogue = cu::GemmEpilogue::BiasGeluErf;
  bool fc1_writes_fc2_codes = false;  // fc1's epilogue quantizes into fc2's int8 input
};

// Device buffers for one (batch, seq) shape, and its captured graph. The
// graph is declared last so it is destroyed before the tensors it uses.
struct Workspace {
  int64_t batch = 0, seq = 0;
  cu::DeviceTensor ids, types, positions, mask;  // i32 [B, S]
  cu::DeviceTensor hidden, h1, ctx, branch;      // f16 [B, S, H]
  cu::DeviceTensor qkv;                          // f16 [B, S, 3H], packed q | k | v
  std::vector<cu::DeviceTensor> q_k_v;           // f16 [B, S, H] each, for layers with three GEMMs
  cu::DeviceTensor mid;                          // f16 [B, S, I], or i8 when fc1 writes fc2's codes
  cu::DeviceTensor codes_h, codes_i;             // i8 / e4m3 inputs of quantized GEMMs ([.., H], [.., I])
  cu::DeviceTensor token_scales;                 // f32 [B * S], a GEMM input's per-token scales
  cu::DeviceTensor fc2_token_scales;             // f32 [B * S], written by fc1's epilogue for fc2
  cu::DeviceTensor tensor_scale;                 // f32 [1]
  cu::DeviceTensor logits, pooled;               // f32 [B, C], f32 [B, H]
  bool ran = false;
  cu::Graph graph;
};

Tensor f32_copy(const Tensor& t) { return t.dtype() == DType::F32 ? t.contiguous() : t.to(DType::F32); }

// Rows of `parts` stacked ([n_i, k] -> [sum n_i, k]), any dtype, same k.
Tensor stack_rows(const std::vector<Tensor>& parts) {
  int64_t rows = 0;
  for (const Tensor& p : parts) rows += p.dim(0);
  const Shape shape = parts[0].rank() == 2 ? Shape{rows, parts[0].dim(1)} : Shape{rows};
  Tensor out = Tensor::empty(shape, parts[0].dtype());
  char* dst = static_cast<char*>(out.raw_data());
  for (const Tensor& p : parts) {
    check(p.dtype() == out.dtype() && p.rank() == out.rank() && (p.rank() == 1 || p.dim(1) == out.dim(1)), kCudaTag,
          "cannot stack {} onto {}", p, out);
    const Tensor c = p.contiguous();
    std::memcpy(dst, c.raw_data(), c.nbytes());
    dst += c.nbytes();
  }
  return out;
}

// e4m3 codes of w with one scale, octet's rule: scale = amax / 448 (1 for an
// all-zero tensor, at least FLT_MIN), code = e4m3(w * (1 / scale)).
std::pair<Tensor, float> fp8_per_tensor(const Tensor& w32) {
  const Tensor w = f32_copy(w32);
  float amax = 0;
  for (const float v : w.span<float>()) {
    check(std::isfinite(v), kCudaTag, "fp8 weight quantization: the weight holds a non-finite value");
    amax = std::max(amax, std::fabs(v));
  }
  const float scale = amax == 0 ? 1.0f : std::max(amax / 448.0f, std::numeric_limits<float>::min());
  const float inv = 1.0f / scale;
  std::vector<float> scaled(size_t(w.numel()));
  const auto src = w.span<float>();
  for (size_t i = 0; i < scaled.size(); ++i) scaled[i] = src[i] * inv;
  Tensor codes = Tensor::empty(w.shape(), DType::F8_E4M3);
  convert_f32_to_fp8_e4m3(scaled, std::span<uint8_t>(static_cast<uint8_t*>(codes.raw_data()), scaled.size()));
  return {codes, scale};
}

class CudaEncoderImpl final : public CudaEncoder {
 public:
  CudaEncoderImpl(const Model& model, const QuantizationConfig* q, const CudaEncoderOptions& options)
      : options_(options), precision_(parse_precision(options.precision)), stream_(make_stream(options.device)) {
    info_ = model.info();
    const std::string& type = info_.model_type;
    check(type == "bert" || type == "roberta" || type == "xlm-roberta", kCudaTag,
          "the CUDA encoder runs bert, roberta and xlm-roberta models, not '{}'", type);
    const auto* encoder = dynamic_cast<const encoder::EncoderModel*>(&model);
    check(encoder != nullptr, kCudaTag, "{} is not an encoder model", type);
    const std::optional<encoder::EncoderLayout> layout = encoder->layout();
    check(layout.has_value() && layout->embeddings != nullptr, kCudaTag, "{}: no post-norm encoder layout", type);
    check(precision_ != Precision::I8 || q != nullptr, "quantized",
          "int8 on CUDA runs an octet int8 quantization: give a folder written by `octet quantize` (octet bench "
          "also quantizes an fp32 model itself), not an fp32 model alone");
    if (q) index_quantization(*q);
    if (precision_ == Precision::F8)
      check(cu::compute_capability(options.device) >= 89, kCudaTag,
            "fp8 e4m3 needs compute capability 8.9 or newer (Ada, Hopper); cuda:{} is sm_{}", options.device,
            cu::compute_capability(options.device));
    padding_aware_positions_ = layout->padding_aware_positions;
    pad_token_id_ = layout->pad_token_id;
    upload_embeddings(*layout->embeddings);
    for (const encoder::PostNormLayer* layer : layout->layers) layers_.push_back(plan_layer(*layer));
    upload_head(*encoder);
    quantized_.clear();  // pointed into `q`, which the caller keeps only for this call
    stream_.synchronize();
  }

  NamedTensors forward(const ModelInputs& inputs) override {
    prepare(inputs);
    run_prepared();
    return outputs();
  }

  void prepare(const ModelInputs& inputs) override {
    const Tensor& ids = inputs.input_ids;
    check(ids.defined() && ids.rank() == 2 && ids.numel() > 0, kCudaTag,
          "input_ids must be a non-empty [batch, seq] tensor");
    const int64_t batch = ids.dim(0), seq = ids.dim(1);
    std::vector<int32_t> id32 = host_ids(ids, "input_ids", batch, seq, vocab_rows_);
    std::vector<int32_t> mask = inputs.attention_mask.defined()
                                    ? host_ids(inputs.attention_mask, "attention_mask", batch, seq, 0)
                                    : std::vector<int32_t>(size_t(batch * seq), 1);
    std::vector<int32_t> types = inputs.token_type_ids.defined()
                                     ? host_ids(inputs.token_type_ids, "token_type_ids", batch, seq,
                                                std::max<int64_t>(type_rows_, 1))
                                     : std::vector<int32_t>(size_t(batch * seq), 0);
    std::vector<int32_t> positions = inputs.position_ids.defined()
                                         ? host_ids(inputs.position_ids, "position_ids", batch, seq, position_rows_)
                                         : default_positions(id32, batch, seq);
    current_ = &workspace(batch, seq);
    const size_t bytes = size_t(batch * seq) * sizeof(int32_t);
    cu::copy_to_device(current_->ids.raw_data(), id32.data(), bytes, stream_);
    cu::copy_to_device(current_->mask.raw_data(), mask.data(), bytes, stream_);
    cu::copy_to_device(current_->types.raw_data(), types.data(), bytes, stream_);
    cu::copy_to_device(current_->positions.raw_data(), positions.data(), bytes, stream_);
  }

  void run_prepared() override {
    check(current_ != nullptr, kCudaTag, "run_prepared() before prepare()");
    Workspace& ws = *current_;
    if (!options_.graphs || graphs_failed_) {
      body(ws);
    } else if (ws.graph.captured()) {
      ws.graph.launch(stream_);
    } else if (!ws.ran) {
      body(ws);  // the eager pass creates cuBLASLt plans and pool blocks before capture
      ws.ran = true;
    } else {
      try {
        ws.graph.capture(stream_, [&] { body(ws); });
        ws.graph.launch(stream_);
      } catch (const Error& e) {
        graphs_failed_ = true;
        notes_.push_back(fmt::format("CUDA graph capture failed, running eagerly: {}", e.what()));
        stream_.synchronize();
        body(ws);
      }
    }
    stream_.synchronize();
  }

  NamedTensors outputs() override {
    check(current_ != nullptr, kCudaTag, "outputs() before a forward pass");
    const Workspace& ws = *current_;
    NamedTensors out;
    out["last_hidden_state"] = ws.hidden.download(stream_).to(DType::F32);
    if (info_.head == ModelHead::SequenceClassification) out["logits"] = ws.logits.download(stream_);
    else if (pooler_output_) out["pooler_output"] = ws.pooled.download(stream_);
    return out;
  }

  std::vector<std::pair<std::string, double>> profile(int passes) override {
    check(current_ != nullptr, kCudaTag, "profile() before prepare()");
    check(passes > 0, kCudaTag, "profile() needs at least one pass");
    std::vector<std::pair<std::string, double>> totals;
    profile_ = &totals;
    try {
      for (int i = 0; i < passes; ++i) body(*current_);
    } catch (...) {
      profile_ = nullptr;
      throw;
    }
    profile_ = nullptr;
    stream_.synchronize();
    for (auto& [name, ms] : totals) ms /= passes;
    return totals;
  }

  const ModelInfo& info() const override { return info_; }
  const std::string& precision() const override { return options_.precision; }
  const std::vector<std::string>& notes() const override { return notes_; }

 private:
  static cu::Stream make_stream(int device) {
    cuda_set_device(device);
    return cu::Stream(device);
  }

  // ---- building -------------------------------------------------------------------

  void index_quantization(const QuantizationConfig& q) {
    for (const QuantizedLinear& l : q.linears) quantized_[l.name] = &l;
    if (!q.sites.empty())
      notes_.push_back(fmt::format("{} extra quantization sites (attention / residual / norm inputs) are not "
                                   "simulated on CUDA; those activations stay f16",
                                   q.sites.size()));
  }

  cu::DeviceTensor upload_f32(const Tensor& t) { return cu::DeviceTensor::upload(f32_copy(t), stream_); }
  cu::DeviceTensor scalar(float v) { return cu::DeviceTensor::upload(Tensor::full({1}, v), stream_); }

  void upload_embeddings(const encoder::Embeddings& e) {
    check(!e.project_before_norm && !e.project_after_norm, kCudaTag,
          "{}: embeddings with a projection are not supported on CUDA", info_.model_type);
    tables_.word = cu::DeviceTensor::upload(e.word.table(), DType::F16, stream_);
    vocab_rows_ = e.word.vocab_size();
    if (e.position) {
      tables_.position = cu::DeviceTensor::upload(e.position->table(), DType::F16, stream_);
      position_rows_ = e.position->vocab_size();
    }
    if (e.token_type) {
      tables_.token_type = cu::DeviceTensor::upload(e.token_type->table(), DType::F16, stream_);
      type_rows_ = e.token_type->vocab_size();
    }
    tables_.gamma = upload_f32(e.norm.norm().gamma());
    tables_.beta = upload_f32(e.norm.norm().beta());
    tables_.eps = e.norm.norm().eps();
    hidden_ = e.word.hidden_size();
  }

  // The input plan int8 needs for `name`, or nullopt (then the Linear runs in
  // fp16) with the reason added to notes_.
  std::optional<InputKind> int8_input(const std::string& name, float& scale) {
    const auto it = quantized_.find(name);
    auto fallback = [&](const std::string& why) -> std::optional<InputKind> {
      notes_.push_back(fmt::format("{}: {}; runs in fp16", name, why));
      return std::nullopt;
    };
    if (it == quantized_.end()) return fallback("not quantized by the recipe (excluded)");
    const QuantizedLinear& l = *it->second;
    const bool int8_weight = l.weight_spec.dtype == DType::I8 && l.weight_spec.scheme == QuantScheme::Symmetric &&
                             (l.weight_spec.granularity == Granularity::PerChannel ||
                              l.weight_spec.granularity == Granularity::PerTensor) &&
                             l.weight.dtype() == DType::I8 && l.weight_scale.numel() == l.weight.dim(0);
    if (!int8_weight) return fallback(fmt::format("weight format {} has no CUDA int8 kernel", to_string(l.weight_spec)));
    if (!l.input) return fallback("weight-only quantization (W8A16) has no CUDA kernel");
    if (l.input->dynamic) return InputKind::TokenI8;
    if (l.input->spec.dtype != DType::I8) return fallback(fmt::format("{} inputs", to_string(l.input->spec)));
    if (l.input->zero_point != 0)
      return fallback(fmt::format("affine int8 input (zero point {}) is not supported by the symmetric IMMA path",
                                  l.input->zero_point));
    scale = l.input->scale;
    return InputKind::StaticI8;
  }

  // One GEMM for `parts` (q, k, v stacked, or a single Linear).
  LinearPlan plan_linear(const std::vector<const nn::Linear*>& parts, const std::string& name) {
    LinearPlan p;
    p.name = name;
    std::vector<Tensor> biases;
    for (const nn::Linear* l : parts)
      biases.push_back(l->has_bias() ? f32_copy(l->bias()) : Tensor::zeros({l->out_features()}, DType::F32));
    const Tensor bias = stack_rows(biases);
    auto float_weight = [&] {
      std::vector<Tensor> w;
      for (const nn::Linear* l : parts) w.push_back(f32_copy(l->weight()));
      return stack_rows(w);
    };
    std::optional<InputKind> int8;
    float scale = 0;
    if (precision_ == Precision::I8) {
      // A packed GEMM needs one input plan for all parts: same kind, bit-equal scale.
      for (size_t i = 0; i < parts.size(); ++i) {
        float s = 0;
        const std::optional<InputKind> k = int8_input(parts[i]->name(), s);
        if (i == 0) {
          int8 = k;
          scale = s;
        } else {
          check(k == int8 && s == scale, kCudaTag, "{}: q, k and v need the same input quantization to share a GEMM",
                name);
        }
      }
    }
    if (int8) {
      std::vector<Tensor> codes, scales;
      for (const nn::Linear* l : parts) {
        const QuantizedLinear& q = *quantized_.at(l->name());
        check(q.weight.shape() == l->weight().shape(), kCudaTag,
              "{}: quantized weight {} does not match the model's {}", l->name(), shape_str(q.weight.shape()),
              shape_str(l->weight().shape()));
        codes.push_back(q.weight);
        scales.push_back(f32_copy(q.weight_scale).reshape({q.weight.dim(0)}));
      }
      p.weight = cu::upload_quantized_weight(stack_rows(codes), stack_rows(scales), stream_);
      p.bias = cu::DeviceTensor::upload(bias, stream_);
      p.input = *int8;
      if (p.input == InputKind::StaticI8) {
        check(std::isfinite(scale) && scale > 0, kCudaTag, "{}: input scale {} is not finite and positive", name,
              scale);
        p.static_scale = scale;
        p.static_scale_d = this->scalar(scale);
      }
      return p;
    }
    if (precision_ == Precision::F8) {
      auto [codes, wscale] = fp8_per_tensor(float_weight());
      p.weight = cu::upload_quantized_weight(codes, Tensor::full({1}, wscale), stream_);
      p.bias = cu::DeviceTensor::upload(bias, DType::F16, stream_);
      p.input = InputKind::TensorF8;
      // A folder calibrated for fp8 activations gives static scales (all parts must agree).
      std::optional<float> fixed;
      bool all = true;
      for (const nn::Linear* l : parts) {
        const auto it = quantized_.find(l->name());
        const bool has = it != quantized_.end() && it->second->input && !it->second->input->dynamic &&
                         it->second->input->spec.dtype == DType::F8_E4M3;
        if (!has || (fixed && *fixed != it->second->input->scale)) all = false;
        if (has) fixed = it->second->input->scale;
      }
      if (all && fixed && std::isfinite(*fixed) && *fixed > 0) {
        p.input = InputKind::StaticF8;
        p.static_scale = *fixed;
        p.static_scale_d = this->scalar(*fixed);
      }
      return p;
    }
    p.weight = cu::upload_weight(float_weight(), DType::F16, stream_);
    p.bias = cu::DeviceTensor::upload(bias, DType::F16, stream_);
    return p;
  }

  LayerPlan plan_layer(const encoder::PostNormLayer& layer) {
    LayerPlan l;
    const nn::MultiHeadAttention& a = layer.attention();
    const nn::AttentionConfig& c = a.config();
    check(a.q_proj() && a.k_proj() && a.v_proj(), kCudaTag, "{}: expected separate q, k, v projections", a.name());
    check(!c.causal && (c.num_kv_heads == 0 || c.num_kv_heads == c.num_heads), kCudaTag,
          "{}: only bidirectional multi-head attention is supported", a.name());
    heads_ = c.num_heads;
    head_dim_ = c.head_dim > 0 ? c.head_dim : c.hidden_size / c.num_heads;
    attention_scale_ = c.scale.value_or(0.0f);
    const std::vector<const nn::Linear*> qkv{a.q_proj(), a.k_proj(), a.v_proj()};
    const std::string qkv_name = a.name() + ".{query,key,value}";
    try {
      l.qkv.push_back(plan_linear(qkv, qkv_name));
    } catch (const Error& e) {
      if (precision_ != Precision::I8) throw;
      // int8 q, k, v with different input quantization: three GEMMs.
      notes_.push_back(fmt::format("{}: {}; three GEMMs instead of one", qkv_name, e.what()));
      for (const nn::Linear* p : qkv) l.qkv.push_back(plan_linear({p}, p->name()));
    }
    l.out = plan_linear({&a.out_proj()}, a.out_proj().name());
    const nn::MLP& mlp = layer.mlp();
    check(!mlp.is_gated(), kCudaTag, "gated MLPs are not supported on CUDA");
    switch (mlp.activation()) {
      case kernels::Activation::Gelu: l.fc1_epilogue = cu::GemmEpilogue::BiasGeluErf; break;
      case kernels::Activation::GeluTanh: l.fc1_epilogue = cu::GemmEpilogue::BiasGeluTanh; break;
      default:
        fail(kCudaTag, "{}: only gelu / gelu_tanh MLPs are supported on CUDA", mlp.fc1().name());
    }
    l.fc1 = plan_linear({&mlp.fc1()}, mlp.fc1().name());
    l.fc2 = plan_linear({&mlp.fc2()}, mlp.fc2().name());
    // The int8 epilogue (and the f16 one) can write fc2's int8 codes directly.
    l.fc1_writes_fc2_codes = l.fc2.int8_input();
    intermediate_ = mlp.fc1().out_features();
    const nn::LayerNorm& n1 = layer.attention_norm().norm();
    const nn::LayerNorm& n2 = layer.output_norm().norm();
    l.ln1_gamma = upload_f32(n1.gamma());
    l.ln1_beta = upload_f32(n1.beta());
    l.ln1_eps = n1.eps();
    l.ln2_gamma = upload_f32(n2.gamma());
    l.ln2_beta = upload_f32(n2.beta());
    l.ln2_eps = n2.eps();
    return l;
  }

  void upload_head(const encoder::EncoderModel& m) {
    const auto& pooler = m.pooler();
    if (pooler) {
      check(pooler->activation.tanh, kCudaTag, "{}: only a tanh pooler / classifier.dense is supported on CUDA",
            info_.model_type);
      head_.pooler_w = upload_f32(pooler->dense.weight());
      if (pooler->dense.has_bias()) head_.pooler_b = upload_f32(pooler->dense.bias());
    }
    if (info_.head == ModelHead::SequenceClassification) {
      check(m.classifier().has_value(), kCudaTag, "the model has no classifier");
      head_.classifier_w = upload_f32(m.classifier()->weight());
      if (m.classifier()->has_bias()) head_.classifier_b = upload_f32(m.classifier()->bias());
      classes_ = m.classifier()->out_features();
    } else if (pooler && m.pooler_is_output()) {
      // pooler_output = I tanh(W h0 + b): the classification head with an identity classifier.
      Tensor eye = Tensor::zeros({hidden_, hidden_}, DType::F32);
      for (int64_t i = 0; i < hidden_; ++i) eye.data<float>()[i * hidden_ + i] = 1.0f;
      head_.classifier_w = cu::DeviceTensor::upload(eye, stream_);
      pooler_output_ = true;
    }
  }

  // ---- inputs ------------------------------------------------------------------------

  // i32 copy of an integer [batch, seq] tensor, each value in [0, limit) when limit > 0.
  static std::vector<int32_t> host_ids(const Tensor& t, const char* name, int64_t batch, int64_t seq, int64_t limit) {
    check(t.shape() == Shape{batch, seq}, kCudaTag, "{} must be [{}, {}], got {}", name, batch, seq, t);
    check(t.dtype() == DType::I64 || t.dtype() == DType::I32, kCudaTag, "{} must be i64 or i32, got {}", name, t);
    const Tensor c = t.contiguous();
    std::vector<int32_t> out(size_t(batch * seq));
    for (size_t i = 0; i < out.size(); ++i) {
      const int64_t v = c.dtype() == DType::I64 ? c.data<int64_t>()[i] : c.data<int32_t>()[i];
      check(limit <= 0 || (v >= 0 && v < limit), kCudaTag, "{}[{}] = {} is outside [0, {})", name, i, v, limit);
      out[i] = static_cast<int32_t>(v);
    }
    return out;
  }

  // BERT: 0..seq-1; RoBERTa: cumsum(id != pad) * (id != pad) + pad (as the CPU model).
  std::vector<int32_t> default_positions(const std::vector<int32_t>& ids, int64_t batch, int64_t seq) const {
    std::vector<int32_t> pos(size_t(batch * seq));
    for (int64_t b = 0; b < batch; ++b) {
      int64_t count = 0;
      for (int64_t s = 0; s < seq; ++s) {
        const size_t i = size_t(b * seq + s);
        if (!padding_aware_positions_) {
          pos[i] = int32_t(s);
          continue;
        }
        const bool token = ids[i] != pad_token_id_;
        count += token;
        pos[i] = int32_t((token ? count : 0) + pad_token_id_);
      }
    }
    for (const int32_t p : pos)
      check(p < position_rows_, kCudaTag, "sequence length {} needs position {}, beyond the model's {} rows", seq, p,
            position_rows_);
    return pos;
  }

  Workspace& workspace(int64_t batch, int64_t seq) {
    for (auto it = workspaces_.begin(); it != workspaces_.end(); ++it)
      if (it->batch == batch && it->seq == seq) {
        workspaces_.splice(workspaces_.begin(), workspaces_, it);  // most recent first
        return workspaces_.front();
      }
    // Bound the memory held for shapes seen once (an eval's many lengths).
    constexpr size_t kMaxShapes = 8;
    if (workspaces_.size() >= kMaxShapes) {
      stream_.synchronize();
      workspaces_.pop_back();
    }
    Workspace& ws = workspaces_.emplace_front();
    ws.batch = batch;
    ws.seq = seq;
    const int64_t tokens = batch * seq;
    auto i32 = [&] { return cu::DeviceTensor::empty({batch, seq}, DType::I32, stream_); };
    auto f16 = [&](int64_t width) { return cu::DeviceTensor::empty({batch, seq, width}, DType::F16, stream_); };
    ws.ids = i32();
    ws.types = i32();
    ws.positions = i32();
    ws.mask = i32();
    ws.hidden = f16(hidden_);
    ws.h1 = f16(hidden_);
    ws.ctx = f16(hidden_);
    ws.branch = f16(hidden_);
    ws.qkv = f16(3 * hidden_);
    if (std::any_of(layers_.begin(), layers_.end(), [](const LayerPlan& l) { return l.qkv.size() == 3; }))
      for (int i = 0; i < 3; ++i) ws.q_k_v.push_back(f16(hidden_));
    ws.mid = f16(intermediate_);
    if (precision_ != Precision::F16) {
      const DType code = precision_ == Precision::I8 ? DType::I8 : DType::F8_E4M3;
      ws.codes_h = cu::DeviceTensor::empty({batch, seq, hidden_}, code, stream_);
      ws.codes_i = cu::DeviceTensor::empty({batch, seq, intermediate_}, code, stream_);
      ws.token_scales = cu::DeviceTensor::empty({tokens}, DType::F32, stream_);
      ws.fc2_token_scales = cu::DeviceTensor::empty({tokens}, DType::F32, stream_);
      ws.tensor_scale = cu::DeviceTensor::empty({1}, DType::F32, stream_);
    }
    if (classes_ > 0) ws.logits = cu::DeviceTensor::empty({batch, classes_}, DType::F32, stream_);
    if (pooler_output_) ws.pooled = cu::DeviceTensor::empty({batch, hidden_}, DType::F32, stream_);
    return ws;
  }

  // ---- the forward pass -----------------------------------------------------------------

  // Runs `op`; while profile() runs, also waits for the GPU before and after
  // it and adds the wall time to `name`'s total.
  template <typename Op>
  void step(const char* name, Op&& op) {
    if (profile_ == nullptr) {
      op();
      return;
    }
    stream_.synchronize();
    const auto start = std::chrono::steady_clock::now();
    op();
    stream_.synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    auto it = std::find_if(profile_->begin(), profile_->end(), [&](const auto& e) { return e.first == name; });
    if (it == profile_->end()) profile_->emplace_back(name, ms);
    else it->second += ms;
  }

  // y = linear(x) with the plan's input quantization. `codes` holds x's
  // quantized copy (same shape as x, the GEMM's input dtype).
  void run_linear(const char* gemm_name, const LinearPlan& p, const cu::DeviceTensor& x, cu::DeviceTensor& codes,
                  Workspace& ws, cu::GemmEpilogue epilogue, cu::DeviceTensor& y, const cu::OutputQuant& out_quant = {}) {
    switch (p.input) {
      case InputKind::Float:
        step(gemm_name, [&] { cu::linear(x, {}, p.weight, p.bias, epilogue, y, stream_, out_quant); });
        return;
      case InputKind::StaticI8:
      case InputKind::StaticF8: {
        step("quantize", [&] { cu::quantize(x, codes, stream_, {cu::QuantMode::Static, p.static_scale_d}); });
        step(gemm_name, [&] { cu::linear(codes, p.static_scale_d, p.weight, p.bias, epilogue, y, stream_, out_quant); });
        return;
      }
      case InputKind::TokenI8: {
        cu::DeviceTensor scales = ws.token_scales;
        step("quantize", [&] { cu::quantize(x, codes, stream_, {cu::QuantMode::DynamicPerToken, scales}); });
        step(gemm_name, [&] { cu::linear(codes, scales, p.weight, p.bias, epilogue, y, stream_, out_quant); });
        return;
      }
      case InputKind::TensorF8: {
        step("quantize", [&] { cu::quantize(x, codes, stream_, {cu::QuantMode::DynamicPerTensor, ws.tensor_scale}); });
        step(gemm_name, [&] { cu::linear(codes, ws.tensor_scale, p.weight, p.bias, epilogue, y, stream_, out_quant); });
        return;
      }
    }
  }

  void body(Workspace& ws) {
    step("embeddings", [&] {
      cu::embedding_layer_norm(ws.ids, type_rows_ > 0 ? ws.types : cu::DeviceTensor{}, ws.positions, tables_,
                               ws.hidden, stream_, {}, /*validate=*/false);  // prepare() checked every id on the host
    });
    for (const LayerPlan& l : layers_) {
      // Attention.
      cu::AttentionInputs a;
      a.heads = heads_;
      a.head_dim = head_dim_;
      a.scale = attention_scale_;
      a.key_mask = ws.mask;
      if (l.qkv.size() == 1) {
        run_linear("gemm.qkv", l.qkv[0], ws.hidden, ws.codes_h, ws, cu::GemmEpilogue::Bias, ws.qkv);
        a.q = a.k = a.v = ws.qkv;
        a.q_offset = 0;
        a.k_offset = hidden_;
        a.v_offset = 2 * hidden_;
        a.row_stride = 3 * hidden_;
      } else {
        for (size_t i = 0; i < 3; ++i)
          run_linear("gemm.qkv", l.qkv[i], ws.hidden, ws.codes_h, ws, cu::GemmEpilogue::Bias, ws.q_k_v[i]);
        a.q = ws.q_k_v[0];
        a.k = ws.q_k_v[1];
        a.v = ws.q_k_v[2];
      }
      step("attention", [&] { cu::attention(a, ws.ctx, stream_); });
      run_linear("gemm.out", l.out, ws.ctx, ws.codes_h, ws, cu::GemmEpilogue::Bias, ws.branch);
      step("add_layer_norm", [&] {
        cu::add_layer_norm(ws.branch, ws.hidden, l.ln1_gamma, l.ln1_beta, l.ln1_eps, ws.h1, stream_);
      });
      // MLP.
      if (l.fc1_writes_fc2_codes) {
        const bool per_token = l.fc2.input == InputKind::TokenI8;
        // fc1's own input may use ws.token_scales; fc2's per-token scales go elsewhere.
        cu::DeviceTensor scales = per_token ? ws.fc2_token_scales : l.fc2.static_scale_d;
        cu::OutputQuant q{per_token ? cu::QuantMode::DynamicPerToken : cu::QuantMode::Static, scales};
        run_linear("gemm.fc1", l.fc1, ws.h1, ws.codes_h, ws, l.fc1_epilogue, ws.codes_i, q);
        step("gemm.fc2", [&] {
          cu::linear(ws.codes_i, scales, l.fc2.weight, l.fc2.bias, cu::GemmEpilogue::Bias, ws.branch, stream_);
        });
      } else {
        run_linear("gemm.fc1", l.fc1, ws.h1, ws.codes_h, ws, l.fc1_epilogue, ws.mid);
        run_linear("gemm.fc2", l.fc2, ws.mid, ws.codes_i, ws, cu::GemmEpilogue::Bias, ws.branch);
      }
      step("add_layer_norm", [&] {
        cu::add_layer_norm(ws.branch, ws.h1, l.ln2_gamma, l.ln2_beta, l.ln2_eps, ws.hidden, stream_);
      });
    }
    step("head", [&] {
      if (classes_ > 0) cu::classification_head(ws.hidden, head_, ws.logits, stream_);
      else if (pooler_output_) cu::classification_head(ws.hidden, head_, ws.pooled, stream_);
    });
  }

  CudaEncoderOptions options_;
  Precision precision_;
  cu::Stream stream_;
  ModelInfo info_;
  std::map<std::string, const QuantizedLinear*> quantized_;  // valid during construction only
  std::vector<std::string> notes_;
  std::vector<std::pair<std::string, double>>* profile_ = nullptr;  // set while profile() runs
  cu::EmbeddingTables tables_;
  int64_t vocab_rows_ = 0, position_rows_ = 0, type_rows_ = 0;
  bool padding_aware_positions_ = false;
  int64_t pad_token_id_ = 0;
  int64_t hidden_ = 0, intermediate_ = 0, heads_ = 0, head_dim_ = 0, classes_ = 0;
  float attention_scale_ = 0;
  std::vector<LayerPlan> layers_;
  cu::ClassifierWeights head_;
  bool pooler_output_ = false;
  std::list<Workspace> workspaces_;
  Workspace* current_ = nullptr;
  bool graphs_failed_ = false;
};

}  // namespace

std::unique_ptr<CudaEncoder> CudaEncoder::create(const Model& model, const QuantizationConfig* quantization,
                                                 const CudaEncoderOptions& options) {
  parse_precision(options.precision);
  require_device(Device{DeviceKind::CUDA, options.device});
  auto encoder = std::make_unique<CudaEncoderImpl>(model, quantization, options);
  return encoder;
}

}  // namespace octet
