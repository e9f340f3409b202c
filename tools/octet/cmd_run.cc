// `octet run MODEL`: one forward pass.
//
//   octet run MODEL --text "..." [--text-pair "..."] [--pooling mean|cls]
//       tokenizes with the model folder's tokenizer; a classifier prints its
//       label and probabilities, a base model its sentence embedding.
//   octet run MODEL --inputs IN.safetensors --save-outputs OUT.safetensors
//       runs on the tensors of IN (input_ids, attention_mask, token_type_ids,
//       position_ids, and for encoder-decoders decoder_input_ids, when present)
//       and writes every output the model gives.
//   --device cuda[:N] [--precision fp16|int8|fp8] runs it on the GPU (CudaEncoder);
//   on the CPU --precision bf16 runs an fp32 model's Linears on the bf16 GEMM.
#include <algorithm>
#include <cmath>
#include <optional>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "cuda_device.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli::run_command {
namespace {

struct RunOptions {
  std::string model;
  std::string inputs;
  std::optional<std::string> text;
  std::optional<std::string> text_pair;
  std::string pooling = "mean";
  std::string head;  // empty: the head config.json implies
  std::string save_outputs;
  std::string exec;  // quantized models: simulated | native (default native)
  DeviceOptions device;
  bool json = false;
};

// i64 copy of an integer tensor (input files written by numpy may hold i32).
Tensor as_i64(const Tensor& t, const std::string& name, const std::string& file) {
  if (t.dtype() == DType::I64) return t.contiguous();
  check(t.dtype() == DType::I32, "run", "{}: '{}' must be i64 or i32, got {}", file, name, t.describe());
  Tensor out = Tensor::empty(t.shape(), DType::I64);
  const Tensor src = t.contiguous();
  const int32_t* s = src.data<int32_t>();
  int64_t* d = out.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = s[i];
  return out;
}

ModelInputs read_inputs(const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  check(file.contains("input_ids"), "run", "{}: no 'input_ids' tensor (has: {})", path.string(),
        fmt::join(file.names(), ", "));
  ModelInputs in;
  auto read = [&](const char* name, Tensor& dst) {
    if (file.contains(name)) dst = as_i64(file.get(name), name, path.string());
  };
  read("input_ids", in.input_ids);
  read("attention_mask", in.attention_mask);
  read("token_type_ids", in.token_type_ids);
  read("position_ids", in.position_ids);
  read("decoder_input_ids", in.decoder_input_ids);  // encoder-decoders (T5, BART)
  return in;
}

double l2_norm(const Tensor& t) {
  double sum = 0;
  for (const float v : t.contiguous().span<float>()) sum += double(v) * v;
  return std::sqrt(sum);
}

void print_outputs(const NamedTensors& outputs, const RunOptions& opt) {
  if (opt.json) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, t] : outputs) j[name] = {{"shape", t.shape()}, {"l2_norm", l2_norm(t)}};
    nlohmann::json doc = {{"outputs", j}};
    if (!opt.save_outputs.empty()) doc["saved_to"] = opt.save_outputs;
    print_json(doc);
    return;
  }
  std::vector<TableRow> rows;
  for (const auto& [name, t] : outputs) rows.push_back({name, shape_str(t.shape()), fmt::format("{:.6g}", l2_norm(t))});
  print_table({"output", "shape", "l2 norm"}, rows);
  if (!opt.save_outputs.empty()) fmt::print("saved to {}\n", opt.save_outputs);
}

// The folder the tokenizer files live in (the model folder, or a file's folder).
std::filesystem::path tokenizer_folder(const std::string& model) {
  const std::filesystem::path p(model);
  return std::filesystem::is_directory(p) ? p : p.parent_path();
}

void print_classification(const Model& model, const Tensor& logits, int64_t tokens, const RunOptions& opt) {
  const Tensor probs = softmax_rows(logits);
  const auto& labels = model.info().labels;
  const auto p = probs.span<float>();
  const int64_t best = std::max_element(p.begin(), p.end()) - p.begin();
  if (opt.json) {
    nlohmann::json probabilities = nlohmann::json::object();
    for (size_t c = 0; c < labels.size(); ++c) probabilities[labels[c]] = p[c];
    const auto l = logits.span<float>();
    print_json({{"label", labels[size_t(best)]},
                {"label_id", best},
                {"probabilities", probabilities},
                {"logits", std::vector<float>(l.begin(), l.end())},
                {"tokens", tokens}});
    return;
  }
  fmt::print("label: {} ({:.2f}%)\n\n", labels[size_t(best)], 100.0 * p[size_t(best)]);
  std::vector<TableRow> rows;
  for (size_t c = 0; c < labels.size(); ++c)
    rows.push_back({labels[c], fmt::format("{:.4f}", p[c]), fmt::format("{:.4f}", logits.span<float>()[c])});
  print_table({"label", "probability", "logit"}, rows);
}

