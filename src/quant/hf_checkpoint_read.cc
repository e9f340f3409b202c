// Hugging Face quantized checkpoints: recognising the layout, the shared
// reading helpers, KV-cache scales, and loading the model.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "octet/error.h"
#include "octet/log.h"
#include "quant/hf_read.h"
#include "quant/quantized_load.h"

namespace octet {
namespace hf {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHfQuantConfigFile = "hf_quant_config.json";
constexpr std::string_view kQuantizeConfigFile = "quantize_config.json";  // AutoGPTQ's own file

nlohmann::json parse_json_file(const fs::path& path) {
  std::ifstream in(path);
  check(bool(in), kTag, "cannot read {}", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    fail(kTag, "{}: invalid JSON: {}", path.string(), e.what());
  }
}

// config.json's quantization_config, when it is an object.
std::optional<nlohmann::json> config_block(const fs::path& folder) {
  const fs::path path = folder / "config.json";
  if (!fs::exists(path)) return std::nullopt;
  const nlohmann::json j = parse_json_file(path);
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("quantization_config");
  if (it == j.end() || it->is_null()) return std::nullopt;
  check(it->is_object(), kTag, "{}: 'quantization_config' must be an object", path.string());
  return *it;
}

}  // namespace

Reader::Reader(const fs::path& folder, nlohmann::json block, std::string config_file)
    : folder_(folder),
      weights_(Checkpoint::open(folder)),
      block_(JsonConfig::from_json(std::move(block), config_file)),
      config_file_(std::move(config_file)),
      weights_file_(weights_.source().string()) {}

std::vector<std::string> Reader::modules_with(std::string_view suffix) const {
  std::vector<std::string> modules;
  for (const std::string& name : weights_.names())
    if (name.size() > suffix.size() && name.ends_with(suffix))
      modules.push_back(name.substr(0, name.size() - suffix.size()));
  return modules;
}

const TensorInfo& Reader::info(const std::string& name, std::string_view why) const {
  check(weights_.contains(name), kTag, "{}: tensor '{}' is missing ({})", weights_file_, name, why);
  return weights_.info(name);
}

Tensor Reader::tensor(const std::string& name, std::initializer_list<DType> dtypes, const std::optional<Shape>& shape,
                      std::string_view why) const {
  const TensorInfo& i = info(name, why);
  const bool dtype_ok = std::find(dtypes.begin(), dtypes.end(), i.dtype) != dtypes.end();
  std::vector<std::string_view> names;
  for (const DType d : dtypes) names.push_back(dtype_info(d).safetensors_name);
  check(dtype_ok, kTag, "{}: tensor '{}' is {}, expected {} ({})", weights_file_, name,
        dtype_info(i.dtype).safetensors_name, fmt::join(names, " or "), why);
  check(!shape || i.shape == *shape, kTag, "{}: tensor '{}' has shape {}, expected {} ({})", weights_file_, name,
        shape_str(i.shape), shape_str(shape.value_or(Shape{})), why);
  return weights_.get(name);
}

Tensor Reader::floats(const std::string& name, const std::optional<Shape>& shape, std::string_view why) const {
  const Tensor t = tensor(name, {DType::F32, DType::F16, DType::BF16}, shape, why);
  return t.dtype() == DType::F32 ? t.contiguous() : t.to(DType::F32);
}

float Reader::scalar(const std::string& name, std::string_view why) const {
  const Tensor t = floats(name, std::nullopt, why);
  check(t.numel() == 1, kTag, "{}: tensor '{}' has shape {}, expected one value ([] or [1]) ({})", weights_file_, name,
        shape_str(t.shape()), why);
  const float v = t.data<float>()[0];
  check(std::isfinite(v) && v > 0, kTag, "{}: tensor '{}' holds {}, a scale must be positive and finite",
        weights_file_, name, v);
  return v;
}

void Reader::check_scales(const Tensor& scales, const std::string& name) const {
  for (const float s : scales.contiguous().span<float>())
    check(std::isfinite(s) && s > 0, kTag, "{}: tensor '{}' holds {}, a scale must be positive and finite",
          weights_file_, name, s);
}

void Reader::warn(std::string message) {
  auto& w = result.warnings;
  if (std::find(w.begin(), w.end(), message) == w.end()) w.push_back(std::move(message));
}

Tensor repeat_scale(float scale, int64_t out) { return Tensor::full({out}, scale); }

void check_fp8_codes(const Reader& r, const Tensor& codes, const std::string& name) {
  const Tensor c = codes.contiguous();
  const auto* bytes = static_cast<const uint8_t*>(c.raw_data());
  for (size_t i = 0; i < c.nbytes(); ++i)
    check((bytes[i] & 0x7F) != 0x7F, kTag, "{}: tensor '{}' holds an e4m3 NaN code", r.weights_file(), name);
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative * / ? matching with backtracking to the last star.
  size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

KvCacheConfig read_kv_scales(Reader& r, DType dtype) {
  KvCacheConfig kv;
  kv.dtype = dtype;
  // Attention module -> its k / v scale tensor names.
  std::map<std::string, std::pair<std::string, std::string>> found;
  for (const auto& [suffix, is_key] : {std::pair{std::string_view(".k_scale"), true}, {".v_scale", false},
                                       {".output_scale", true}}) {
    for (std::string module : r.modules_with(suffix)) {
      std::string tensor = module + std::string(suffix);
      bool key = is_key;
      if (suffix == ".output_scale") {  // older compressed-tensors: <A>.k_proj.output_scale / <A>.v_proj.output_scale
        if (!module.ends_with(".k_proj") && !module.ends_with(".v_proj")) continue;
        key = module.ends_with(".k_proj");
      }
      const std::string proj = key ? ".k_proj" : ".v_proj";
      if (module.ends_with(proj)) module.resize(module.size() - proj.size());
      auto& slot = key ? found[module].first : found[module].second;
      check(slot.empty(), kTag, "{}: attention '{}' has two {} scales ('{}' and '{}')", r.weights_file(), module,
            key ? "k" : "v", slot, tensor);
      slot = tensor;
    }
  }
  for (const auto& [module, names] : found) {
    check(!names.first.empty() && !names.second.empty(), kTag, "{}: attention '{}' has a {} scale but no {} scale",
          r.weights_file(), module, names.first.empty() ? "v" : "k", names.first.empty() ? "k" : "v");
    KvCacheConfig::Layer layer;
    layer.name = module;
    for (const auto& [name, scales] : {std::pair{names.first, &layer.k_scale}, {names.second, &layer.v_scale}}) {
      const Tensor t = r.floats(name, std::nullopt, "static KV-cache scale");
      r.check_scales(t, name);
      for (const float v : t.span<float>()) scales->push_back(v);
      r.hide(name);
    }
    kv.layers.push_back(std::move(layer));
  }
  check(!kv.layers.empty(), kTag, "{}: {} describes a static {} KV cache, but no attention has k_scale / v_scale tensors",
        r.weights_file(), r.config_file(), dtype_name(dtype));
  return kv;
}

void check_no_stray_codes(const Reader& r, const QuantizationConfig& config) {
  std::set<std::string> quantized;
  for (const QuantizedLinear& q : config.linears) quantized.insert(q.name + ".weight");
  for (const std::string& name : r.weights().names()) {
    const DType d = r.weights().info(name).dtype;
    if (d != DType::I8 && d != DType::U8 && d != DType::F8_E4M3 && d != DType::F8_E5M2) continue;
    check(quantized.count(name) > 0 || r.hidden().count(name) > 0, kTag,
          "{}: tensor '{}' holds {} codes but {} quantizes no Linear it belongs to (it would be read as plain numbers)",
          r.weights_file(), name, dtype_info(d).safetensors_name, r.config_file());
  }
}

namespace {

// The checkpoint's layout and its config block.
struct Recognised {
  HfLayout layout = HfLayout::Awq;
  std::string method;  // quant_method, or "modelopt"
  nlohmann::json block;
  std::string file;  // what errors name
};

Recognised recognise(const fs::path& folder) {
  check(fs::is_directory(folder), kTag, "'{}' is not a folder", folder.string());
  const fs::path modelopt = folder / kHfQuantConfigFile;
  if (fs::exists(modelopt)) {
    const nlohmann::json j = parse_json_file(modelopt);
    check(j.is_object() && j.contains("quantization") && j["quantization"].is_object(), kTag,
          "{}: expected an object with a 'quantization' object", modelopt.string());
    return {HfLayout::ModelOpt, "modelopt", j["quantization"], modelopt.string()};
  }
  std::optional<nlohmann::json> block = config_block(folder);
  std::string file = (folder / "config.json").string() + ": quantization_config";
  if (!block && fs::exists(folder / kQuantizeConfigFile)) {
    block = parse_json_file(folder / kQuantizeConfigFile);
    file = (folder / kQuantizeConfigFile).string();
    check(block->is_object(), kTag, "{}: expected a JSON object", file);
    if (!block->contains("quant_method")) (*block)["quant_method"] = "gptq";  // AutoGPTQ's file predates the key
  }
  check(block.has_value(), kTag, "{}: no quantization_config in config.json, no {} and no {}", folder.string(),
        kHfQuantConfigFile, kQuantizeConfigFile);
  const auto it = block->find("quant_method");
  check(it != block->end() && it->is_string(), kTag, "{}: no 'quant_method' string", file);
  const std::string method = it->get<std::string>();
  static const std::map<std::string, HfLayout, std::less<>> kMethods = {
      {"awq", HfLayout::Awq},
      {"gptq", HfLayout::Gptq},
      {"compressed-tensors", HfLayout::CompressedTensors},
      {"fp8", HfLayout::Fp8},
      {"modelopt", HfLayout::ModelOpt}};
  const auto m = kMethods.find(method);
  check(m != kMethods.end(), kTag,
        "{}: quant_method '{}' is not one octet reads (awq, gptq, compressed-tensors, fp8, modelopt)", file, method);
  if (m->second == HfLayout::ModelOpt) {
    // config.json's form of a Model Optimizer checkpoint without hf_quant_config.json.
    nlohmann::json q = *block;
    if (q.contains("ignore") && !q.contains("exclude_modules")) q["exclude_modules"] = q["ignore"];
    if (q.contains("kv_cache_scheme") && !q.contains("kv_cache_quant_algo")) {
      const auto& kv = q["kv_cache_scheme"];
      if (kv.is_string()) q["kv_cache_quant_algo"] = kv;
      if (kv.is_object()) q["kv_cache_quant_algo"] = kv.value("type", "") == "int" ? "INT8" : "FP8";
    }
    return {HfLayout::ModelOpt, method, std::move(q), file};
  }
  return {m->second, method, std::move(*block), file};
}

// The checkpoint's quantization; `hidden` (when given) receives the layout's own tensors.
HfCheckpoint read(const fs::path& folder, std::set<std::string>* hidden) {
  Recognised rec = recognise(folder);
  Reader r(folder, std::move(rec.block), rec.file);
  r.result.layout = rec.layout;
  switch (rec.layout) {
    case HfLayout::Awq: read_awq(r); break;
    case HfLayout::Gptq: read_gptq(r); break;
    case HfLayout::CompressedTensors: read_compressed_tensors(r); break;
    case HfLayout::Fp8: read_fp8(r); break;
    case HfLayout::ModelOpt: read_modelopt(r); break;
  }
  QuantizationConfig& c = r.result.config;
  check(!c.linears.empty() || c.kv_cache.enabled(), kTag, "{}: {} describes quantization, but no tensor is quantized",
        r.weights_file(), r.config_file());
  check_no_stray_codes(r, c);
  if (!c.linears.empty()) {
    c.weight_spec = c.linears.front().weight_spec;
    const auto& in = c.linears.front().input;
    if (!in) {
      c.activation_spec = std::nullopt;
    } else if (in->dynamic) {
      c.activation_spec = parse_quant_spec("int8:sym:per_token");
    } else {
      c.activation_spec = in->spec;
    }
  }
  c.calibrator.clear();
  c.recipe_options.insert(c.recipe_options.begin(), {"layout", std::string(hf_layout_name(rec.layout))});
  r.result.layout_tensors.assign(r.hidden().begin(), r.hidden().end());
  if (hidden) *hidden = r.hidden();
  return std::move(r.result);
}

}  // namespace

}  // namespace hf

std::string_view hf_layout_name(HfLayout layout) {
  switch (layout) {
    case HfLayout::Awq: return "awq";
    case HfLayout::Gptq: return "gptq";
    case HfLayout::CompressedTensors: return "compressed-tensors";
    case HfLayout::Fp8: return "fp8";
    case HfLayout::ModelOpt: return "modelopt";
  }
  return "unknown";
}

const std::vector<HfLayout>& hf_layouts() {
  static const std::vector<HfLayout> all = {HfLayout::Awq, HfLayout::Gptq, HfLayout::CompressedTensors,
                                            HfLayout::Fp8, HfLayout::ModelOpt};
  return all;
}

HfLayout parse_hf_layout(std::string_view name) {
  std::vector<std::string_view> names;
  for (const HfLayout l : hf_layouts()) {
    if (hf_layout_name(l) == name) return l;
    names.push_back(hf_layout_name(l));
  }
  fail(hf::kTag, "unknown layout '{}' ({})", name, fmt::join(names, ", "));
}

bool is_hf_quantized_checkpoint(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec) || is_quantized_model(path)) return false;
  if (fs::exists(path / hf::kHfQuantConfigFile) || fs::exists(path / hf::kQuantizeConfigFile)) return true;
  try {
    return hf::config_block(path).has_value();
  } catch (const Error&) {
    return true;  // a malformed block: reading it reports the error
  }
}

