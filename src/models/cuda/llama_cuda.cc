// LLaMA-family decoder on CUDA (octet/cuda_decoder.h). Host code over the
// public octet::cuda API only, so it compiles (and throws) without CUDA.
//
// Per layer, for T = B * S token rows (f16):
//   h = rms_norm(x); qkv = [q|k|v]_proj(h) (one fused weight); rotary on q, k;
//   append k, v to the cache; a = attention(q, cache); x += o_proj(a)
//   h = rms_norm(x); gu = [gate|up]_proj(h) (one fused weight); x += down(silu(g) * u)
// then logits = lm_head(rms_norm(x)) as f32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "octet/cuda_decoder.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/json_config.h"
#include "octet/log.h"
#include "octet/number_formats.h"
#include "octet/quant.h"

namespace octet::cuda {

LlmPrecision parse_llm_precision(std::string_view text) {
  if (text == "fp16" || text == "f16") return LlmPrecision::FP16;
  if (text == "w4a16" || text == "int4") return LlmPrecision::W4A16;
  if (text == "fp8" || text == "w8a8-fp8") return LlmPrecision::FP8;
  fail("cuda", "unknown CUDA LLM precision '{}' (fp16, w4a16, fp8)", text);
}

std::string_view llm_precision_name(LlmPrecision p) {
  switch (p) {
    case LlmPrecision::FP16: return "fp16";
    case LlmPrecision::W4A16: return "w4a16";
    case LlmPrecision::FP8: return "fp8";
  }
  return "?";
}

KvCacheType parse_kv_cache_type(std::string_view text) {
  if (text == "f16" || text == "fp16") return KvCacheType::F16;
  if (text == "fp8" || text == "fp8_e4m3") return KvCacheType::FP8;
  fail("cuda", "unknown KV cache type '{}' (f16, fp8)", text);
}

std::string_view kv_cache_type_name(KvCacheType t) { return t == KvCacheType::F16 ? "f16" : "fp8"; }

W4Host quantize_w4_rtn(const Tensor& weight_in) {
  check(weight_in.defined() && weight_in.rank() == 2, "cuda", "quantize_w4_rtn: weight must be [N, K]");
  const Tensor w = weight_in.to(DType::F32).contiguous();
  const int64_t n = w.dim(0), k = w.dim(1), groups = k / 128;
  check(k % 128 == 0 && k > 0, "cuda", "quantize_w4_rtn: K = {} is not a multiple of 128", k);
  const QuantSpec spec = parse_quant_spec("int4:sym:group(128)");
  const QuantLimits lim = quant_limits(spec);
  Tensor codes = Tensor::zeros({n, k}, DType::U8);
  Tensor scales = Tensor::zeros({n, groups}, DType::F32);
  Tensor zeros = Tensor::zeros({n, groups}, DType::U8);
  const float* src = w.data<float>();
  uint8_t* c = codes.data<uint8_t>();
  float* s = scales.data<float>();
  uint8_t* z = zeros.data<uint8_t>();
  // Pass 1: octet's scale per (row, group), then rounded to f16 as the GPU stores it.
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      const float* x = src + r * k + g * 128;
      float lo = x[0], hi = x[0];
      for (int i = 0; i < 128; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
      const ScaleZeroPoint sz = qparams_for_range(lo, hi, spec);
      check(sz.zero_point == 0, "cuda", "quantize_w4_rtn: int4 symmetric zero point must be 0");
      s[r * groups + g] = sz.scale;
    }
  const Tensor scales16 = scales.to(DType::F16).to(DType::F32);
  // Pass 2: codes against the scale the GPU uses (an f16 scale of 0 keeps the f32 one:
  // the weight then dequantizes to 0 there, which is what an all-tiny group is anyway).
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      const float s16 = scales16.data<float>()[r * groups + g];
      const float scale = s16 > 0 ? s16 : s[r * groups + g];
      const float inv = 1.0f / scale;
      s[r * groups + g] = scale;
      z[r * groups + g] = 8;
      const float* x = src + r * k + g * 128;
      for (int i = 0; i < 128; ++i) {
        float v = x[i] * inv;
        if (std::isnan(v)) v = 0;
        const float q = std::clamp(round_half_even(v), float(lim.qmin), float(lim.qmax));
        c[r * k + g * 128 + i] = static_cast<uint8_t>(static_cast<int>(q) + 8);  // u = q + 8, zero 8
      }
    }
  return pack_w4(codes, scales, zeros);
}

