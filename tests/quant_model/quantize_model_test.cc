// quantize_model on the bert fixture and sst2-bert-mini: what gets quantized,
// calibration ranges, exclusions, warnings, dynamic recipes, bad activations.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "octet/kernels.h"
#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

QuantizeOptions options_for(const std::string& recipe, const std::string& calibrator = "percentile") {
  QuantizeOptions o;
  o.recipe = recipe_preset(recipe);
  o.recipe.calibrator = calibrator;
  o.progress = false;
  return o;
}

std::vector<std::string> linear_names(Model& model) {
  std::vector<std::string> names;
  model.visit_linears([&](nn::Linear& l) { names.push_back(l.name()); });
  return names;
}

TEST(QuantizeModel, BertFixtureEveryLinearStaticWithObservedRanges) {
  const auto model = load_model(testing::bert_fixture());
  const auto batches = testing::fixture_calibration(testing::bert_fixture());
  ASSERT_FALSE(batches.empty());
  for (const char* calibrator : {"minmax", "ema", "percentile", "entropy", "mse"}) {
    SCOPED_TRACE(calibrator);
    QuantizeReport report;
    const QuantizationConfig q = quantize_model(*model, batches, options_for("int8", calibrator), &report);
    const auto names = linear_names(*model);
    ASSERT_EQ(q.linears.size(), names.size());
    EXPECT_TRUE(q.excluded.empty());
    EXPECT_EQ(q.recipe, "int8");
    for (size_t i = 0; i < names.size(); ++i) {
      const QuantizedLinear& l = q.linears[i];
      EXPECT_EQ(l.name, names[i]);
      EXPECT_EQ(l.weight.dtype(), DType::I8);
      EXPECT_FALSE(l.input->dynamic);
      EXPECT_EQ(l.input->zero_point, 0);
      const LayerReport& r = report.layers[i];
      EXPECT_TRUE(r.quantized);
      EXPECT_LT(r.input_min, r.input_max);
      const float amax = std::max(-r.input_min, r.input_max);
      // Min-max never clips: scale = amax / 127; clipping calibrators pick a smaller (or equal) range.
      if (std::string(calibrator) == "minmax")
        EXPECT_FLOAT_EQ(l.input->scale, amax / 127.0f);
      else
        EXPECT_LE(l.input->scale, amax / 127.0f * (1 + 1e-6f));
      EXPECT_GT(l.input->scale, 0.0f);
      EXPECT_LT(r.weight_error, 0.02);  // int8 per channel: ~ 1 / (127 sqrt(12)) relative per value
      EXPECT_LT(r.output_error, 0.2);
    }
    // The model itself stays fp32.
    model->visit_linears([](nn::Linear& l) { EXPECT_EQ(l.kernel(), nullptr); });
  }
}

TEST(QuantizeModel, WeightCodesAreTheQuantLibrarysPerChannelCodes) {
  const auto model = load_model(testing::bert_fixture());
  const QuantizationConfig q = quantize_model(*model, {}, options_for("int8-dynamic"));
  std::map<std::string, const nn::Linear*> by_name;
  model->visit_linears([&](nn::Linear& l) { by_name[l.name()] = &l; });
  for (const QuantizedLinear& l : q.linears) {
    EXPECT_TRUE(l.input->dynamic);
    const Tensor& w = by_name.at(l.name)->weight();
    const QuantParams p = compute_qparams(w, kInt8PerChannelWeights);
    const Tensor codes = quantize(w, kInt8PerChannelWeights, p);
    ASSERT_EQ(l.weight.shape(), codes.shape());
    EXPECT_TRUE(std::equal(codes.span<int8_t>().begin(), codes.span<int8_t>().end(), l.weight.span<int8_t>().begin()));
    for (int64_t n = 0; n < w.dim(0); ++n) {
      float amax = 0;
      for (int64_t k = 0; k < w.dim(1); ++k) amax = std::max(amax, std::fabs(w.data<float>()[n * w.dim(1) + k]));
      EXPECT_FLOAT_EQ(l.weight_scale.data<float>()[n], amax / 127.0f);
    }
  }
  EXPECT_EQ(q.calibrator, "");
  EXPECT_EQ(to_string(*q.activation_spec), "int8:sym:per_token");
}

