// The quantized model folder: save (to a temporary folder, then rename),
// read and validate quantization_config.json against model.safetensors, load.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error_tags.h"
#include "io/atomic_file.h"
#include "io/atomic_folder.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "octet/gguf_model.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
constexpr std::string_view kFormat = "octet-quantized";
constexpr std::string_view kWeightsFile = "model.safetensors";

// Files copied from the source model when present (config and tokenizer).
constexpr std::string_view kCopiedFiles[] = {
    "config.json",       "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.txt",     "vocab.json",
    "merges.txt",        "tokenizer.model",        "spiece.model",   "sentencepiece.bpe.model",
    "tokenizer.gguf",  // a folder written from a GGUF file
};

// config.json as the source has it, minus a Hugging Face quantized
// checkpoint's quantization block: the folder's quantization is octet's own
// (quantization_config.json), and a runtime reading the stale block would
// misread the weights.
void write_config_without_quantization(const fs::path& src, const fs::path& dst) {
  std::ifstream in(src);
  ordered_json j;
  try {
    j = ordered_json::parse(in);
  } catch (const std::exception& e) {
    fail(kQuantizedTag, "{}: invalid JSON: {}", src.string(), e.what());
  }
  if (!j.is_object() || (!j.contains("quantization_config") && !j.contains("compression_config"))) {
    io::copy_small_file(src, dst, kQuantizedTag);
    return;
  }
  j.erase("quantization_config");
  j.erase("compression_config");
  io::write_small_file(dst, j.dump(2) + "\n", kQuantizedTag);
}

std::string weight_name(const std::string& linear) { return linear + ".weight"; }
std::string weight_scale_name(const std::string& linear) { return linear + ".weight_scale"; }
std::string input_scale_name(const std::string& site) { return site + ".input_scale"; }
std::string input_zero_point_name(const std::string& site) { return site + ".input_zero_point"; }
std::string weight_zero_point_name(const std::string& linear) { return linear + ".weight_zero_point"; }
std::string group_index_name(const std::string& linear) { return linear + ".weight_group_index"; }
std::string k_scale_name(const std::string& attention) { return attention + ".k_scale"; }
std::string v_scale_name(const std::string& attention) { return attention + ".v_scale"; }

constexpr std::string_view kNoActivationQuant = "none";

// int4 / uint4 codes are stored as their packed bytes, u8 [out, in / 2]
// (element 2i in the low nibble of byte i, as octet packs them).
Tensor stored_codes(const Tensor& codes) {
  if (!dtype_info(codes.dtype()).is_packed) return codes;
  const Tensor c = codes.contiguous();
  check(c.rank() == 2 && c.dim(1) % 2 == 0, kQuantizedTag, "packed int4 weight {} must be [out, even in]", c);
  return Tensor::borrow(c.raw_data(), {c.dim(0), c.dim(1) / 2}, DType::U8, std::make_shared<Tensor>(c));
}

std::string kv_dtype_name(DType dtype) { return dtype == DType::I8 ? "int8" : "fp8_e4m3"; }

// The spec string of an activation: its static spec, int8:sym:per_token when
// dynamic, "none" when the Linear is weight-only.
std::string activation_spec_text(const std::optional<ActivationQuant>& input) {
  if (!input) return std::string(kNoActivationQuant);
  const ActivationQuant& q = *input;
  if (!q.dynamic) return to_string(q.spec);
  QuantSpec s;
  s.granularity = Granularity::PerToken;
  return to_string(s);
}

nn::SiteKind parse_site_kind(std::string_view name, const std::string& file) {
  for (const nn::SiteKind k : {nn::SiteKind::LinearInput, nn::SiteKind::AttentionQuery, nn::SiteKind::AttentionKey,
                               nn::SiteKind::AttentionValue, nn::SiteKind::AttentionProbs, nn::SiteKind::ResidualAdd,
                               nn::SiteKind::NormInput})
    if (nn::site_kind_name(k) == name) return k;
  fail(kQuantizedTag, "{}: unknown site kind '{}'", file, name);
}

