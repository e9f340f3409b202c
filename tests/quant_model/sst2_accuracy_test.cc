// Accuracy of sst2-bert-mini over all 872 GLUE SST-2 dev sentences: the
// default recipe (calibrated on 256 training sentences, as `octet quantize`
// does by default) loses at most 0.5 accuracy point against fp32, in both
// executions; int8-dynamic runs and stays within the same budget.
#include <gtest/gtest.h>

#include "octet/eval.h"
#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

double accuracy(const Model& model, const Tokenizer& tok, const ClassificationDataset& dev) {
  EvalOptions eo;
  eo.progress = false;
  return evaluate_classification(model, tok, dev, eo).accuracy;
}

TEST(Sst2Accuracy, DefaultRecipeWithinHalfAPointOfFp32) {
  const auto model = load_model(testing::sst2_model());
  const auto tok = Tokenizer::load(testing::sst2_model());
  const auto dev = load_tsv_dataset(testing::sst2_dev());
  ASSERT_EQ(dev.size(), 872u);
  const double fp32 = accuracy(*model, tok, dev);
  RecordProperty("fp32", std::to_string(fp32));

  const CalibrationTexts texts = read_calibration_texts(testing::sst2_train(), {});  // 256, seeded random
  ASSERT_EQ(texts.texts.size(), 256u);
  QuantizeOptions o;
  o.recipe = recipe_preset("int8");
  o.progress = false;
  const QuantizationConfig q = quantize_model(*model, make_calibration_batches(*model, tok, texts.texts), o);
  EXPECT_TRUE(q.excluded.empty());  // the default needs no fp32 fallback on this model
  for (const QuantExecution exec : {QuantExecution::Native, QuantExecution::Simulated}) {
    apply_quantization(*model, q, exec);
    const double acc = accuracy(*model, tok, dev);
    RecordProperty(std::string("int8_") + std::string(execution_name(exec)), std::to_string(acc));
    EXPECT_GE(acc, fp32 - 0.005) << execution_name(exec) << ": " << acc << " vs fp32 " << fp32;
  }

  QuantizeOptions d;
  d.recipe = recipe_preset("int8-dynamic");
  d.progress = false;
  apply_quantization(*model, quantize_model(*model, {}, d), QuantExecution::Native);
  const double dyn = accuracy(*model, tok, dev);
  RecordProperty("int8_dynamic_native", std::to_string(dyn));
  EXPECT_GE(dyn, fp32 - 0.005) << dyn << " vs fp32 " << fp32;
}

}  // namespace
}  // namespace octet