namespace {

// One Linear in the chosen precision.
struct Lin {
  LlmPrecision kind = LlmPrecision::FP16;
  GemmWeight g;  // F16 or F8_E4M3
  W4Weight w4;
  DeviceTensor bias;  // F16 or undefined
  int64_t n = 0, k = 0;

  int64_t bytes() const {
    int64_t b = kind == LlmPrecision::W4A16 ? w4.bytes() : int64_t(g.w.nbytes()) + (g.scale.defined() ? 4 : 0);
    return b + (bias.defined() ? int64_t(bias.nbytes()) : 0);
  }
};

Tensor to_f32(const Tensor& t) { return t.to(DType::F32).contiguous(); }

Lin make_lin(const Tensor& w_in, const Tensor& bias, LlmPrecision kind, const Stream& stream) {
  Lin l;
  l.kind = kind;
  const Tensor w = to_f32(w_in);
  l.n = w.dim(0), l.k = w.dim(1);
  if (bias.defined()) l.bias = DeviceTensor::upload(to_f32(bias), DType::F16, stream);
  if (kind == LlmPrecision::FP16) {
    l.g = upload_weight(w, DType::F16, stream);
  } else if (kind == LlmPrecision::W4A16) {
    l.w4 = upload_w4(quantize_w4_rtn(w), stream);
  } else {
    const float* p = w.data<float>();
    float amax = 0;
    for (int64_t i = 0; i < w.numel(); ++i) amax = std::max(amax, std::fabs(p[i]));
    const ScaleZeroPoint sz = qparams_for_range(-amax, amax, parse_quant_spec("fp8_e4m3:sym:per_tensor"));
    const float inv = 1.0f / sz.scale;
    Tensor codes = Tensor::zeros(w.shape(), DType::F8_E4M3);
    std::vector<float> scaled(static_cast<size_t>(w.numel()));
    for (size_t i = 0; i < scaled.size(); ++i) scaled[i] = p[i] * inv;  // octet's rule: e4m3(x * (1 / scale))
    convert_f32_to_fp8_e4m3(scaled, std::span<uint8_t>(static_cast<uint8_t*>(codes.raw_data()), scaled.size()));
    l.g = upload_quantized_weight(codes, Tensor::from_floats(std::vector<float>{sz.scale}, {1}), stream);
  }
  return l;
}

// y = x W^T (+ b); y's dtype (F16, or F32 for fp16 Linears) picks the output.
void run_lin(const Lin& l, const DeviceTensor& x, DeviceTensor& y, const Stream& stream) {
  const GemmEpilogue ep = l.bias.defined() ? GemmEpilogue::Bias : GemmEpilogue::None;
  if (l.kind == LlmPrecision::FP16) {
    linear(x, {}, l.g, l.bias, ep, y, stream);
  } else if (l.kind == LlmPrecision::W4A16) {
    linear_w4a16(x, l.w4, l.bias, y, stream);
  } else {
    DeviceTensor xq = DeviceTensor::empty(x.shape(), DType::F8_E4M3, stream);
    OutputQuant q;
    q.mode = QuantMode::DynamicPerTensor;
    q.scale = DeviceTensor::empty({1}, DType::F32, stream);
    quantize(x, xq, stream, q);
    linear(xq, q.scale, l.g, l.bias, ep, y, stream);
  }
}

// Concatenates [N_i, K] tensors along rows (f32).
Tensor cat_rows(const std::vector<Tensor>& parts) {
  int64_t rows = 0;
  const bool vec = parts.front().rank() == 1;
  const int64_t cols = vec ? 1 : parts.front().dim(1);
  for (const Tensor& p : parts) rows += p.dim(0);
  Tensor out = vec ? Tensor::zeros({rows}, DType::F32) : Tensor::zeros({rows, cols}, DType::F32);
  float* o = out.data<float>();
  for (const Tensor& p : parts) {
    const Tensor f = to_f32(p);
    std::memcpy(o, f.data<float>(), size_t(f.numel()) * sizeof(float));
    o += f.numel();
  }
  return out;
}

struct Layer {
  DeviceTensor attn_norm, mlp_norm;
  Lin qkv, o, gate_up, down;
};

float read_eps(const DecoderOptions& o) {
  if (o.rms_norm_eps > 0) return o.rms_norm_eps;
  const auto cfg = o.model_dir / "config.json";
  if (!o.model_dir.empty() && std::filesystem::is_regular_file(cfg)) {
    const JsonConfig c = JsonConfig::load(cfg);
    return c.get_or<float>("rms_norm_eps", 1e-6f);
  }
  return 1e-5f;
}

}  // namespace

