// Loading a quantized folder: the registry builds the model from a weight
// source that dequantizes the quantized Linear weights, then the quantization
// is applied. The Hugging Face checkpoint reader builds its models the same way.
#include <map>
#include <set>

#include "core/error_tags.h"
#include "quant/quantized_load.h"
#include "octet/error.h"
#include "octet/gguf_model.h"
#include "octet/hf_checkpoint.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

// The folder's model.safetensors, where "<linear>.weight" of a quantized
// Linear reads as q_w * s_w (f32) and everything else as in a plain checkpoint.
class QuantizedWeights final : public WeightSource {
 public:
  QuantizedWeights(Checkpoint checkpoint, const QuantizationConfig& config, std::set<std::string> hidden,
                   bool native_resident)
      : checkpoint_(std::move(checkpoint)), hidden_(std::move(hidden)) {
    for (const QuantizedLinear& q : config.linears) {
      quantized_.emplace(q.name + ".weight", q);
      if (native_resident && has_resident_native_kernel(q)) resident_.insert(q.name + ".weight");
    }
  }

  bool kernel_resident(const std::string& name) const override { return resident_.count(name) > 0; }

  std::string describe() const override { return checkpoint_.source().string(); }
  bool contains(const std::string& name) const override {
    return quantized_.count(name) > 0 || (checkpoint_.contains(name) && hidden_.count(name) == 0);
  }
  std::vector<std::string> names() const override {
    std::set<std::string> all;
    for (const std::string& n : checkpoint_.names())
      if (hidden_.count(n) == 0) all.insert(n);
    for (const auto& [n, q] : quantized_) all.insert(n);
    return {all.begin(), all.end()};
  }

  Tensor require(const std::string& name, const Shape& shape) const override {
    const auto it = quantized_.find(name);
    if (it != quantized_.end()) {
      const Tensor& codes = it->second.weight;
      // Codes are [out, in]; a builder reading an [in, out] checkpoint weight (GPT-2's Conv1D) gets it transposed.
      const bool transposed = codes.rank() == 2 && shape == Shape{codes.dim(1), codes.dim(0)} && shape != codes.shape();
      check(codes.shape() == shape || transposed, kQuantizedTag, "{}: tensor '{}' has shape {}, config.json expects {}",
            describe(), name, shape_str(codes.shape()), shape_str(shape));
      const Tensor w = dequantized_weight(it->second);
      return transposed ? w.transpose(0, 1).contiguous() : w;
    }
    check(hidden_.count(name) == 0, kQuantizedTag,
          "{}: tensor '{}' belongs to a quantized layer and has no float value", describe(), name);
    Tensor t = checkpoint_.require(name, shape);
    if (t.dtype() == DType::F32) return t;
    check(dtype_info(t.dtype()).is_float, kQuantizedTag, "{}: tensor '{}' is {}, a float type is needed", describe(),
          name, dtype_name(t.dtype()));
    return t.to(DType::F32);
  }

 private:
  Checkpoint checkpoint_;
  std::set<std::string> hidden_;
  std::set<std::string> resident_;  // weights only the native weight-only kernels hold
  std::map<std::string, QuantizedLinear> quantized_;  // by weight name; tensors share storage
};

// The registry entry for a config (architectures[0] first, then model_type), as load_model picks it.
const ArchitectureEntry& find_architecture(const JsonConfig& config) {
  const std::string model_type = config.get_or<std::string>("model_type", "");
  std::vector<std::string> archs;
  if (config.has("architectures")) archs = config.get_string_list("architectures");
  const auto& registry = architecture_registry();
  if (!archs.empty())
    for (const auto& e : registry)
      for (const auto& a : e.architectures)
        if (a == archs.front()) return e;
  for (const auto& e : registry)
    if (e.model_type == model_type) return e;
  fail("models", "{}: unknown architecture (model_type '{}')", config.source(), model_type);
}

}  // namespace

std::shared_ptr<const WeightSource> make_quantized_weight_source(Checkpoint checkpoint,
                                                                 const QuantizationConfig& config,
                                                                 std::set<std::string> hidden, bool native_resident) {
  return std::make_shared<QuantizedWeights>(std::move(checkpoint), config, std::move(hidden), native_resident);
}

std::unique_ptr<Model> build_model_from_weights(const fs::path& folder, std::shared_ptr<const WeightSource> weights,
                                                const LoadOptions& options) {
  const fs::path config_path = folder / "config.json";
  check(fs::exists(config_path), kQuantizedTag, "{}: no config.json", folder.string());
  JsonConfig json = JsonConfig::load(config_path);
  const ArchitectureEntry& entry = find_architecture(json);
  ModelSource source{folder, std::move(json), std::move(weights)};
  return entry.build(source, options);
}

std::unique_ptr<Model> load_quantized_model(const fs::path& folder, QuantExecution exec, const LoadOptions& options) {
  const QuantizationConfig config = read_quantization_config(folder);
  // Native execution: Linears whose native kernel packs the codes get no f32 weight (has_resident_native_kernel).
  const bool resident = exec == QuantExecution::Native && !options.float_weights;
  std::unique_ptr<Model> model = build_model_from_weights(
      folder, make_quantized_weight_source(Checkpoint::open(folder), config, {}, resident), options);
  apply_quantization(*model, config, exec);
  return model;
}

std::unique_ptr<Model> load_model_for_execution(const fs::path& path, QuantExecution exec,
                                                const LoadOptions& options) {
  if (is_quantized_model(path)) return load_quantized_model(path, exec, options);
  if (is_hf_quantized_checkpoint(path)) return load_hf_quantized_model(path, exec, options);
  if (is_gguf_file(path) && exec == QuantExecution::Simulated) return load_gguf_model(path, options);
  return load_model(path, options);
}

}  // namespace octet
