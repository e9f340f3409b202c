#include "report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace octet::report {
namespace {

constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                                    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1b9e77", "#d95f02"};

std::string color(size_t i) { return kPalette[i % std::size(kPalette)]; }

// Shortest text that reads back as the same number (SVG coordinates).
std::string px(double v) { return fmt::format("{:.1f}", v); }


bool at_least_as_good(double a, double b, bool higher_better) { return higher_better ? a >= b : a <= b; }
bool strictly_better(double a, double b, bool higher_better) { return higher_better ? a > b : a < b; }

// An approximate text box (11 px sans-serif: ~6.2 px per character).
struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};
constexpr double kCharWidth = 6.2;

double text_width(std::string_view text) { return kCharWidth * double(text.size()); }

}  // namespace

double scale(const Axis& axis, double value, double pixel_min, double pixel_max) {
  double lo = axis.min, hi = axis.max, v = std::clamp(value, std::min(lo, hi), std::max(lo, hi));
  if (axis.log) {
    lo = std::log10(lo);
    hi = std::log10(hi);
    v = std::log10(v);
  }
  const double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  return pixel_min + t * (pixel_max - pixel_min);
}

Axis fit_axis(std::span<const double> values, bool allow_log, double log_ratio) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) return {0, 1, false};
  if (allow_log && lo > 0 && hi / lo >= log_ratio) {
    const double margin = 0.05 * (std::log10(hi) - std::log10(lo));
    return {lo / std::pow(10.0, margin), hi * std::pow(10.0, margin), true};
  }
  if (hi == lo) {
    const double d = lo == 0 ? 1.0 : 0.1 * std::abs(lo);
    return {lo - d, hi + d, false};
  }
  const double margin = 0.05 * (hi - lo);
  return {lo - margin, hi + margin, false};
}

std::vector<double> axis_ticks(const Axis& axis, int target) {
  std::vector<double> ticks;
  const double lo = std::min(axis.min, axis.max), hi = std::max(axis.min, axis.max);
  if (axis.log && lo > 0) {
    const double decades = std::log10(hi) - std::log10(lo);
    for (int e = int(std::floor(std::log10(lo))); e <= int(std::ceil(std::log10(hi))); ++e)
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && decades >= 3) continue;
        const double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
      }
    if (ticks.size() >= 2) return ticks;
    ticks.clear();  // a narrow log axis: linear ticks read better
  }
  if (!(hi > lo) || target < 1) return {lo};
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) ticks.push_back(v);
  return ticks;
}

std::string tick_label(const Axis& axis, const std::vector<double>& ticks, double value) {
  if (axis.log || ticks.size() < 2) return fmt::format("{:g}", value);
  const double step = std::abs(ticks[1] - ticks[0]);
  const int decimals = std::clamp(int(-std::floor(std::log10(step) + 1e-9)), 0, 9);
  if (std::abs(value) < 0.5 * step) value = 0;  // no "-0.00"
  return fmt::format("{:.{}f}", value, decimals);
}

std::vector<size_t> pareto_front(std::span<const double> x, std::span<const double> y, bool x_higher_better,
                                 bool y_higher_better) {
  const size_t n = std::min(x.size(), y.size());
  auto finite = [&](size_t i) { return std::isfinite(x[i]) && std::isfinite(y[i]); };
  std::vector<size_t> front;
  for (size_t i = 0; i < n; ++i) {
    if (!finite(i)) continue;
    bool dominated = false;
    for (size_t j = 0; j < n && !dominated; ++j) {
      if (j == i || !finite(j)) continue;
      dominated = at_least_as_good(x[j], x[i], x_higher_better) && at_least_as_good(y[j], y[i], y_higher_better) &&
                  (strictly_better(x[j], x[i], x_higher_better) || strictly_better(y[j], y[i], y_higher_better));
    }
    if (!dominated) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return x[a] != x[b] ? x[a] < x[b] : y[a] < y[b]; });
  return front;
}

PlotArea scatter_area(double width, double height) { return {72, 34, width - 18, height - 58}; }