Tensor scalar_f32(float v) {
  Tensor t = Tensor::empty({}, DType::F32);
  t.data<float>()[0] = v;
  return t;
}
Tensor scalar_i32(int32_t v) {
  Tensor t = Tensor::empty({}, DType::I32);
  t.data<int32_t>()[0] = v;
  return t;
}

void add_activation_tensors(std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& name,
                            const std::optional<ActivationQuant>& q) {
  if (!q || q->dynamic) return;
  tensors.emplace_back(input_scale_name(name), scalar_f32(q->scale));
  if (q->spec.dtype == DType::I8) tensors.emplace_back(input_zero_point_name(name), scalar_i32(q->zero_point));
}

ordered_json config_json(const QuantizationConfig& c) {
  ordered_json j;
  j["format"] = kFormat;
  // Version 3 only when a Linear needs it, so that folders without a group index stay readable by older octets.
  const bool group_index = std::any_of(c.linears.begin(), c.linears.end(),
                                       [](const QuantizedLinear& q) { return q.group_index.defined(); });
  j["format_version"] = group_index ? QuantizationConfig::kFormatVersion : 2;
  j["octet_version"] = c.octet_version;
  j["recipe"] = c.recipe;
  j["calibrator"] = c.calibrator;
  j["calibration"] = {{"source", c.calibration_source}, {"samples", c.calibration_samples}};
  j["weights"] = to_string(c.weight_spec);
  j["activations"] = c.activation_spec ? to_string(*c.activation_spec) : std::string(kNoActivationQuant);
  ordered_json options = ordered_json::object();
  for (const auto& [key, value] : c.recipe_options) options[key] = value;
  j["recipe_options"] = std::move(options);
  j["weights_file"] = kWeightsFile;
  ordered_json linears = ordered_json::array();
  for (const QuantizedLinear& q : c.linears)
    linears.push_back({{"name", q.name}, {"weight", to_string(q.weight_spec)}, {"input", activation_spec_text(q.input)}});
  j["linears"] = std::move(linears);
  ordered_json sites = ordered_json::array();
  for (const QuantizedSite& s : c.sites)
    sites.push_back({{"name", s.name}, {"kind", nn::site_kind_name(s.kind)}, {"input", activation_spec_text(s.quant)}});
  j["sites"] = std::move(sites);
  ordered_json excluded = ordered_json::array();
  for (const ExcludedLayer& e : c.excluded) excluded.push_back({{"name", e.name}, {"reason", e.reason}});
  j["excluded"] = std::move(excluded);
  if (c.kv_cache.enabled()) {
    ordered_json layers = ordered_json::array();
    for (const KvCacheConfig::Layer& l : c.kv_cache.layers) layers.push_back(l.name);
    j["kv_cache"] = {{"dtype", kv_dtype_name(c.kv_cache.dtype)},
                     {"scale", c.kv_cache.dynamic ? "dynamic" : "static"},
                     {"layers", std::move(layers)}};
  }
  return j;
}

}  // namespace

void save_quantized_model(const Model& model, const QuantizationConfig& config, const fs::path& source,
                          const fs::path& out, bool overwrite) {
  const bool gguf_source = is_gguf_file(source);
  const fs::path source_dir = fs::is_directory(source) ? source : source.parent_path();
  check(gguf_source || fs::exists(source_dir / "config.json"), kQuantizedTag,
        "{}: no config.json to copy (a Hugging Face folder or a .gguf file is needed)", source_dir.string());
  io::AtomicFolderWriter writer(out, overwrite, std::string(kQuantizedTag), source_dir);

  // model.safetensors: every parameter, with the quantized Linears' weights as int8 plus their scales.
  std::map<std::string, const QuantizedLinear*> quantized;
  for (const QuantizedLinear& q : config.linears) quantized.emplace(weight_name(q.name), &q);
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : model.parameters()) {
    if (!seen.insert(name).second) continue;  // tied parameters are listed once
    const auto it = quantized.find(name);
    if (it == quantized.end()) {
      tensors.emplace_back(name, tensor);
      continue;
    }
    const QuantizedLinear& q = *it->second;
    // Codes are [out, in]; a checkpoint may store the weight [in, out] (GPT-2's Conv1D), which the loader undoes.
    const Shape transposed = q.weight.defined() ? Shape{q.weight.dim(1), q.weight.dim(0)} : Shape{};
    check(q.weight.defined() && (tensor.shape() == q.weight.shape() || tensor.shape() == transposed), kQuantizedTag,
          "{}: quantized weight {} does not match the model's {}", q.name,
          q.weight.defined() ? q.weight.describe() : "undefined", tensor.describe());
    tensors.emplace_back(name, stored_codes(q.weight));
    tensors.emplace_back(weight_scale_name(q.name), q.weight_scale);
    if (q.weight_zero_point.defined()) tensors.emplace_back(weight_zero_point_name(q.name), q.weight_zero_point);
    if (q.group_index.defined()) tensors.emplace_back(group_index_name(q.name), q.group_index);
    add_activation_tensors(tensors, q.name, q.input);
  }
  // A natively loaded model holds no f32 weight for its kernel-resident Linears
  // (nn::Linear::kernel_resident): their codes come from the config as above.
  std::map<std::string, Shape> resident;
  const_cast<Model&>(model).visit_linears([&](nn::Linear& l) {  // reads names and sizes only
    if (l.kernel_resident()) resident.emplace(weight_name(l.name()), Shape{l.out_features(), l.in_features()});
  });
  for (const auto& [name, q] : quantized) {
    if (seen.count(name) > 0) continue;
    const auto r = resident.find(name);
    check(r != resident.end(), kQuantizedTag, "the model has no parameter '{}' for quantized Linear '{}'", name,
          q->name);
    check(q->weight.defined() && q->weight.shape() == r->second, kQuantizedTag,
          "{}: quantized weight {} does not match the model's {}", q->name,
          q->weight.defined() ? q->weight.describe() : "undefined", shape_str(r->second));
    seen.insert(name);
    tensors.emplace_back(name, stored_codes(q->weight));
    tensors.emplace_back(weight_scale_name(q->name), q->weight_scale);
    if (q->weight_zero_point.defined()) tensors.emplace_back(weight_zero_point_name(q->name), q->weight_zero_point);
    if (q->group_index.defined()) tensors.emplace_back(group_index_name(q->name), q->group_index);
    add_activation_tensors(tensors, q->name, q->input);
  }
  for (const QuantizedSite& s : config.sites) add_activation_tensors(tensors, s.name, s.quant);
  for (const KvCacheConfig::Layer& l : config.kv_cache.layers) {
    tensors.emplace_back(k_scale_name(l.name), Tensor::from_floats(l.k_scale, {int64_t(l.k_scale.size())}));
    tensors.emplace_back(v_scale_name(l.name), Tensor::from_floats(l.v_scale, {int64_t(l.v_scale.size())}));
  }

  const fs::path& temp = writer.path();
  save_safetensors(temp / kWeightsFile, tensors, {{"format", std::string(kFormat)}});
  io::write_small_file(temp / kQuantizationConfigFile, config_json(config).dump(2) + "\n", kQuantizedTag);
  if (gguf_source) {
    write_gguf_model_files(source, temp);  // config.json and tokenizer.gguf from the GGUF's metadata
  } else {
    for (const std::string_view file : kCopiedFiles) {
      const fs::path src = source_dir / file;
      if (!fs::exists(src)) continue;
      if (file == "config.json")
        write_config_without_quantization(src, temp / file);
      else
        io::copy_small_file(src, temp / file, kQuantizedTag);
    }
  }

  writer.commit();
}

bool is_quantized_model(const fs::path& path) {
  return fs::is_directory(path) && fs::exists(path / kQuantizationConfigFile);
}

// ---- reading ----------------------------------------------------------------------------

namespace {

class ConfigReader {
 public:
  ConfigReader(const fs::path& folder, const Checkpoint& weights)
      : file_((folder / kQuantizationConfigFile).string()), weights_(weights) {}

  const std::string& file() const { return file_; }

  const nlohmann::json& member(const nlohmann::json& j, const char* key, nlohmann::json::value_t type,
                               std::string_view where) const {
    const auto it = j.find(key);
    check(it != j.end(), kQuantizedTag, "{}: {} has no '{}'", file_, where, key);
    const bool number_ok = type == nlohmann::json::value_t::number_integer && it->is_number_integer();
    check(it->type() == type || number_ok, kQuantizedTag, "{}: '{}' of {} has the wrong type ({})", file_, key, where,
          it->type_name());
    return *it;
  }
  std::string string_member(const nlohmann::json& j, const char* key, std::string_view where) const {
    return member(j, key, nlohmann::json::value_t::string, where).get<std::string>();
  }
  QuantSpec spec_member(const nlohmann::json& j, const char* key, std::string_view where) const {
    const std::string text = string_member(j, key, where);
    try {
      return parse_quant_spec(text);
    } catch (const Error& e) {
      fail(kQuantizedTag, "{}: '{}' of {}: {}", file_, key, where, e.detail());
    }
  }

  // The tensor `name` from the weights file, checked for dtype and shape.
  Tensor tensor(const std::string& name, DType dtype, const std::optional<Shape>& shape, std::string_view why) const {
    check(weights_.contains(name), kQuantizedTag, "{}: tensor '{}' is missing ({} lists it: {})",
          weights_.source().string(), name, kQuantizationConfigFile, why);
    const TensorInfo& info = weights_.info(name);
    check(info.dtype == dtype, kQuantizedTag, "{}: tensor '{}' is {}, but {} says {} ({})", weights_.source().string(),
          name, dtype_name(info.dtype), kQuantizationConfigFile, dtype_name(dtype), why);
    check(!shape || info.shape == *shape, kQuantizedTag, "{}: tensor '{}' has shape {}, expected {} ({})",
          weights_.source().string(), name, shape_str(info.shape), shape_str(shape.value_or(Shape{})), why);
    return weights_.get(name);
  }

  // The "input" of a Linear or site: nullopt for "none" (weight-only), when `allow_none`.
  std::optional<ActivationQuant> activation(const nlohmann::json& j, const std::string& name, std::string_view where,
                                            bool allow_none) const {
    if (allow_none && string_member(j, "input", where) == kNoActivationQuant) return std::nullopt;
    ActivationQuant q;
    const QuantSpec spec = spec_member(j, "input", where);
    const bool fp8 = spec.dtype == DType::F8_E4M3;
    check((spec.dtype == DType::I8 || fp8) && spec.rounding == Rounding::NearestEven, kQuantizedTag,
          "{}: {}: activations must be int8 or fp8_e4m3 with nearest-even rounding, got {}", file_, where,
          to_string(spec));
    if (spec.granularity == Granularity::PerToken) {
      check(spec.scheme == QuantScheme::Symmetric && !fp8, kQuantizedTag,
            "{}: {}: per-token activations are int8 symmetric, got {}", file_, where, to_string(spec));
      q.dynamic = true;
      return q;
    }
    check(spec.granularity == Granularity::PerTensor, kQuantizedTag,
          "{}: {}: activations are per tensor (static) or per token (dynamic), got {}", file_, where, to_string(spec));
    q.spec = spec;
    q.scale = tensor(input_scale_name(name), DType::F32, Shape{}, "static input scale").data<float>()[0];
    if (!fp8)
      q.zero_point =
          tensor(input_zero_point_name(name), DType::I32, Shape{}, "static input zero point").data<int32_t>()[0];
    check(std::isfinite(q.scale) && q.scale > 0, kQuantizedTag,
          "{}: tensor '{}' is {}, a scale must be positive and finite", weights_.source().string(),
          input_scale_name(name), q.scale);
    check(q.zero_point >= -128 && q.zero_point <= 127 && (spec.scheme == QuantScheme::Affine || q.zero_point == 0),
          kQuantizedTag, "{}: tensor '{}' is {}, outside the grid of {}", weights_.source().string(),
          input_zero_point_name(name), q.zero_point, to_string(spec));
    return q;
  }