struct LlamaCudaRunner::Impl {
  DecoderOptions opt;
  ModelInfo info;
  Stream stream;
  int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, inter = 0, vocab = 0, layers_n = 0;
  float eps = 1e-6f, position_divisor = 1;
  DeviceTensor embed, final_norm, inv_freq, past_len;
  Lin lm_head;
  std::vector<Layer> layers;
  KvCacheView cache;
  int64_t length = 0, batch = 0;
  // Decode step buffers and graphs, per batch size.
  struct Step {
    DeviceTensor ids, logits;
    Graph graph;
    bool warmed = false;
  };
  std::map<int64_t, Step> steps;

  explicit Impl(const DecoderOptions& o) : opt(o), stream(o.device) {}

  void allocate_cache() {
    const DecoderOptions& o = opt;
    const Stream& st = stream;
    steps.clear();  // graphs captured against the old cache
    cache = KvCacheView{};
    length = 0, batch = 0;
    KvCacheView& c = cache;
    c.layers = layers_n, c.batch = o.max_batch, c.kv_heads = kv_heads, c.max_seq = o.max_seq;
    c.head_dim = head_dim;
    const Shape shape{c.layers, c.batch, c.kv_heads, c.max_seq, c.head_dim};
    const DType kv = o.kv_cache == KvCacheType::FP8 ? DType::F8_E4M3 : DType::F16;
    c.k = DeviceTensor::zeros(shape, kv, st);
    c.v = DeviceTensor::zeros(shape, kv, st);
    if (kv == DType::F8_E4M3) {
      check(std::isfinite(o.kv_scale) && o.kv_scale > 0, "cuda", "kv_scale must be positive");
      const std::vector<float> scales(size_t(c.layers * c.kv_heads), o.kv_scale);
      c.k_scale = DeviceTensor::upload(Tensor::from_floats(scales, {int64_t(scales.size())}), st);
      c.v_scale = DeviceTensor::upload(Tensor::from_floats(scales, {int64_t(scales.size())}), st);
    }
  }

