// Internal: Hugging Face LLaMA parameter names <-> llama.cpp GGUF tensor
// names, one table for the reader (src/models/gguf_models.cc) and the writer
// (src/export/gguf_export.cc).
#pragma once

#include <cstdint>

namespace octet::gguf_names {

// llama.cpp interleaves the rotary halves of each q/k head (convert_hf_to_gguf.py's
// LlamaModel.permute): Hugging Face row h*d + j*d/2 + i of a [heads * d, in] projection is GGUF
// row h*d + 2i + j. The GGUF row holding HF row `row` (rows that cannot be split into heads of
// even size are left in place).
inline int64_t gguf_row_of_hf_row(int64_t row, int64_t rows, int64_t heads) {
  if (heads <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0) return row;
  const int64_t d = rows / heads, half = d / 2, r = row % d;
  return row - r + 2 * (r % half) + r / half;
}

struct NamePair {
  const char* hf;
  const char* gguf;
};

// Whole-model tensors.
inline constexpr NamePair kModel[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Per layer: "model.layers.{i}." + hf <-> "blk.{i}." + gguf.
inline constexpr NamePair kLayer[] = {
    {"input_layernorm.weight", "attn_norm.weight"},   {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},     {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},         {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.bias", "attn_output.bias"},    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},      {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},      {"mlp.gate_proj.bias", "ffn_gate.bias"},
    {"mlp.up_proj.bias", "ffn_up.bias"},              {"mlp.down_proj.bias", "ffn_down.bias"},
};

}  // namespace octet::gguf_names
