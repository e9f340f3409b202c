// Plain SVG charts for the HTML report: axis scaling (linear or log10), tick
// values, the Pareto front of a scatter, a labelled scatter plot with its
// front marked, and a horizontal grouped bar chart. Every function is pure:
// data in, markup out, so the geometry is unit-tested without a browser.
//
// Stable markup for tests and readers: a scatter is
//   <svg class="plot scatter" data-plot="ID">... <circle class="point[ front]" data-recipe="NAME" ...>
// with the front drawn as <polyline class="pareto">; a bar chart is
//   <svg class="plot bars" data-plot="ID">... <rect class="bar" data-series="S" data-layer="L" ...>.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace octet::report {

// A data range mapped onto pixels. `log`: log10 scale (min and max must be > 0).
struct Axis {
  double min = 0, max = 1;
  bool log = false;
};

// Pixel of `value` on `axis` mapped to [pixel_min, pixel_max] (pixel_max may
// be below pixel_min: y grows downwards in SVG). Values outside the axis are
// clamped to its ends, so a mark never leaves the plot area.
double scale(const Axis& axis, double value, double pixel_min, double pixel_max);

// An axis covering the finite `values` with a margin (5% of the span, or a
// factor on a log axis) so no point sits on the frame. Log when `allow_log`,
// every value is > 0 and max / min >= `log_ratio`. No finite value: [0, 1];
// one distinct value v: v +- 10% (or +- 1 when v == 0).
Axis fit_axis(std::span<const double> values, bool allow_log, double log_ratio = 20.0);

// Round tick values inside the axis: steps of 1, 2 or 5 x 10^k giving about
// `target` ticks on a linear axis; the powers of ten (plus 2x and 5x when the
// axis spans fewer than three decades) on a log axis.
std::vector<double> axis_ticks(const Axis& axis, int target = 5);

// The text of one tick of `ticks` (from axis_ticks): as many decimals as the
// step between linear ticks needs ("32.45", "32.50"), "{:g}" on a log axis.
std::string tick_label(const Axis& axis, const std::vector<double>& ticks, double value);

// Indices of the non-dominated points, ordered by x ascending (then y). A
// point is dominated when another is at least as good on both axes and
// strictly better on one ("good" per the direction flags). Equal points do not
// dominate each other, so ties are all on the front. Points with a non-finite
// coordinate are ignored.
std::vector<size_t> pareto_front(std::span<const double> x, std::span<const double> y, bool x_higher_better,
                                 bool y_higher_better);

struct ScatterPoint {
  std::string label;  // the recipe: data-recipe and the text next to the mark
  double x = 0, y = 0;
};

struct ScatterSpec {
  std::string id;       // data-plot
  std::string title;
  std::string x_label, y_label;  // with units; the "better" direction is appended
  bool x_higher_better = false, y_higher_better = true;
  bool x_allow_log = false, y_allow_log = false;
  double width = 560, height = 400;
};

// The plot area of a chart of `width` x `height` (the frame the marks stay in).
struct PlotArea {
  double left, top, right, bottom;
};
PlotArea scatter_area(double width, double height);

// One <circle class="point"> per point with a finite x and y, its label
// placed beside it (moved to avoid earlier labels), the front as a dashed
// polyline with its points' class "point front", both axis titles saying
// which way is better, and a "better" arrow above the frame pointing to the
// ideal corner.
std::string render_scatter_svg(const ScatterSpec& spec, const std::vector<ScatterPoint>& points);

struct BarSeries {
  std::string name;            // data-series and the legend
  std::vector<double> values;  // one per category (NaN: no bar)
};

struct BarSpec {
  std::string id, title, value_label;
  std::vector<std::string> categories;  // one row each (layer names)
  bool allow_log = true;
  double width = 1100;
};

// Horizontal bars, one row per category, one bar per series in that row.
std::string render_bar_svg(const BarSpec& spec, const std::vector<BarSeries>& series);

// Escapes & < > " ' for text and attribute values.
std::string html_escape(std::string_view text);

}  // namespace octet::report