  // Runs the trunk and the head for T = B * S rows of ids (i32 on device);
  // logits f32 [B, vocab] (last position of each sequence) or [T, vocab].
  void forward(const DeviceTensor& ids, int64_t b, int64_t s, DeviceTensor& logits, bool last_only) {
    const int64_t t = b * s, qkv_n = (heads + 2 * kv_heads) * head_dim;
    DeviceTensor x = DeviceTensor::empty({t, hidden}, DType::F16, stream);
    DeviceTensor h = DeviceTensor::empty({t, hidden}, DType::F16, stream);
    DeviceTensor qkv = DeviceTensor::empty({t, qkv_n}, DType::F16, stream);
    DeviceTensor attn = DeviceTensor::empty({t, heads * head_dim}, DType::F16, stream);
    DeviceTensor proj = DeviceTensor::empty({t, hidden}, DType::F16, stream);
    DeviceTensor gu = DeviceTensor::empty({t, 2 * inter}, DType::F16, stream);
    DeviceTensor act = DeviceTensor::empty({t, inter}, DType::F16, stream);
    embedding_gather(ids, embed, x, stream);
    RotaryArgs ra;
    ra.batch = b, ra.seq = s, ra.q_heads = heads, ra.k_heads = kv_heads, ra.head_dim = head_dim;
    ra.inv_freq = inv_freq, ra.past_len = past_len, ra.position_divisor = position_divisor;
    // Each residual add is fused with the norm that follows it.
    rms_norm(x, layers.front().attn_norm, eps, h, stream);
    for (int64_t l = 0; l < layers_n; ++l) {
      const Layer& L = layers[size_t(l)];
      run_lin(L.qkv, h, qkv, stream);
      rotary_inplace(qkv, ra, stream);
      kv_append(qkv, heads, s, past_len, cache, l, stream);
      cached_attention(qkv, heads, s, past_len, cache, l, 0.0f, attn, stream);
      run_lin(L.o, attn, proj, stream);
      add_rms_norm(x, proj, L.mlp_norm, eps, h, stream);
      run_lin(L.gate_up, h, gu, stream);
      silu_mul(gu, act, stream);
      run_lin(L.down, act, proj, stream);
      add_rms_norm(x, proj, l + 1 < layers_n ? layers[size_t(l + 1)].attn_norm : final_norm, eps, h, stream);
    }
    if (last_only && s > 1) {
      DeviceTensor last = DeviceTensor::empty({b, hidden}, DType::F16, stream);
      const size_t row = size_t(hidden) * 2;
      for (int64_t i = 0; i < b; ++i)
        copy_on_device(static_cast<char*>(last.raw_data()) + size_t(i) * row,
                       static_cast<const char*>(h.raw_data()) + size_t(i * s + s - 1) * row, row, stream);
      run_lin(lm_head, last, logits, stream);
    } else {
      run_lin(lm_head, h, logits, stream);
    }
  }

  void set_past_len(int64_t n) {
    const int32_t v = static_cast<int32_t>(n);
    copy_to_device(past_len.raw_data(), &v, sizeof(v), stream);
  }

  DeviceTensor upload_ids(std::span<const int64_t> ids) {
    std::vector<int32_t> v(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      check(ids[i] >= 0 && ids[i] < vocab, "cuda", "token id {} outside the vocabulary of {}", ids[i], vocab);
      v[i] = static_cast<int32_t>(ids[i]);
    }
    DeviceTensor d = DeviceTensor::empty({int64_t(v.size())}, DType::I32, stream);
    copy_to_device(d.raw_data(), v.data(), v.size() * sizeof(int32_t), stream);
    return d;
  }
};

