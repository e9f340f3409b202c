// The accuracy-budget greedy search on synthetic losses: each unit's loss
// per rung is known and the model's loss is their sum, so the right answer
// can be worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "octet/error.h"
#include "octet/quantize_budget.h"

namespace octet {
namespace {

// Loss of unit u on rung r: cost[u][r]; the model's loss is the sum.
BudgetSearch additive(const std::vector<std::vector<double>>& cost, int64_t* calls) {
  BudgetSearch s;
  for (size_t u = 0; u < cost.size(); ++u) s.units.push_back("unit" + std::to_string(u));
  s.rungs = {"int4", "int8", "fp32"};
  s.progress = false;
  s.evaluate = [cost, calls](const std::vector<int>& rungs) {
    ++*calls;
    double loss = 0;
    for (size_t u = 0; u < rungs.size(); ++u) loss += cost[u][size_t(rungs[u])];
    return loss;
  };
  return s;
}

TEST(BudgetSearch, PromotesTheMostSensitiveUntilTheBudgetHolds) {
  // Units 1 and 3 are the sensitive ones at int4.
  const std::vector<std::vector<double>> cost = {{0.1, 0.01, 0}, {0.9, 0.05, 0}, {0.2, 0.02, 0}, {0.6, 0.3, 0}};
  int64_t calls = 0;
  const BudgetChoice c = search_budget(additive(cost, &calls), 0.5);
  // All int4: 1.8. Unit 1 -> int8: 0.95. Unit 3 -> int8: 0.65. Unit 3 (0.3 at
  // int8) still beats unit 2 (0.2) -> fp32: 0.35 <= 0.5.
  EXPECT_EQ(c.rung_of_unit, (std::vector<int>{0, 1, 0, 2}));
  EXPECT_DOUBLE_EQ(c.loss, 0.35);
  EXPECT_DOUBLE_EQ(c.sensitivity[1], 0.05);
  EXPECT_DOUBLE_EQ(c.sensitivity[3], 0.0);
  EXPECT_EQ(c.steps.size(), 4u);
  // The first full evaluation + 4 sensitivities + 3 promotions (2 re-measure a sensitivity).
  EXPECT_EQ(c.evaluations, 1 + 4 + 3 + 2);
  EXPECT_EQ(calls, c.evaluations);
}

TEST(BudgetSearch, AlreadyWithinBudgetStaysCheapest) {
  int64_t calls = 0;
  const BudgetChoice c = search_budget(additive({{0.1, 0, 0}, {0.1, 0, 0}}, &calls), 1.0);
  EXPECT_EQ(c.rung_of_unit, (std::vector<int>{0, 0}));
  EXPECT_EQ(c.evaluations, 1) << "the cheapest mix meets the budget: no sensitivity is measured";
  EXPECT_TRUE(std::isnan(c.sensitivity[0]));
}

TEST(BudgetSearch, ZeroBudgetEndsAtFullPrecisionWhereNeeded) {
  int64_t calls = 0;
  const BudgetChoice c = search_budget(additive({{0.1, 0.05, 0}, {0, 0, 0}}, &calls), 0.0);
  EXPECT_EQ(c.rung_of_unit, (std::vector<int>{2, 0}));
  EXPECT_DOUBLE_EQ(c.loss, 0.0);
}

TEST(BudgetSearch, ImpossibleBudgetsAreErrors) {
  int64_t calls = 0;
  EXPECT_THROW(search_budget(additive({{0.1, 0, 0}}, &calls), -0.5), Error);
  // A loss that stays above the budget even at the top rung (a broken loss function).
  BudgetSearch s = additive({{1, 1, 1}}, &calls);
  EXPECT_THROW(search_budget(s, 0.5), Error);
}

}  // namespace
}  // namespace octet