void print_embedding(const Tensor& embedding, int64_t tokens, const RunOptions& opt) {
  const auto v = embedding.span<float>();
  const double norm = l2_norm(embedding);
  if (opt.json) {
    print_json({{"pooling", opt.pooling},
                {"dim", v.size()},
                {"l2_norm", norm},
                {"tokens", tokens},
                {"embedding", std::vector<float>(v.begin(), v.end())}});
    return;
  }
  constexpr size_t kShown = 8;
  std::vector<std::string> first;
  for (size_t i = 0; i < std::min(kShown, v.size()); ++i) first.push_back(fmt::format("{:.4f}", v[i]));
  print_table({"field", "value"}, {{"pooling", opt.pooling},
                                   {"dim", std::to_string(v.size())},
                                   {"l2 norm", fmt::format("{:.6g}", norm)},
                                   {"tokens", std::to_string(tokens)},
                                   {"first values", fmt::format("{}{}", fmt::join(first, " "),
                                                                v.size() > kShown ? " ..." : "")}});
}

void save_outputs(const NamedTensors& outputs, const RunOptions& opt) {
  std::vector<std::pair<std::string, Tensor>> tensors(outputs.begin(), outputs.end());
  save_safetensors(opt.save_outputs, tensors, {{"model", std::filesystem::path(opt.model).filename().string()}});
}

std::unique_ptr<Model> load(const RunOptions& opt, const LoadOptions& options) {
  const Device device = parse_device(opt.device.device);
  if (device.kind == DeviceKind::CUDA)
    return load_cuda_model(opt.model, device, cuda_precision(opt.device, opt.model), options, /*graphs=*/false);
  std::unique_ptr<Model> model = opt.exec.empty() ? load_model(opt.model, options)
                                                 : load_model_for_execution(opt.model, parse_execution(opt.exec), options);
  apply_cpu_precision_option(opt.device, *model);
  return model;
}

LoadOptions load_options(const RunOptions& opt) {
  LoadOptions options;
  if (opt.head.empty()) return options;
  for (const ModelHead h : {ModelHead::Base, ModelHead::SequenceClassification, ModelHead::CausalLM})
    if (head_name(h) == opt.head) options.head = h;
  check(options.head.has_value(), "run", "unknown --head '{}' (base, sequence-classification, causal-lm)", opt.head);
  return options;
}

void run_command(const RunOptions& opt) {
  check(opt.text.has_value() != !opt.inputs.empty(), "run", "give either --text or --inputs FILE.safetensors");
  check(!opt.text_pair || opt.text, "run", "--text-pair needs --text");
  const Pooling pooling = parse_pooling(opt.pooling);
  load_options(opt);  // a bad --head fails before any file is read
  const Device device = check_device_options(opt.device);  // so does a bad or unusable --device
  check(device.kind == DeviceKind::CPU || opt.exec.empty(), "run", "--exec applies to the CPU (on CUDA: --precision)");
  if (!opt.inputs.empty()) {
    // Inputs are read before the model is built, so a bad input file fails fast.
    const ModelInputs inputs = read_inputs(opt.inputs);
    const auto model = load(opt, load_options(opt));
    const NamedTensors outputs = model->forward(inputs);
    if (!opt.save_outputs.empty()) save_outputs(outputs, opt);
    print_outputs(outputs, opt);
    return;
  }
  const auto model = load(opt, load_options(opt));
  const Tokenizer tokenizer = Tokenizer::load(tokenizer_folder(opt.model));
  const ModelInputs inputs = encode_inputs(*model, tokenizer, *opt.text, opt.text_pair.value_or(""));
  const NamedTensors outputs = model->forward(inputs);
  if (!opt.save_outputs.empty()) save_outputs(outputs, opt);
  const int64_t tokens = inputs.input_ids.numel();
  const ModelHead head = model->info().head;
  if (head == ModelHead::SequenceClassification && outputs.count("logits")) {
    print_classification(*model, outputs.at("logits"), tokens, opt);
  } else if (head == ModelHead::Base && outputs.count("last_hidden_state")) {
    print_embedding(pool_embeddings(outputs.at("last_hidden_state"), inputs.attention_mask, pooling), tokens, opt);
  } else {
    print_outputs(outputs, opt);
  }
}

const CommandRegistration registration({
    "run",
    "Run a model once: classify or embed a text, or run on tensors from a file",
    [](CLI::App& sub) {
      auto opt = std::make_shared<RunOptions>();
      sub.add_option("model", opt->model, "Hugging Face model folder or GGUF file")->required();
      sub.add_option("--text", opt->text, "Text to classify or embed (tokenized with the model's tokenizer)");
      sub.add_option("--text-pair", opt->text_pair, "Second text of a sentence pair");
      sub.add_option("--pooling", opt->pooling, "Sentence embedding of a base model: mean or cls")
          ->capture_default_str();
      sub.add_option("--head", opt->head,
                     "Override the head config.json implies: base, sequence-classification or causal-lm");
      sub.add_option("--inputs", opt->inputs,
                     "safetensors file with input_ids [batch, seq] (and attention_mask, token_type_ids, position_ids)");
      sub.add_option("--save-outputs", opt->save_outputs,
                     "Write the outputs (logits, last_hidden_state, pooler_output) to this safetensors file");
      sub.add_option("--exec", opt->exec, "Quantized models: native (int8 kernels, default) or simulated (fp32 QDQ)");
      add_device_options(sub, opt->device);
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { run_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli::run_command
