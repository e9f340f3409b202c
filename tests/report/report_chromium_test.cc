// End to end through the real binary: a short report on sst2-bert-mini, then
// kjv-llama appended to the same folder, each under a minute on 2 cores;
// headless Chromium renders index.html: no console message, one point per
// recipe in every plot, every table number equal to report.json's, and a
// screenshot. A missing chromium fails (it is a CI dependency), never skips.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "report/report_test_util.h"

namespace octet::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct TimedRun {
  CommandResult result;
  double seconds = 0;
};

TimedRun timed_octet(const std::string& args, const fs::path& dir) {
  const auto t0 = std::chrono::steady_clock::now();
  TimedRun r{run_octet(args, dir), 0};
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// The two CI reports, made once by the one test that checks them (ctest runs
// every gtest case in its own process, so a suite fixture would make them per case).
struct Reports {
  fs::path dir, out;
  TimedRun sst2, kjv;
  json report() const { return json::parse(read_file(out / "report.json")); }
};

Reports make_reports(const fs::path& dir) {
  Reports r;
  r.dir = dir;
  r.out = dir / "octet-report";
  const std::string sst2 = shared_path("models/sst2-bert-mini").string();
  r.sst2 = timed_octet("report " + sst2 + " --task glue --data " + shared_path("data/sst2/dev.tsv").string() +
                           " --calib " + shared_path("data/sst2/train.tsv").string() +
                           " --recipes int8,int8-dynamic --limit 100 --calib-samples 32 --batch 1 --seq 32 "
                           "--iters 5 --warmup 1 --json -o " + r.out.string(),
                       dir);
  // A short calibration text: the first 200 kB of kjv.train.txt (8 windows of 256 tokens are taken from it).
  const fs::path kjv = shared_path("models/kjv-llama");
  std::ofstream(dir / "calib.txt") << read_file(kjv / "kjv.train.txt").substr(0, 200000);
  r.kjv = timed_octet("report " + kjv.string() + " --task perplexity --data " + (kjv / "kjv.valid.txt").string() +
                          " --calib " + (dir / "calib.txt").string() +
                          " --recipes w8a8-sq,w4a16-awq --limit-tokens 2048 --samples 8 --seq-len 256 --iters 1 "
                          "--prompt-tokens 32 --new-tokens 16 --append --json -o " + r.out.string(),
                      dir);
  // Printed, not asserted: speed is not a test here (the kjv report took 138 s under ASan; the whole
  // test takes 22 s in the Release build).
  std::printf("[ report ] sst2-bert-mini CI report: %.1f s; kjv-llama CI report (appended): %.1f s\n", r.sst2.seconds,
              r.kjv.seconds);
  return r;
}

void check_sst2(const Reports& r) {
  ASSERT_EQ(r.sst2.result.exit_code, 0) << r.sst2.result.errors;
  const json printed = json::parse(r.sst2.result.output);
  const json doc = r.report();
  ASSERT_EQ(doc.at("sections").size(), 2u);
  const json& s = doc["sections"][0];
  EXPECT_EQ(printed.at("section"), s);  // --json prints what report.json holds
  EXPECT_EQ(s.at("kind"), "encoder");
  EXPECT_EQ(s.at("data").at("examples"), 100);
  std::vector<std::string> names;
  for (const json& row : s.at("recipes")) {
    names.push_back(row.at("recipe"));
    EXPECT_FALSE(row.contains("error")) << row.dump();
    const json& m = row.at("metrics");
    EXPECT_GT(m.at("accuracy").get<double>(), 0.7) << row.dump();
    EXPECT_GT(m.at("latency_p50_ms").get<double>(), 0);
    EXPECT_GE(m.at("latency_p90_ms").get<double>(), m.at("latency_p50_ms").get<double>());
    EXPECT_EQ(row.at("commands").size(), row.at("recipe") == "fp32" ? 2u : 3u);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fp32", "int8", "int8-dynamic"}));
  const json& fp32 = s["recipes"][0]["metrics"];
  const json& int8 = s["recipes"][1]["metrics"];
  EXPECT_LT(int8.at("weight_bytes").get<double>(), fp32.at("weight_bytes").get<double>());
  EXPECT_NEAR(int8.at("accuracy").get<double>(), fp32.at("accuracy").get<double>(), 0.05);
  // Every Linear of the 4-layer BERT (6 each) plus pooler and classifier, quantized alone.
  const json& sens = s.at("sensitivity");
  EXPECT_EQ(sens.at("series").size(), 1u);
  EXPECT_EQ(sens["series"][0].at("recipe"), "int8");
  EXPECT_EQ(sens["series"][0].at("layers").size(), 26u);
  EXPECT_NE(s.at("command").get<std::string>().find("octet report "), std::string::npos);
  EXPECT_NE(r.sst2.result.errors.find("report: [2/3] int8: quantizing"), std::string::npos) << r.sst2.result.errors;
}

void check_kjv(const Reports& r) {
  ASSERT_EQ(r.kjv.result.exit_code, 0) << r.kjv.result.errors;
  const json doc = r.report();
  ASSERT_EQ(doc.at("sections").size(), 2u);
  EXPECT_EQ(doc["sections"][0].at("name"), "sst2-bert-mini");
  const json& s = doc["sections"][1];
  EXPECT_EQ(json::parse(r.kjv.result.output).at("section"), s);
  EXPECT_EQ(s.at("kind"), "llm");
  EXPECT_EQ(s.at("data").at("tokens"), 2048);
  EXPECT_EQ(s.at("calibration").at("windows"), 8);
  std::vector<std::string> names;
  for (const json& row : s.at("recipes")) {
    names.push_back(row.at("recipe"));
    EXPECT_FALSE(row.contains("error")) << row.dump();
    const json& m = row.at("metrics");
    EXPECT_GT(m.at("perplexity").get<double>(), 1);
    EXPECT_GT(m.at("decode_tokens_per_s").get<double>(), 0);
    EXPECT_GT(m.at("prefill_tokens_per_s").get<double>(), 0);
    if (row.at("recipe") != "fp32") {
      EXPECT_GT(m.at("mean_kl").get<double>(), 0);
      EXPECT_GT(m.at("top1_agreement").get<double>(), 0.8);
      EXPECT_LT(std::abs(m.at("perplexity_delta_pct").get<double>()), 5.0);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fp32", "w8a8-sq", "w4a16-awq"}));
  // int8 weights about a quarter of f32, int4 smaller still (embeddings and lm_head stay f32).
  const auto bytes = [&](size_t i) { return s["recipes"][i]["metrics"]["weight_bytes"].get<double>(); };
  EXPECT_LT(bytes(1), 0.6 * bytes(0));
  EXPECT_LT(bytes(2), bytes(1));
  const json& sens = s.at("sensitivity");
  ASSERT_EQ(sens.at("series").size(), 2u);
  EXPECT_EQ(sens["series"][0].at("recipe"), "w8a8-sq");
  EXPECT_EQ(sens["series"][1].at("recipe"), "w4a16-awq");
  EXPECT_EQ(sens["series"][0].at("layers").size(), 42u);  // 6 layers x 7 Linears; lm_head stays f32
  EXPECT_NE(sens.at("caption").get<std::string>().find("w8a8-sq and w4a16-awq"), std::string::npos);
}

// How a table cell shows its number: the scale applied before formatting.
double display_scale(const std::string& key) {
  if (key == "accuracy" || key == "accuracy_delta" || key == "top1_agreement") return 100;
  if (key == "weight_bytes") return 1.0 / (1024 * 1024);
  return 1;
}

// The number a cell shows agrees with the value to the digits it prints.
void expect_text_matches(const std::string& text, double value, const std::string& where) {
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(^\+?(-?[0-9]+(\.([0-9]+))?(e[-+]?[0-9]+)?))"))) << where << ": " << text;
  const double shown = std::stod(m[1].str());
  const double tolerance = m[4].matched ? 5e-3 * std::abs(value) : 0.5 * std::pow(10.0, -double(m[3].length())) + 1e-12;
  EXPECT_NEAR(shown, value, tolerance) << where << ": " << text;
}

void check_rendering(const Reports& r) {
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << kChromiumMissing;
  const fs::path html = r.out / "index.html";
  const CommandResult dom_run = run_chromium(
      chromium, "--enable-logging=stderr --v=0 --dump-dom 'file://" + html.string() + "'", r.dir, "dom");
  ASSERT_EQ(dom_run.exit_code, 0) << dom_run.errors;
  const std::string& dom = dom_run.output;
  ASSERT_NE(dom.find("</html>"), std::string::npos) << dom.substr(0, 500);
  const std::vector<std::string> console = console_lines(dom_run.errors);
  EXPECT_TRUE(console.empty()) << "console: " << console.front();
  EXPECT_NE(dom.find("data-ready=\"1\""), std::string::npos) << "the page's script did not run to its end";

  const json doc = r.report();
  const std::vector<std::string> sections = elements(dom, R"(<section class="model"[^>]*>)", "section");
  ASSERT_EQ(sections.size(), doc["sections"].size());
  const std::map<std::string, std::vector<std::string>> plots = {
      {"encoder", {"accuracy-latency", "accuracy-size"}}, {"llm", {"perplexity-speed", "perplexity-size"}}};
  for (size_t i = 0; i < sections.size(); ++i) {
    const json& s = doc["sections"][i];
    std::vector<std::string> recipes;
    for (const json& r : s["recipes"]) recipes.push_back(r["recipe"]);
    for (const std::string& plot : plots.at(s["kind"])) {
      const auto svg = elements(sections[i], "<svg [^>]*data-plot=\"" + plot + "\"", "svg");
      ASSERT_EQ(svg.size(), 1u) << plot;
      // Exactly one point per recipe, each named once.
      EXPECT_EQ(all_attributes(svg[0], R"(<circle class="point[^"]*"[^>]*>)", "data-recipe"), recipes) << plot;
      EXPECT_LE(all_attributes(svg[0], "<polyline [^>]*>", "class").size(), 1u);
    }
    EXPECT_EQ(elements(sections[i], R"(<svg [^>]*data-plot="sensitivity")", "svg").size(), 1u);
    // Every table cell with a number shows report.json's value.
    const auto rows = elements(sections[i], R"(<tr data-recipe="[^"]*">)", "tr");
    ASSERT_EQ(rows.size(), recipes.size());
    size_t cells = 0;
    for (const std::string& row : rows) {
      const std::string recipe = attribute(row, "data-recipe");
      const auto it = std::find_if(s["recipes"].begin(), s["recipes"].end(),
                                   [&](const json& r) { return r["recipe"] == recipe; });
      ASSERT_NE(it, s["recipes"].end()) << recipe;
      const json& metrics = (*it)["metrics"];
      const std::regex cell(R"re(<td[^>]*data-key="([^"]+)"[^>]*data-value="([^"]+)"[^>]*>([^<]*)</td>)re");
      std::set<std::string> seen;
      for (auto m = std::sregex_iterator(row.begin(), row.end(), cell); m != std::sregex_iterator(); ++m) {
        const std::string key = (*m)[1], where = s["name"].get<std::string>() + "/" + recipe + "/" + key;
        ASSERT_TRUE(metrics.contains(key)) << where;
        EXPECT_EQ(std::stod((*m)[2]), metrics[key].get<double>()) << where;
        expect_text_matches((*m)[3], metrics[key].get<double>() * display_scale(key), where);
        seen.insert(key);
        ++cells;
      }
      for (const auto& [key, value] : metrics.items()) EXPECT_TRUE(seen.count(key)) << recipe << " has no cell " << key;
    }
    EXPECT_GE(cells, recipes.size() * 5);
  }

  const fs::path png = r.dir / "report.png";
  const CommandResult shot = run_chromium(
      chromium, "--screenshot=" + png.string() + " --window-size=1280,2000 'file://" + html.string() + "'", r.dir, "png");
  ASSERT_EQ(shot.exit_code, 0) << shot.errors;
  ASSERT_TRUE(fs::exists(png)) << shot.errors;
  EXPECT_GT(fs::file_size(png), 50000u);  // a blank 1280 x 2000 page compresses to a few kB
  EXPECT_EQ(read_file(png).substr(1, 3), "PNG");
}

TEST(ReportEndToEnd, Sst2AndKjvReportsRenderInChromium) {
  const Reports r = make_reports(temp_dir());
  {
    SCOPED_TRACE("sst2-bert-mini report");
    check_sst2(r);
  }
  {
    SCOPED_TRACE("kjv-llama report appended");
    check_kjv(r);
  }
  if (r.sst2.result.exit_code == 0 && r.kjv.result.exit_code == 0) {
    SCOPED_TRACE("headless Chromium");
    check_rendering(r);
  }
}

// The console check is not vacuous: a page that throws is caught with this Chromium.
TEST(ReportChromium, ConsoleErrorsAreCaught) {
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << kChromiumMissing;
  const auto dir = temp_dir();
  std::ofstream(dir / "bad.html") << "<!DOCTYPE html><html><body><script>notDefined();</script></body></html>";
  const CommandResult r = run_chromium(
      chromium, "--enable-logging=stderr --v=0 --dump-dom 'file://" + (dir / "bad.html").string() + "'", dir, "bad");
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  const std::vector<std::string> console = console_lines(r.errors);
  ASSERT_EQ(console.size(), 1u) << r.errors;
  EXPECT_NE(console[0].find("Uncaught ReferenceError"), std::string::npos) << console[0];
}

}  // namespace
}  // namespace octet::testing
