// export_gguf: a LLaMA-family model (Hugging Face folder, GGUF file or
// `octet quantize` folder) as a GGUF file llama.cpp runs (octet/export_gguf.h).
//
// Rotary layout: llama.cpp rotates adjacent pairs of each head, transformers
// rotates (i, i + d/2); convert_hf_to_gguf.py permutes q_proj / k_proj rows
// per head so that gguf row h*d + 2i + j = HF row h*d + j*d/2 + i. This is
// the exact inverse of unpermute_rows in src/models/gguf_models.cc, so
// exporting and reading back gives the HF rows unchanged.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "export/gguf_export.h"
#include "io/gguf_llama_names.h"
#include "io/ggml_quants.h"
#include "octet/error.h"
#include "octet/gguf_model.h"
#include "octet/json_config.h"
#include "octet/log.h"
#include "octet/model.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"

namespace octet {

GgufExportType parse_gguf_export_type(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "f16") return GgufExportType::F16;
  if (lower == "q8_0") return GgufExportType::Q8_0;
  if (lower == "q4_0") return GgufExportType::Q4_0;
  if (lower == "q4_k" || lower == "q4_k_m") return GgufExportType::Q4_K;
  fail("export", "GGUF type '{}' is not supported by octet's GGUF export (f16, q8_0, q4_0, q4_k)", name);
}

std::string_view gguf_export_type_name(GgufExportType type) {
  switch (type) {
    case GgufExportType::F16: return "f16";
    case GgufExportType::Q8_0: return "q8_0";
    case GgufExportType::Q4_0: return "q4_0";
    case GgufExportType::Q4_K: return "q4_k";
  }
  return "?";
}

namespace {

namespace fs = std::filesystem;
using gguf_export::Metadata;

// HF parameter name -> llama.cpp tensor name; nullopt when llama.cpp has none.
std::optional<std::string> gguf_name(const std::string& hf) {
  for (const auto& [h, g] : gguf_names::kModel)
    if (hf == h) return g;
  constexpr std::string_view prefix = "model.layers.";
  if (!hf.starts_with(prefix)) return std::nullopt;
  const size_t dot = hf.find('.', prefix.size());
  if (dot == std::string::npos) return std::nullopt;
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size()), rest = hf.substr(dot + 1);
  for (const auto& [h, g] : gguf_names::kLayer)
    if (rest == h) return "blk." + layer + "." + g;
  return std::nullopt;
}

// Rows of [rows, row_bytes] bytes from transformers' half-split order into
// llama.cpp's interleaved one, per head of rows / n_head rows.
void permute_rows(const uint8_t* src, uint8_t* dst, int64_t rows, size_t row_bytes, int64_t n_head) {
  const int64_t d = rows / n_head, half = d / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i)
        std::memcpy(dst + size_t(h * d + 2 * i + j) * row_bytes, src + size_t(h * d + j * half + i) * row_bytes,
                    row_bytes);
}

Tensor permuted(const Tensor& t, int64_t rows, int64_t n_head) {
  const Tensor src = t.contiguous();
  Tensor out = Tensor::empty(src.shape(), src.dtype());
  permute_rows(static_cast<const uint8_t*>(src.raw_data()), static_cast<uint8_t*>(out.raw_data()), rows,
               src.nbytes() / size_t(rows), n_head);
  return out;
}

bool f16_exact(float s) { return std::isfinite(s) && f16_to_float(float_to_f16(s)) == s; }

