// index.html from report.json: one section per model with the results table
// (each cell carries data-key and the exact JSON number as data-value), two
// scatter plots with the Pareto front, the per-Linear sensitivity bars, the
// machine and every command. Inline CSS and SVG, a few lines of plain JS to
// sort the tables; nothing is fetched.
#include <cmath>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "octet/error.h"
#include "octet/report.h"
#include "report/svg_plot.h"

namespace octet {
namespace {

using nlohmann::json;
using report::html_escape;

enum class Better : uint8_t { Higher, Lower, None };

struct Column {
  std::string key, label, tooltip;
  std::function<std::string(double)> format;
  Better better = Better::None;
  bool skip_reference = false;  // a comparison with fp32 (fp32's own value is trivial)
};

constexpr double kMiB = 1024.0 * 1024.0;

std::string mib(double bytes) { return fmt::format("{:.2f} MiB", bytes / kMiB); }

std::vector<Column> encoder_columns() {
  return {
      {"accuracy", "accuracy", "share of the examples classified right", [](double v) { return fmt::format("{:.2f}%", 100 * v); },
       Better::Higher},
      {"accuracy_delta", "\u0394 vs fp32", "accuracy minus fp32's, in percentage points",
       [](double v) { return fmt::format("{:+.2f} pts", 100 * v); }, Better::Higher, true},
      {"latency_p50_ms", "p50 latency", "median wall time of one forward pass of the latency shape",
       [](double v) { return fmt::format("{:.2f} ms", v); }, Better::Lower},
      {"latency_p90_ms", "p90 latency", "90th percentile of the same passes",
       [](double v) { return fmt::format("{:.2f} ms", v); }, Better::Lower},
      {"weight_bytes", "weights", "bytes of the tensors in model.safetensors", mib, Better::Lower},
      {"compression", "smaller", "fp32 weight bytes / these weight bytes",
       [](double v) { return fmt::format("{:.2f}\u00d7", v); }, Better::Higher, true},
      {"quantize_seconds", "quantize time", "wall time of calibration, quantization and installing the kernels",
       [](double v) { return fmt::format("{:.2f} s", v); }},
  };
}

std::vector<Column> llm_columns() {
  return {
      {"perplexity", "perplexity", "exp of the mean negative log-likelihood per token",
       [](double v) { return fmt::format("{:.3f}", v); }, Better::Lower},
      {"perplexity_delta_pct", "\u0394 vs fp32", "perplexity change against fp32, percent",
       [](double v) { return fmt::format("{:+.2f}%", v); }, Better::Lower, true},
      {"mean_kl", "mean KL", "mean KL(fp32 || recipe) of the next-token distributions, nats",
       [](double v) { return fmt::format("{:.3g}", v); }, Better::Lower, true},
      {"top1_agreement", "top-1 agree", "share of positions where the argmax token equals fp32's",
       [](double v) { return fmt::format("{:.2f}%", 100 * v); }, Better::Higher, true},
      {"prefill_tokens_per_s", "prefill", "prompt tokens per second (median of the runs)",
       [](double v) { return fmt::format("{:.0f} tok/s", v); }, Better::Higher},
      {"decode_tokens_per_s", "decode", "generated tokens per second after the first (median of the runs)",
       [](double v) { return fmt::format("{:.1f} tok/s", v); }, Better::Higher},
      {"weight_bytes", "weights", "bytes of the tensors in model.safetensors", mib, Better::Lower},
      {"compression", "smaller", "fp32 weight bytes / these weight bytes",
       [](double v) { return fmt::format("{:.2f}\u00d7", v); }, Better::Higher, true},
      {"quantize_seconds", "quantize time", "wall time of calibration, quantization and installing the kernels",
       [](double v) { return fmt::format("{:.2f} s", v); }},
  };
}

std::optional<double> metric(const json& row, const std::string& key) {
  const auto m = row.find("metrics");
  if (m == row.end() || !m->is_object()) return std::nullopt;
  const auto v = m->find(key);
  if (v == m->end() || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::string text_of(const json& j, const char* key, const std::string& fallback = "") {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string results_table(const json& section, size_t index, const std::vector<Column>& columns) {
  const json& rows = section.at("recipes");
  // The best row of each column (ties: every row with that value).
  std::vector<std::optional<double>> best(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    if (columns[c].better == Better::None) continue;
    for (const json& row : rows) {
      const auto v = metric(row, columns[c].key);
      if (!v || (columns[c].skip_reference && row.value("recipe", "") == "fp32")) continue;
      if (!best[c] || (columns[c].better == Better::Higher ? *v > *best[c] : *v < *best[c])) best[c] = v;
    }
  }
  std::string s = fmt::format(R"(<table class="results" data-section="{}"><thead><tr><th>recipe</th>)", index);
  for (const Column& c : columns)
    s += fmt::format(R"(<th data-key="{}" title="{}">{}{}</th>)", c.key, html_escape(c.tooltip), html_escape(c.label),
                     c.better == Better::Higher ? " \u2191" : c.better == Better::Lower ? " \u2193" : "");
  s += "</tr></thead>\n<tbody>\n";
  for (const json& row : rows) {
    const std::string recipe = row.value("recipe", "");
    s += fmt::format(R"(<tr data-recipe="{}"><td class="recipe"><b>{}</b><div class="desc">{}</div>)",
                     html_escape(recipe), html_escape(recipe), html_escape(row.value("description", "")));
    if (row.contains("error"))
      s += fmt::format(R"(<div class="error">failed: {}</div>)", html_escape(row["error"].get<std::string>()));
    s += "</td>";
    for (size_t c = 0; c < columns.size(); ++c) {
      const auto v = metric(row, columns[c].key);
      if (!v) {
        s += fmt::format(R"(<td class="none" data-key="{}">&ndash;</td>)", columns[c].key);
        continue;
      }
      const bool is_best = best[c] && *v == *best[c] &&
                           !(columns[c].skip_reference && recipe == "fp32");
      // data-value: the JSON number itself (nlohmann prints the shortest text that reads back equal).
      s += fmt::format(R"(<td{} data-key="{}" data-value="{}">{}</td>)", is_best ? R"( class="best")" : "",
                       columns[c].key, json(*v).dump(), html_escape(columns[c].format(*v)));
    }
    s += "</tr>\n";
  }
  return s + "</tbody></table>\n";
}

struct PlotDef {
  std::string id, title, x_key, y_key, x_label, y_label;
  double x_scale = 1, y_scale = 1;
  bool x_higher, y_higher;
};

std::string scatter(const json& section, const PlotDef& d) {
  std::vector<report::ScatterPoint> points;
  for (const json& row : section.at("recipes")) {
    const auto x = metric(row, d.x_key), y = metric(row, d.y_key);
    if (x && y) points.push_back({row.value("recipe", ""), *x * d.x_scale, *y * d.y_scale});
  }
  report::ScatterSpec spec;
  spec.id = d.id;
  spec.title = d.title;
  spec.x_label = d.x_label;
  spec.y_label = d.y_label;
  spec.x_higher_better = d.x_higher;
  spec.y_higher_better = d.y_higher;
  return report::render_scatter_svg(spec, points);
}

std::string plots(const json& section) {
  const bool llm = section.value("kind", "") == "llm";
  std::vector<PlotDef> defs;
  if (llm) {
    defs.push_back({"perplexity-speed", "Perplexity vs decode speed", "decode_tokens_per_s", "perplexity",
                    "decode tokens/s", "perplexity", 1, 1, true, false});
    defs.push_back({"perplexity-size", "Perplexity vs weight size", "weight_bytes", "perplexity", "weights, MiB",
                    "perplexity", 1 / kMiB, 1, false, false});
  } else {
    defs.push_back({"accuracy-latency", "Accuracy vs latency", "latency_p50_ms", "accuracy", "p50 latency, ms",
                    "accuracy, %", 1, 100, false, true});
    defs.push_back({"accuracy-size", "Accuracy vs weight size", "weight_bytes", "accuracy", "weights, MiB",
                    "accuracy, %", 1 / kMiB, 100, false, true});
  }
  std::string s = R"(<div class="plots">)";
  for (const PlotDef& d : defs) s += scatter(section, d);
  return s + "</div>\n<p class=\"note\">One point per recipe. Red ring and dashed line: the Pareto front (no other "
             "recipe is better on both axes). The arrow above each plot points to the better corner.</p>\n";
}

std::string sensitivity(const json& section) {
  const auto it = section.find("sensitivity");
  if (it == section.end() || it->is_null()) return "";
  std::vector<std::string> layers;
  for (const json& s : it->at("series"))
    for (const json& l : s.at("layers")) {
      const std::string name = l.at("name");
      if (std::find(layers.begin(), layers.end(), name) == layers.end()) layers.push_back(name);
    }
  std::vector<report::BarSeries> series;
  for (const json& s : it->at("series")) {
    report::BarSeries b{s.at("recipe"), std::vector<double>(layers.size(), std::nan(""))};
    for (const json& l : s.at("layers")) {
      const auto pos = std::find(layers.begin(), layers.end(), l.at("name").get<std::string>()) - layers.begin();
      b.values[size_t(pos)] = l.at("value").get<double>();
    }
    series.push_back(std::move(b));
  }
  report::BarSpec spec;
  spec.id = "sensitivity";
  spec.title = "Per-layer sensitivity";
  spec.value_label = it->value("value_label", "error");
  spec.categories = layers;
  return fmt::format("<h3>Per-layer sensitivity</h3>\n<div class=\"bars\">{}</div>\n<p class=\"caption\">{}</p>\n",
                     report::render_bar_svg(spec, series), html_escape(it->value("caption", "")));
}

std::string key_values(const json& object) {
  std::string s = "<table class=\"kv\">";
  for (const auto& [key, value] : object.items())
    s += fmt::format("<tr><th>{}</th><td>{}</td></tr>", html_escape(key),
                     html_escape(value.is_string() ? value.get<std::string>() : value.dump()));
  return s + "</table>\n";
}

std::string settings_line(const json& section) {
  std::vector<std::string> parts;
  const json& data = section.value("data", json::object());
  if (section.value("kind", "") == "llm") {
    parts.push_back(fmt::format("perplexity on <code>{}</code>: {} tokens, windows of {}",
                                html_escape(text_of(data, "file")), text_of(data, "tokens"), text_of(data, "ctx")));
    if (const json& c = section.value("calibration", json()); c.is_object())
      parts.push_back(fmt::format("calibration <code>{}</code>: {} windows &times; {} tokens", html_escape(text_of(c, "file")),
                                  text_of(c, "windows"), text_of(c, "seq_len")));
    if (const json& g = section.value("generation", json()); g.is_object())
      parts.push_back(fmt::format("speed: greedy generation of {} tokens after a {}-token prompt, median of {} runs, "
                                  "each run right after one of fp32 (so both see the same machine load; fp32: median "
                                  "of its {} runs)",
                                  text_of(g, "new_tokens"), text_of(g, "prompt_tokens"), text_of(g, "runs"),
                                  text_of(g, "fp32_runs")));
  } else {
    parts.push_back(fmt::format("accuracy on <code>{}</code>: {} examples", html_escape(text_of(data, "file")),
                                text_of(data, "examples")));
    if (const json& c = section.value("calibration", json()); c.is_object())
      parts.push_back(fmt::format("calibration <code>{}</code>: {} sentences", html_escape(text_of(c, "file")),
                                  text_of(c, "sentences")));
    if (const json& l = section.value("latency", json()); l.is_object())
      parts.push_back(fmt::format("latency: batch {} &times; seq {}, {} timed passes per recipe in {} interleaved rounds",
                                  text_of(l, "batch"), text_of(l, "seq"), text_of(l, "iters"), text_of(l, "rounds")));
  }
  return "<ul class=\"settings\"><li>" + fmt::format("{}", fmt::join(parts, "</li><li>")) + "</li></ul>\n";
}

std::string commands(const json& section) {
  std::string s = "<details class=\"commands\" open><summary>Commands to reproduce</summary>\n<p>This report:</p>";
  s += fmt::format("<pre>{}</pre>\n<p>Run in <code>{}</code>. The same measurements, recipe by recipe (paths "
                   "under <code>out/</code> are where the quantized folders go):</p>\n",
                   html_escape(text_of(section, "command", "(not recorded)")),
                   html_escape(text_of(section, "working_directory", "?")));
  for (const json& row : section.at("recipes")) {
    std::vector<std::string> lines;
    for (const json& c : row.value("commands", json::array())) lines.push_back(c.get<std::string>());
    if (lines.empty()) continue;
    s += fmt::format("<h4>{}</h4><pre>{}</pre>\n", html_escape(row.value("recipe", "")),
                     html_escape(fmt::format("{}", fmt::join(lines, "\n"))));
  }
  return s + "</details>\n";
}

std::string generated_text(const json& section) {
  if (section.value("kind", "") != "llm") return "";
  const json& g = section.value("generation", json::object());
  std::string s = fmt::format(
      "<details class=\"generated\"><summary>Generated text (greedy)</summary>\n<p>Prompt (last part): "
      "<q>{}</q></p>\n<table class=\"kv\">",
      html_escape([&] {
        std::string p = text_of(g, "prompt");
        return p.size() > 300 ? "\u2026" + p.substr(p.size() - 300) : p;
      }()));
  for (const json& row : section.at("recipes"))
    if (row.contains("generated"))
      s += fmt::format("<tr><th>{}</th><td>{}</td></tr>", html_escape(row.value("recipe", "")),
                       html_escape(row["generated"].get<std::string>()));
  return s + "</table></details>\n";
}

std::string render_section(const json& section, size_t index) {
  const bool llm = section.value("kind", "") == "llm";
  std::string s = fmt::format(R"(<section class="model" id="section-{0}" data-section="{0}" data-kind="{1}">)"
                              "\n",
                              index, llm ? "llm" : "encoder");
  s += fmt::format("<h2>{} <small>{} &middot; {} &middot; {}</small></h2>\n", html_escape(text_of(section, "name")),
                   html_escape(text_of(section, "architecture")), llm ? "perplexity" : "GLUE classification",
                   html_escape(text_of(section, "date")));
  s += settings_line(section);
  s += results_table(section, index, llm ? llm_columns() : encoder_columns());
  s += "<p class=\"note\">Click a column to sort. Bold green: the best value of the column (comparisons with fp32 "
       "leave fp32 out). Weights: the tensors octet quantize writes (quantized Linears as codes + scales, the rest "
       "f32).</p>\n";
  s += plots(section);
  s += sensitivity(section);
  s += generated_text(section);
  const json& env = section.value("environment", json::object());
  s += fmt::format(
      "<details class=\"machine\" open><summary>Machine and versions</summary>\n<p>{} &middot; kernels {} &middot; "
      "{} octet threads &middot; octet {} &middot; report took {:.1f} s</p>\n{}</details>\n",
      html_escape(text_of(env, "cpu")), html_escape(text_of(env, "kernel_variant")),
      html_escape(text_of(env, "octet_threads")), html_escape(text_of(section, "octet_version")),
      section.value("wall_seconds", 0.0), key_values(env));
  s += commands(section);
  return s + "</section>\n";
}

constexpr const char* kStyle = R"(
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222;background:#fff}
h1{margin:8px 0 4px}h2{border-bottom:2px solid #4e79a7;padding-bottom:4px;margin-top:40px}h2 small{font-weight:400;color:#666;font-size:60%}
nav a{margin-right:16px}code,pre{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;word-break:break-all;margin:4px 0}
table.results{border-collapse:collapse;width:100%;font-size:13px}
table.results th,table.results td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}
table.results th{background:#f0f3f7;cursor:pointer;user-select:none;white-space:nowrap}
table.results th[data-sort=asc]::after{content:" \25B2"}table.results th[data-sort=desc]::after{content:" \25BC"}
table.results td.recipe,table.results th:first-child{text-align:left}
td.best{font-weight:700;color:#176b2c;background:#e6f4ea}td.none{color:#aaa}
.desc{font-size:11px;color:#666;max-width:340px}.error{color:#b00020;font-size:11px}
.note,.caption{font-size:12px;color:#555}.settings{font-size:13px;color:#333}
.plots{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}
svg.plot{background:#fff;border:1px solid #e3e3e3;font-family:inherit}
svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}svg .tick{font-size:11px;fill:#555}
svg .title{font-size:13px;font-weight:600}svg .axis-title{font-size:12px;fill:#333}svg .label{font-size:11px;fill:#222}
svg .better{font-size:11px;fill:#2a8a4a}svg .pareto{fill:none;stroke:#d62728;stroke-width:1.5;stroke-dasharray:5 3}
svg .point{stroke:#fff;stroke-width:1}svg .point.front{stroke:#d62728;stroke-width:2.5}
table.kv{font-size:12px;border-collapse:collapse}table.kv th{text-align:left;padding:2px 12px 2px 0;color:#555;font-weight:600;vertical-align:top}
details{margin:12px 0}summary{cursor:pointer;font-weight:600}h4{margin:10px 0 2px;font-size:13px}
)";

// Sorting by clicking a header: numbers by data-value, the recipe column by text.
constexpr const char* kScript = R"(
(function () {
  function num(cell) { var v = cell.getAttribute('data-value'); return v === null ? NaN : parseFloat(v); }
  document.querySelectorAll('table.results').forEach(function (table) {
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute('data-sort') !== 'asc';
        heads.forEach(function (h) { h.removeAttribute('data-sort'); });
        th.setAttribute('data-sort', asc ? 'asc' : 'desc');
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col], nx = num(x), ny = num(y);
          if (isNaN(nx) && isNaN(ny)) return (asc ? 1 : -1) * x.textContent.localeCompare(y.textContent);
          if (isNaN(nx)) return 1;
          if (isNaN(ny)) return -1;
          return asc ? nx - ny : ny - nx;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.body.setAttribute('data-ready', '1');
})();
)";

}  // namespace

std::string render_report_html(const json& report) {
  check(report.is_object() && report.contains("sections") && report["sections"].is_array(), "report",
        "not an octet report document (no \"sections\" array)");
  const json& sections = report["sections"];
  std::vector<std::string> names;
  for (const json& s : sections) names.push_back(text_of(s, "name"));
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>octet report: {}</title>\n"
      "<style>{}</style>\n</head>\n<body>\n<header><h1>octet report</h1>\n"
      "<p class=\"note\">Quantization recipes measured side by side: accuracy, speed and size on this machine. "
      "report.json beside this file holds the same numbers.</p>\n<nav>",
      html_escape(fmt::format("{}", fmt::join(names, ", "))), kStyle);
  for (size_t i = 0; i < sections.size(); ++i)
    html += fmt::format(R"(<a href="#section-{}">{}</a>)", i, html_escape(names[i]));
  html += "</nav></header>\n<main>\n";
  for (size_t i = 0; i < sections.size(); ++i) html += render_section(sections[i], i);
  html += fmt::format("</main>\n<script>{}</script>\n</body>\n</html>\n", kScript);
  return html;
}

}  // namespace octet