  QuantizedLinear linear(const nlohmann::json& j) const {
    QuantizedLinear q;
    q.name = string_member(j, "name", "a 'linears' entry");
    const std::string where = fmt::format("linear '{}'", q.name);
    const std::string source = weights_.source().string();
    q.weight_spec = spec_member(j, "weight", where);
    const DType dtype = q.weight_spec.dtype;
    const bool packed = dtype_info(dtype).is_packed;
    const DType stored = packed ? DType::U8 : dtype;
    check(dtype == DType::I8 || dtype == DType::I4 || dtype == DType::U4 || dtype == DType::F8_E4M3, kQuantizedTag,
          "{}: {}: weights of type {} are not supported (int8, int4, uint4, fp8_e4m3)", file_, where,
          dtype_name(dtype));
    Tensor codes = tensor(weight_name(q.name), stored, std::nullopt, fmt::format("{} weight", dtype_name(dtype)));
    check(codes.rank() == 2, kQuantizedTag, "{}: tensor '{}' has shape {}, a Linear weight is [out, in]", source,
          weight_name(q.name), shape_str(codes.shape()));
    if (packed) codes = Tensor::borrow(codes.raw_data(), {codes.dim(0), codes.dim(1) * 2}, dtype,
                                       std::make_shared<Tensor>(codes));
    q.weight = codes;
    const int64_t out = codes.dim(0), in = codes.dim(1);
    const bool group = q.weight_spec.granularity == Granularity::PerGroup;
    check(!group || (q.weight_spec.group_size > 0 && in % q.weight_spec.group_size == 0), kQuantizedTag,
          "{}: {}: group size {} does not divide the {} input features", file_, where, q.weight_spec.group_size, in);
    const Shape scale_shape = group ? Shape{out, in / q.weight_spec.group_size} : Shape{out};
    q.weight_scale = tensor(weight_scale_name(q.name), DType::F32, scale_shape, "weight scale");
    const auto scales = q.weight_scale.span<float>();
    for (const float s : scales)
      check(std::isfinite(s) && s > 0, kQuantizedTag, "{}: tensor '{}' holds {}, a scale must be positive and finite",
            source, weight_scale_name(q.name), s);
    if (q.weight_spec.granularity == Granularity::PerTensor)
      for (const float s : scales)
        check(s == scales[0], kQuantizedTag, "{}: tensor '{}' varies, but {} says per tensor", source,
              weight_scale_name(q.name), to_string(q.weight_spec));
    const QuantLimits lim = quant_limits(q.weight_spec);
    if (q.weight_spec.scheme == QuantScheme::Affine) {
      q.weight_zero_point = tensor(weight_zero_point_name(q.name), DType::I32, scale_shape, "weight zero point");
      for (const int32_t z : q.weight_zero_point.span<int32_t>())
        check(z >= lim.qmin && z <= lim.qmax, kQuantizedTag, "{}: tensor '{}' holds {}, outside the grid [{}, {}]",
              source, weight_zero_point_name(q.name), z, lim.qmin, lim.qmax);
    }
    if (weights_.contains(group_index_name(q.name))) {
      check(group, kQuantizedTag, "{}: tensor '{}' exists, but {} is not a group format", source,
            group_index_name(q.name), to_string(q.weight_spec));
      q.group_index = tensor(group_index_name(q.name), DType::I32, Shape{in}, "group index");
    }
    check_codes_on_grid(q, lim);
    q.input = activation(j, q.name, where, /*allow_none=*/true);
    try {
      validate_quantized_linear(q);
    } catch (const Error& e) {
      fail(kQuantizedTag, "{}: {}", file_, e.detail());
    }
    return q;
  }

