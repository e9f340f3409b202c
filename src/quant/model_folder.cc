// The quantized model folder: save (to a temporary folder, then rename),
// read and validate quantization_config.json against model.safetensors, load.
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "octet/error.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

constexpr std::string_view kTag = "quantized";
constexpr std::string_view kFormat = "octet-quantized";
constexpr std::string_view kWeightsFile = "model.safetensors";

// Files copied from the source model when present (config and tokenizer).
constexpr std::string_view kCopiedFiles[] = {
    "config.json",       "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.txt",     "vocab.json",
    "merges.txt",        "tokenizer.model",        "spiece.model",   "sentencepiece.bpe.model",
};

std::string weight_name(const std::string& linear) { return linear + ".weight"; }
std::string weight_scale_name(const std::string& linear) { return linear + ".weight_scale"; }
std::string input_scale_name(const std::string& site) { return site + ".input_scale"; }
std::string input_zero_point_name(const std::string& site) { return site + ".input_zero_point"; }

// The spec string of an activation: its static spec, or int8:sym:per_token when dynamic.
std::string activation_spec_text(const ActivationQuant& q) {
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
  fail(kTag, "{}: unknown site kind '{}'", file, name);
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
                            const ActivationQuant& q) {
  if (q.dynamic) return;
  tensors.emplace_back(input_scale_name(name), scalar_f32(q.scale));
  tensors.emplace_back(input_zero_point_name(name), scalar_i32(q.zero_point));
}

ordered_json config_json(const QuantizationConfig& c) {
  ordered_json j;
  j["format"] = kFormat;
  j["format_version"] = QuantizationConfig::kFormatVersion;
  j["octet_version"] = c.octet_version;
  j["recipe"] = c.recipe;
  j["calibrator"] = c.calibrator;
  j["calibration"] = {{"source", c.calibration_source}, {"samples", c.calibration_samples}};
  j["weights"] = to_string(c.weight_spec);
  j["activations"] = to_string(c.activation_spec);
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
  return j;
}

// Removes a temporary folder unless released (any failure leaves no half-written output).
class TempFolder {
 public:
  explicit TempFolder(fs::path path) : path_(std::move(path)) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_);
  }
  ~TempFolder() {
    if (!released_) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  const fs::path& path() const { return path_; }
  void release() { released_ = true; }

 private:
  fs::path path_;
  bool released_ = false;
};

fs::path sibling(const fs::path& out, std::string_view what) {
  const fs::path abs = fs::absolute(out).lexically_normal();
  const fs::path dir = abs.filename().empty() ? abs.parent_path() : abs;
  return dir.parent_path() / fmt::format(".{}.{}-{}", dir.filename().string(), what, ::getpid());
}

}  // namespace