std::string render_scatter_svg(const ScatterSpec& spec, const std::vector<ScatterPoint>& points) {
  std::vector<double> xs, ys;
  std::vector<size_t> shown;  // points with finite coordinates, in input order
  for (size_t i = 0; i < points.size(); ++i)
    if (std::isfinite(points[i].x) && std::isfinite(points[i].y)) {
      shown.push_back(i);
      xs.push_back(points[i].x);
      ys.push_back(points[i].y);
    }
  const Axis ax = fit_axis(xs, spec.x_allow_log), ay = fit_axis(ys, spec.y_allow_log);
  const PlotArea a = scatter_area(spec.width, spec.height);
  auto sx = [&](double v) { return scale(ax, v, a.left, a.right); };
  auto sy = [&](double v) { return scale(ay, v, a.bottom, a.top); };

  std::string s = fmt::format(
      R"(<svg class="plot scatter" data-plot="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" )"
      R"(width="{}" height="{}" role="img" aria-label="{}">)"
      "\n",
      html_escape(spec.id), spec.width, spec.height, spec.width, spec.height, html_escape(spec.title));
  s += fmt::format(R"(<text class="title" x="{}" y="20" text-anchor="middle">{}</text>)"
                   "\n",
                   px(spec.width / 2), html_escape(spec.title));
  s += fmt::format(R"(<rect class="frame" x="{}" y="{}" width="{}" height="{}"/>)"
                   "\n",
                   px(a.left), px(a.top), px(a.right - a.left), px(a.bottom - a.top));
  const std::vector<double> x_ticks = axis_ticks(ax), y_ticks = axis_ticks(ay);
  for (double t : x_ticks) {
    const double p = sx(t);
    s += fmt::format(R"(<line class="grid" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/><text class="tick" x="{0}" y="{3}" )"
                     R"(text-anchor="middle">{4}</text>)"
                     "\n",
                     px(p), px(a.top), px(a.bottom), px(a.bottom + 14), html_escape(tick_label(ax, x_ticks, t)));
  }
  for (double t : y_ticks) {
    const double p = sy(t);
    s += fmt::format(R"(<line class="grid" x1="{0}" y1="{1}" x2="{2}" y2="{1}"/><text class="tick" x="{3}" y="{4}" )"
                     R"(text-anchor="end">{5}</text>)"
                     "\n",
                     px(a.left), px(p), px(a.right), px(a.left - 5), px(p + 4), html_escape(tick_label(ay, y_ticks, t)));
  }
  const std::string x_title = fmt::format("{}{} ({} is better {})", spec.x_label, ax.log ? ", log scale" : "",
                                          spec.x_higher_better ? "higher" : "lower",
                                          spec.x_higher_better ? "\u2192" : "\u2190");
  const std::string y_title = fmt::format("{}{} ({} is better {})", spec.y_label, ay.log ? ", log scale" : "",
                                          spec.y_higher_better ? "higher" : "lower",
                                          spec.y_higher_better ? "\u2191" : "\u2193");
  s += fmt::format(R"(<text class="axis-title" x="{}" y="{}" text-anchor="middle">{}</text>)"
                   "\n",
                   px((a.left + a.right) / 2), px(spec.height - 12), html_escape(x_title));
  s += fmt::format(R"svg(<text class="axis-title" transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>)svg"
                   "\n",
                   px((a.top + a.bottom) / 2), html_escape(y_title));
  // Above the frame, on the side of the ideal corner, an arrow pointing to it.
  const char* arrow = spec.y_higher_better ? (spec.x_higher_better ? "\u2197" : "\u2196")
                                           : (spec.x_higher_better ? "\u2198" : "\u2199");
  s += fmt::format(R"(<text class="better" x="{}" y="{}" text-anchor="{}">{}</text>)"
                   "\n",
                   px(spec.x_higher_better ? a.right : a.left), px(a.top - 5), spec.x_higher_better ? "end" : "start",
                   spec.x_higher_better ? fmt::format("better {}", arrow) : fmt::format("{} better", arrow));

  const std::vector<size_t> front = pareto_front(xs, ys, spec.x_higher_better, spec.y_higher_better);
  std::vector<bool> on_front(shown.size(), false);
  for (size_t k : front) on_front[k] = true;
  if (front.size() >= 2) {
    std::string pts;
    for (size_t k : front) pts += fmt::format("{}{},{}", pts.empty() ? "" : " ", px(sx(xs[k])), px(sy(ys[k])));
    s += fmt::format(R"(<polyline class="pareto" points="{}"/>)"
                     "\n",
                     pts);
  }
  // Labels avoid every mark and every label placed before them.
  std::vector<Box> placed;
  for (size_t k = 0; k < shown.size(); ++k) placed.push_back({sx(xs[k]) - 6, sy(ys[k]) - 6, sx(xs[k]) + 6, sy(ys[k]) + 6});
  for (size_t k = 0; k < shown.size(); ++k) {
    const ScatterPoint& p = points[shown[k]];
    const double x = sx(p.x), y = sy(p.y);
    s += fmt::format(
        R"(<circle class="point{}" data-recipe="{}" cx="{}" cy="{}" r="{}" fill="{}"><title>{}: {:.4g}, {:.4g}</title></circle>)"
        "\n",
        on_front[k] ? " front" : "", html_escape(p.label), px(x), px(y), on_front[k] ? 6 : 5, color(shown[k]),
        html_escape(p.label), p.x, p.y);
    // Beside the mark, on the side with room, moved down or up past labels already placed.
    const double w = text_width(p.label);
    struct Candidate {
      double x, y;
      bool end;
    };
    std::vector<Candidate> candidates;
    for (double dy : {4.0, 16.0, -8.0, 28.0, -20.0, 40.0, -32.0, 52.0, -44.0}) {
      candidates.push_back({x + 8, y + dy, false});
      candidates.push_back({x - 8, y + dy, true});
    }
    Candidate chosen = candidates.front();
    Box chosen_box{};
    bool found = false;
    for (const Candidate& c : candidates) {
      const Box b{c.end ? c.x - w : c.x, c.y - 10, c.end ? c.x : c.x + w, c.y + 2};
      if (b.x0 < a.left || b.x1 > spec.width - 2 || b.y0 < a.top - 8 || b.y1 > a.bottom + 2) continue;
      if (std::any_of(placed.begin(), placed.end(), [&](const Box& o) { return o.overlaps(b); })) continue;
      chosen = c, chosen_box = b, found = true;
      break;
    }
    if (!found) {
      chosen = x + 8 + w > spec.width - 2 ? Candidate{x - 8, y + 4, true} : Candidate{x + 8, y + 4, false};
      chosen_box = {chosen.end ? chosen.x - w : chosen.x, chosen.y - 10, chosen.end ? chosen.x : chosen.x + w,
                    chosen.y + 2};
    }
    placed.push_back(chosen_box);
    s += fmt::format(R"(<text class="label" x="{}" y="{}" text-anchor="{}">{}</text>)"
                     "\n",
                     px(chosen.x), px(chosen.y), chosen.end ? "end" : "start", html_escape(p.label));
  }
  s += "</svg>\n";
  return s;
}

