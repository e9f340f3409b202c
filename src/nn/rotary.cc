// Rotary position embeddings: inverse frequencies (with rope_scaling), cos/sin
// tables per position, and the in-place rotation of q/k heads.
#include "octet/rotary.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::nn {
namespace {

// transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all in f32.
std::vector<float> default_inverse_frequencies(double base, int64_t dim) {
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    const float power = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)), double{exponent}));
    inv[static_cast<size_t>(i)] = 1.0f / power;
  }
  return inv;
}

// Llama 3.1's frequency-dependent interpolation (transformers'
// _compute_llama3_parameters).
void apply_llama3(std::vector<float>& inv, const RotaryConfig& c) {
  const double low_wavelen = static_cast<double>(c.original_max_position_embeddings) / c.low_freq_factor;
  const double high_wavelen = static_cast<double>(c.original_max_position_embeddings) / c.high_freq_factor;
  for (float& f : inv) {
    const double freq = f;
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double out = freq;
    if (wavelen > low_wavelen) {
      out = freq / c.factor;
    } else if (wavelen >= high_wavelen) {  // medium: neither above low_wavelen nor below high_wavelen
      const double smooth = (static_cast<double>(c.original_max_position_embeddings) / wavelen - c.low_freq_factor) /
                            (c.high_freq_factor - c.low_freq_factor);
      out = (1.0 - smooth) * freq / c.factor + smooth * freq;
    }
    f = static_cast<float>(out);
  }
}

int64_t position_at(const Tensor& ids, int64_t i) {
  return ids.dtype() == DType::I64 ? ids.data<int64_t>()[i] : ids.data<int32_t>()[i];
}

}  // namespace

void read_rope_scaling(const JsonConfig& json, RotaryConfig& config) {
  if (!json.has("rope_scaling")) return;
  const JsonConfig s = json.section("rope_scaling");
  std::string type = s.get_or<std::string>("rope_type", s.get_or<std::string>("type", ""));
  check(!type.empty(), "rotary", "{}: rope_scaling needs a 'type' (or 'rope_type')", json.source());
  if (type == "default") return;
  if (type == "linear") {
    config.scaling = RopeScaling::Linear;
  } else if (type == "dynamic") {
    config.scaling = RopeScaling::Dynamic;
  } else if (type == "llama3") {
    config.scaling = RopeScaling::Llama3;
    config.low_freq_factor = s.get_or<double>("low_freq_factor", 1.0);
    config.high_freq_factor = s.get_or<double>("high_freq_factor", 4.0);
    config.original_max_position_embeddings = s.get_or<int64_t>("original_max_position_embeddings", 8192);
    check(config.high_freq_factor > config.low_freq_factor, "rotary",
          "{}: rope_scaling high_freq_factor ({}) must exceed low_freq_factor ({})", json.source(),
          config.high_freq_factor, config.low_freq_factor);
  } else {
    fail("rotary", "{}: rope_scaling type '{}' is not supported (supported: linear, dynamic, llama3)", json.source(),
         type);
  }
  config.factor = s.get<double>("factor");
  check(config.factor >= 1.0, "rotary", "{}: rope_scaling factor must be >= 1, got {}", json.source(), config.factor);
}

RotaryEmbedding::RotaryEmbedding(const RotaryConfig& config) : config_(config) {
  check(config_.dim > 0 && config_.dim % 2 == 0, "rotary", "rotary dim must be even and > 0, got {}", config_.dim);
  check(config_.base > 1.0, "rotary", "rotary base must be > 1, got {}", config_.base);
  check(config_.scaling != RopeScaling::Dynamic || config_.max_position_embeddings > 0, "rotary",
        "dynamic rope scaling needs max_position_embeddings");
  inv_freq_ = default_inverse_frequencies(config_.base, config_.dim);
  if (config_.scaling == RopeScaling::Llama3) apply_llama3(inv_freq_, config_);
}