  KvCacheConfig kv_cache(const nlohmann::json& j) const {
    KvCacheConfig kv;
    const std::string where = "'kv_cache'";
    const std::string dtype = string_member(j, "dtype", where), scale = string_member(j, "scale", where);
    check(dtype == "int8" || dtype == "fp8_e4m3", kQuantizedTag, "{}: kv_cache dtype '{}' is not int8 or fp8_e4m3",
          file_, dtype);
    check(scale == "static" || scale == "dynamic", kQuantizedTag, "{}: kv_cache scale '{}' is not static or dynamic",
          file_, scale);
    kv.dtype = dtype == "int8" ? DType::I8 : DType::F8_E4M3;
    kv.dynamic = scale == "dynamic";
    for (const auto& e : member(j, "layers", nlohmann::json::value_t::array, where)) {
      check(e.is_string(), kQuantizedTag, "{}: kv_cache layers must be attention module names", file_);
      KvCacheConfig::Layer l;
      l.name = e.get<std::string>();
      if (!kv.dynamic) {
        for (const auto& [name, scales] : {std::pair{k_scale_name(l.name), &l.k_scale},
                                           std::pair{v_scale_name(l.name), &l.v_scale}}) {
          const Tensor t = tensor(name, DType::F32, std::nullopt, "static KV cache scale");
          check(t.rank() == 1, kQuantizedTag, "{}: tensor '{}' must be [kv_heads], got {}", weights_.source().string(),
                name, shape_str(t.shape()));
          for (const float v : t.span<float>()) {
            check(std::isfinite(v) && v > 0, kQuantizedTag,
                  "{}: tensor '{}' holds {}, a scale must be positive and finite", weights_.source().string(), name, v);
            scales->push_back(v);
          }
        }
      }
      kv.layers.push_back(std::move(l));
    }
    return kv;
  }

 private:
  // Symmetric integer codes stay inside [-qmax, qmax] (int8 never -128, int4
  // never -8); fp8 codes are never NaN. Each test first runs as a branch-free
  // pass over the bytes (vectorised; a scalar check per byte was a fifth of
  // loading a 1.1 B model) and only a failing tensor is walked for its message.
  void check_codes_on_grid(const QuantizedLinear& q, const QuantLimits& lim) const {
    const std::string name = weight_name(q.name), source = weights_.source().string();
    const Tensor& w = q.weight;
    const auto* bytes = static_cast<const uint8_t*>(w.raw_data());
    const size_t nbytes = w.nbytes();
    const auto any_byte = [&](auto off_grid) {
      uint8_t any = 0;  // a byte, not a bool: GCC vectorises the or-reduction of this one
      for (size_t i = 0; i < nbytes; ++i) any |= uint8_t(off_grid(bytes[i]));
      return any != 0;
    };
    if (w.dtype() == DType::I8) {
      const int qmin = lim.qmin, qmax = lim.qmax;
      if (!any_byte([&](uint8_t b) { return (int(int8_t(b)) < qmin) | (int(int8_t(b)) > qmax); })) return;
      for (const int8_t v : w.span<int8_t>())
        check(v >= lim.qmin && v <= lim.qmax, kQuantizedTag,
              "{}: tensor '{}' holds {}, outside the symmetric grid [{}, {}]", source, name, int(v), lim.qmin,
              lim.qmax);
    } else if (w.dtype() == DType::I4) {
      // -8 is 0b1000 in either nibble.
      check(!any_byte([](uint8_t b) { return ((b & 0x0F) == 0x08) | ((b & 0xF0) == 0x80); }), kQuantizedTag,
            "{}: tensor '{}' holds -8, outside the symmetric int4 grid [-7, 7]", source, name);
    } else if (w.dtype() == DType::F8_E4M3) {
      check(!any_byte([](uint8_t b) { return (b & 0x7F) == 0x7F; }), kQuantizedTag,
            "{}: tensor '{}' holds an e4m3 NaN code", source, name);
    }
  }

  std::string file_;
  const Checkpoint& weights_;
};

}  // namespace

