// Rotary position embeddings (RoPE) as the Hugging Face decoders use them.
//
// A head vector x of head_dim values has its first `dim` values rotated in
// pairs by angle pos * inv_freq[i], inv_freq[i] = base^(-2i / dim):
//   HalfSplit   (rotate_half; LLaMA, GPT-NeoX, Falcon, Phi): pairs (i, i + dim/2)
//   Interleaved (rotate_every_two; GPT-J, Meta/llama.cpp):   pairs (2i, 2i + 1)
// and x[dim:] passes through (partial rotary: GPT-J rotary_dim, NeoX
// rotary_pct, Phi partial_rotary_factor).
//
// Scaling (config.json "rope_scaling"):
//   linear:  angle = (pos / factor) * inv_freq
//   dynamic: (NTK) once seq_len = max(position_ids) + 1 exceeds
//            max_position_embeddings, base' = base * (factor * seq_len / max_pos
//            - (factor - 1))^(dim / (dim - 2))
//   llama3:  per-frequency: wavelengths above original_max / low_freq_factor are
//            divided by factor, below original_max / high_freq_factor kept,
//            and smoothly interpolated in between.
// Angles are formed in f32 as transformers does (f32 inv_freq times f32
// position), so long positions round the same way; cos/sin of that f32 angle
// are exact to f32 rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "octet/json_config.h"
#include "octet/tensor.h"

namespace octet::nn {

enum class RotaryStyle { HalfSplit, Interleaved };
enum class RopeScaling { None, Linear, Dynamic, Llama3 };

struct RotaryConfig {
  int64_t dim = 0;  // rotated values per head: even, <= head_dim
  double base = 10000.0;
  RotaryStyle style = RotaryStyle::HalfSplit;
  RopeScaling scaling = RopeScaling::None;
  double factor = 1.0;
  int64_t max_position_embeddings = 0;  // dynamic: the trained context
  double low_freq_factor = 1.0;         // llama3
  double high_freq_factor = 4.0;        // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

// Reads config.json's "rope_scaling" (absent or null: none) into `config`:
// {"type" or "rope_type": "linear" | "dynamic" | "llama3" | "default", "factor", ...}.
// Other types throw Error("rotary") naming the file.
void read_rope_scaling(const JsonConfig& json, RotaryConfig& config);

// cos and sin of every rotated pair: f32 [batch, seq, dim / 2].
struct RotaryTables {
  Tensor cos, sin;
};

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  explicit RotaryEmbedding(const RotaryConfig& config);

  const RotaryConfig& config() const { return config_; }
  bool defined() const { return config_.dim > 0; }

  // dim / 2 inverse frequencies for a call whose largest position is
  // seq_len - 1 (only dynamic scaling depends on it).
  std::vector<float> inverse_frequencies(int64_t seq_len) const;
  // Tables for position_ids [batch, seq] (i64 or i32).
  RotaryTables tables(const Tensor& position_ids) const;
  // Rotates x [batch, heads, seq, head_dim] (f32, contiguous) in place.
  void apply(Tensor& x, const RotaryTables& tables) const;

 private:
  RotaryConfig config_;
  std::vector<float> inv_freq_;  // unscaled by dynamic NTK
};

}  // namespace octet::nn
