// `octet export-onnx MODEL -o model.onnx`: the model as an ONNX graph.
//
//   octet export-onnx MODEL -o model.onnx [--opset 17] [--dynamic-axes | --batch N --seq N]
//       the fp32 graph (inputs input_ids / attention_mask [/ token_type_ids], int64)
//   octet export-onnx QUANTIZED -o model-int8.onnx
//       a folder written by `octet quantize`: the QDQ graph of its quantization
//   octet export-onnx MODEL -o model-int8.onnx --int8 --calib train.tsv [--samples 256]
//                     [--calibrator percentile] [--exclude GLOB,...]
//       quantizes first (octet quantize's static int8 recipe: int8 per-channel
//       weights, int8 per-tensor activations calibrated on the TSV's texts)
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/quantized_model.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli::export_onnx_command {
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
  int64_t samples = 256;
  std::string calibrator;  // empty: the int8 recipe's default
  std::vector<std::string> exclude;
  bool force = false;
  bool json = false;
};

std::filesystem::path tokenizer_folder(const std::filesystem::path& model) {
  return std::filesystem::is_directory(model) ? model : model.parent_path();
}

void export_command(const ExportCommandOptions& opt) {
  // Before the model loads (an --int8 export calibrates for minutes), as quantize and export-gguf do.
  check(opt.force || !std::filesystem::exists(opt.output), "export", "'{}' already exists (pass --force to replace it)",
        opt.output);
  check(!(opt.dynamic_axes && (opt.batch > 0 || opt.seq > 0)), "export",
        "--dynamic-axes and a fixed --batch / --seq contradict each other");
  check(opt.batch >= 0 && opt.seq >= 0, "export", "--batch and --seq must be > 0");
  check(!opt.int8 || !opt.calib.empty(), "export", "--int8 needs calibration text: --calib FILE.tsv");
  check(opt.int8 || (opt.calib.empty() && opt.calibrator.empty() && opt.exclude.empty()), "export",
        "--calib, --calibrator and --exclude are only used with --int8");
  check(opt.samples > 0, "export", "--samples must be > 0, got {}", opt.samples);
  const bool quantized = is_quantized_model(opt.model);
  check(!(quantized && opt.int8), "export", "{} is already quantized: drop --int8", opt.model);
  // A quantized folder loads with its dequantized weights (the fp32 parts of the graph use them).
  std::unique_ptr<Model> model =
      quantized ? load_model_for_execution(opt.model, QuantExecution::Simulated)
                : load_model(opt.model, kLoadFloatWeights);
  const std::string why = onnx_export_unsupported(*model);
  check(why.empty(), "export", "{}", why);

  OnnxExportOptions options;
  options.opset = opt.opset;
  if (opt.batch > 0) options.batch = opt.batch;
  if (opt.seq > 0) options.seq = opt.seq;
  QdqPlan plan;
  if (quantized) plan = qdq_plan_from_quantization(read_quantization_config(opt.model));
  if (opt.int8) {
    CalibrationTextOptions co;
    co.column = opt.text_column;
    co.samples = opt.samples;
    const CalibrationTexts texts = read_calibration_texts(opt.calib, co);
    const Tokenizer tokenizer = Tokenizer::load(tokenizer_folder(opt.model));
    QuantizeOptions qo;
    qo.recipe = recipe_preset("int8");
    if (!opt.calibrator.empty()) qo.recipe.calibrator = opt.calibrator;
    qo.recipe.exclude = opt.exclude;
    qo.calibration_source = opt.calib;
    plan = qdq_plan_from_quantization(
        quantize_model(*model, make_calibration_batches(*model, tokenizer, texts.texts), qo));
  }
  const OnnxGraph graph = build_onnx_graph(*model, options, plan.empty() ? nullptr : &plan);
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
    "Export a model as ONNX (fp32; QDQ int8 for a quantized folder or with --int8)",
    [](CLI::App& sub) {
      auto opt = std::make_shared<ExportCommandOptions>();
      sub.add_option("model", opt->model, "Hugging Face model folder")->required();
      sub.add_option("-o,--output", opt->output, "The .onnx file to write")->required();
      sub.add_flag("--force", opt->force, "Replace an existing output file");
      sub.add_option("--opset", opt->opset, "ONNX opset (13..21)")->capture_default_str();
      sub.add_flag("--dynamic-axes", opt->dynamic_axes, "Symbolic batch and seq dims (the default)");
      sub.add_option("--batch", opt->batch, "Fix the batch dimension");
      sub.add_option("--seq", opt->seq, "Fix the sequence dimension");
      sub.add_flag("--int8", opt->int8, "QDQ graph: int8 per-channel weights, int8 activations from --calib");
      sub.add_option("--calib", opt->calib, "TSV file whose texts calibrate the activations (with --int8)");
      sub.add_option("--text-column", opt->text_column, "Text column of --calib")->capture_default_str();
      sub.add_option("--samples", opt->samples, "Calibration texts")->capture_default_str();
      sub.add_option("--calibrator", opt->calibrator, "minmax | ema | percentile | entropy | mse (default: percentile)");
      sub.add_option("--exclude", opt->exclude, "Linear names (globs) kept fp32")->delimiter(',');
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { export_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli::export_onnx_command
