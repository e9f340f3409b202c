// `octet export-hf`: an `octet quantize` folder written as a Hugging Face
// quantized checkpoint. Which layouts hold which formats, the output folder
// (config.json with the quantization block, the layout's own files, the
// tokenizer files) and the atomic write; the tensors are hf_layout_tensors.cc's.
#include <fstream>
#include <map>
#include <set>

#include "export/hf_write.h"
#include "io/atomic_file.h"
#include "io/atomic_folder.h"
#include "octet/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using hf::kWriteTag;

constexpr std::string_view kWeightsFile = "model.safetensors";

// Copied from the octet folder when present (config.json is rewritten).
constexpr std::string_view kCopiedFiles[] = {
    "generation_config.json", "tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json",      "vocab.txt",       "vocab.json",            "merges.txt",
    "tokenizer.model",        "spiece.model",    "sentencepiece.bpe.model", "tokenizer.gguf"};

std::string describe(const QuantizedLinear& q) {
  const std::string act = !q.input ? "f32" : q.input->dynamic ? "int8 per-token" : to_string(q.input->spec);
  return fmt::format("{} weights with {} activations{}", to_string(q.weight_spec), act,
                     q.group_index.defined() ? " and an act-order group index" : "");
}

bool is_int4_group(const QuantSpec& s) {
  return s.granularity == Granularity::PerGroup &&
         ((s.dtype == DType::I4 && s.scheme == QuantScheme::Symmetric) ||
          (s.dtype == DType::U4 && s.scheme == QuantScheme::Affine));
}

// Why `layout` cannot hold Linear `q` ("" when it can).
std::string linear_refusal(const QuantizedLinear& q, HfLayout layout) {
  const QuantSpec& w = q.weight_spec;
  const int64_t out = q.weight.dim(0), in = q.weight.dim(1);
  const bool fp8_static = q.input && !q.input->dynamic && q.input->spec.dtype == DType::F8_E4M3;
  const bool int8_sym = w.dtype == DType::I8 && w.scheme == QuantScheme::Symmetric;
  switch (layout) {
    case HfLayout::Awq:
      if (!is_int4_group(w) || q.input || q.group_index.defined())
        return "AutoAWQ gemm holds int4 / uint4 group weights with f32 activations, no act-order group index";
      if (out % 8 != 0) return fmt::format("AutoAWQ gemm packs 8 output features a word, and there are {}", out);
      return "";
    case HfLayout::Gptq: {
      const bool int8_ok = int8_sym && w.granularity != Granularity::PerTensor;
      if (!(is_int4_group(w) || int8_ok) || q.input)
        return "GPTQ holds int4 / uint4 group weights or symmetric int8 weights (per channel or group) with f32 "
               "activations";
      const int per_word = w.dtype == DType::I8 ? 4 : 8;
      if (in % per_word != 0 || out % per_word != 0)
        return fmt::format("GPTQ packs {} values a word along both dimensions, and the weight is [{}, {}]", per_word,
                           out, in);
      return "";
    }
    case HfLayout::CompressedTensors: {
      const bool rows = w.granularity == Granularity::PerTensor ||
                        (w.granularity == Granularity::PerChannel && w.axis == 0);
      const bool fp8_ok = w.dtype == DType::F8_E4M3 && rows && (!q.input || fp8_static);
      const bool int8_ok = int8_sym && rows && q.input && (q.input->dynamic || q.input->spec.dtype == DType::I8);
      if (!fp8_ok && !int8_ok)
        return "compressed-tensors (as octet writes it) holds fp8 weights per tensor / channel with static fp8 or "
               "f32 activations, and int8 weights per tensor / channel with int8 activations (per token or static); "
               "int4 and weight-only int8 need its pack-quantized format, which octet does not write";
      return "";
    }
    case HfLayout::Fp8:
      if (!(w.dtype == DType::F8_E4M3 && w.granularity == Granularity::PerTensor && fp8_static))
        return "vLLM's fp8 holds fp8 per-tensor weights with static fp8 per-tensor activations";
      return "";
    case HfLayout::ModelOpt:
      if (w.dtype == DType::I4 && out % 2 != 0)
        return fmt::format("Model Optimizer packs two output rows a byte, and there are {}", out);
      if (hf::modelopt_algo(q).empty())
        return "Model Optimizer holds FP8 (fp8 per-tensor weights, static fp8 activations), W4A16_AWQ / W4A8_AWQ "
               "(symmetric int4 group weights, f32 or static fp8 activations), W8A16 and W8A8_SQ (int8 per-channel "
               "weights, f32 / static / per-token int8 activations)";
      return "";
  }
  return "unknown layout";
}