TEST(QuantizeModel, ExcludePatternsAndUnmatchedPatternWarns) {
  const auto model = load_model(testing::bert_fixture());
  const auto batches = testing::fixture_calibration(testing::bert_fixture());
  QuantizeOptions o = options_for("int8", "minmax");
  o.recipe.exclude = {"classifier", "*.layer.1.*", "*.no_such_layer"};
  QuantizeReport report;
  const QuantizationConfig q = quantize_model(*model, batches, o, &report);
  std::set<std::string> excluded;
  for (const auto& e : q.excluded) excluded.insert(e.name);
  for (const auto& name : linear_names(*model)) {
    const bool expect_excluded = name == "classifier" || name.find(".layer.1.") != std::string::npos;
    EXPECT_EQ(excluded.count(name) > 0, expect_excluded) << name;
  }
  EXPECT_EQ(q.linears.size() + q.excluded.size(), linear_names(*model).size());
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("'*.no_such_layer' matches no Linear"), std::string::npos);
  for (const auto& l : report.layers)
    if (!l.quantized) {
      EXPECT_NE(l.reason.find("--exclude pattern"), std::string::npos);
    }
}

TEST(QuantizeModel, ExtraSitesAffineActivationsAndPerTensorWeights) {
  const auto model = load_model(testing::bert_fixture());
  const auto batches = testing::fixture_calibration(testing::bert_fixture());
  QuantizeOptions o = options_for("int8", "entropy");
  o.recipe.attention_sites = o.recipe.residual_sites = o.recipe.norm_sites = true;
  o.recipe.activation_scheme = QuantScheme::Affine;
  o.recipe.per_channel_weights = false;
  const QuantizationConfig q = quantize_model(*model, batches, o);
  size_t sites = 0;
  model->visit_sites([&](nn::ActivationSite&) { ++sites; });
  EXPECT_EQ(q.sites.size(), sites);
  std::set<nn::SiteKind> kinds;
  for (const auto& s : q.sites) kinds.insert(s.kind);
  EXPECT_TRUE(kinds.count(nn::SiteKind::AttentionQuery) && kinds.count(nn::SiteKind::AttentionProbs) &&
              kinds.count(nn::SiteKind::ResidualAdd) && kinds.count(nn::SiteKind::NormInput));
  for (const auto& s : q.sites)
    if (s.kind == nn::SiteKind::AttentionProbs) {
      // Softmax outputs lie in [0, 1]: the affine grid spans at most that.
      EXPECT_LE(s.quant.scale, 1.0f / 255 + 1e-7f) << s.name;
      EXPECT_GT(s.quant.scale, 0.0f) << s.name;
    }
  bool some_nonzero_zp = false;
  for (const auto& l : q.linears) {
    EXPECT_EQ(l.input->spec.scheme, QuantScheme::Affine);
    some_nonzero_zp |= l.input->zero_point != 0;
    for (const float s : l.weight_scale.span<float>()) EXPECT_EQ(s, l.weight_scale.data<float>()[0]);
  }
  EXPECT_TRUE(some_nonzero_zp);  // GELU outputs are lopsided
  // Both executions run with the sites applied and stay close to fp32.
  const Tensor ref = model->forward(batches[0]).at("logits");
  for (const QuantExecution exec : {QuantExecution::Simulated, QuantExecution::Native}) {
    apply_quantization(*model, q, exec);
    const Tensor y = model->forward(batches[0]).at("logits");
    for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y.data<float>()[i], ref.data<float>()[i], 0.1);
  }
  clear_quantization(*model);
}

TEST(QuantizeModel, RecipeErrors) {
  const auto model = load_model(testing::bert_fixture());
  EXPECT_THROW(recipe_preset("int4"), Error);
  EXPECT_THROW(quantize_model(*model, {}, options_for("int8")), Error);  // static needs data
  const auto batches = testing::fixture_calibration(testing::bert_fixture());
  EXPECT_THROW(quantize_model(*model, batches, options_for("int8", "kl")), Error);
  QuantizeOptions o = options_for("int8-dynamic");
  o.recipe.attention_sites = true;
  EXPECT_THROW(quantize_model(*model, batches, o), Error);
  o = options_for("int8");
  o.recipe.percentile = 100.5;
  EXPECT_THROW(quantize_model(*model, batches, o), Error);
}

