// load_model: folder or GGUF -> registry entry -> builder; weight sources.
#include <fstream>
#include <optional>
#include <vector>

#include "core/parse_int.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "octet/hf_checkpoint.h"
#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"

namespace octet {

void Model::visit_linear_groups(const std::function<void(nn::LinearInputGroup&)>& fn) {
  visit_linears([&](nn::Linear& l) {
    nn::LinearInputGroup g;
    g.name = l.name();
    g.linears = {&l};
    fn(g);
  });
}

}  // namespace octet

namespace octet {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class SafetensorsWeights final : public WeightSource {
 public:
  explicit SafetensorsWeights(Checkpoint checkpoint) : checkpoint_(std::move(checkpoint)) {}

  std::string describe() const override { return checkpoint_.source().string(); }
  bool contains(const std::string& name) const override { return checkpoint_.contains(name); }
  std::vector<std::string> names() const override { return checkpoint_.names(); }

  Tensor require(const std::string& name, const Shape& shape) const override {
    Tensor t = checkpoint_.require(name, shape);
    if (t.dtype() == DType::F32) return t;
    check(dtype_info(t.dtype()).is_float, "safetensors", "{}: tensor '{}' is {}, a float type is needed",
          describe(), name, dtype_name(t.dtype()));
    return t.to(DType::F32);
  }

 private:
  Checkpoint checkpoint_;
};

}  // namespace

Tensor WeightSource::optional(const std::string& name, const Shape& shape) const {
  return contains(name) ? require(name, shape) : Tensor();
}

std::shared_ptr<const WeightSource> open_safetensors_weights(const std::filesystem::path& folder) {
  return std::make_shared<SafetensorsWeights>(Checkpoint::open(folder));
}

ModelHead head_from_architecture(std::string_view architecture) {
  if (ends_with(architecture, "ForSequenceClassification")) return ModelHead::SequenceClassification;
  if (ends_with(architecture, "ForCausalLM") || ends_with(architecture, "LMHeadModel")) return ModelHead::CausalLM;
  if (ends_with(architecture, "ForConditionalGeneration")) return ModelHead::Seq2SeqLM;
  return ModelHead::Base;
}

std::string_view head_name(ModelHead head) {
  switch (head) {
    case ModelHead::Base: return "base";
    case ModelHead::SequenceClassification: return "sequence-classification";
    case ModelHead::CausalLM: return "causal-lm";
    case ModelHead::Seq2SeqLM: return "seq2seq-lm";
  }
  return "unknown";
}

ModelInfo read_common_info(const JsonConfig& config) {
  ModelInfo info;
  info.model_type = config.get_or<std::string>("model_type", "");
  if (config.has("architectures")) {
    const auto archs = config.get_string_list("architectures");
    if (!archs.empty()) info.architecture = archs.front();
  }
  info.head = head_from_architecture(info.architecture);
  if (config.has("id2label")) {
    const auto& j = config.json().at("id2label");
    check(j.is_object(), "config", "{}: 'id2label' must be an object", config.source());
    info.labels.resize(j.size());
    std::vector<bool> seen(j.size(), false);
    for (const auto& [key, value] : j.items()) {
      const std::optional<size_t> idx = parse_decimal<size_t>(key);
      check(idx.has_value(), "config", "{}: id2label key '{}' is not an integer", config.source(), key);
      check(*idx < j.size() && value.is_string(), "config", "{}: id2label entry '{}' is invalid", config.source(), key);
      // "1" and "01" would both be label 1 and leave another label empty.
      check(!seen[*idx], "config", "{}: id2label has two entries for label {} ('{}')", config.source(), *idx, key);
      seen[*idx] = true;
      info.labels[*idx] = value.get<std::string>();
    }
  }
  info.num_labels = config.get_or<int64_t>("num_labels", info.labels.empty() ? 2 : int64_t(info.labels.size()));
  if (info.labels.empty())
    for (int64_t i = 0; i < info.num_labels; ++i) info.labels.push_back(fmt::format("LABEL_{}", i));
  check(int64_t(info.labels.size()) == info.num_labels, "config", "{}: num_labels {} but id2label has {} entries",
        config.source(), info.num_labels, info.labels.size());
  auto token_id = [&](const char* key) -> int64_t {
    if (!config.has(key)) return -1;
    const auto& j = config.json().at(key);
    if (j.is_array()) {  // eos_token_id may be a list
      if (j.empty()) return -1;
      check(j.front().is_number_integer(), "config", "{}: {} is a list whose first entry is a {}, not an integer id",
            config.source(), key, j.front().type_name());
      return j.front().get<int64_t>();
    }
    return config.get<int64_t>(key);
  };
  info.pad_token_id = token_id("pad_token_id");
  info.bos_token_id = token_id("bos_token_id");
  info.eos_token_id = token_id("eos_token_id");
  return info;
}


std::unique_ptr<Model> load_model(const std::filesystem::path& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  check(fs::exists(path), "models", "'{}' does not exist", path.string());
  // A folder written by `octet quantize` (quantization_config.json): int8 kernels, native execution.
  if (is_quantized_model(path)) return load_quantized_model(path, QuantExecution::Native, options);
  // A Hugging Face quantized checkpoint (AWQ, GPTQ, compressed-tensors, fp8, Model Optimizer): its codes kept.
  if (is_hf_quantized_checkpoint(path)) return load_hf_quantized_model(path, QuantExecution::Native, options);
  // A GGUF file: Q4_0 / Q8_0 Linears natively (their blocks are octet's int4 / int8 group-32 formats).
  if (is_gguf_file(path)) return load_gguf_model_native(path, options);
  const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config_path = dir / "config.json";
  check(fs::exists(config_path), "models", "'{}' has no config.json (expected a Hugging Face model folder or a GGUF file)",
        path.string());
  JsonConfig config = JsonConfig::load(config_path);
  const std::string model_type = config.get_or<std::string>("model_type", "");
  std::vector<std::string> archs;
  if (config.has("architectures")) archs = config.get_string_list("architectures");

  const auto& registry = architecture_registry();
  const ArchitectureEntry* entry = nullptr;
  for (const auto& e : registry) {
    for (const auto& a : e.architectures)
      if (!archs.empty() && a == archs.front()) entry = &e;
    if (entry) break;
  }
  if (!entry)
    for (const auto& e : registry)
      if (e.model_type == model_type) {
        entry = &e;
        break;
      }
  if (!entry) {
    std::vector<std::string> known;
    for (const auto& e : registry) known.push_back(e.model_type);
    fail("models", "{}: unknown architecture (model_type '{}', architectures [{}]); supported model types: {}",
         config_path.string(), model_type, fmt::join(archs, ", "), fmt::join(known, ", "));
  }
  // Weights are opened only once the architecture is known, so an unknown one is reported first.
  ModelSource source{path, std::move(config), open_safetensors_weights(fs::is_directory(path) ? dir : path)};
  return entry->build(source, options);
}

}  // namespace octet
