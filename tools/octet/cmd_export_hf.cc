// `octet export-hf MODEL -o OUT --format F`: an `octet quantize` folder as a
// Hugging Face quantized checkpoint (docs/hf_checkpoints.md).
//
//   octet export-hf out/kjv-w4a16-awq -o out/kjv-awq --format awq          # AutoAWQ gemm (vLLM, transformers)
//   octet export-hf out/kjv-w4a16-gptq -o out/kjv-gptq --format gptq       # AutoGPTQ / GPTQModel v1
//   octet export-hf out/kjv-fp8 -o out/kjv-fp8-ct --format compressed-tensors
//   octet export-hf out/kjv-fp8 -o out/kjv-fp8-mo --format modelopt        # hf_quant_config.json (TensorRT-LLM)
//   octet export-hf ... --dtype f32        # every float exactly as octet holds it (scales included)
//   octet export-hf ... --gptq-v2          # GPTQModel's gptq_v2 zero points (a zero point of 0 allowed)
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/hf_checkpoint.h"
#include "output.h"

namespace octet::cli::export_hf_command {
namespace {

struct ExportHfOptions {
  std::string model, output, format, dtype;
  bool gptq_v2 = false, force = false, json = false;
};

void export_hf_command(const ExportHfOptions& o) {
  HfExportOptions options;
  options.layout = parse_hf_layout(o.format);
  if (!o.dtype.empty()) {
    const DType d = parse_dtype(o.dtype);
    check(d == DType::F32 || d == DType::F16 || d == DType::BF16, "export", "--dtype must be f32, f16 or bf16, got '{}'",
          o.dtype);
    options.float_dtype = d;
  }
  check(!o.gptq_v2 || options.layout == HfLayout::Gptq, "export", "--gptq-v2 applies to --format gptq");
  options.gptq_v2 = o.gptq_v2;
  options.overwrite = o.force;
  const HfExportResult r = export_hf_checkpoint(o.model, o.output, options);
  if (o.json) {
    print_json({{"model", o.model},
                {"output", r.out.string()},
                {"format", std::string(hf_layout_name(r.layout))},
                {"description", r.description},
                {"quantized_linears", r.quantized_linears},
                {"tensors", r.tensors},
                {"bytes", r.bytes},
                {"quantization_config", nlohmann::json::parse(r.quantization_config)},
                {"notes", r.notes}});
    return;
  }
  std::vector<TableRow> rows{{"folder", r.out.string()},
                             {"layout", r.description},
                             {"quantized Linears", std::to_string(r.quantized_linears)},
                             {"tensors", std::to_string(r.tensors)},
                             {"weights", format_bytes(r.bytes)}};
  for (const std::string& n : r.notes) rows.push_back({"note", n});
  print_table({"export", "value"}, rows);
}

const CommandRegistration registration({
    "export-hf",
    "Write an `octet quantize` folder as a Hugging Face quantized checkpoint (AWQ, GPTQ, compressed-tensors, fp8, "
    "Model Optimizer)",
    [](CLI::App& sub) {
      auto opt = std::make_shared<ExportHfOptions>();
      sub.add_option("model", opt->model, "A folder written by `octet quantize`")->required();
      sub.add_option("-o,--output", opt->output, "The checkpoint folder to write")->required();
      sub.add_option("--format", opt->format, "awq | gptq | compressed-tensors | fp8 | modelopt")->required();
      sub.add_option("--dtype", opt->dtype,
                     "f32 | f16 | bf16: float tensors (default: f32, with f16 scales for awq / gptq)");
      sub.add_flag("--gptq-v2", opt->gptq_v2, "GPTQ: zero points without the v1 minus one (checkpoint_format gptq_v2)");
      sub.add_flag("--force", opt->force, "Replace an existing output folder");
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { export_hf_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli::export_hf_command
