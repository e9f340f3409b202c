// `octet eval MODEL --task glue --data FILE.tsv`: classification accuracy over a TSV file.
// `octet eval MODEL --task last-word --data FILE.txt`: a causal LM's greedy
// last-word accuracy over the lines of a text file (LAMBADA style).
// --device cuda[:N] [--precision fp16|int8|fp8] runs a classifier on the GPU (CudaEncoder).
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "cuda_device.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/generate.h"
#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli::eval_command {
namespace {

struct EvalCommandOptions {
  std::string model;
  std::string task = "glue";
  std::string data;
  TsvColumns columns;
  int64_t batch_size = 32;
  int64_t limit = 0;
  std::string exec;  // quantized models: simulated | native (default native)
  DeviceOptions device;
  bool json = false;
};

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100.0 * fraction); }

void last_word_command(const EvalCommandOptions& opt) {
  // The data file is checked before the (slower) model load.
  const std::vector<LastWordExample> examples = load_last_word_examples(opt.data);
  const std::unique_ptr<Model> model =
      opt.exec.empty() ? std::unique_ptr<Model>(load_causal_lm(opt.model))
                       : load_model_for_execution(opt.model, parse_execution(opt.exec), {.head = ModelHead::CausalLM});
  apply_cpu_precision_option(opt.device, *model);
  use_decode_kernels(*model);
  const Tokenizer tokenizer = load_model_tokenizer(opt.model);
  LastWordOptions options;
  options.batch_size = opt.batch_size;
  if (opt.limit > 0) options.limit = opt.limit;
  const LastWordResult r = evaluate_last_word(*model, tokenizer, examples, options);
  const double rate = r.seconds > 0 ? double(r.examples + r.skipped) / r.seconds : 0.0;
  if (opt.json) {
    print_json({{"task", opt.task},
                {"model", opt.model},
                {"data", opt.data},
                {"examples", r.examples},
                {"correct", r.correct},
                {"accuracy", r.accuracy},
                {"skipped", r.skipped},
                {"seconds", r.seconds},
                {"examples_per_second", rate},
                {"batch_size", opt.batch_size}});
    return;
  }
  print_table({"metric", "value"}, {{"examples", std::to_string(r.examples)},
                                    {"correct", std::to_string(r.correct)},
                                    {"accuracy", percent(r.accuracy)},
                                    {"skipped", std::to_string(r.skipped)},
                                    {"time", format_duration(r.seconds)},
                                    {"throughput", fmt::format("{:.1f} ex/s", rate)}});
}

void eval_command(const EvalCommandOptions& opt) {
  check(opt.task == "glue" || opt.task == "last-word", "eval", "unknown task '{}' (supported: glue, last-word)",
        opt.task);
  check(opt.batch_size > 0, "eval", "--batch-size must be > 0, got {}", opt.batch_size);
  check(opt.limit >= 0, "eval", "--limit must be >= 0, got {}", opt.limit);
  const Device device = check_device_options(opt.device);
  const bool cuda = device.kind == DeviceKind::CUDA;
  check(!cuda || opt.task == "glue", "eval", "--device cuda runs encoder classifiers (--task glue)");
  check(!cuda || opt.exec.empty(), "eval", "--exec applies to the CPU (on CUDA: --precision)");
  if (opt.task == "last-word") return last_word_command(opt);
  // The data file is checked before the (slower) model load.
  const ClassificationDataset data = load_tsv_dataset(opt.data, opt.columns);
  // On CUDA each batch has its own length, so no graphs (one capture per shape would not pay).
  const auto model = cuda ? load_cuda_model(opt.model, device, cuda_precision(opt.device, opt.model), {}, false)
                     : opt.exec.empty() ? load_model(opt.model)
                                        : load_model_for_execution(opt.model, parse_execution(opt.exec));
  if (!cuda) apply_cpu_precision_option(opt.device, *model);
  const std::filesystem::path model_path(opt.model);
  const Tokenizer tokenizer =
      Tokenizer::load(std::filesystem::is_directory(model_path) ? model_path : model_path.parent_path());
  EvalOptions options;
  options.batch_size = opt.batch_size;
  if (opt.limit > 0) options.limit = opt.limit;
  const ClassificationResult r = evaluate_classification(*model, tokenizer, data, options);

  if (opt.json) {
    nlohmann::json classes = nlohmann::json::array();
    for (const auto& c : r.per_class)
      classes.push_back(
          {{"label", c.label}, {"support", c.support}, {"correct", c.correct}, {"predicted", c.predicted}});
    print_json({{"task", opt.task},
                {"model", opt.model},
                {"data", opt.data},
                {"examples", r.total},
                {"correct", r.correct},
                {"accuracy", r.accuracy},
                {"seconds", r.seconds},
                {"examples_per_second", r.seconds > 0 ? double(r.total) / r.seconds : 0.0},
                {"batch_size", opt.batch_size},
                {"device", to_string(device)},
                {"precision", cuda                          ? cuda_precision(opt.device, opt.model)
                              : !opt.device.precision.empty() ? opt.device.precision
                                                              : std::string("as loaded")},
                {"per_class", classes}});
    return;
  }
  print_table({"metric", "value"},
              {{"examples", std::to_string(r.total)},
               {"correct", std::to_string(r.correct)},
               {"accuracy", percent(r.accuracy)},
               {"time", format_duration(r.seconds)},
               {"throughput", fmt::format("{:.1f} ex/s", r.seconds > 0 ? double(r.total) / r.seconds : 0.0)}});
  std::vector<TableRow> rows;
  for (const auto& c : r.per_class)
    rows.push_back({c.label, std::to_string(c.support), std::to_string(c.correct), std::to_string(c.predicted),
                    c.support ? percent(double(c.correct) / double(c.support)) : "-"});
  fmt::print("\n");
  print_table({"class", "support", "correct", "predicted", "recall"}, rows);
}

const CommandRegistration registration({
    "eval",
    "Evaluate a classifier on a TSV dataset, or a causal LM's last-word accuracy on a text file",
    [](CLI::App& sub) {
      auto opt = std::make_shared<EvalCommandOptions>();
      sub.add_option("model", opt->model,
                     "Model folder with its tokenizer files (last-word: also a .gguf file or an octet quantize folder)")
          ->required();
      sub.add_option("--task", opt->task,
                     "Task: glue (sentence / sentence-pair classification) or last-word (greedy prediction of each "
                     "line's last word; empty lines and headings ending in a number are skipped)")
          ->capture_default_str();
      sub.add_option("--data", opt->data, "glue: TSV file with a header row; last-word: text file, one example a line")
          ->required();
      sub.add_option("--text-column", opt->columns.text, "Text column: header name or 0-based index")
          ->capture_default_str();
      sub.add_option("--pair-column", opt->columns.pair, "Second-sentence column (pair tasks)");
      sub.add_option("--label-column", opt->columns.label, "Label column (class ids or label names)")
          ->capture_default_str();
      sub.add_option("--batch-size", opt->batch_size, "Examples per forward pass")->capture_default_str();
      sub.add_option("--limit", opt->limit, "Evaluate the first N examples only (0: all)");
      sub.add_option("--exec", opt->exec, "Quantized models: native (int8 kernels, default) or simulated (fp32 QDQ)");
      add_device_options(sub, opt->device);
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { eval_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli::eval_command
