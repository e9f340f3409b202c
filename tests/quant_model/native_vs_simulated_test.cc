// Native int8 execution against the simulated (QDQ fp32) reference on
// sst2-bert-mini, layer by layer within the derived bound, and end to end.
#include <gtest/gtest.h>

#include <map>

#include "octet/eval.h"
#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {


TEST(NativeVsSimulated, EveryLinearOfSst2WithinTheDerivedBound) {
  for (const std::string recipe : {"int8", "int8-dynamic"}) {
    SCOPED_TRACE(recipe);
    const auto model = load_model(testing::sst2_model());
    QuantizeOptions o;
    o.recipe = recipe_preset(recipe);
    o.progress = false;
    const auto calibration = testing::sst2_calibration(*model, 32);
    const QuantizationConfig q = quantize_model(*model, calibration, o);
    std::map<std::string, nn::Linear*> linears;
    model->visit_linears([&](nn::Linear& l) { linears[l.name()] = &l; });
    std::vector<std::shared_ptr<testing::CheckingKernel>> kernels;
    for (const QuantizedLinear& l : q.linears) {
      kernels.push_back(std::make_shared<testing::CheckingKernel>(l, linears.at(l.name)->bias()));
      linears.at(l.name)->set_kernel(kernels.back());
    }
    // Eight dev sentences (different data from the calibration), in two padded batches.
    const auto dev = load_tsv_dataset(testing::sst2_dev());
    const auto tok = Tokenizer::load(testing::sst2_model());
    EvalOptions eo;
    eo.limit = 8;
    eo.batch_size = 4;
    eo.progress = false;
    classification_logits(*model, tok, dev, eo);
    double worst = 0;
    for (const auto& k : kernels) {
      EXPECT_GT(k->checked, 0);
      EXPECT_EQ(k->violations, 0);
      worst = std::max(worst, k->worst);
    }
    RecordProperty("worst_diff_over_bound_" + recipe, std::to_string(worst));
  }
}

// End to end the executions diverge a little more than one layer's bound:
// a difference within the bound can move a value of the next layer's input
// across a rounding boundary of its activation quantizer (one step of s_a),
// and LayerNorm and GELU pass such steps on. No a-priori bound exists for
// that; the test records the largest logit difference and the predictions
// that change.
TEST(NativeVsSimulated, EndToEndLogitsOnDevSentences) {
  const auto model = load_model(testing::sst2_model());
  QuantizeOptions o;
  o.recipe = recipe_preset("int8");
  o.progress = false;
  const QuantizationConfig q = quantize_model(*model, testing::sst2_calibration(*model, 32), o);
  apply_quantization(*model, q, QuantExecution::Simulated);
  const Tensor sim = testing::sst2_dev_logits(*model, 200);
  apply_quantization(*model, q, QuantExecution::Native);
  const testing::LogitComparison c = testing::compare_binary_logits(sim, testing::sst2_dev_logits(*model, 200));
  RecordProperty("changed_predictions", std::to_string(c.changed_predictions));
  RecordProperty("max_abs_logit_diff", std::to_string(c.max_abs_diff));
  const double max_diff = c.max_abs_diff;
  // Logits are O(1) here (|logit| <= ~3): a systematic error (a wrong scale,
  // a shifted zero point) would show at the 0.1 level, far above rounding effects.
  EXPECT_LT(max_diff, 0.05);
}

}  // namespace
}  // namespace octet
