// Accuracy-budget quantization: the cheapest precision per layer that keeps
// a measured loss within a budget, for encoders and decoder LLMs.
//
//   auto loss = [&](const Model& q) { return fp32_accuracy - accuracy_of(q); };   // points lost
//   BudgetResult r = quantize_encoder_budget(*model, calibration, {}, 0.5, loss);
//   save_quantized_model(*model, r.config, "models/sst2-bert-mini", "out/sst2-budget");
//
// Every layer starts on the cheapest rung of a ladder (encoders: int8 static
// -> int8 dynamic -> fp32, per Linear; LLMs: by default w4a16-awq -> w8a8-sq
// -> w8a16 -> fp32, per group of Linears reading one activation). If that mix
// already meets the budget, it is the answer. Otherwise each unit's
// sensitivity is the loss with it alone on its current rung (everything else
// fp32), and while the whole model's loss exceeds the budget the most
// sensitive unit moves one rung up (its sensitivity is measured again there).
// The loss of the final mix is the last full evaluation. The loss function is
// the caller's (accuracy points on a validation split, perplexity increase in
// % on validation text): calibrate on train, choose on validation, report on
// test. Errors are octet::Error tagged "quantize".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "octet/llm_quantize.h"
#include "octet/quantize_model.h"

namespace octet {

// The loss of a model with a quantization installed, against fp32 (lower is
// better; the budget is in the same unit).
using BudgetLoss = std::function<double(const Model& quantized)>;

struct BudgetUnit {
  std::string name;       // a Linear (encoders) or a group of Linears (LLMs, nn::LinearInputGroup::name)
  std::string precision;  // the rung chosen
  // The loss with this unit alone on its final rung (0 on the top rung; NaN
  // when the search never needed it: the cheapest mix met the budget).
  double sensitivity = 0;
};

struct BudgetResult {
  QuantizationConfig config;      // the chosen mix (LLMs: for the model returned with it)
  std::vector<BudgetUnit> units;  // model order
  double loss = 0;                // of the chosen mix, its last full evaluation
  double budget = 0;
  int64_t evaluations = 0;        // loss evaluations the search ran
  std::vector<std::string> steps; // what the search did, one line each
};

// Encoders: static int8 from `calibration` (options.recipe's calibrator) ->
// int8 per token -> fp32, per Linear. `model` is left in fp32.
BudgetResult quantize_encoder_budget(Model& model, const std::vector<ModelInputs>& calibration,
                                     const QuantizeOptions& options, double budget, const BudgetLoss& loss);

// LLMs: `ladder` holds the recipes cheapest first, ending in "fp32" (default
// when empty: w4a16-awq, w8a8-sq, w8a16, fp32), each adjusted by `options.recipe`'s
// group size / asym / KV cache where they apply; `options.recipe` supplies the
// KV cache, --exclude and the lm_head rule (lm_head stays out of the search).
// Every trial quantizes a fresh model from `load` (recipes transform the f32
// model); the returned model is the chosen mix's, transformed, to save.
struct LlmBudgetResult {
  BudgetResult result;
  std::unique_ptr<Model> model;
};
LlmBudgetResult quantize_llm_budget(const std::function<std::unique_ptr<Model>()>& load,
                                    const std::vector<std::vector<int64_t>>& windows, const LlmQuantizeOptions& options,
                                    std::vector<LlmRecipe> ladder, double budget, const BudgetLoss& loss);

// The greedy search both use, over `units` and rungs 0 (cheapest) .. top
// (full precision, loss taken as 0 there). `evaluate` gets one rung per unit.
struct BudgetSearch {
  std::vector<std::string> units;
  std::vector<std::string> rungs;
  std::function<double(const std::vector<int>& rung_of_unit)> evaluate;
  bool progress = true;
};
struct BudgetChoice {
  std::vector<int> rung_of_unit;
  std::vector<double> sensitivity;
  double loss = 0;
  int64_t evaluations = 0;
  std::vector<std::string> steps;
};
BudgetChoice search_budget(const BudgetSearch& search, double budget);

}  // namespace octet