LlamaCudaRunner::LlamaCudaRunner(const Model& model, const DecoderOptions& o) {
  check(gpu_available(), "cuda", "no usable CUDA GPU: {}", cuda_status().detail);
  impl_ = std::make_unique<Impl>(o);
  Impl& m = *impl_;
  m.info = model.info();
  const ModelInfo& info = m.info;
  check(info.model_type == "llama" || info.model_type == "mistral" || info.model_type == "qwen2", "cuda",
        "the CUDA decoder runs llama / mistral / qwen2 models, not '{}'", info.model_type);
  check(o.max_batch >= 1 && o.max_batch <= 65535 && o.max_seq >= 1 && o.max_seq <= INT32_MAX, "cuda",
        "bad max_batch {} / max_seq {}", o.max_batch, o.max_seq);
  m.hidden = info.hidden_size, m.heads = info.num_heads, m.kv_heads = info.num_kv_heads;
  m.vocab = info.vocab_size, m.layers_n = info.num_layers;
  check(m.layers_n >= 1 && m.heads >= 1 && m.kv_heads >= 1, "cuda", "the model has no layers or heads");
  m.eps = read_eps(o);

  std::map<std::string, Tensor> params;
  for (auto& [name, t] : model.parameters()) params[name] = t;
  auto find = [&](const std::string& name) -> std::optional<Tensor> {
    if (auto it = params.find(name); it != params.end()) return it->second;
    if (name.rfind("model.", 0) == 0)
      if (auto it = params.find(name.substr(6)); it != params.end()) return it->second;
    return std::nullopt;
  };
  auto need = [&](const std::string& name) {
    auto t = find(name);
    check(t.has_value(), "cuda", "the model has no tensor '{}'", name);
    return *t;
  };
  auto maybe = [&](const std::string& name) { return find(name).value_or(Tensor{}); };

  // Attention layout from the first layer's attention block (rotary, window).
  bool rotary_ok = false;
  nn::RotaryEmbedding rotary;
  int64_t window = 0;
  const_cast<Model&>(model).visit_attention([&](nn::MultiHeadAttention& a) {
    if (rotary_ok) return;
    rotary = a.rotary();
    m.head_dim = a.config().head_dim;
    window = a.config().sliding_window;
    rotary_ok = true;
  });
  check(rotary_ok && rotary.defined(), "cuda", "the model has no rotary attention");
  const nn::RotaryConfig& rc = rotary.config();
  check(rc.style == nn::RotaryStyle::HalfSplit && rc.dim == m.head_dim, "cuda",
        "the CUDA decoder needs full rotate_half rotary embeddings");
  check(rc.scaling != nn::RopeScaling::Dynamic, "cuda", "dynamic rope scaling is not supported on CUDA");
  check(window == 0 || window >= o.max_seq, "cuda", "sliding window {} shorter than the cache ({}) is not supported",
        window, o.max_seq);
  const std::vector<float> inv = rotary.inverse_frequencies(o.max_seq);
  if (rc.scaling == nn::RopeScaling::Linear) m.position_divisor = static_cast<float>(rc.factor);

  const Stream& st = m.stream;
  const LlmPrecision prec = o.precision;
  m.embed = DeviceTensor::upload(to_f32(need("model.embed_tokens.weight")), DType::F16, st);
  m.vocab = m.embed.dim(0);
  m.inv_freq = DeviceTensor::upload(Tensor::from_floats(inv, {int64_t(inv.size())}), st);
  m.past_len = DeviceTensor::zeros({1}, DType::I32, st);
  for (int64_t l = 0; l < m.layers_n; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    Layer L;
    L.attn_norm = DeviceTensor::upload(to_f32(need(p + "input_layernorm.weight")), DType::F16, st);
    L.mlp_norm = DeviceTensor::upload(to_f32(need(p + "post_attention_layernorm.weight")), DType::F16, st);
    const std::string a = p + "self_attn.";
    Tensor qb = maybe(a + "q_proj.bias"), kb = maybe(a + "k_proj.bias"), vb = maybe(a + "v_proj.bias");
    Tensor qkv_bias;
    if (qb.defined() || kb.defined() || vb.defined()) {
      check(qb.defined() && kb.defined() && vb.defined(), "cuda", "{}: q/k/v biases must all be present", a);
      qkv_bias = cat_rows({qb, kb, vb});
    }
    L.qkv = make_lin(cat_rows({need(a + "q_proj.weight"), need(a + "k_proj.weight"), need(a + "v_proj.weight")}),
                     qkv_bias, prec, st);
    L.o = make_lin(need(a + "o_proj.weight"), maybe(a + "o_proj.bias"), prec, st);
    const std::string f = p + "mlp.";
    Tensor gb = maybe(f + "gate_proj.bias"), ub = maybe(f + "up_proj.bias");
    L.gate_up = make_lin(cat_rows({need(f + "gate_proj.weight"), need(f + "up_proj.weight")}),
                         gb.defined() && ub.defined() ? cat_rows({gb, ub}) : Tensor{}, prec, st);
    L.down = make_lin(need(f + "down_proj.weight"), maybe(f + "down_proj.bias"), prec, st);
    if (l == 0) m.inter = L.down.k;
    check(L.qkv.n == (m.heads + 2 * m.kv_heads) * m.head_dim && L.qkv.k == m.hidden, "cuda",
          "{}: q/k/v projections do not match {} heads / {} kv heads of {}", a, m.heads, m.kv_heads, m.head_dim);
    m.layers.push_back(std::move(L));
  }
  m.final_norm = DeviceTensor::upload(to_f32(need("model.norm.weight")), DType::F16, st);
  const Tensor head = maybe("lm_head.weight");
  m.lm_head = make_lin(head.defined() ? head : need("model.embed_tokens.weight"), maybe("lm_head.bias"),
                       LlmPrecision::FP16, st);

  m.allocate_cache();
  st.synchronize();
}