std::vector<std::string> layout_names(const std::vector<HfLayout>& layouts) {
  std::vector<std::string> names;
  for (const HfLayout l : layouts) names.emplace_back(hf_layout_name(l));
  return names;
}

ordered_json read_json(const fs::path& path) {
  std::ifstream in(path);
  check(bool(in), kWriteTag, "cannot read {}", path.string());
  try {
    return ordered_json::parse(in);
  } catch (const std::exception& e) {
    fail(kWriteTag, "{}: invalid JSON: {}", path.string(), e.what());
  }
}

void write_json(const fs::path& path, const ordered_json& j) {
  io::write_small_file(path, j.dump(2) + "\n", kWriteTag);
}

// The octet folder's tensors a layout replaces: those of quantized Linears and KV scales.
std::set<std::string> quantization_tensor_names(const QuantizationConfig& c) {
  std::set<std::string> names;
  for (const QuantizedLinear& q : c.linears)
    for (const char* suffix : {".weight", ".weight_scale", ".weight_zero_point", ".weight_group_index",
                               ".input_scale", ".input_zero_point"})
      names.insert(q.name + suffix);
  for (const KvCacheConfig::Layer& l : c.kv_cache.layers) names.insert(l.name + ".k_scale"), names.insert(l.name + ".v_scale");
  return names;
}

}  // namespace

std::string hf_layout_refusal(const QuantizationConfig& c, HfLayout layout) {
  if (c.linears.empty() && !c.kv_cache.enabled()) return "nothing is quantized";
  if (!c.sites.empty())
    return fmt::format("the folder quantizes {} extra activation sites (e.g. '{}'), which no Hugging Face layout holds",
                       c.sites.size(), c.sites.front().name);
  for (const QuantizedLinear& q : c.linears) {
    const std::string why = linear_refusal(q, layout);
    if (!why.empty()) return fmt::format("'{}' has {}: {}", q.name, describe(q), why);
  }
  if (layout == HfLayout::Awq) {
    for (const QuantizedLinear& q : c.linears)
      if (q.weight_spec.group_size != c.linears.front().weight_spec.group_size)
        return fmt::format("AutoAWQ's config holds one group size, and the Linears use {} ('{}') and {} ('{}')",
                           c.linears.front().weight_spec.group_size, c.linears.front().name,
                           q.weight_spec.group_size, q.name);
  }
  if (c.kv_cache.enabled()) {
    if (layout == HfLayout::Awq || layout == HfLayout::Gptq)
      return fmt::format("{} has no KV-cache scales, and the folder quantizes the KV cache ({})", hf_layout_name(layout),
                         dtype_name(c.kv_cache.dtype));
    if (c.kv_cache.dynamic)
      return "the KV cache has dynamic (per-token) scales; the layouts hold static scales only";
    if (layout == HfLayout::Fp8 && c.kv_cache.dtype != DType::F8_E4M3)
      return "vLLM's fp8 holds fp8 KV-cache scales only";
  }
  return "";
}

std::vector<HfLayout> hf_layouts_for(const QuantizationConfig& config) {
  std::vector<HfLayout> ok;
  for (const HfLayout l : hf_layouts())
    if (hf_layout_refusal(config, l).empty()) ok.push_back(l);
  return ok;
}

