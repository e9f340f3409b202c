// Self-attention block: project, split heads, attend, merge heads, project.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/decode_attention.h"
#include "nn/kv_quant.h"
#include "octet/error.h"
#include "octet/nn.h"
#include "octet/thread_pool.h"

namespace octet::nn {
namespace {

// Where head h's d columns start in a projection's output row:
// first + (h / group) * group_stride + (h % group) * d.
struct HeadColumns {
  int64_t first = 0, group = 1, group_stride = 0;
  int64_t column(int64_t h, int64_t d) const { return first + (h / group) * group_stride + (h % group) * d; }
};

// Copies `heads` heads of x [B, S, cols] (placed as `cols_of` says) into [B, heads, S, d].
Tensor split_heads(const Tensor& x, HeadColumns cols_of, int64_t heads, int64_t d) {
  const int64_t batch = x.dim(0), seq = x.dim(1), cols = x.dim(2);
  Tensor out = Tensor::empty({batch, heads, seq, d}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  parallel_for(
      batch * seq,
      [&](int64_t begin, int64_t end) {
        for (int64_t bs = begin; bs < end; ++bs) {
          const int64_t b = bs / seq, s = bs % seq;
          for (int64_t h = 0; h < heads; ++h)
            std::memcpy(dst + ((b * heads + h) * seq + s) * d, src + bs * cols + cols_of.column(h, d),
                        sizeof(float) * d);
        }
      },
      64);
  return out;
}

// Consecutive heads of a separate projection (or one block of a fused one).
HeadColumns contiguous_heads(int64_t first, int64_t heads) { return {first, heads, 0}; }

// The same heads as split_heads(x, contiguous_heads(first, heads), heads, d)
// as a view [B, heads, S, d] of x [B, S, cols]: no copy (kernels::attention
// reads rows of d floats at x's row stride).
Tensor head_view(const Tensor& x, int64_t first, int64_t heads, int64_t d) {
  const int64_t batch = x.dim(0), seq = x.dim(1), cols = x.dim(2);
  return x.reshape({batch, seq, cols / d, d}).slice(2, first / d, first / d + heads).transpose(1, 2);
}

// [B, H, S, d] -> [B, S, H * d].
Tensor merge_heads(const Tensor& x) {
  const int64_t batch = x.dim(0), heads = x.dim(1), seq = x.dim(2), d = x.dim(3);
  Tensor out = Tensor::empty({batch, seq, heads * d}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  parallel_for(
      batch * seq,
      [&](int64_t begin, int64_t end) {
        for (int64_t bs = begin; bs < end; ++bs) {
          const int64_t b = bs / seq, s = bs % seq;
          for (int64_t h = 0; h < heads; ++h)
            std::memcpy(dst + bs * heads * d + h * d, src + ((b * heads + h) * seq + s) * d, sizeof(float) * d);
        }
      },
      64);
  return out;
}

// -inf where key j is more than `window` tokens before query i (queries are
// the last seq_q of seq_k positions), 0 elsewhere: [1, 1, seq_q, seq_k].
Tensor sliding_window_bias(int64_t seq_q, int64_t seq_k, int64_t window) {
  Tensor bias = Tensor::zeros({1, 1, seq_q, seq_k}, DType::F32);
  float* b = bias.data<float>();
  for (int64_t i = 0; i < seq_q; ++i) {
    const int64_t first_visible = i + (seq_k - seq_q) - window;
    for (int64_t j = 0; j < std::min(first_visible, seq_k); ++j)
      b[i * seq_k + j] = -std::numeric_limits<float>::infinity();
  }
  return bias;
}

// 1 where the key may be attended: [batch, seq_k] from any HF mask dtype.
std::vector<uint8_t> key_keep(const Tensor& mask, int64_t batch, int64_t seq_k) {
  std::vector<uint8_t> keep(static_cast<size_t>(batch * seq_k), 1);
  if (!mask.defined()) return keep;
  check(mask.rank() == 2 && mask.dim(0) == batch && mask.dim(1) == seq_k, "multi_head_attention",
        "with a KV cache attention_mask must cover cached and new tokens: [{}, {}], got {}", batch, seq_k, mask);
  const Tensor m = mask.contiguous();
  for (size_t i = 0; i < keep.size(); ++i) {
    switch (m.dtype()) {
      case DType::I64: keep[i] = m.data<int64_t>()[i] != 0; break;
      case DType::I32: keep[i] = m.data<int32_t>()[i] != 0; break;
      case DType::U8: keep[i] = m.data<uint8_t>()[i] != 0; break;
      case DType::Bool: keep[i] = m.data<bool>()[i]; break;
      case DType::F32: keep[i] = m.data<float>()[i] != 0.0f; break;
      default: fail("multi_head_attention", "attention_mask must be i64, i32, u8, bool or f32, got {}", m.describe());
    }
  }
  return keep;
}

// Appends k, v [B, KVH, S, d] to the cache at [length, length + S) (as codes
// when the cache is quantized) and advances it.
void append_to_cache(const Tensor& k, const Tensor& v, AttentionCache& cache) {
  const int64_t batch = k.dim(0), kvh = k.dim(1), seq = k.dim(2), d = k.dim(3);
  const Tensor& layout = cache.layout();
  const bool quantized = cache.quant.enabled();
  check(layout.defined() && (quantized ? cache.v_codes.defined() : cache.v.defined()), "multi_head_attention",
        "the KV cache is not allocated");
  check(layout.dim(0) == batch && layout.dim(1) == kvh && layout.dim(3) == d, "multi_head_attention",
        "KV cache is {} but this batch needs [{}, {}, *, {}]", layout, batch, kvh, d);
  const int64_t cap = cache.capacity();
  check(cache.length + seq <= cap, "multi_head_attention",
        "KV cache full: {} cached + {} new tokens exceed its capacity of {}", cache.length, seq, cap);
  if (quantized) {
    kv_quant::store(k, cache.quant, kv_quant::Part::Keys, cache.k_codes, cache.k_scales, cache.length);
    kv_quant::store(v, cache.quant, kv_quant::Part::Values, cache.v_codes, cache.v_scales, cache.length);
  } else {
    const float* ks = k.data<float>();
    const float* vs = v.data<float>();
    float* kd = cache.k.data<float>();
    float* vd = cache.v.data<float>();
    for (int64_t bg = 0; bg < batch * kvh; ++bg) {
      std::memcpy(kd + (bg * cap + cache.length) * d, ks + bg * seq * d, sizeof(float) * seq * d);
      std::memcpy(vd + (bg * cap + cache.length) * d, vs + bg * seq * d, sizeof(float) * seq * d);
    }
  }
  cache.length += seq;
}

// The decode kernel's problem for block bg (= b * kv_heads + g) of `cache` after a one-token append: the `rows`
// query heads sharing kv head g (q, out: [rows, d]) over the cached keys [0, length), the newest at `past`;
// keep: the block's key mask [length], or null for every key.
kernels::DecodeAttentionGroup decode_group(const AttentionConfig& c, const AttentionCache& cache, int64_t bg,
                                           int64_t rows, const float* q, int64_t past, const uint8_t* keep,
                                           float* out) {
  const int64_t d = c.head_dim, cap = cache.capacity(), total = cache.length;
  kernels::DecodeAttentionGroup g;
  g.q = q, g.heads = rows, g.d = d;
  if (cache.quant.enabled()) {
    g.k = kv_quant::rows_of_block(cache.k_codes, cache.k_scales, cache.quant, kv_quant::Part::Keys, bg);
    g.v = kv_quant::rows_of_block(cache.v_codes, cache.v_scales, cache.quant, kv_quant::Part::Values, bg);
  } else {
    g.k.data = cache.k.data<float>() + bg * cap * d;
    g.v.data = cache.v.data<float>() + bg * cap * d;
  }
  g.ld = d, g.total = total;
  g.scale = c.scale.value_or(1.0f / std::sqrt(static_cast<float>(d)));
  g.keep = keep;
  g.last = c.causal ? past : total - 1;
  g.first = c.causal && c.sliding_window > 0 ? past - c.sliding_window : 0;
  thread_local std::vector<float> probabilities;
  probabilities.resize(static_cast<size_t>(rows * total));
  g.scores = probabilities.data(), g.out = out;
  return g;
}

void check_projection(const Linear& p, std::string_view name, int64_t out, int64_t in) {
  check(p.weight().defined() || p.kernel_resident(), "multi_head_attention", "{} projection has no weight", name);
  check(p.out_features() == out && p.in_features() == in, "multi_head_attention",
        "{} projection weight is [{}, {}], expected [{}, {}]", name, p.out_features(), p.in_features(), out, in);
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(const AttentionConfig& config, Linear q, Linear k, Linear v, Linear out)
    : config_(config), q_(std::move(q)), k_(std::move(k)), v_(std::move(v)), out_(std::move(out)) {
  validate();
}

MultiHeadAttention::MultiHeadAttention(const AttentionConfig& config, Linear qkv, Linear out)
    : config_(config), qkv_(std::move(qkv)), out_(std::move(out)) {
  validate();
}

AttentionCache MultiHeadAttention::make_cache(int64_t batch, int64_t capacity) const {
  check(batch > 0 && capacity > 0, "multi_head_attention", "cache batch ({}) and capacity ({}) must be > 0", batch,
        capacity);
  AttentionCache cache;
  cache.quant = kv_quant_;
  if (kv_quant_.enabled()) {
    kv_quant::allocate(kv_quant_, batch, config_.num_kv_heads, capacity, config_.head_dim, cache.k_codes,
                       cache.k_scales);
    kv_quant::allocate(kv_quant_, batch, config_.num_kv_heads, capacity, config_.head_dim, cache.v_codes,
                       cache.v_scales);
  } else {
    const Shape shape{batch, config_.num_kv_heads, capacity, config_.head_dim};
    cache.k = Tensor::zeros(shape, DType::F32);
    cache.v = Tensor::zeros(shape, DType::F32);
  }
  return cache;
}

void MultiHeadAttention::set_kv_quant(KvCacheQuant quant) {
  const int64_t kvh = config_.num_kv_heads;
  check(quant.dtype == DType::F32 || quant.dtype == DType::F16 || quant.dtype == DType::I8 ||
            quant.dtype == DType::F8_E4M3,
        "multi_head_attention", "KV cache dtype must be f32 (off), f16, i8 or f8_e4m3, got {}",
        dtype_name(quant.dtype));
  const bool has_scales = !quant.k_scale.empty() || !quant.v_scale.empty();
  if (!quant.enabled() || quant.dtype == DType::F16) {
    check(!quant.dynamic && !has_scales, "multi_head_attention", "a {} KV cache takes no scales and no dynamic mode",
          quant.enabled() ? "f16" : "f32 (unquantized)");
  } else if (quant.dynamic) {
    check(!has_scales, "multi_head_attention", "dynamic KV cache quantization takes no static scales");
  } else {
    for (const auto* scales : {&quant.k_scale, &quant.v_scale}) {
      const char* which = scales == &quant.k_scale ? "k_scale" : "v_scale";
      check(int64_t(scales->size()) == kvh, "multi_head_attention",
            "static KV cache {} needs {} values (one per kv head), got {}", which, kvh, scales->size());
      for (size_t g = 0; g < scales->size(); ++g)
        check(std::isfinite((*scales)[g]) && (*scales)[g] > 0.0f, "multi_head_attention",
              "static KV cache {}[{}] = {} must be positive and finite", which, g, (*scales)[g]);
    }
  }
  kv_quant_ = std::move(quant);
}

// Per (batch, kv head): the group of query heads sharing it is one [group * S, d]
// block of q and the cached keys one [total, d] block of the cache, so
//   scores = scale * Q K^T, masks, softmax, out = P V
// are two GEMMs on views: an f32 cache is read where it lies, never copied; a
// quantized one is dequantized block by block into scratch first.
Tensor MultiHeadAttention::attend_cache(const Tensor& q, const AttentionCache& cache, int64_t past,
                                        const Tensor& key_mask) const {
  const AttentionConfig& c = config_;
  const int64_t batch = q.dim(0), heads = q.dim(1), seq = q.dim(2), d = q.dim(3);
  const int64_t kvh = c.num_kv_heads, group = heads / kvh, rows = group * seq;
  const int64_t total = cache.length, cap = cache.capacity();
  const std::vector<uint8_t> keep = key_keep(key_mask, batch, total);
  const float scale = c.scale.value_or(1.0f / std::sqrt(static_cast<float>(d)));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const bool quantized = cache.quant.enabled();
  Tensor out = Tensor::empty({batch, heads, seq, d}, DType::F32);
  // A probabilities site (fake quantization) needs the probabilities as a tensor: the GEMM path.
  const kernels::DecodeAttentionFn decode_kernel =
      seq == 1 && !probs_site_.active() ? kernels::decode_attention_kernel(d) : nullptr;
  // `scratch` ([2, total, d] f32) receives a quantized cache's block, dequantized (GEMM path only).
  auto one_group = [&](int64_t bg, Tensor& scratch) {
    const int64_t b = bg / kvh;
    const Tensor qg = Tensor::borrow(q.data<float>() + bg * rows * d, {rows, d}, DType::F32);
    Tensor og = Tensor::borrow(out.data<float>() + bg * rows * d, {rows, d}, DType::F32);
    if (decode_kernel) {  // one query per head: the decode kernel reads the cache rows (or codes) in place
      decode_kernel(
          decode_group(c, cache, bg, rows, qg.data<float>(), past, keep.data() + b * total, og.data<float>()));
      return;
    }
    Tensor kg, vg;
    if (quantized) {
      float* kd = scratch.data<float>();
      float* vd = kd + total * d;
      kv_quant::load_block(cache.k_codes, cache.k_scales, cache.quant, kv_quant::Part::Keys, bg, total, kd);
      kv_quant::load_block(cache.v_codes, cache.v_scales, cache.quant, kv_quant::Part::Values, bg, total, vd);
      kg = Tensor::borrow(kd, {total, d}, DType::F32);
      vg = Tensor::borrow(vd, {total, d}, DType::F32);
    } else {
      kg = Tensor::borrow(cache.k.data<float>() + bg * cap * d, {total, d}, DType::F32);
      vg = Tensor::borrow(cache.v.data<float>() + bg * cap * d, {total, d}, DType::F32);
    }
    Tensor scores;
    kernels::gemm(qg, kg, scores, {.transpose_b = true, .alpha = scale});
    float* sc = scores.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t qpos = past + r % seq;  // the query's index among all tokens
      const int64_t last = c.causal ? qpos : total - 1;
      const int64_t first = c.causal && c.sliding_window > 0 ? qpos - c.sliding_window : 0;
      float* row = sc + r * total;
      for (int64_t j = 0; j < total; ++j)
        if (j < first || j > last || !keep[static_cast<size_t>(b * total + j)]) row[j] = neg_inf;
    }
    kernels::softmax(scores, scores);  // a row with every key masked becomes zeros
    // Fake quantization is pure, so this may run on pool threads; observers
    // (calibration) run on forward passes without a cache, i.e. in attend().
    if (probs_site_.active()) scores = probs_site_.apply(scores);
    kernels::gemm(scores, vg, og);
  };
  // One token per sequence: many small GEMMs, spread over the pool (inside a
  // pool task kernels::gemm runs octet's own serial kernel, never OpenBLAS's
  // threads: kernels/dispatch.cc); else each GEMM is big enough for
  // OpenBLAS's own threads.
  auto new_scratch = [&] { return quantized && !decode_kernel ? Tensor::empty({2, total, d}, DType::F32) : Tensor(); };
  if (seq == 1) {
    parallel_for(batch * kvh, [&](int64_t begin, int64_t end) {
      Tensor scratch = new_scratch();
      for (int64_t bg = begin; bg < end; ++bg) one_group(bg, scratch);
    });
  } else {
    Tensor scratch = new_scratch();
    for (int64_t bg = 0; bg < batch * kvh; ++bg) one_group(bg, scratch);
  }
  return out;
}

void MultiHeadAttention::validate() {
  AttentionConfig& c = config_;
  check(c.hidden_size > 0 && c.num_heads > 0, "multi_head_attention", "hidden_size ({}) and num_heads ({}) must be > 0",
        c.hidden_size, c.num_heads);
  if (c.num_kv_heads == 0) c.num_kv_heads = c.num_heads;
  if (c.head_dim == 0) {
    check(c.hidden_size % c.num_heads == 0, "multi_head_attention",
          "hidden_size {} is not a multiple of num_heads {}; set head_dim", c.hidden_size, c.num_heads);
    c.head_dim = c.hidden_size / c.num_heads;
  }
  check(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0, "multi_head_attention",
        "num_kv_heads {} must divide num_heads {}", c.num_kv_heads, c.num_heads);
  const int64_t q_cols = c.num_heads * c.head_dim, kv_cols = c.num_kv_heads * c.head_dim;
  if (qkv_) {
    check_projection(*qkv_, "qkv", q_cols + 2 * kv_cols, c.hidden_size);
  } else {
    check_projection(*q_, "q", q_cols, c.hidden_size);
    check_projection(*k_, "k", kv_cols, c.hidden_size);
    check_projection(*v_, "v", kv_cols, c.hidden_size);
  }
  check_projection(out_, "out", c.hidden_size, q_cols);
  check(c.qkv_layout == QkvLayout::Blocked || qkv_, "multi_head_attention", "a grouped qkv layout needs a fused projection");
  check(c.sliding_window >= 0 && (c.sliding_window == 0 || c.causal), "multi_head_attention",
        "a sliding window ({}) needs causal attention", c.sliding_window);
}

bool MultiHeadAttention::project(const Tensor& hidden, const AttentionInputs& inputs, Tensor& q, Tensor& k,
                                 Tensor& v, bool views_allowed) const {
  const AttentionConfig& c = config_;
  check(hidden.defined() && hidden.rank() == 3 && hidden.dim(2) == c.hidden_size, "multi_head_attention",
        "hidden must be [batch, seq, {}], got {}", c.hidden_size, hidden);
  const int64_t h = c.num_heads, kvh = c.num_kv_heads, d = c.head_dim;
  // Views when nothing transforms q, k or v in place: the transforms and sites
  // take contiguous [B, H, S, d] tensors.
  const bool sites = !kernel_replaces_sites(inputs) &&
                     (query_site_.active() || key_site_.active() || value_site_.active());
  const bool views = views_allowed && !qk_transform_ && !rotary_.defined() && !sites &&
                     (!qkv_ || c.qkv_layout == QkvLayout::Blocked);
  if (views) {
    if (qkv_) {
      const Tensor qkv = qkv_->forward(hidden);
      q = head_view(qkv, 0, h, d);
      k = head_view(qkv, h * d, kvh, d);
      v = head_view(qkv, (h + kvh) * d, kvh, d);
    } else {
      const std::vector<Tensor> qkv = Linear::forward_shared({&*q_, &*k_, &*v_}, hidden);
      q = head_view(qkv[0], 0, h, d);
      k = head_view(qkv[1], 0, kvh, d);
      v = head_view(qkv[2], 0, kvh, d);
    }
    return true;
  }
  if (qkv_) {
    const Tensor qkv = qkv_->forward(hidden);
    if (c.qkv_layout == QkvLayout::Grouped) {
      const int64_t per_group = h / kvh, stride = (per_group + 2) * d;
      q = split_heads(qkv, {0, per_group, stride}, h, d);
      k = split_heads(qkv, {per_group * d, 1, stride}, kvh, d);
      v = split_heads(qkv, {(per_group + 1) * d, 1, stride}, kvh, d);
    } else {
      q = split_heads(qkv, contiguous_heads(0, h), h, d);
      k = split_heads(qkv, contiguous_heads(h * d, kvh), kvh, d);
      v = split_heads(qkv, contiguous_heads((h + kvh) * d, kvh), kvh, d);
    }
  } else {
    const std::vector<Tensor> qkv = Linear::forward_shared({&*q_, &*k_, &*v_}, hidden);
    q = split_heads(qkv[0], contiguous_heads(0, h), h, d);
    k = split_heads(qkv[1], contiguous_heads(0, kvh), kvh, d);
    v = split_heads(qkv[2], contiguous_heads(0, kvh), kvh, d);
  }
  if (qk_transform_) qk_transform_(q, k, inputs);
  if (rotary_.defined()) {
    check(inputs.rotary.cos.defined() || inputs.position_ids.defined(), "multi_head_attention",
          "rotary embeddings need position_ids");
    const RotaryTables tables = inputs.rotary.cos.defined() ? inputs.rotary : rotary_.tables(inputs.position_ids);
    rotary_.apply(q, tables);
    rotary_.apply(k, tables);
  }
  if (sites) {
    if (query_site_.active()) q = query_site_.apply(q);
    if (key_site_.active()) k = key_site_.apply(k);
    if (value_site_.active()) v = value_site_.apply(v);
  }
  return false;
}

// Quantization comes after the sites: calibration observes the raw keys and values.
Tensor MultiHeadAttention::attend_with_cache(const Tensor& q, Tensor k, Tensor v, const AttentionInputs& inputs) const {
  AttentionCache& cache = *inputs.cache;
  check(!inputs.position_bias.defined() && !position_bias_, "multi_head_attention",
        "additive position biases are not supported with a KV cache");
  check(cache.quant == kv_quant_, "multi_head_attention",
        "the KV cache was made under another KV quantization setting (cache {}{}, block {}{}, or other scales); "
        "make a new cache",
        dtype_name(cache.quant.dtype), cache.quant.dynamic ? " dynamic" : "", dtype_name(kv_quant_.dtype),
        kv_quant_.dynamic ? " dynamic" : "");
  const int64_t past = cache.length;
  append_to_cache(k, v, cache);
  if (past > 0) return attend_cache(q, cache, past, inputs.attention_mask);
  // From an empty cache the new keys are all the keys: the batched kernel,
  // as without a cache, on the values the cache gives back.
  if (kv_quant_.enabled()) {
    k = kv_quant::load(cache.k_codes, cache.k_scales, cache.quant, kv_quant::Part::Keys, cache.length);
    v = kv_quant::load(cache.v_codes, cache.v_scales, cache.quant, kv_quant::Part::Values, cache.length);
  }
  return attend(q, k, v, inputs);
}

Tensor MultiHeadAttention::forward(const Tensor& hidden, const AttentionInputs& inputs) const {
  Tensor q, k, v;
  // Without a cache or KV rounding, attention reads q, k, v where the projection wrote them and writes
  // the merged [B, S, H * d] context the output projection takes: no head split or merge copies.
  if (project(hidden, inputs, q, k, v, /*views_allowed=*/!inputs.cache && !kv_quant_.enabled())) {
    const int64_t batch = q.dim(0), heads = q.dim(1), seq = q.dim(2), d = q.dim(3);
    Tensor context = Tensor::empty({batch, seq, heads * d}, DType::F32);
    attend(q, k, v, inputs, context.reshape({batch, seq, heads, d}).transpose(1, 2));
    return out_.forward(context);
  }
  Tensor context;
  if (inputs.cache) {
    context = attend_with_cache(q, std::move(k), std::move(v), inputs);
  } else {
    if (kv_quant_.enabled()) {
      k = kv_quant::round_trip(k, kv_quant_, kv_quant::Part::Keys);
      v = kv_quant::round_trip(v, kv_quant_, kv_quant::Part::Values);
    }
    context = attend(q, k, v, inputs);
  }
  return out_.forward(merge_heads(context));
}

Tensor MultiHeadAttention::forward_ragged(const Tensor& hidden, std::span<AttentionCache* const> caches,
                                          const AttentionInputs& inputs) const {
  const int64_t n = int64_t(caches.size());
  check(hidden.defined() && hidden.rank() == 3 && hidden.dim(0) == n && hidden.dim(1) == 1, "multi_head_attention",
        "a ragged decode step takes hidden [{}, 1, {}] (one token per cache), got {}", n, config_.hidden_size,
        hidden.defined() ? hidden.describe() : "nothing");
  check(!inputs.cache && !inputs.attention_mask.defined() && !inputs.position_bias.defined(), "multi_head_attention",
        "a ragged decode step takes its caches separately and no attention mask or position bias");
  for (const AttentionCache* cache : caches)
    check(cache && cache->batch() == 1, "multi_head_attention", "a ragged decode step needs one batch-1 cache per row");
  // The sites would see n rows at once where forward() shows them one: an
  // observer (calibration) would record other batches, and a transform need
  // not be row-wise. DecoderModel runs sequences one by one instead.
  for (const ActivationSite* site : {&query_site_, &key_site_, &value_site_, &probs_site_})
    check(!site->active(), "multi_head_attention", "{}: a ragged decode step cannot run with an active site",
          site->name());
  Tensor q, k, v;
  project(hidden, inputs, q, k, v);
  const int64_t h = config_.num_heads, kvh = config_.num_kv_heads, d = config_.head_dim;
  Tensor context = Tensor::empty({n, h, 1, d}, DType::F32);
  // With the decode kernel and every cache holding earlier tokens: each row's k, v appended to its cache, then
  // the n * kv_heads groups attended as one pool job (one hand-off per layer, not one per sequence). Each group
  // is the one attend_cache runs for that row (no key mask: null keep is every key, as its all-ones mask).
  const kernels::DecodeAttentionFn decode_kernel = kernels::decode_attention_kernel(d);
  // (Anything else, an empty cache or one the per-row path refuses, takes the per-row path.)
  const bool grouped_job = decode_kernel && !position_bias_ &&
                           std::all_of(caches.begin(), caches.end(),
                                       [&](const AttentionCache* c) { return c->length > 0 && c->quant == kv_quant_; });
  if (grouped_job) {
    std::vector<int64_t> past(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      AttentionCache& cache = *caches[size_t(i)];
      past[size_t(i)] = cache.length;
      append_to_cache(Tensor::borrow(k.data<float>() + i * kvh * d, {1, kvh, 1, d}, DType::F32),
                      Tensor::borrow(v.data<float>() + i * kvh * d, {1, kvh, 1, d}, DType::F32), cache);
    }
    // A group costs in proportion to its sequence's length, and a step's sequences may differ by thousands of
    // tokens: each thread takes a contiguous run of groups of about equal total length.
    const int64_t group = h / kvh, items = n * kvh;
    std::vector<int64_t> upto(static_cast<size_t>(items));  // the cost of groups [0, j]
    int64_t total = 0;
    for (int64_t j = 0; j < items; ++j) upto[size_t(j)] = total += past[size_t(j / kvh)] + 1;
    const int64_t parts = std::min<int64_t>(num_threads(), items);
    const auto first_of = [&](int64_t part) {  // the first group whose cost so far exceeds part's share
      return std::upper_bound(upto.begin(), upto.end(), total * part / parts) - upto.begin();
    };
    parallel_for(parts, [&](int64_t p0, int64_t p1) {
      for (int64_t ig = first_of(p0), end = first_of(p1); ig < end; ++ig) {
        const int64_t i = ig / kvh, g = ig % kvh;
        const int64_t offset = (i * h + g * group) * d;  // row i's heads of kv head g, in q and the context
        decode_kernel(decode_group(config_, *caches[size_t(i)], g, group, q.data<float>() + offset, past[size_t(i)],
                                   nullptr, context.data<float>() + offset));
      }
    });
    return out_.forward(merge_heads(context));
  }
  // Each row's slice of q, k, v ([1, heads, 1, d], contiguous since seq is 1)
  // goes through forward()'s cached attention; the contexts land in one tensor.
  for (int64_t i = 0; i < n; ++i) {
    const Tensor qi = Tensor::borrow(q.data<float>() + i * h * d, {1, h, 1, d}, DType::F32);
    Tensor ki = Tensor::borrow(k.data<float>() + i * kvh * d, {1, kvh, 1, d}, DType::F32);
    Tensor vi = Tensor::borrow(v.data<float>() + i * kvh * d, {1, kvh, 1, d}, DType::F32);
    AttentionInputs row;
    row.cache = caches[size_t(i)];
    const Tensor ci = attend_with_cache(qi, std::move(ki), std::move(vi), row);
    std::memcpy(context.data<float>() + i * h * d, ci.data<float>(), sizeof(float) * h * d);
  }
  return out_.forward(merge_heads(context));
}

Tensor MultiHeadAttention::attend(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionInputs& inputs,
                                  Tensor out) const {
  kernels::AttentionParams params;
  params.scale = config_.scale;
  params.causal = config_.causal;
  params.key_mask = inputs.attention_mask;
  if (inputs.position_bias.defined())
    params.bias = inputs.position_bias;
  else if (position_bias_)
    params.bias = position_bias_(q.dim(2), k.dim(2));
  else if (config_.sliding_window > 0 && k.dim(2) - 1 > config_.sliding_window)
    params.bias = sliding_window_bias(q.dim(2), k.dim(2), config_.sliding_window);
  if (kernel_replaces_sites(inputs)) {
    attention_kernel_->forward(q, k, v, out, params);
    return out;
  }
  if (probs_site_.active())
    params.transform_probabilities = [this](Tensor& probs) { probs_site_.apply_in_place(probs); };
  kernels::attention(q, k, v, out, params);
  return out;
}

}  // namespace octet::nn

namespace octet::nn {

void MultiHeadAttention::set_name(const std::string& prefix) {
  name_ = prefix;
  query_site_.set_name(prefix + ":query");
  key_site_.set_name(prefix + ":key");
  value_site_.set_name(prefix + ":value");
  probs_site_.set_name(prefix + ":probs");
}

void MultiHeadAttention::visit_linears(const std::function<void(Linear&)>& fn) {
  for (auto* p : {&qkv_, &q_, &k_, &v_})
    if (*p) fn(**p);
  fn(out_);
}

void MultiHeadAttention::visit_sites(const std::function<void(ActivationSite&)>& fn) {
  fn(query_site_);
  fn(key_site_);
  fn(value_site_);
  fn(probs_site_);
}

}  // namespace octet::nn
