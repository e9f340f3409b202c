// `octet export-onnx MODEL -o model.onnx`: the model as an ONNX graph.
//
//   octet export-onnx MODEL -o model.onnx [--opset 17] [--dynamic-axes | --batch N --seq N]
//       the fp32 graph (inputs input_ids / attention_mask [/ token_type_ids], int64)
//   octet export-onnx MODEL -o model-int8.onnx --int8 --calib train.tsv [--samples 128] [--exclude GLOB,...]
//       the QDQ graph: int8 per-channel weights, int8 per-tensor activations
//       calibrated by min / max over the first N texts of the TSV file
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/model.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli {
namespace {

struct ExportCommandOptions {
  std::string model;
  std::string output;
  int opset = 17;
  bool dynamic_axes = false;
  int64_t batch = 0, seq = 0;
  bool int8 = false;
  std::string calib;
  std::string text_column = "sentence";
  int64_t samples = 128;
  std::vector<std::string> exclude;
  bool json = false;
};

std::filesystem::path tokenizer_folder(const std::filesystem::path& model) {
  return std::filesystem::is_directory(model) ? model : model.parent_path();
}

void export_command(const ExportCommandOptions& opt) {
  check(!(opt.dynamic_axes && (opt.batch > 0 || opt.seq > 0)), "export",
        "--dynamic-axes and a fixed --batch / --seq contradict each other");
  check(opt.batch >= 0 && opt.seq >= 0, "export", "--batch and --seq must be > 0");
  check(!opt.int8 || !opt.calib.empty(), "export", "--int8 needs calibration text: --calib FILE.tsv");
  check(opt.int8 || opt.calib.empty(), "export", "--calib is only used with --int8");
  check(opt.samples > 0, "export", "--samples must be > 0, got {}", opt.samples);
  std::unique_ptr<Model> model = load_model(opt.model);
  const std::string why = onnx_export_unsupported(*model);
  check(why.empty(), "export", "{}", why);

  OnnxExportOptions options;
  options.opset = opt.opset;
  if (opt.batch > 0) options.batch = opt.batch;
  if (opt.seq > 0) options.seq = opt.seq;
  QdqPlan plan;
  if (opt.int8) {
    // Texts only: the label column is read as the text column and dropped.
    TsvColumns columns;
    columns.text = columns.label = opt.text_column;
    ClassificationDataset texts = load_tsv_dataset(opt.calib, columns);
    texts.labels.clear();
    const Tokenizer tokenizer = Tokenizer::load(tokenizer_folder(opt.model));
    MinMaxPlanOptions plan_options;
    plan_options.exclude = opt.exclude;
    const TokenizedBatches batches = tokenize_batches(*model, tokenizer, texts, 16, opt.samples);
    plan = calibrate_minmax_plan(*model, batches.batches, plan_options);
  }
  const OnnxGraph graph = build_onnx_graph(*model, options, opt.int8 ? &plan : nullptr);
  OnnxSaveOptions save;
  save.opset = opt.opset;
  const OnnxSaveResult r = save_onnx(opt.output, graph, save);

  int64_t qdq = 0;
  for (const auto& n : graph.nodes()) qdq += n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear";
  std::vector<std::string> inputs, outputs;
  for (const auto& v : graph.inputs()) inputs.push_back(v.name);
  for (const auto& v : graph.outputs()) outputs.push_back(v.name);
  if (opt.json) {
    nlohmann::json j{{"model", opt.model},
                     {"output", r.model_path.string()},
                     {"bytes", r.model_bytes + r.data_bytes},
                     {"opset", opt.opset},
                     {"ir_version", r.ir_version},
                     {"nodes", graph.nodes().size()},
                     {"qdq_nodes", qdq},
                     {"quantized_linears", plan.weights.size()},
                     {"inputs", inputs},
                     {"outputs", outputs}};
    if (r.data_path) j["external_data"] = r.data_path->string();
    print_json(j);
    return;
  }
  std::vector<TableRow> rows{{"file", r.model_path.string()},
                             {"size", format_bytes(r.model_bytes + r.data_bytes)},
                             {"opset / IR", fmt::format("{} / {}", opt.opset, r.ir_version)},
                             {"nodes", std::to_string(graph.nodes().size())},
                             {"inputs", fmt::format("{}", fmt::join(inputs, ", "))},
                             {"outputs", fmt::format("{}", fmt::join(outputs, ", "))},
                             {"quantized Linears", std::to_string(plan.weights.size())},
                             {"Q/DQ nodes", std::to_string(qdq)}};
  if (r.data_path) rows.push_back({"external data", r.data_path->string()});
  print_table({"export", "value"}, rows);
}

const CommandRegistration registration({
    "export-onnx",
    "Export a model as ONNX (fp32, or QDQ int8 with --int8)",
    [](CLI::App& sub) {
      auto opt = std::make_shared<ExportCommandOptions>();
      sub.add_option("model", opt->model, "Hugging Face model folder")->required();
      sub.add_option("-o,--output", opt->output, "The .onnx file to write")->required();
      sub.add_option("--opset", opt->opset, "ONNX opset (13..21)")->capture_default_str();
      sub.add_flag("--dynamic-axes", opt->dynamic_axes, "Symbolic batch and seq dims (the default)");
      sub.add_option("--batch", opt->batch, "Fix the batch dimension");
      sub.add_option("--seq", opt->seq, "Fix the sequence dimension");
      sub.add_flag("--int8", opt->int8, "QDQ graph: int8 per-channel weights, int8 activations from --calib");
      sub.add_option("--calib", opt->calib, "TSV file whose texts calibrate the activations (with --int8)");
      sub.add_option("--text-column", opt->text_column, "Text column of --calib")->capture_default_str();
      sub.add_option("--samples", opt->samples, "Calibration texts")->capture_default_str();
      sub.add_option("--exclude", opt->exclude, "Linear names (globs) kept fp32")->delimiter(',');
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { export_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli
