// Exporting a LLaMA-family model as a GGUF file that llama.cpp runs standalone.
//
//   octet::GgufExportOptions o;
//   o.type = octet::parse_gguf_export_type("q8_0");
//   octet::GgufExportResult r = octet::export_gguf("models/kjv-llama", "out/kjv-q8_0.gguf", o);
//
// The model is a Hugging Face folder (config.json + safetensors + the
// SentencePiece tokenizer.model), a GGUF file (its tokenizer.* keys are copied)
// or a folder written by `octet quantize` (either source). Architectures:
// llama, and mistral without a sliding window (llama.cpp runs both as "llama");
// anything else is an Error("export") naming it.
//
// What is written: general.architecture = llama, every llama.* hyper-parameter
// llama.cpp reads, the tokenizer (tokenizer.ggml.model = llama, tokens,
// scores, token_type, bos/eos/unknown/padding ids, add_bos/add_eos), and the
// tensors under llama.cpp's names (token_embd, blk.N.attn_q ..., output_norm,
// output) with q/k rows permuted into llama.cpp's interleaved rotary order
// (convert_hf_to_gguf.py's LlamaModel.permute; octet's GGUF reader undoes it).
// Norms stay F32. Types: f16, q8_0, q4_0 everywhere (2-D weights), q4_k as
// llama.cpp's Q4_K_M base: Q4_K, with output.weight in Q6_K. A 2-D tensor
// whose rows are not a multiple of the block size is written F16 (a note says so).
//
// Quantized folders: when a Linear's stored codes are the target type's
// exactly (symmetric int4 -> Q4_0, symmetric int4 or int8 -> Q8_0, per channel
// or groups that are a multiple of 32 without act-order, codes within the
// type's range, every scale exactly an f16), those codes and scales are
// written as they are, so AWQ/GPTQ-improved weights reach llama.cpp unchanged.
// Otherwise the dequantized weights are re-quantized and one warning line
// says so. The file is written to a temporary name and renamed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

enum class GgufExportType : uint8_t { F16, Q8_0, Q4_0, Q4_K };
// "f16" | "q8_0" | "q4_0" | "q4_k" (any case); else Error("export") listing them.
GgufExportType parse_gguf_export_type(std::string_view name);
std::string_view gguf_export_type_name(GgufExportType type);

struct GgufExportOptions {
  GgufExportType type = GgufExportType::Q8_0;
  bool overwrite = false;  // replace an existing output file
};

struct GgufExportResult {
  std::filesystem::path out;
  std::string source_kind;       // "hf" | "gguf" | "quantized"
  int64_t tensors = 0;
  int64_t exact_tensors = 0;        // quantized codes written as they are
  int64_t requantized_tensors = 0;  // quantized Linears re-quantized from their dequantized weights
  uint64_t bytes = 0;               // file size
  std::vector<std::string> notes;   // the warnings (also logged) and fallbacks
};

GgufExportResult export_gguf(const std::filesystem::path& model, const std::filesystem::path& out,
                             const GgufExportOptions& options);

}  // namespace octet