std::vector<float> RotaryEmbedding::inverse_frequencies(int64_t seq_len) const {
  if (config_.scaling != RopeScaling::Dynamic || seq_len <= config_.max_position_embeddings) return inv_freq_;
  const double d = static_cast<double>(config_.dim);
  const double growth = config_.factor * static_cast<double>(seq_len) /
                            static_cast<double>(config_.max_position_embeddings) -
                        (config_.factor - 1.0);
  return default_inverse_frequencies(config_.base * std::pow(growth, d / (d - 2.0)), config_.dim);
}

RotaryTables RotaryEmbedding::tables(const Tensor& position_ids) const {
  check(defined(), "rotary", "rotary embedding is not configured");
  check(position_ids.defined() && position_ids.rank() == 2 &&
            (position_ids.dtype() == DType::I64 || position_ids.dtype() == DType::I32),
        "rotary", "position_ids must be i64 [batch, seq], got {}", position_ids);
  const Tensor ids = position_ids.contiguous();
  const int64_t n = ids.numel(), half = config_.dim / 2;
  int64_t max_pos = 0;
  for (int64_t i = 0; i < n; ++i) max_pos = std::max(max_pos, position_at(ids, i));
  const std::vector<float> inv = inverse_frequencies(max_pos + 1);
  RotaryTables t{Tensor::empty({ids.dim(0), ids.dim(1), half}, DType::F32),
                 Tensor::empty({ids.dim(0), ids.dim(1), half}, DType::F32)};
  float* cs = t.cos.data<float>();
  float* sn = t.sin.data<float>();
  const bool linear = config_.scaling == RopeScaling::Linear;
  for (int64_t i = 0; i < n; ++i) {
    float pos = static_cast<float>(position_at(ids, i));
    if (linear) pos = pos / static_cast<float>(config_.factor);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = pos * inv[static_cast<size_t>(j)];  // rounded to f32 like torch's f32 product
      cs[i * half + j] = static_cast<float>(std::cos(double{angle}));
      sn[i * half + j] = static_cast<float>(std::sin(double{angle}));
    }
  }
  return t;
}

void RotaryEmbedding::apply(Tensor& x, const RotaryTables& t) const {
  check(x.defined() && x.dtype() == DType::F32 && x.rank() == 4 && x.is_contiguous(), "rotary",
        "x must be a contiguous f32 [batch, heads, seq, head_dim], got {}", x);
  const int64_t batch = x.dim(0), heads = x.dim(1), seq = x.dim(2), head_dim = x.dim(3);
  const int64_t half = config_.dim / 2;
  check(config_.dim <= head_dim, "rotary", "rotary dim {} exceeds head_dim {}", config_.dim, head_dim);
  check(t.cos.defined() && t.cos.shape() == Shape({batch, seq, half}) && t.sin.shape() == t.cos.shape(), "rotary",
        "tables are {}, expected [{}, {}, {}]", t.cos, batch, seq, half);
  float* data = x.data<float>();
  const float* cs = t.cos.data<float>();
  const float* sn = t.sin.data<float>();
  const bool interleaved = config_.style == RotaryStyle::Interleaved;
  parallel_for(
      batch * heads,
      [&](int64_t begin, int64_t end) {
        for (int64_t bh = begin; bh < end; ++bh) {
          const int64_t b = bh / heads;
          for (int64_t s = 0; s < seq; ++s) {
            float* v = data + (bh * seq + s) * head_dim;
            const float* c = cs + (b * seq + s) * half;
            const float* sv = sn + (b * seq + s) * half;
            for (int64_t i = 0; i < half; ++i) {
              // x * cos + rotate(x) * sin, each product rounded as transformers rounds it.
              const int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
              const float x0 = v[i0], x1 = v[i1];
              const float a0 = x0 * c[i], b0 = x1 * sv[i];
              const float a1 = x1 * c[i], b1 = x0 * sv[i];
              v[i0] = a0 - b0;
              v[i1] = a1 + b1;
            }
          }
        }
      },
      4);
}

}  // namespace octet::nn