std::string render_bar_svg(const BarSpec& spec, const std::vector<BarSeries>& series) {
  std::vector<double> values;
  for (const BarSeries& b : series)
    for (double v : b.values)
      if (std::isfinite(v)) values.push_back(v);
  Axis axis = fit_axis(values, spec.allow_log);
  if (!axis.log) axis.min = std::min(0.0, axis.min);  // linear bars grow from zero
  size_t longest = 0;
  for (const std::string& c : spec.categories) longest = std::max(longest, c.size());
  const double bar_h = 7, row_gap = 5;
  const double row_h = double(std::max<size_t>(series.size(), 1)) * bar_h + row_gap;
  const double left = std::min(12 + text_width(std::string(longest, 'x')), 0.45 * spec.width);
  const double right = spec.width - 24, top = 58;
  const double bottom = top + row_h * double(spec.categories.size());
  const double height = bottom + 44;
  auto sx = [&](double v) { return scale(axis, v, left, right); };

  std::string s = fmt::format(
      R"(<svg class="plot bars" data-plot="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" )"
      R"(width="{}" height="{}" role="img" aria-label="{}">)"
      "\n",
      html_escape(spec.id), spec.width, px(height), spec.width, px(height), html_escape(spec.title));
  s += fmt::format(R"(<text class="title" x="{}" y="18" text-anchor="middle">{}</text>)"
                   "\n",
                   px(spec.width / 2), html_escape(spec.title));
  double lx = left;
  for (size_t i = 0; i < series.size(); ++i) {
    s += fmt::format(R"(<rect class="legend" x="{}" y="30" width="12" height="10" fill="{}"/>)"
                     R"(<text class="tick" x="{}" y="39">{}</text>)"
                     "\n",
                     px(lx), color(i), px(lx + 16), html_escape(series[i].name));
    lx += 40 + text_width(series[i].name);
  }
  for (double t : axis_ticks(axis, 6)) {
    const double p = sx(t);
    s += fmt::format(R"(<line class="grid" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/><text class="tick" x="{0}" y="{3}" )"
                     R"(text-anchor="middle">{4}</text>)"
                     "\n",
                     px(p), px(top), px(bottom), px(bottom + 14), html_escape(fmt::format("{:.3g}", t)));
  }
  s += fmt::format(R"(<text class="axis-title" x="{}" y="{}" text-anchor="middle">{}{}</text>)"
                   "\n",
                   px((left + right) / 2), px(bottom + 34), html_escape(spec.value_label),
                   axis.log ? " (log scale)" : "");
  for (size_t c = 0; c < spec.categories.size(); ++c) {
    const double y0 = top + row_h * double(c);
    s += fmt::format(R"(<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>)"
                     "\n",
                     px(left - 6), px(y0 + (row_h - row_gap) / 2 + 4), html_escape(spec.categories[c]));
    for (size_t i = 0; i < series.size(); ++i) {
      if (c >= series[i].values.size() || !std::isfinite(series[i].values[c])) continue;
      const double v = series[i].values[c];
      const double x0 = sx(axis.log ? axis.min : 0.0), x1 = sx(v);
      s += fmt::format(
          R"(<rect class="bar" data-series="{}" data-layer="{}" x="{}" y="{}" width="{}" height="{}" fill="{}">)"
          R"(<title>{} {}: {:.4g}</title></rect>)"
          "\n",
          html_escape(series[i].name), html_escape(spec.categories[c]), px(std::min(x0, x1)),
          px(y0 + double(i) * bar_h), px(std::max(std::abs(x1 - x0), 1.0)), px(bar_h - 1), color(i),
          html_escape(series[i].name), html_escape(spec.categories[c]), v);
    }
  }
  s += fmt::format(R"(<rect class="frame" x="{}" y="{}" width="{}" height="{}"/>)"
                   "\n</svg>\n",
                   px(left), px(top), px(right - left), px(bottom - top));
  return s;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace octet::report