LlamaCudaRunner::~LlamaCudaRunner() {
  if (!impl_) return;
  try {
    impl_->stream.synchronize();
  } catch (...) {  // a failed kernel already reported; nothing more to do here
  }
}

Tensor LlamaCudaRunner::prefill(const Tensor& tokens_in, bool all_positions) {
  Impl& m = *impl_;
  check(tokens_in.defined() && tokens_in.rank() == 2, "cuda", "prefill: tokens must be [batch, seq]");
  const int64_t b = tokens_in.dim(0), s = tokens_in.dim(1);
  // The cache (and its kernels' grids) is laid out for exactly max_batch sequences.
  check(b == m.opt.max_batch, "cuda", "prefill: batch {} must equal the runner's max_batch {}", b, m.opt.max_batch);
  check(s >= 1 && s <= m.opt.max_seq, "cuda", "prefill: {} tokens exceed the cache's {}", s, m.opt.max_seq);
  const Tensor ids64 = tokens_in.to(DType::F64);  // exact for token ids
  std::vector<int64_t> ids(static_cast<size_t>(b * s));
  for (int64_t i = 0; i < b * s; ++i) ids[size_t(i)] = static_cast<int64_t>(ids64.data<double>()[i]);
  DeviceTensor d_ids = m.upload_ids(ids);
  m.set_past_len(0);
  m.length = 0, m.batch = b;
  const bool last_only = !all_positions;
  DeviceTensor logits =
      DeviceTensor::empty(last_only ? Shape{b, m.vocab} : Shape{b * s, m.vocab}, DType::F32, m.stream);
  m.forward(d_ids, b, s, logits, last_only);
  Tensor host = logits.download(m.stream);
  m.length = s;
  return all_positions ? host.reshape({b, s, m.vocab}) : host;
}

