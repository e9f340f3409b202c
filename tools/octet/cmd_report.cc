// `octet report MODEL --task glue|perplexity --data FILE -o DIR`: quantize the
// model with each recipe, measure every one, and write DIR/index.html (one
// self-contained page with tables and plots) and DIR/report.json.
//
//   octet report models/sst2-bert-mini --task glue --data data/sst2/dev.tsv --calib data/sst2/train.tsv -o octet-report
//   octet report kjv-llama --task perplexity --data kjv.valid.txt --calib kjv.train.txt -o octet-report --append
//   octet report MODEL ... --recipes fp32,w8a8-sq,w4a16-awq --limit-tokens 4096 --samples 16 --seq-len 256
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/report.h"
#include "octet/thread_pool.h"
#include "output.h"

namespace octet::cli::report_command {
namespace {

struct ReportCommandOptions {
  ReportOptions report;
  std::string task;
  std::string output;
  bool force = false, append = false, json = false;
  std::set<std::string> given;
};

// Options of one task only: passing one with the other task is an error.
const std::set<std::string> kGlueOnly = {"--limit", "--calib-samples", "--batch", "--seq", "--warmup"};
const std::set<std::string> kPerplexityOnly = {"--limit-tokens", "--samples", "--seq-len", "--ctx", "--prompt-tokens",
                                               "--new-tokens"};

std::string shell_word(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789_./,:=+-%@") == std::string::npos;
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The command as typed (argv from /proc/self/cmdline, the program shown as "octet"), shell-quoted.
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  if (args.empty()) return "octet report";
  std::string line = "octet";
  for (size_t i = 1; i < args.size(); ++i) line += " " + shell_word(args[i]);
  return line;
}

std::string cell(const nlohmann::json& metrics, const char* key, const char* pattern, double scale = 1) {
  const auto it = metrics.find(key);
  if (it == metrics.end() || !it->is_number()) return "-";
  return fmt::format(fmt::runtime(pattern), scale * it->get<double>());
}

// "1.00x": how much faster than fp32's p50 (encoders).
std::string speedup(const nlohmann::json& metrics, double fp32_p50) {
  const auto it = metrics.find("latency_p50_ms");
  if (it == metrics.end() || !it->is_number() || !(fp32_p50 > 0) || !(it->get<double>() > 0)) return "-";
  return fmt::format("{:.2f}x", fp32_p50 / it->get<double>());
}

// `text` on one line (line breaks shown as " / "), cut to `width` bytes at a UTF-8 boundary.
std::string one_line(const std::string& text, size_t width) {
  std::string line;
  for (const char c : text.substr(std::min(text.find_first_not_of("\n "), text.size())))
    line += c == '\n' ? std::string(" / ") : std::string(1, c);
  if (line.size() <= width) return line;
  size_t cut = width;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  return line.substr(0, cut) + "...";
}

void print_summary(const nlohmann::json& section, const std::string& dir, size_t sections) {
  const bool llm = section.at("kind") == "llm";
  std::vector<TableRow> rows;
  std::vector<std::string> failures;
  double fp32_p50 = 0;
  for (const nlohmann::json& row : section.at("recipes"))
    if (row.at("recipe") == "fp32" && row.at("metrics").contains("latency_p50_ms"))
      fp32_p50 = row.at("metrics").at("latency_p50_ms").get<double>();
  for (const nlohmann::json& row : section.at("recipes")) {
    const nlohmann::json& m = row.at("metrics");
    const std::string size = m.contains("weight_bytes") ? format_bytes(m["weight_bytes"].get<uint64_t>()) : "-";
    if (row.contains("error")) {
      rows.push_back({row.at("recipe"), "failed"});
      failures.push_back(fmt::format("{} failed: {}", row["recipe"].get<std::string>(), row["error"].get<std::string>()));
    } else if (llm) {
      rows.push_back({row.at("recipe"), cell(m, "perplexity", "{:.3f}"), cell(m, "perplexity_delta_pct", "{:+.2f}%"),
                      cell(m, "mean_kl", "{:.3g}"), cell(m, "top1_agreement", "{:.2f}%", 100),
                      cell(m, "prefill_tokens_per_s", "{:.0f}"), cell(m, "decode_tokens_per_s", "{:.1f}"), size});
    } else {
      rows.push_back({row.at("recipe"), cell(m, "accuracy", "{:.2f}%", 100), cell(m, "accuracy_delta", "{:+.2f}", 100),
                      cell(m, "latency_p50_ms", "{:.2f} ms"), cell(m, "latency_p90_ms", "{:.2f} ms"),
                      speedup(m, fp32_p50), size});
    }
  }
  if (llm)
    print_table({"recipe", "perplexity", "vs fp32", "mean KL", "top-1", "prefill tok/s", "decode tok/s", "weights"},
                rows);
  else
    print_table({"recipe", "accuracy", "vs fp32 (pts)", "p50", "p90", "speedup", "weights"}, rows);
  for (const std::string& f : failures) fmt::print("{}\n", f);
  // What each recipe's model writes after the same prompt (greedy), so a person sees the text survive.
  if (llm && section.contains("generation") && section["generation"].contains("prompt")) {
    const std::string prompt = section["generation"]["prompt"].get<std::string>();
    const size_t tail = prompt.find_last_of('\n');
    fmt::print("\ngreedy continuation of \"...{}\":\n",
               one_line(tail == std::string::npos ? prompt : prompt.substr(tail + 1), 80));
    for (const nlohmann::json& row : section.at("recipes"))
      if (row.contains("generated") && row["generated"].is_string())
        fmt::print("  {:<12} {}\n", row.at("recipe").get<std::string>(), one_line(row["generated"].get<std::string>(), 110));
  }
  fmt::print("\n{}/index.html: {} section{} ({} took {})\n", dir, sections, sections == 1 ? "" : "s",
             section.value("name", ""), format_duration(section.value("wall_seconds", 0.0)));
}

void report_command(ReportCommandOptions& o) {
  o.report.task = parse_report_task(o.task);
  const std::set<std::string>& foreign = *o.report.task == ReportTask::Glue ? kPerplexityOnly : kGlueOnly;
  for (const std::string& option : foreign)
    check(!o.given.count(option), "report", "{} applies to --task {}, not to --task {}", option,
          *o.report.task == ReportTask::Glue ? "perplexity" : "glue", o.task);
  check(!(o.force && o.append), "report", "--force and --append exclude each other");
  const ReportWriteMode mode =
      o.append ? ReportWriteMode::Append : o.force ? ReportWriteMode::Replace : ReportWriteMode::Create;
  check_report_destination(o.output, mode);
  const nlohmann::json section = measure_report(o.report);
  const nlohmann::json doc = write_report(o.output, section, mode);
  if (o.json) {
    print_json({{"index_html", o.output + "/index.html"},
                {"report_json", o.output + "/report.json"},
                {"sections", doc["sections"].size()},
                {"section", section}});
    return;
  }
  print_summary(section, o.output, doc["sections"].size());
}

const CommandRegistration registration({
    "report",
    "Quantize a model with several recipes, measure each, and write an HTML report (plus report.json)",
    [](CLI::App& sub) {
      auto o = std::make_shared<ReportCommandOptions>();
      ReportOptions& r = o->report;
      sub.add_option("model", r.model, "Hugging Face model folder or .gguf file (fp32 / f16, not a quantized folder)")
          ->required();
      sub.add_option("--task", o->task, "glue (encoder classifiers, TSV data) or perplexity (decoder LLMs, text)")
          ->required();
      sub.add_option("--data", r.data, "Evaluation data: a TSV with a header row (glue) or a text file (perplexity)")
          ->required();
      sub.add_option("--calib", r.calib,
                     "Calibration data (training data, never the evaluation data): TSV for glue, text for perplexity");
      sub.add_option("--recipes", r.recipes,
                     "Comma-separated recipes (default: all for the model kind; fp32 is always measured)")
          ->delimiter(',');
      sub.add_option("-o,--output", o->output, "Report folder (index.html, report.json)")->required();
      sub.add_flag("--force", o->force, "Replace the report in an existing folder");
      sub.add_flag("--append", o->append, "Add this model as another section of the report in the folder");
      sub.add_flag("--json", o->json, "Print JSON");
      sub.add_option("--iters", r.iters, "Timed latency passes (glue, default 20) or generation runs (perplexity, default 3)");
      auto* glue = "glue";
      sub.add_option("--limit", r.limit, "Evaluate the first N examples only")->group(glue);
      sub.add_option("--calib-samples", r.calib_samples, "Calibration sentences (random rows, seed 0)")
          ->capture_default_str()->group(glue);
      sub.add_option("--batch", r.batch, "Batch size of the latency passes")->capture_default_str()->group(glue);
      sub.add_option("--seq", r.seq, "Sequence length of the latency passes")->capture_default_str()->group(glue);
      sub.add_option("--warmup", r.warmup, "Untimed latency passes per recipe")->capture_default_str()->group(glue);
      auto* ppl = "perplexity";
      sub.add_option("--limit-tokens", r.limit_tokens, "Score the first N tokens of --data only")->group(ppl);
      sub.add_option("--ctx", r.ctx, "Perplexity window in tokens")->capture_default_str()->group(ppl);
      sub.add_option("--samples", r.samples, "Calibration windows")->capture_default_str()->group(ppl);
      sub.add_option("--seq-len", r.seq_len, "Tokens per calibration window")->capture_default_str()->group(ppl);
      sub.add_option("--prompt-tokens", r.prompt_tokens, "Generation prompt: the first N tokens of --data")
          ->capture_default_str()->group(ppl);
      sub.add_option("--new-tokens", r.new_tokens, "Greedy tokens generated per run (EOS ignored)")
          ->capture_default_str()->group(ppl);
      add_common_options(sub);
      sub.callback([o, app = &sub] {
        for (const CLI::Option* opt : app->get_options())
          if (opt->count() > 0) o->given.insert(opt->get_name());
        o->report.command_line = command_line();
        report_command(*o);
      });
    },
});

}  // namespace
}  // namespace octet::cli::report_command