HfCheckpoint read_hf_checkpoint(const std::filesystem::path& folder) { return hf::read(folder, nullptr); }

std::unique_ptr<Model> load_hf_quantized_model(const std::filesystem::path& folder, QuantExecution exec,
                                               const LoadOptions& options) {
  std::set<std::string> hidden;
  HfCheckpoint c = hf::read(folder, &hidden);
  for (const std::string& w : c.warnings) log_warn("{}: {}", folder.string(), w);
  std::unique_ptr<Model> model = build_model_from_weights(
      folder, make_quantized_weight_source(Checkpoint::open(folder), c.config, std::move(hidden)), options);
  // A per-tensor KV scale (the layouts' form) becomes one per kv head (octet's).
  std::map<std::string, int64_t> kv_heads;
  model->visit_attention([&](nn::MultiHeadAttention& a) {
    const auto& ac = a.config();
    kv_heads[a.name()] = ac.num_kv_heads > 0 ? ac.num_kv_heads : ac.num_heads;
  });
  for (KvCacheConfig::Layer& l : c.config.kv_cache.layers) {
    const auto it = kv_heads.find(l.name);
    check(it != kv_heads.end(), hf::kTag, "{}: KV-cache scales name attention '{}', which the model does not have",
          folder.string(), l.name);
    for (std::vector<float>* s : {&l.k_scale, &l.v_scale})
      if (s->size() == 1) s->assign(static_cast<size_t>(it->second), s->front());
  }
  apply_quantization(*model, c.config, exec);
  return model;
}

}  // namespace octet