Tensor LlamaCudaRunner::decode_step(std::span<const int64_t> tokens) {
  Impl& m = *impl_;
  const int64_t b = int64_t(tokens.size());
  check(m.length > 0, "cuda", "decode_step: call prefill first");
  check(b == m.batch, "cuda", "decode_step: {} tokens for a batch of {}", b, m.batch);
  check(m.length < m.opt.max_seq, "cuda", "decode_step: the cache is full ({} tokens)", m.opt.max_seq);
  Impl::Step& step = m.steps[b];
  if (!step.ids.defined()) {
    step.ids = DeviceTensor::empty({b}, DType::I32, m.stream);
    step.logits = DeviceTensor::empty({b, m.vocab}, DType::F32, m.stream);
  }
  const DeviceTensor ids = m.upload_ids(tokens);
  copy_on_device(step.ids.raw_data(), ids.raw_data(), size_t(b) * sizeof(int32_t), m.stream);
  m.set_past_len(m.length);
  auto body = [&] { m.forward(step.ids, b, 1, step.logits, true); };
  if (!m.opt.use_graphs) {
    body();
  } else if (!step.warmed) {
    body();  // computes this step (plans and pool blocks now exist); capture for the next ones
    step.warmed = true;
    try {
      step.graph.capture(m.stream, body);
    } catch (const Error& e) {
      log_warn("CUDA graph capture failed ({}); decoding without graphs", e.what());
      m.opt.use_graphs = false;
    }
  } else {
    step.graph.launch(m.stream);
  }
  Tensor host = step.logits.download(m.stream);
  m.length += 1;
  return host;
}

std::vector<std::vector<int64_t>> LlamaCudaRunner::generate_greedy(const Tensor& prompt, int64_t new_tokens) {
  check(new_tokens >= 0, "cuda", "generate_greedy: new_tokens must be >= 0");
  const int64_t b = prompt.dim(0);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(b));
  if (new_tokens == 0) return out;
  Tensor logits = prefill(prompt);
  const int64_t vocab = impl_->vocab;
  for (int64_t step = 0; step < new_tokens; ++step) {
    std::vector<int64_t> next(static_cast<size_t>(b));
    const float* p = logits.data<float>();
    for (int64_t i = 0; i < b; ++i) {
      const float* row = p + i * vocab;
      next[size_t(i)] = std::max_element(row, row + vocab) - row;  // first maximum: lowest id
      out[size_t(i)].push_back(next[size_t(i)]);
    }
    if (step + 1 < new_tokens) logits = decode_step(next);
  }
  return out;
}

void LlamaCudaRunner::set_cache(int64_t max_batch, int64_t max_seq) {
  check(max_batch >= 1 && max_batch <= 65535 && max_seq >= 1 && max_seq <= INT32_MAX, "cuda",
        "bad max_batch {} / max_seq {}", max_batch, max_seq);
  impl_->stream.synchronize();
  impl_->opt.max_batch = max_batch, impl_->opt.max_seq = max_seq;
  impl_->allocate_cache();
  impl_->stream.synchronize();
}

int64_t LlamaCudaRunner::length() const { return impl_->length; }
int64_t LlamaCudaRunner::batch() const { return impl_->batch; }
const ModelInfo& LlamaCudaRunner::info() const { return impl_->info; }
const Stream& LlamaCudaRunner::stream() const { return impl_->stream; }

int64_t LlamaCudaRunner::weight_bytes() const {
  const Impl& m = *impl_;
  int64_t b = int64_t(m.embed.nbytes()) + int64_t(m.final_norm.nbytes()) + m.lm_head.bytes();
  for (const Layer& L : m.layers)
    b += int64_t(L.attn_norm.nbytes() + L.mlp_norm.nbytes()) + L.qkv.bytes() + L.o.bytes() + L.gate_up.bytes() +
         L.down.bytes();
  return b;
}

int64_t LlamaCudaRunner::decode_bytes(int64_t batch, int64_t length) const {
  const Impl& m = *impl_;
  int64_t b = int64_t(m.final_norm.nbytes()) + m.lm_head.bytes() + batch * m.hidden * 2;  // + embedding rows
  for (const Layer& L : m.layers)
    b += int64_t(L.attn_norm.nbytes() + L.mlp_norm.nbytes()) + L.qkv.bytes() + L.o.bytes() + L.gate_up.bytes() +
         L.down.bytes();
  const int64_t esize = m.opt.kv_cache == KvCacheType::FP8 ? 1 : 2;
  b += 2 * m.layers_n * batch * m.kv_heads * length * m.head_dim * esize;
  return b;
}

}  // namespace octet::cuda