// A copy of the bert fixture with NaN in one weight: the next Linear's input
// is NaN, which calibration reports with that site's name.
TEST(QuantizeModel, NanActivationNamesTheSite) {
  const auto dir = testing::temp_dir() / "bert_nan";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(testing::bert_fixture() / "config.json", dir / "config.json");
  const SafetensorsFile src = SafetensorsFile::open(testing::bert_fixture() / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& name : src.names()) {
    Tensor t = src.get(name).clone();
    if (name == "bert.encoder.layer.1.intermediate.dense.weight") t.data<float>()[3] = std::nanf("");
    tensors.emplace_back(name, t);
  }
  save_safetensors(dir / "model.safetensors", tensors);
  const auto model = load_model(dir);
  try {
    quantize_model(*model, testing::fixture_calibration(testing::bert_fixture()), options_for("int8"));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.tag(), "calibrate");
    EXPECT_NE(m.find("'bert.encoder.layer.1.output.dense'"), std::string::npos) << m;
    EXPECT_NE(m.find("NaN"), std::string::npos) << m;
    EXPECT_NE(m.find("calibration batch 1 of"), std::string::npos) << m;
  }
  // Observers are gone after the error: the model runs again.
  model->visit_linears([](nn::Linear& l) { EXPECT_FALSE(l.input_site().active()); });
}

TEST(QuantizeModel, SensitivityOnSst2CountsChangedPredictions) {
  const auto model = load_model(testing::sst2_model());
  const auto batches = testing::sst2_calibration(*model, 16);
  QuantizeOptions o = options_for("int8", "minmax");
  o.sensitivity = true;
  QuantizeReport report;
  quantize_model(*model, batches, o, &report);
  ASSERT_TRUE(report.model_error && report.disagreement);
  EXPECT_GT(*report.model_error, 0.0);
  EXPECT_LT(*report.model_error, 0.05);
  for (const auto& l : report.layers) {
    ASSERT_TRUE(l.model_error && l.prediction_changes) << l.name;
    EXPECT_GT(*l.model_error, 0.0) << l.name;
    EXPECT_LE(*l.prediction_changes, 16) << l.name;
  }
}

// The fallback on the fixture as a base model (budget = relative error of last_hidden_state):
// the most sensitive Linears go back to fp32 first, until the error is within the budget.
TEST(QuantizeModel, FallbackKeepsTheMostSensitiveLayersInFp32) {
  LoadOptions base;
  base.head = ModelHead::Base;
  const auto model = load_model(testing::bert_fixture(), base);
  const auto batches = testing::fixture_calibration(testing::bert_fixture());
  QuantizeOptions o = options_for("int8", "minmax");
  o.sensitivity = true;
  QuantizeReport full;
  const QuantizationConfig all = quantize_model(*model, batches, o, &full);
  ASSERT_TRUE(full.model_error.has_value());
  EXPECT_FALSE(full.disagreement.has_value());  // not a classifier

  o.recipe.fallback_budget = *full.model_error / 2;
  QuantizeReport fb;
  const QuantizationConfig half = quantize_model(*model, batches, o, &fb);
  ASSERT_TRUE(fb.model_error.has_value());
  EXPECT_LE(*fb.model_error, *o.recipe.fallback_budget);
  ASSERT_FALSE(half.excluded.empty());
  EXPECT_FALSE(half.linears.empty());
  EXPECT_EQ(half.linears.size() + half.excluded.size(), all.linears.size());
  // The first layer excluded is the one with the largest error when quantized alone.
  double worst = 0;
  std::string worst_name;
  for (const auto& l : full.layers)
    if (*l.model_error > worst) {
      worst = *l.model_error;
      worst_name = l.name;
    }
  EXPECT_EQ(half.excluded[0].name, worst_name);
  EXPECT_NE(half.excluded[0].reason.find("sensitivity fallback"), std::string::npos);
  // Independently: the simulated model's error really is within the budget.
  double num = 0, den = 0;
  for (const ModelInputs& b : batches) {
    clear_quantization(*model);
    const Tensor ref = model->forward(b).at("last_hidden_state");
    apply_quantization(*model, half, QuantExecution::Simulated);
    const Tensor y = model->forward(b).at("last_hidden_state");
    for (int64_t i = 0; i < y.numel(); ++i) {
      num += std::pow(double(y.data<float>()[i]) - ref.data<float>()[i], 2);
      den += std::pow(double(ref.data<float>()[i]), 2);
    }
  }
  EXPECT_NEAR(std::sqrt(num / den), *fb.model_error, 1e-9);
  clear_quantization(*model);

  // Budget 0: every Linear that reaches last_hidden_state ends in fp32; the
  // pooler does not change it, so it stays quantized.
  o.recipe.fallback_budget = 0.0;
  const QuantizationConfig none = quantize_model(*model, batches, o);
  ASSERT_EQ(none.linears.size(), 1u);
  EXPECT_EQ(none.linears[0].name, "bert.pooler.dense");
  EXPECT_EQ(none.excluded.size(), all.linears.size() - 1);
}

}  // namespace
}  // namespace octet