void save_quantized_model(const Model& model, const QuantizationConfig& config, const fs::path& source,
                          const fs::path& out, bool overwrite) {
  const fs::path source_dir = fs::is_directory(source) ? source : source.parent_path();
  check(fs::exists(source_dir / "config.json"), kTag, "{}: no config.json to copy (a Hugging Face folder is needed)",
        source_dir.string());
  check(!out.empty(), kTag, "no output folder given");
  if (fs::exists(out)) {
    check(fs::is_directory(out), kTag, "'{}' exists and is not a folder", out.string());
    check(!fs::equivalent(out, source_dir), kTag, "the output folder '{}' is the source model's folder",
          out.string());
    check(overwrite, kTag, "'{}' already exists (pass --force to replace it)", out.string());
  }

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
    check(q.weight.defined() && tensor.shape() == q.weight.shape(), kTag,
          "{}: quantized weight {} does not match the model's {}", q.name,
          q.weight.defined() ? q.weight.describe() : "undefined", tensor.describe());
    tensors.emplace_back(name, q.weight);
    tensors.emplace_back(weight_scale_name(q.name), q.weight_scale);
    add_activation_tensors(tensors, q.name, q.input);
  }
  for (const auto& [name, q] : quantized)
    check(seen.count(name) > 0, kTag, "the model has no parameter '{}' for quantized Linear '{}'", name, q->name);
  for (const QuantizedSite& s : config.sites) add_activation_tensors(tensors, s.name, s.quant);

  TempFolder temp(sibling(out, "tmp"));
  save_safetensors(temp.path() / kWeightsFile, tensors, {{"format", std::string(kFormat)}});
  {
    std::ofstream f(temp.path() / kQuantizationConfigFile);
    f << config_json(config).dump(2) << "\n";
    check(bool(f.flush()), kTag, "cannot write {}", (temp.path() / kQuantizationConfigFile).string());
  }
  for (const std::string_view file : kCopiedFiles) {
    const fs::path src = source_dir / file;
    if (fs::exists(src)) fs::copy_file(src, temp.path() / file);
  }

  if (fs::exists(out)) {
    // Replace only now that the new folder is complete: old -> backup, new -> out, drop backup.
    const fs::path backup = sibling(out, "old");
    std::error_code ec;
    fs::remove_all(backup, ec);
    fs::rename(out, backup);
    fs::rename(temp.path(), out);
    fs::remove_all(backup, ec);
  } else {
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    fs::rename(temp.path(), out);
  }
  temp.release();
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
    check(it != j.end(), kTag, "{}: {} has no '{}'", file_, where, key);
    const bool number_ok = type == nlohmann::json::value_t::number_integer && it->is_number_integer();
    check(it->type() == type || number_ok, kTag, "{}: '{}' of {} has the wrong type ({})", file_, key, where,
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
      fail(kTag, "{}: '{}' of {}: {}", file_, key, where, e.detail());
    }
  }

  // The tensor `name` from the weights file, checked for dtype and shape.
  Tensor tensor(const std::string& name, DType dtype, const std::optional<Shape>& shape, std::string_view why) const {
    check(weights_.contains(name), kTag, "{}: tensor '{}' is missing ({} lists it: {})", weights_.source().string(),
          name, kQuantizationConfigFile, why);
    const TensorInfo& info = weights_.info(name);
    check(info.dtype == dtype, kTag, "{}: tensor '{}' is {}, but {} says {} ({})", weights_.source().string(), name,
          dtype_name(info.dtype), kQuantizationConfigFile, dtype_name(dtype), why);
    check(!shape || info.shape == *shape, kTag, "{}: tensor '{}' has shape {}, expected {} ({})",
          weights_.source().string(), name, shape_str(info.shape), shape_str(shape.value_or(Shape{})), why);
    return weights_.get(name);
  }

  ActivationQuant activation(const nlohmann::json& j, const std::string& name, std::string_view where) const {
    ActivationQuant q;
    const QuantSpec spec = spec_member(j, "input", where);
    check(spec.dtype == DType::I8 && spec.rounding == Rounding::NearestEven, kTag,
          "{}: {}: activations must be int8 with nearest-even rounding, got {}", file_, where, to_string(spec));
    if (spec.granularity == Granularity::PerToken) {
      check(spec.scheme == QuantScheme::Symmetric, kTag, "{}: {}: per-token activations are symmetric, got {}", file_,
            where, to_string(spec));
      q.dynamic = true;
      return q;
    }
    check(spec.granularity == Granularity::PerTensor, kTag,
          "{}: {}: activations are per tensor (static) or per token (dynamic), got {}", file_, where, to_string(spec));
    q.spec = spec;
    q.scale = tensor(input_scale_name(name), DType::F32, Shape{}, "static input scale").data<float>()[0];
    q.zero_point =
        tensor(input_zero_point_name(name), DType::I32, Shape{}, "static input zero point").data<int32_t>()[0];
    check(std::isfinite(q.scale) && q.scale > 0, kTag, "{}: tensor '{}' is {}, a scale must be positive and finite",
          weights_.source().string(), input_scale_name(name), q.scale);
    check(q.zero_point >= -128 && q.zero_point <= 127 &&
              (spec.scheme == QuantScheme::Affine || q.zero_point == 0),
          kTag, "{}: tensor '{}' is {}, outside the grid of {}", weights_.source().string(), input_zero_point_name(name),
          q.zero_point, to_string(spec));
    return q;
  }

  QuantizedLinear linear(const nlohmann::json& j) const {
    QuantizedLinear q;
    q.name = string_member(j, "name", "a 'linears' entry");
    const std::string where = fmt::format("linear '{}'", q.name);
    q.weight_spec = spec_member(j, "weight", where);
    check(q.weight_spec.dtype == DType::I8 && q.weight_spec.scheme == QuantScheme::Symmetric &&
              (q.weight_spec.granularity == Granularity::PerTensor ||
               (q.weight_spec.granularity == Granularity::PerChannel && q.weight_spec.axis == 0)),
          kTag, "{}: {}: weights must be int8:sym:per_channel(0) or int8:sym:per_tensor, got {}", file_, where,
          to_string(q.weight_spec));
    q.weight = tensor(weight_name(q.name), DType::I8, std::nullopt, "int8 weight");
    check(q.weight.rank() == 2, kTag, "{}: tensor '{}' has shape {}, a Linear weight is [out, in]",
          weights_.source().string(), weight_name(q.name), shape_str(q.weight.shape()));
    for (const int8_t v : q.weight.span<int8_t>())
      check(v != -128, kTag, "{}: tensor '{}' holds -128, outside the symmetric grid [-127, 127]",
            weights_.source().string(), weight_name(q.name));
    q.weight_scale = tensor(weight_scale_name(q.name), DType::F32, Shape{q.weight.dim(0)}, "per-channel weight scale");
    const auto scales = q.weight_scale.span<float>();
    for (const float s : scales)
      check(std::isfinite(s) && s > 0, kTag, "{}: tensor '{}' holds {}, a scale must be positive and finite",
            weights_.source().string(), weight_scale_name(q.name), s);
    if (q.weight_spec.granularity == Granularity::PerTensor)
      for (const float s : scales)
        check(s == scales[0], kTag, "{}: tensor '{}' varies, but {} says per tensor", weights_.source().string(),
              weight_scale_name(q.name), to_string(q.weight_spec));
    q.input = activation(j, q.name, where);
    return q;
  }

 private:
  std::string file_;
  const Checkpoint& weights_;
};

}  // namespace