QuantizationConfig read_quantization_config(const fs::path& folder) {
  const fs::path path = folder / kQuantizationConfigFile;
  check(fs::exists(path), kQuantizedTag, "{}: no {}", folder.string(), kQuantizationConfigFile);
  nlohmann::json j;
  {
    std::ifstream f(path);
    check(bool(f), kQuantizedTag, "cannot read {}", path.string());
    try {
      j = nlohmann::json::parse(f);
    } catch (const std::exception& e) {
      fail(kQuantizedTag, "{}: invalid JSON: {}", path.string(), e.what());
    }
  }
  check(j.is_object(), kQuantizedTag, "{}: expected a JSON object", path.string());
  const Checkpoint weights = Checkpoint::open(folder);
  const ConfigReader r(folder, weights);
  using vt = nlohmann::json::value_t;
  check(r.string_member(j, "format", "the file") == kFormat, kQuantizedTag, "{}: 'format' is not '{}'", r.file(),
        kFormat);
  const int64_t version = r.member(j, "format_version", vt::number_integer, "the file").get<int64_t>();
  check(version >= 1 && version <= QuantizationConfig::kFormatVersion, kQuantizedTag,
        "{}: format_version {} is not supported (this octet reads 1..{})", r.file(), version,
        QuantizationConfig::kFormatVersion);

  QuantizationConfig c;
  c.octet_version = r.string_member(j, "octet_version", "the file");
  c.recipe = r.string_member(j, "recipe", "the file");
  c.calibrator = r.string_member(j, "calibrator", "the file");
  if (j.contains("calibration") && j["calibration"].is_object()) {
    // Checked like every other member: value("samples", int64_t(0)) of a float (1e300) was an
    // out-of-range float-to-integer conversion, and of a string a nlohmann exception.
    const nlohmann::json& calibration = j["calibration"];
    if (calibration.contains("source")) c.calibration_source = r.string_member(calibration, "source", "'calibration'");
    if (calibration.contains("samples"))
      c.calibration_samples = r.member(calibration, "samples", vt::number_integer, "'calibration'").get<int64_t>();
  }
  c.weight_spec = r.spec_member(j, "weights", "the file");
  if (r.string_member(j, "activations", "the file") == kNoActivationQuant)
    c.activation_spec = std::nullopt;
  else
    c.activation_spec = r.spec_member(j, "activations", "the file");
  if (const auto it = j.find("recipe_options"); it != j.end() && it->is_object())
    for (const auto& [key, value] : it->items())
      c.recipe_options.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
  if (const auto it = j.find("kv_cache"); it != j.end()) {
    check(it->is_object(), kQuantizedTag, "{}: 'kv_cache' must be an object", r.file());
    c.kv_cache = r.kv_cache(*it);
  }
  std::set<std::string> names;
  for (const auto& e : r.member(j, "linears", vt::array, "the file")) {
    c.linears.push_back(r.linear(e));
    check(names.insert(c.linears.back().name).second, kQuantizedTag, "{}: linear '{}' is listed twice", r.file(),
          c.linears.back().name);
  }
  for (const auto& e : r.member(j, "sites", vt::array, "the file")) {
    QuantizedSite s;
    s.name = r.string_member(e, "name", "a 'sites' entry");
    s.kind = parse_site_kind(r.string_member(e, "kind", "site '" + s.name + "'"), r.file());
    s.quant = *r.activation(e, s.name, "site '" + s.name + "'", /*allow_none=*/false);
    check(names.insert(s.name).second, kQuantizedTag, "{}: site '{}' is listed twice", r.file(), s.name);
    c.sites.push_back(std::move(s));
  }
  for (const auto& e : r.member(j, "excluded", vt::array, "the file"))
    c.excluded.push_back({r.string_member(e, "name", "an 'excluded' entry"), e.value("reason", "")});

  std::set<std::string> kv_layers;
  for (const KvCacheConfig::Layer& l : c.kv_cache.layers) kv_layers.insert(l.name);
  // Tensors the config does not account for would be misread as f32 parameters.
  for (const std::string& name : weights.names()) {
    const TensorInfo& info = weights.info(name);
    const bool quant_tensor = name.ends_with(".weight_scale") || name.ends_with(".input_scale") ||
                              name.ends_with(".weight_group_index") ||
                              name.ends_with(".input_zero_point") || name.ends_with(".weight_zero_point") ||
                              name.ends_with(".k_scale") || name.ends_with(".v_scale") || info.dtype == DType::I8 ||
                              info.dtype == DType::U8 || info.dtype == DType::F8_E4M3;
    if (!quant_tensor) continue;
    const std::string owner = name.substr(0, name.rfind('.'));
    check(names.count(owner) > 0 || kv_layers.count(owner) > 0, kQuantizedTag,
          "{}: tensor '{}' ({}) belongs to no layer listed in {}", weights.source().string(), name,
          dtype_name(info.dtype), kQuantizationConfigFile);
  }
  return c;
}

}  // namespace octet