HfExportResult export_hf_checkpoint(const fs::path& folder, const fs::path& out, const HfExportOptions& options) {
  check(!is_hf_quantized_checkpoint(folder), kWriteTag,
        "'{}' is already a Hugging Face quantized checkpoint; export-hf writes folders made by `octet quantize`",
        folder.string());
  check(is_quantized_model(folder), kWriteTag, "'{}' is not an `octet quantize` folder (no {})", folder.string(),
        kQuantizationConfigFile);
  check(fs::exists(folder / "config.json"), kWriteTag, "{}: no config.json", folder.string());
  check(!options.float_dtype || *options.float_dtype == DType::F32 || *options.float_dtype == DType::F16 ||
            *options.float_dtype == DType::BF16,
        kWriteTag, "the float dtype must be f32, f16 or bf16, got {}",
        options.float_dtype ? dtype_name(*options.float_dtype) : "");
  const QuantizationConfig config = read_quantization_config(folder);
  const std::string why = hf_layout_refusal(config, options.layout);
  if (!why.empty()) {
    const std::vector<HfLayout> ok = hf_layouts_for(config);
    fail(kWriteTag, "{} cannot be written as {}: {}; {}", folder.string(), hf_layout_name(options.layout), why,
         ok.empty() ? std::string("no layout octet writes can hold it")
                    : fmt::format("layouts that can hold it: {}", fmt::join(layout_names(ok), ", ")));
  }
  const Checkpoint weights = Checkpoint::open(folder);
  const bool packed_layout = options.layout == HfLayout::Awq || options.layout == HfLayout::Gptq;
  hf::WriteContext ctx(config, weights, options);
  ctx.scale_dtype = options.float_dtype.value_or(packed_layout ? DType::F16 : DType::F32);

  // Every parameter that is not the quantization's (embeddings, norms, biases, f32 Linears).
  const std::set<std::string> replaced = quantization_tensor_names(config);
  bool cast_params = false;
  for (const std::string& name : weights.names()) {
    if (replaced.count(name)) continue;
    Tensor t = weights.get(name);
    if (options.float_dtype && t.dtype() == DType::F32 && *options.float_dtype != DType::F32) {
      t = t.to(*options.float_dtype);
      cast_params = true;
    }
    ctx.tensors.emplace_back(name, t);
  }
  hf::LayoutConfig layout;
  switch (options.layout) {
    case HfLayout::Awq: layout = hf::write_awq(ctx); break;
    case HfLayout::Gptq: layout = hf::write_gptq(ctx); break;
    case HfLayout::CompressedTensors: layout = hf::write_compressed_tensors(ctx); break;
    case HfLayout::Fp8: layout = hf::write_fp8(ctx); break;
    case HfLayout::ModelOpt: layout = hf::write_modelopt(ctx); break;
  }
  if (ctx.scale_rounding > 0)
    ctx.notes.push_back(fmt::format("scales stored as {}: largest relative change {:.3g} (--dtype f32 keeps them exact)",
                                    dtype_name(ctx.scale_dtype), ctx.scale_rounding));
  if (cast_params)
    ctx.notes.push_back(fmt::format("unquantized parameters stored as {}", dtype_name(*options.float_dtype)));

  // config.json: the source's keys, the quantization block; AutoAWQ and GPTQ kernels compute in f16.
  ordered_json config_json = read_json(folder / "config.json");
  check(config_json.is_object(), kWriteTag, "{}: config.json is not a JSON object", folder.string());
  config_json["quantization_config"] = layout.block;
  if (packed_layout && config_json.value("torch_dtype", "float32") == "float32") {
    config_json["torch_dtype"] = "float16";
    ctx.notes.push_back("config.json torch_dtype set to float16 (the AWQ / GPTQ kernels' dtype); tensors keep theirs");
  }

  io::AtomicFolderWriter writer(out, options.overwrite, std::string(kWriteTag), folder);
  const fs::path& temp = writer.path();
  save_safetensors(temp / kWeightsFile, ctx.tensors, {{"format", "pt"}});
  write_json(temp / "config.json", config_json);
  for (const auto& [name, j] : layout.files) write_json(temp / name, j);
  for (const std::string_view file : kCopiedFiles)
    if (fs::exists(folder / file)) io::copy_small_file(folder / file, temp / file, kWriteTag);
  HfExportResult r;
  r.bytes = fs::file_size(temp / kWeightsFile);
  writer.commit();

  r.out = out;
  r.layout = options.layout;
  r.description = layout.description;
  r.quantized_linears = int64_t(config.linears.size());
  r.tensors = int64_t(ctx.tensors.size());
  r.quantization_config = layout.block.dump(2);
  r.notes = std::move(ctx.notes);
  return r;
}

}  // namespace octet
