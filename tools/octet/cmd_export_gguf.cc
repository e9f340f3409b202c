// `octet export-gguf MODEL -o OUT.gguf --type T`: a LLaMA-family model (Hugging
// Face folder, GGUF file or `octet quantize` folder) as a GGUF file that
// llama.cpp runs standalone (octet/export_gguf.h).
//
//   octet export-gguf ../shared/models/kjv-llama -o out/kjv-q8_0.gguf --type q8_0
//   octet export-gguf out/kjv-w4-g32 -o out/kjv-q4_0.gguf --type q4_0    # int4 codes written as they are
//   octet export-gguf model.gguf -o out/model-q4_k.gguf --type q4_k      # Q4_K, output.weight Q6_K
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/export_gguf.h"
#include "output.h"

namespace octet::cli::export_gguf_command {
namespace {

struct ExportGgufOptions {
  std::string model, output, type = "q8_0";
  bool force = false, json = false;
};

void export_gguf_command(const ExportGgufOptions& o) {
  GgufExportOptions options;
  options.type = parse_gguf_export_type(o.type);
  options.overwrite = o.force;
  const GgufExportResult r = export_gguf(o.model, o.output, options);
  if (o.json) {
    print_json({{"model", o.model},
                {"output", r.out.string()},
                {"type", std::string(gguf_export_type_name(options.type))},
                {"source", r.source_kind},
                {"tensors", r.tensors},
                {"exact_tensors", r.exact_tensors},
                {"requantized_tensors", r.requantized_tensors},
                {"bytes", r.bytes},
                {"notes", r.notes}});
    return;
  }
  std::vector<TableRow> rows{{"file", r.out.string()},
                             {"type", std::string(gguf_export_type_name(options.type))},
                             {"source", r.source_kind},
                             {"tensors", std::to_string(r.tensors)},
                             {"size", format_bytes(r.bytes)}};
  if (r.source_kind == "quantized") {
    rows.push_back({"codes written as they are", std::to_string(r.exact_tensors)});
    rows.push_back({"re-quantized", std::to_string(r.requantized_tensors)});
  }
  for (const std::string& n : r.notes) rows.push_back({"note", n});
  print_table({"export", "value"}, rows);
}

const CommandRegistration registration({
    "export-gguf",
    "Write a LLaMA-family model (HF folder, GGUF, or `octet quantize` folder) as a GGUF file for llama.cpp",
    [](CLI::App& sub) {
      auto opt = std::make_shared<ExportGgufOptions>();
      sub.add_option("model", opt->model, "A Hugging Face folder, a .gguf file or an `octet quantize` folder")
          ->required();
      sub.add_option("-o,--output", opt->output, "The .gguf file to write")->required();
      sub.add_option("--type", opt->type, "f16 | q8_0 | q4_0 | q4_k (default q8_0)");
      sub.add_flag("--force", opt->force, "Replace an existing output file");
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { export_gguf_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli::export_gguf_command
