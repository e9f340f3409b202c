// index.html from a report document without measuring anything (cells, best
// values, failed recipes, sections in order, nothing fetched), the report
// folder rules (create / replace / append, atomic files), and the weight
// bytes the report counts against the model.safetensors octet quantize writes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "octet/error.h"
#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/report.h"
#include "report/report_internal.h"
#include "report/report_test_util.h"

namespace octet::testing {
namespace {

using nlohmann::json;

json encoder_section() {
  return json::parse(R"({
    "name": "tiny-bert", "kind": "encoder", "architecture": "BertForSequenceClassification", "task": "glue",
    "date": "2025-01-01T00:00:00Z", "command": "octet report tiny --task glue --data d.tsv -o r",
    "octet_version": "0.1.0", "environment": {"cpu": "Test CPU", "kernel_variant": "avx2", "octet_threads": "2"},
    "data": {"file": "d.tsv", "examples": 100}, "wall_seconds": 1.5,
    "recipes": [
      {"recipe": "fp32", "description": "f32", "metrics": {"accuracy": 0.81, "latency_p50_ms": 5.5,
       "latency_p90_ms": 6.0, "weight_bytes": 44000000, "compression": 1.0}, "commands": ["octet eval tiny"]},
      {"recipe": "int8", "description": "int8 <static>", "metrics": {"accuracy": 0.8123456789012345,
       "accuracy_delta": 0.0023456789012345, "latency_p50_ms": 1.1, "latency_p90_ms": 1.3,
       "weight_bytes": 34000000, "compression": 1.294, "quantize_seconds": 0.25}, "commands": ["octet quantize tiny"]},
      {"recipe": "int8-mse", "description": "mse", "error": "boom & bust", "metrics": {}, "commands": []}
    ],
    "sensitivity": {"metric": "model_error", "caption": "alone", "value_label": "error",
                    "series": [{"recipe": "int8", "layers": [{"name": "l0", "value": 0.001}, {"name": "l1", "value": 0.01}]}]}
  })");
}

TEST(ReportHtml, TableCellsCarryTheJsonNumbers) {
  const json doc = {{"format", "octet-report"}, {"format_version", 1}, {"sections", {encoder_section()}}};
  const std::string html = render_report_html(doc);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  // The exact JSON number as data-value, the formatted one as text.
  EXPECT_NE(html.find(R"(data-key="accuracy" data-value="0.8123456789012345">81.23%</td>)"), std::string::npos);
  EXPECT_NE(html.find(R"(data-key="accuracy_delta" data-value="0.0023456789012345">+0.23 pts</td>)"),
            std::string::npos);
  EXPECT_NE(html.find(R"(<td class="best" data-key="latency_p50_ms" data-value="1.1">1.10 ms</td>)"),
            std::string::npos);
  // The best accuracy is int8's; fp32's compression 1.0 is not a comparison, so not "best".
  EXPECT_NE(html.find(R"(<td class="best" data-key="accuracy" data-value="0.8123456789012345">)"), std::string::npos);
  EXPECT_NE(html.find(R"(<td class="best" data-key="compression" data-value="1.294">)"), std::string::npos);
  // The failed recipe: a row with the error, no point in either plot.
  EXPECT_NE(html.find("failed: boom &amp; bust"), std::string::npos);
  EXPECT_NE(html.find("int8 &lt;static&gt;"), std::string::npos);
  for (const char* plot : {"accuracy-latency", "accuracy-size"}) {
    const auto svgs = elements(html, std::string("<svg [^>]*data-plot=\"") + plot + "\"", "svg");
    ASSERT_EQ(svgs.size(), 1u) << plot;
    EXPECT_EQ(all_attributes(svgs[0], "<circle [^>]*>", "data-recipe"), (std::vector<std::string>{"fp32", "int8"}));
  }
  EXPECT_EQ(all_attributes(html, "<rect class=\"bar\"[^>]*>", "data-layer"), (std::vector<std::string>{"l0", "l1"}));
  EXPECT_NE(html.find("octet report tiny --task glue --data d.tsv -o r"), std::string::npos);
  EXPECT_NE(html.find("Test CPU"), std::string::npos);
}

TEST(ReportHtml, SelfContained) {
  const json doc = {{"format", "octet-report"}, {"format_version", 1}, {"sections", {encoder_section()}}};
  const std::string html = render_report_html(doc);
  // Nothing to fetch: no external scripts, styles, images or fonts; the only URL is the SVG namespace.
  for (const char* needle : {"src=", "<link", "@import", "url(", "https://"}) EXPECT_EQ(html.find(needle), std::string::npos) << needle;
  std::string rest = html;
  for (size_t p; (p = rest.find("http://www.w3.org/2000/svg")) != std::string::npos;) rest.erase(p, 26);
  EXPECT_EQ(rest.find("http://"), std::string::npos);
  EXPECT_THROW(render_report_html(json::object()), Error);
}

TEST(ReportFolder, CreateReplaceAppend) {
  const auto dir = temp_dir(), out = dir / "report";
  const json a = encoder_section();
  json b = encoder_section();
  b["name"] = "second";
  check_report_destination(out, ReportWriteMode::Create);
  write_report(out, a, ReportWriteMode::Create);
  EXPECT_THROW(check_report_destination(out, ReportWriteMode::Create), Error);
  EXPECT_THROW(write_report(out, b, ReportWriteMode::Create), Error);
  json doc = write_report(out, b, ReportWriteMode::Append);
  ASSERT_EQ(doc["sections"].size(), 2u);
  EXPECT_EQ(json::parse(read_file(out / "report.json")), doc);
  const std::string html = read_file(out / "index.html");
  EXPECT_LT(html.find("id=\"section-0\""), html.find("id=\"section-1\""));
  EXPECT_LT(html.find(">tiny-bert<"), html.find(">second<"));
  doc = write_report(out, b, ReportWriteMode::Replace);
  EXPECT_EQ(doc["sections"].size(), 1u);
  // No temporary files are left behind.
  for (const auto& e : std::filesystem::directory_iterator(out))
    EXPECT_TRUE(e.path().filename() == "report.json" || e.path().filename() == "index.html") << e.path();
  // Appending to a folder whose report.json is not a report is refused, and nothing changes.
  std::ofstream(out / "report.json") << "{\"hello\": 1}";
  EXPECT_THROW(check_report_destination(out, ReportWriteMode::Append), Error);
  EXPECT_EQ(read_file(out / "report.json"), "{\"hello\": 1}");
  // Append to a folder that does not exist yet starts a new report.
  EXPECT_EQ(write_report(dir / "fresh", a, ReportWriteMode::Append)["sections"].size(), 1u);
}

// The report's weight bytes equal model.safetensors' size less its header.
TEST(ReportWeightBytes, MatchTheSavedFolder) {
  const auto dir = temp_dir();
  const auto source = source_root() / "models/sst2-bert-mini";
  ASSERT_TRUE(std::filesystem::exists(source)) << source;
  auto model = load_model(source);
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8-dynamic");
  qo.progress = false;
  const QuantizationConfig config = quantize_model(*model, {}, qo);
  for (const auto& [name, cfg] : {std::pair{"fp32", (const QuantizationConfig*)nullptr}, std::pair{"int8", &config}}) {
    const uint64_t counted = report::quantized_weight_bytes(*model, cfg);
    uint64_t file = 0, header = 0;
    if (cfg) {
      save_quantized_model(*model, config, source, dir / name);
      const auto path = dir / name / "model.safetensors";
      file = std::filesystem::file_size(path);
      std::ifstream in(path, std::ios::binary);
      in.read(reinterpret_cast<char*>(&header), 8);
      header += 8;
    } else {
      const auto path = source / "model.safetensors";
      file = std::filesystem::file_size(path);
      std::ifstream in(path, std::ios::binary);
      in.read(reinterpret_cast<char*>(&header), 8);
      header += 8;
    }
    EXPECT_EQ(counted + header, file) << name;
  }
}

}  // namespace
}  // namespace octet::testing