// The Linear's stored codes and scales as Q4_0 / Q8_0 blocks, when they are
// that type exactly; nullopt (with the reason in `why`) otherwise.
std::optional<Tensor> exact_blocks(const QuantizedLinear& q, GgmlType type, std::string& why) {
  const QuantSpec& spec = q.weight_spec;
  const int64_t out = q.weight.dim(0), in = q.weight.dim(1);
  const bool q4 = type == GgmlType::Q4_0;
  if (spec.scheme != QuantScheme::Symmetric || (spec.dtype != DType::I4 && spec.dtype != DType::I8) ||
      (q4 && spec.dtype != DType::I4)) {
    why = "its weight format has no exact " + std::string(q4 ? "Q4_0" : "Q8_0") + " form";
    return std::nullopt;
  }
  const bool grouped = spec.granularity == Granularity::PerGroup;
  if (grouped && (spec.group_size % 32 != 0 || q.group_index.defined())) {
    why = "groups are not multiples of 32 in order";
    return std::nullopt;
  }
  if (in % 32 != 0) {
    why = "rows are not a multiple of 32";
    return std::nullopt;
  }
  const Tensor scales = q.weight_scale.contiguous();
  const float* s = scales.data<float>();
  const int64_t groups = grouped ? in / spec.group_size : 1;
  auto scale_at = [&](int64_t r, int64_t c) { return grouped ? s[r * groups + c / spec.group_size] : s[r]; };
  const Tensor codes = q.weight.contiguous();
  const auto* bytes = static_cast<const uint8_t*>(codes.raw_data());
  auto code_at = [&](int64_t r, int64_t c) -> int {
    const int64_t k = r * in + c;
    if (spec.dtype == DType::I8) return static_cast<int8_t>(bytes[k]);
    const int nib = (k % 2 == 0) ? (bytes[k / 2] & 0xF) : (bytes[k / 2] >> 4);
    return nib >= 8 ? nib - 16 : nib;
  };
  const int64_t nblocks = out * (in / 32);
  const size_t block_bytes = q4 ? sizeof(io::BlockQ4_0) : sizeof(io::BlockQ8_0);
  Tensor result = Tensor::empty({int64_t(size_t(nblocks) * block_bytes)}, DType::U8);
  auto* dst = result.data<uint8_t>();
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t b = 0; b < in / 32; ++b, dst += block_bytes) {
      const float scale = scale_at(r, b * 32);
      if (!f16_exact(scale)) {
        why = "a scale is not exactly an f16";
        return std::nullopt;
      }
      const uint16_t d = float_to_f16(scale);
      if (q4) {
        io::BlockQ4_0 blk{};
        blk.d = d;
        for (int j = 0; j < 16; ++j) {
          const int lo = code_at(r, b * 32 + j), hi = code_at(r, b * 32 + 16 + j);  // I4 codes lie in [-8, 7]
          blk.qs[j] = static_cast<uint8_t>((lo + 8) | ((hi + 8) << 4));
        }
        std::memcpy(dst, &blk, sizeof(blk));
      } else {
        io::BlockQ8_0 blk{};
        blk.d = d;
        for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(code_at(r, b * 32 + j));
        std::memcpy(dst, &blk, sizeof(blk));
      }
    }
  }
  return result;
}

GgmlType base_type(GgufExportType t) {
  switch (t) {
    case GgufExportType::F16: return GgmlType::F16;
    case GgufExportType::Q8_0: return GgmlType::Q8_0;
    case GgufExportType::Q4_0: return GgmlType::Q4_0;
    case GgufExportType::Q4_K: return GgmlType::Q4_K;
  }
  return GgmlType::F16;
}

void check_architecture(const JsonConfig& config, const std::string& where) {
  const std::string type = config.get_or<std::string>("model_type", "");
  const bool llama = type == "llama" || type == "mistral";
  check(llama, "export",
        "{}: architecture '{}' cannot be exported to GGUF by octet (supported: llama, mistral without sliding window)",
        where, type);
}

}  // namespace

