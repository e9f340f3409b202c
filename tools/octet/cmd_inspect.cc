// `octet inspect MODEL`: what a model folder holds as octet reads it:
// architecture, head, sizes, parameter count, stored dtypes, the tensor table.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/hf_checkpoint.h"
#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "output.h"

namespace octet::cli::inspect_command {
namespace {

struct TensorRow {
  std::string name;
  std::string dtype;  // as stored in the file
  Shape shape;
  int64_t numel = 0;
};

// What an `octet quantize` folder says about itself.
struct QuantizationSummary {
  std::string layout;  // a Hugging Face checkpoint's recognised layout ("" for an octet folder)
  std::string recipe, weights, activations, kv_cache;
  int64_t linears = 0, excluded = 0;
  std::vector<std::pair<std::string, std::string>> options;
};

struct Inspection {
  ModelInfo info;
  std::optional<QuantizationSummary> quantization;
  std::vector<TensorRow> tensors;     // the model's parameters, in the builder's order
  std::vector<std::string> unused;    // checkpoint tensors the model does not read
  std::map<std::string, int64_t> dtype_tensors, dtype_params;
  int64_t parameters = 0;
};

Inspection inspect(const std::filesystem::path& path) {
  Inspection r;
  const auto model = load_model(path, kLoadFloatWeights);  // parameters() lists every weight
  r.info = model->info();
  // Stored dtypes come from the safetensors headers (the model holds f32 copies).
  std::optional<Checkpoint> checkpoint;
  if (std::filesystem::is_directory(path)) checkpoint = Checkpoint::open(path);
  std::set<std::string> used;
  // A quantized folder: its weights by format, and its scale tensors as used.
  std::map<std::string, std::string> weight_format;
  const bool hf = is_hf_quantized_checkpoint(path);
  if (is_quantized_model(path) || hf) {
    std::optional<HfCheckpoint> checkpoint_layout;
    if (hf) checkpoint_layout = read_hf_checkpoint(path);
    const QuantizationConfig c = hf ? checkpoint_layout->config : read_quantization_config(path);
    QuantizationSummary q;
    if (hf) {
      q.layout = checkpoint_layout->description;
      for (const std::string& name : checkpoint_layout->layout_tensors) used.insert(name);
    }
    q.recipe = c.recipe;
    q.weights = to_string(c.weight_spec);
    q.activations = c.activation_spec ? to_string(*c.activation_spec) : "f32 (weight-only)";
    q.kv_cache = c.kv_cache.enabled() ? fmt::format("{} ({})", dtype_name(c.kv_cache.dtype),
                                                    c.kv_cache.dynamic ? "dynamic scales" : "static scales")
                                      : "f32";
    q.linears = int64_t(c.linears.size());
    q.excluded = int64_t(c.excluded.size());
    q.options = c.recipe_options;
    if (!c.linears.empty() || c.kv_cache.enabled()) r.quantization = q;
    for (const QuantizedLinear& l : c.linears) {
      weight_format[l.name + ".weight"] = to_string(l.weight_spec);
      for (const char* suffix : {".weight_scale", ".weight_zero_point", ".input_scale", ".input_zero_point"})
        used.insert(l.name + suffix);
    }
    for (const QuantizedSite& site : c.sites)
      for (const char* suffix : {".input_scale", ".input_zero_point"}) used.insert(site.name + suffix);
    for (const KvCacheConfig::Layer& l : c.kv_cache.layers) used.insert(l.name + ".k_scale"), used.insert(l.name + ".v_scale");
  }
  for (const auto& [name, t] : model->parameters()) {
    TensorRow row{name, std::string(dtype_name(t.dtype())), t.shape(), t.numel()};
    if (checkpoint && checkpoint->contains(name)) row.dtype = std::string(dtype_name(checkpoint->info(name).dtype));
    if (const auto it = weight_format.find(name); it != weight_format.end()) row.dtype = it->second;
    r.parameters += row.numel;
    r.dtype_tensors[row.dtype] += 1;
    r.dtype_params[row.dtype] += row.numel;
    used.insert(name);
    r.tensors.push_back(std::move(row));
  }
  if (checkpoint)
    for (const auto& name : checkpoint->names())
      if (!used.count(name)) r.unused.push_back(name);
  return r;
}

nlohmann::json to_json(const Inspection& r) {
  const ModelInfo& i = r.info;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : r.tensors) tensors.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
  nlohmann::json dtypes = nlohmann::json::object();
  for (const auto& [dtype, n] : r.dtype_tensors)
    dtypes[dtype] = {{"tensors", n}, {"parameters", r.dtype_params.at(dtype)}};
  return {
      {"architecture", i.architecture},
      {"model_type", i.model_type},
      {"head", std::string(head_name(i.head))},
      {"is_decoder", i.is_decoder},
      {"vocab_size", i.vocab_size},
      {"hidden_size", i.hidden_size},
      {"num_layers", i.num_layers},
      {"num_heads", i.num_heads},
      {"num_kv_heads", i.num_kv_heads},
      {"max_positions", i.max_positions},
      {"num_labels", i.head == ModelHead::SequenceClassification ? nlohmann::json(i.num_labels) : nlohmann::json()},
      {"labels", i.head == ModelHead::SequenceClassification ? nlohmann::json(i.labels) : nlohmann::json()},
      {"parameters", r.parameters},
      {"dtypes", dtypes},
      {"tensors", tensors},
      {"unused_tensors", r.unused},
      {"quantization", r.quantization ? nlohmann::json{{"layout", r.quantization->layout},
                                                       {"recipe", r.quantization->recipe},
                                                       {"weights", r.quantization->weights},
                                                       {"activations", r.quantization->activations},
                                                       {"kv_cache", r.quantization->kv_cache},
                                                       {"quantized_linears", r.quantization->linears},
                                                       {"f32_linears", r.quantization->excluded},
                                                       {"options", r.quantization->options}}
                                      : nlohmann::json()},
  };
}

void print_text(const Inspection& r, bool all_tensors) {
  const ModelInfo& i = r.info;
  std::vector<TableRow> rows = {
      {"architecture", i.architecture.empty() ? "-" : i.architecture},
      {"model_type", i.model_type},
      {"head", std::string(head_name(i.head))},
      {"layers", std::to_string(i.num_layers)},
      {"hidden size", std::to_string(i.hidden_size)},
      {"attention heads", i.num_kv_heads && i.num_kv_heads != i.num_heads
                              ? fmt::format("{} ({} kv)", i.num_heads, i.num_kv_heads)
                              : std::to_string(i.num_heads)},
      {"vocab size", std::to_string(i.vocab_size)},
      {"max positions", std::to_string(i.max_positions)},
  };
  if (i.head == ModelHead::SequenceClassification)
    rows.push_back({"labels", fmt::format("{}", fmt::join(i.labels, ", "))});
  rows.push_back({"parameters", fmt::format("{} ({:.2f} M)", r.parameters, double(r.parameters) / 1e6)});
  rows.push_back({"tensors", std::to_string(r.tensors.size())});
  if (!r.unused.empty()) rows.push_back({"unused tensors", std::to_string(r.unused.size())});
  if (const auto& q = r.quantization) {
    if (!q->layout.empty()) rows.push_back({"checkpoint layout", q->layout});
    rows.push_back({"quantization", q->recipe});
    rows.push_back({"  weights", q->weights});
    rows.push_back({"  activations", q->activations});
    rows.push_back({"  KV cache", q->kv_cache});
    rows.push_back({"  Linears", fmt::format("{} quantized, {} f32", q->linears, q->excluded)});
  }
  print_table({"field", "value"}, rows);

  std::vector<TableRow> dtype_rows;
  for (const auto& [dtype, n] : r.dtype_tensors)
    dtype_rows.push_back({dtype, std::to_string(n), std::to_string(r.dtype_params.at(dtype))});
  fmt::print("\n");
  print_table({"dtype", "tensors", "parameters"}, dtype_rows);

  // The first and last few tensors unless --tensors asks for all of them.
  constexpr size_t kShown = 12;
  std::vector<TableRow> tensor_rows;
  const size_t n = r.tensors.size();
  for (size_t k = 0; k < n; ++k) {
    if (!all_tensors && n > kShown && k == kShown / 2) {
      tensor_rows.push_back({fmt::format("... {} more (--tensors lists all)", n - kShown), "", ""});
      k = n - kShown / 2 - 1;
      continue;
    }
    const auto& t = r.tensors[k];
    tensor_rows.push_back({t.name, t.dtype, shape_str(t.shape)});
  }
  fmt::print("\n");
  print_table({"tensor", "dtype", "shape"}, tensor_rows);
  if (all_tensors && !r.unused.empty()) {
    fmt::print("\nunused by octet: {}\n", fmt::join(r.unused, ", "));
  }
}

const CommandRegistration registration({
    "inspect",
    "Show a model's architecture, head, parameter count, dtypes and tensors",
    [](CLI::App& sub) {
      struct Options {
        std::string model;
        bool json = false;
        bool tensors = false;
      };
      auto opt = std::make_shared<Options>();
      sub.add_option("model", opt->model, "Hugging Face model folder (config.json + safetensors) or GGUF file")
          ->required();
      sub.add_flag("--json", opt->json, "Print JSON (always with the full tensor table)");
      sub.add_flag("--tensors", opt->tensors, "List every tensor");
      add_common_options(sub);
      sub.callback([opt] {
        const Inspection r = inspect(opt->model);
        if (opt->json)
          print_json(to_json(r));
        else
          print_text(r, opt->tensors);
      });
    },
});

}  // namespace
}  // namespace octet::cli::inspect_command
