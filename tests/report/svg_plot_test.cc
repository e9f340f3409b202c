// The report's plot geometry as plain functions: the Pareto front (dominated
// points, ties, both directions), axis scaling (linear, log10, clamping),
// ticks and tick labels, and the marks a rendered scatter / bar chart holds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>

#include "report/report_test_util.h"
#include "report/svg_plot.h"

namespace octet::report {
namespace {

using ::octet::testing::all_attributes;

std::vector<size_t> front(std::vector<double> x, std::vector<double> y, bool x_higher, bool y_higher) {
  return pareto_front(x, y, x_higher, y_higher);
}

TEST(ParetoFront, LowerLatencyHigherAccuracy) {
  // latency (lower better), accuracy (higher better)
  //   0: (10, 0.80)  1: (5, 0.79)  2: (12, 0.78) dominated by 0  3: (5, 0.70) dominated by 1  4: (20, 0.81)
  EXPECT_EQ(front({10, 5, 12, 5, 20}, {0.80, 0.79, 0.78, 0.70, 0.81}, false, true), (std::vector<size_t>{1, 0, 4}));
}

TEST(ParetoFront, BothHigherIsBetter) {
  // tokens/s and top-1: (100, .9) dominates (90, .9) and (100, .8); (50, .95) stays.
  EXPECT_EQ(front({100, 90, 100, 50}, {0.9, 0.9, 0.8, 0.95}, true, true), (std::vector<size_t>{3, 0}));
}

TEST(ParetoFront, BothLowerIsBetter) {
  // size and perplexity: (10, 33) and (26, 32.5) stay, (12, 33) and (26, 33) are dominated.
  EXPECT_EQ(front({26, 10, 12, 26}, {32.5, 33, 33, 33}, false, false), (std::vector<size_t>{1, 0}));
}

TEST(ParetoFront, HigherXLowerY) {
  // decode tokens/s (higher better) and perplexity (lower better).
  EXPECT_EQ(front({800, 480, 390, 900}, {32.5, 32.4, 32.45, 33.0}, true, false), (std::vector<size_t>{1, 0, 3}));
}

TEST(ParetoFront, TiesAreAllOnTheFront) {
  // Two identical points: neither dominates the other.
  EXPECT_EQ(front({1, 1, 2}, {5, 5, 4}, false, true), (std::vector<size_t>{0, 1}));
  // Equal on one axis, better on the other: the worse one is dominated.
  EXPECT_EQ(front({1, 2}, {5, 5}, false, true), (std::vector<size_t>{0}));
  EXPECT_EQ(front({3, 3}, {4, 5}, false, true), (std::vector<size_t>{1}));
}

TEST(ParetoFront, NonFiniteAndEmpty) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(front({nan, 2, 1}, {100, 1, 1}, false, true), (std::vector<size_t>{2}));
  EXPECT_TRUE(front({}, {}, true, true).empty());
  EXPECT_EQ(front({7}, {7}, true, true), (std::vector<size_t>{0}));
}

TEST(SvgScale, LinearMapsEndsAndClamps) {
  const Axis a{10, 20, false};
  EXPECT_DOUBLE_EQ(scale(a, 10, 100, 300), 100);
  EXPECT_DOUBLE_EQ(scale(a, 20, 100, 300), 300);
  EXPECT_DOUBLE_EQ(scale(a, 15, 100, 300), 200);
  // y grows downwards: pixel_max below pixel_min.
  EXPECT_DOUBLE_EQ(scale(a, 12.5, 400, 0), 300);
  EXPECT_DOUBLE_EQ(scale(a, -50, 100, 300), 100);
  EXPECT_DOUBLE_EQ(scale(a, 1e9, 100, 300), 300);
}

TEST(SvgScale, LogAxis) {
  const Axis a{1, 1000, true};
  EXPECT_NEAR(scale(a, 10, 0, 300), 100, 1e-9);
  EXPECT_NEAR(scale(a, 100, 0, 300), 200, 1e-9);
  EXPECT_NEAR(scale(a, std::sqrt(10.0), 0, 300), 50, 1e-9);
  EXPECT_NEAR(scale(a, 0.001, 0, 300), 0, 1e-9);  // clamped, never log(0)
}

TEST(SvgScale, FitAxisHasMarginsAndPicksLog) {
  const std::vector<double> v = {2, 4, 10};
  const Axis lin = fit_axis(v, false);
  EXPECT_FALSE(lin.log);
  EXPECT_LT(lin.min, 2);
  EXPECT_GT(lin.max, 10);
  for (double x : v) {
    const double p = scale(lin, x, 0, 100);
    EXPECT_GT(p, 0);
    EXPECT_LT(p, 100);
  }
  const std::vector<double> wide = {1e-4, 3e-3, 0.2};
  const Axis log = fit_axis(wide, true);
  EXPECT_TRUE(log.log);
  EXPECT_LT(log.min, 1e-4);
  EXPECT_GT(log.max, 0.2);
  EXPECT_FALSE(fit_axis(wide, false).log);
  EXPECT_FALSE(fit_axis(std::vector<double>{-1, 10, 100}, true).log);  // a negative value: linear
  const Axis one = fit_axis(std::vector<double>{5}, false);
  EXPECT_LT(one.min, 5);
  EXPECT_GT(one.max, 5);
  const Axis none = fit_axis(std::vector<double>{std::nan("")}, true);
  EXPECT_EQ(none.min, 0);
  EXPECT_EQ(none.max, 1);
}

TEST(SvgScale, TicksAndLabels) {
  const Axis a{32.41, 32.56, false};
  const std::vector<double> t = axis_ticks(a);
  ASSERT_GE(t.size(), 3u);
  for (double v : t) {
    EXPECT_GE(v, a.min - 1e-12);
    EXPECT_LE(v, a.max + 1e-12);
  }
  // Distinct labels with as many decimals as the step needs.
  std::set<std::string> labels;
  for (double v : t) labels.insert(tick_label(a, t, v));
  EXPECT_EQ(labels.size(), t.size());
  EXPECT_EQ(tick_label(a, t, t[0]).size(), 5u) << tick_label(a, t, t[0]);  // "32.44"
  const Axis log{0.0008, 0.3, true};
  const std::vector<double> lt = axis_ticks(log);
  EXPECT_NE(std::find(lt.begin(), lt.end(), 0.001), lt.end());
  EXPECT_NE(std::find(lt.begin(), lt.end(), 0.01), lt.end());
  EXPECT_NE(std::find(lt.begin(), lt.end(), 0.1), lt.end());
  EXPECT_EQ(tick_label(log, lt, 0.01), "0.01");
  EXPECT_EQ(tick_label(Axis{-1, 1, false}, {-1, -0.5, 0, 0.5, 1}, -1e-17), "0.0");
}

// Every point is one <circle class="point"> inside the plot area; the front is one polyline.
TEST(SvgScatter, OnePointPerFiniteValueInsideTheArea) {
  ScatterSpec spec;
  spec.id = "acc-lat";
  spec.x_higher_better = false;
  spec.y_higher_better = true;
  const std::vector<ScatterPoint> points = {
      {"fp32", 5.5, 81.0}, {"int8", 1.1, 81.0}, {"int8-dynamic", 1.6, 80.5}, {"broken", std::nan(""), 70},
      {"int8-mse", 1.2, 81.3}};
  const std::string svg = render_scatter_svg(spec, points);
  const auto recipes = all_attributes(svg, "<circle [^>]*>", "data-recipe");
  EXPECT_EQ(recipes, (std::vector<std::string>{"fp32", "int8", "int8-dynamic", "int8-mse"}));
  const PlotArea a = scatter_area(spec.width, spec.height);
  const auto cx = all_attributes(svg, "<circle [^>]*>", "cx"), cy = all_attributes(svg, "<circle [^>]*>", "cy");
  for (size_t i = 0; i < cx.size(); ++i) {
    EXPECT_GE(std::stod(cx[i]), a.left);
    EXPECT_LE(std::stod(cx[i]), a.right);
    EXPECT_GE(std::stod(cy[i]), a.top);
    EXPECT_LE(std::stod(cy[i]), a.bottom);
  }
  // Front: int8 (fastest) and int8-mse (most accurate); the rest dominated.
  const auto classes = all_attributes(svg, "<circle [^>]*>", "class");
  EXPECT_EQ(classes, (std::vector<std::string>{"point", "point front", "point", "point front"}));
  EXPECT_EQ(all_attributes(svg, "<polyline [^>]*>", "class").size(), 1u);
  EXPECT_NE(svg.find("lower is better"), std::string::npos);
  EXPECT_NE(svg.find("higher is better"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(SvgScatter, EscapesLabels) {
  ScatterSpec spec;
  spec.id = "x";
  const std::string svg = render_scatter_svg(spec, {{"a<b&\"c\"", 1, 2}});
  EXPECT_NE(svg.find("data-recipe=\"a&lt;b&amp;&quot;c&quot;\""), std::string::npos);
  EXPECT_EQ(html_escape("<'&'>"), "&lt;&#39;&amp;&#39;&gt;");
}

TEST(SvgBars, OneBarPerFiniteValue) {
  BarSpec spec;
  spec.id = "sensitivity";
  spec.categories = {"q", "k", "v"};
  const std::string svg =
      render_bar_svg(spec, {{"w8a8-sq", {1e-3, 2e-3, std::nan("")}}, {"w4a16-awq", {5e-2, 1e-1, 2e-2}}});
  EXPECT_EQ(all_attributes(svg, "<rect class=\"bar\"[^>]*>", "data-series"),
            (std::vector<std::string>{"w8a8-sq", "w4a16-awq", "w8a8-sq", "w4a16-awq", "w4a16-awq"}));
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);
  for (const std::string& w : all_attributes(svg, "<rect class=\"bar\"[^>]*>", "width")) EXPECT_GE(std::stod(w), 1.0);
}

}  // namespace
}  // namespace octet::report