GgufExportResult export_gguf(const fs::path& model, const fs::path& out, const GgufExportOptions& options) {
  check(fs::exists(model), "export", "'{}' does not exist", model.string());
  check(options.overwrite || !fs::exists(out), "export", "'{}' exists (use --force to replace it)", out.string());
  GgufExportResult r;
  r.out = out;
  std::optional<JsonConfig> config;
  if (fs::is_regular_file(model)) {
    check(is_gguf_file(model), "export", "'{}' is neither a GGUF file nor a model folder", model.string());
    r.source_kind = "gguf";
    const GgufFile f = GgufFile::open(model);
    const std::string arch = f.get_or<std::string>("general.architecture", "");
    check(arch == "llama", "export",
          "{}: GGUF architecture '{}' cannot be exported to GGUF by octet (supported: llama)", model.string(), arch);
    config = JsonConfig::from_json(llama_hf_config_from_gguf(f), model.string());
  } else {
    check(fs::is_regular_file(model / "config.json"), "export", "{}: no config.json", model.string());
    r.source_kind = is_quantized_model(model) ? "quantized" : "hf";
    config = JsonConfig::load(model / "config.json");
  }
  check_architecture(*config, model.string());
  const models::LlamaSettings s = models::read_llama_settings(*config);
  check(s.hidden_act == "silu", "export", "{}: hidden_act '{}' (llama.cpp's llama runs silu)", model.string(),
        s.hidden_act);
  check(s.sliding_window == 0 || s.sliding_window >= s.max_position_embeddings, "export",
        "{}: mistral with a sliding window of {} cannot be exported (llama.cpp's llama attends to the whole context)",
        model.string(), s.sliding_window);
  check(!s.qkv_bias || s.attention_bias, "export", "{}: q/k/v biases without an o bias (qwen2) are not supported",
        model.string());
  check(s.rotary.scaling == nn::RopeScaling::None || s.rotary.scaling == nn::RopeScaling::Linear, "export",
        "{}: rope scaling other than linear cannot be exported", model.string());

  std::optional<QuantizationConfig> quant;
  std::map<std::string, const QuantizedLinear*> quantized;
  if (r.source_kind == "quantized") {
    quant = read_quantization_config(model);
    for (const QuantizedLinear& q : quant->linears) quantized[q.name + ".weight"] = &q;
  }
  const std::unique_ptr<Model> m = load_model_for_execution(model, QuantExecution::Simulated);

  const std::string name = (fs::is_regular_file(model) ? model.stem() : model.filename()).string();
  Metadata meta = gguf_export::llama_metadata(s, name, options.type);
  gguf_export::add_tokenizer(meta, model, r.source_kind, s.vocab_size);

  const GgmlType base = base_type(options.type);
  std::vector<GgufTensorToWrite> tensors;
  std::map<std::string, int64_t> requantized;  // weight format -> count
  int64_t f16_fallbacks = 0;
  for (const auto& [hf, value] : m->parameters()) {
    const std::optional<std::string> gname = gguf_name(hf);
    check(gname.has_value(), "export", "{}: parameter '{}' has no llama.cpp tensor name", model.string(), hf);
    if (hf == "lm_head.weight" && s.tie_word_embeddings) continue;
    const bool is_q = hf.ends_with("self_attn.q_proj.weight") || hf.ends_with("self_attn.q_proj.bias");
    const bool is_k = hf.ends_with("self_attn.k_proj.weight") || hf.ends_with("self_attn.k_proj.bias");
    const int64_t n_head = is_q ? s.num_heads : s.num_kv_heads;
    GgufTensorToWrite t;
    t.name = *gname;
    if (value.rank() == 1) {
      t.type = GgmlType::F32;
      t.values = (is_q || is_k) ? permuted(value.to(DType::F32), value.dim(0), n_head) : value;
      tensors.push_back(std::move(t));
      continue;
    }
    GgmlType type = base;
    if (options.type == GgufExportType::Q4_K && hf == "lm_head.weight") type = GgmlType::Q6_K;
    const int64_t block = io::ggml_type_traits(uint32_t(type))->block_size;
    if (value.shape().back() % block != 0) {
      type = GgmlType::F16;
      ++f16_fallbacks;
    }
    t.type = type;
    const auto qit = quantized.find(hf);
    if (qit != quantized.end()) {
      std::string why = "GGUF " + ggml_type_name(uint32_t(type)) + " is not its format";
      std::optional<Tensor> blocks;
      if (type == GgmlType::Q4_0 || type == GgmlType::Q8_0) blocks = exact_blocks(*qit->second, type, why);
      if (blocks) {
        t.encoded = (is_q || is_k) ? permuted(*blocks, value.dim(0), n_head) : *blocks;
        t.encoded_shape = value.shape();
        ++r.exact_tensors;
        tensors.push_back(std::move(t));
        continue;
      }
      if (type != GgmlType::F16) ++requantized[to_string(qit->second->weight_spec) + " (" + why + ")"];
    }
    t.values = (is_q || is_k) ? permuted(value.to(DType::F32), value.dim(0), n_head) : value;
    tensors.push_back(std::move(t));
  }
  for (const auto& [what, n] : requantized) {
    r.requantized_tensors += n;
    const std::string note =
        fmt::format("{} quantized Linear(s) {} re-quantized to {} from their dequantized weights", n, what,
                    gguf_export_type_name(options.type));
    log_warn("export-gguf: {}", note);
    r.notes.push_back(note);
  }
  if (f16_fallbacks > 0)
    r.notes.push_back(fmt::format("{} tensor(s) with rows not a multiple of the block size written as F16",
                                  f16_fallbacks));
  r.tensors = int64_t(tensors.size());
  write_gguf(out, meta, tensors);
  r.bytes = fs::file_size(out);
  return r;
}

}  // namespace octet