QuantizationConfig read_quantization_config(const fs::path& folder) {
  const fs::path path = folder / kQuantizationConfigFile;
  check(fs::exists(path), kTag, "{}: no {}", folder.string(), kQuantizationConfigFile);
  nlohmann::json j;
  {
    std::ifstream f(path);
    check(bool(f), kTag, "cannot read {}", path.string());
    try {
      j = nlohmann::json::parse(f);
    } catch (const std::exception& e) {
      fail(kTag, "{}: invalid JSON: {}", path.string(), e.what());
    }
  }
  check(j.is_object(), kTag, "{}: expected a JSON object", path.string());
  const Checkpoint weights = Checkpoint::open(folder);
  const ConfigReader r(folder, weights);
  using vt = nlohmann::json::value_t;
  check(r.string_member(j, "format", "the file") == kFormat, kTag, "{}: 'format' is not '{}'", r.file(), kFormat);
  const int64_t version = r.member(j, "format_version", vt::number_integer, "the file").get<int64_t>();
  check(version >= 1 && version <= QuantizationConfig::kFormatVersion, kTag,
        "{}: format_version {} is not supported (this octet reads 1..{})", r.file(), version,
        QuantizationConfig::kFormatVersion);

  QuantizationConfig c;
  c.octet_version = r.string_member(j, "octet_version", "the file");
  c.recipe = r.string_member(j, "recipe", "the file");
  c.calibrator = r.string_member(j, "calibrator", "the file");
  if (j.contains("calibration") && j["calibration"].is_object()) {
    c.calibration_source = j["calibration"].value("source", "");
    c.calibration_samples = j["calibration"].value("samples", int64_t(0));
  }
  c.weight_spec = r.spec_member(j, "weights", "the file");
  c.activation_spec = r.spec_member(j, "activations", "the file");
  std::set<std::string> names;
  for (const auto& e : r.member(j, "linears", vt::array, "the file")) {
    c.linears.push_back(r.linear(e));
    check(names.insert(c.linears.back().name).second, kTag, "{}: linear '{}' is listed twice", r.file(),
          c.linears.back().name);
  }
  for (const auto& e : r.member(j, "sites", vt::array, "the file")) {
    QuantizedSite s;
    s.name = r.string_member(e, "name", "a 'sites' entry");
    s.kind = parse_site_kind(r.string_member(e, "kind", "site '" + s.name + "'"), r.file());
    s.quant = r.activation(e, s.name, "site '" + s.name + "'");
    check(names.insert(s.name).second, kTag, "{}: site '{}' is listed twice", r.file(), s.name);
    c.sites.push_back(std::move(s));
  }
  for (const auto& e : r.member(j, "excluded", vt::array, "the file"))
    c.excluded.push_back({r.string_member(e, "name", "an 'excluded' entry"), e.value("reason", "")});

  // Tensors the config does not account for would be misread as f32 parameters.
  for (const std::string& name : weights.names()) {
    const TensorInfo& info = weights.info(name);
    const bool quant_tensor = name.ends_with(".weight_scale") || name.ends_with(".input_scale") ||
                              name.ends_with(".input_zero_point") || info.dtype == DType::I8;
    if (!quant_tensor) continue;
    const std::string owner = name.substr(0, name.rfind('.'));
    check(names.count(owner) > 0, kTag, "{}: tensor '{}' ({}) belongs to no layer listed in {}",
          weights.source().string(), name, dtype_name(info.dtype), kQuantizationConfigFile);
  }
  return c;
}

}  // namespace octet
