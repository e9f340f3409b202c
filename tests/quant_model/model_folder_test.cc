// The quantized folder: save, reload with identical logits, load_model
// recognises it, and files whose config and tensors disagree are clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

QuantizationConfig quantize_fixture(Model& model, const std::string& recipe = "int8") {
  QuantizeOptions o;
  o.recipe = recipe_preset(recipe);
  o.recipe.exclude = {"classifier"};
  o.progress = false;
  return quantize_model(model, recipe == "int8" ? testing::fixture_calibration(testing::bert_fixture())
                                                : std::vector<ModelInputs>{},
                        o);
}

Tensor logits_of(const Model& model, const ModelInputs& in) { return model.forward(in).at("logits").contiguous(); }

void expect_identical(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << i;
}

TEST(QuantizedFolder, SaveReloadGivesIdenticalLogitsInBothExecutions) {
  for (const std::string recipe : {"int8", "int8-dynamic"}) {
    SCOPED_TRACE(recipe);
    const auto model = load_model(testing::bert_fixture());
    const QuantizationConfig q = quantize_fixture(*model, recipe);
    const fs::path out = testing::temp_dir() / ("q-" + recipe);
    save_quantized_model(*model, q, testing::bert_fixture(), out);
    EXPECT_TRUE(is_quantized_model(out));
    EXPECT_TRUE(fs::exists(out / "config.json"));
    EXPECT_TRUE(fs::exists(out / "model.safetensors"));
    // No temporary folder is left next to it.
    for (const auto& e : fs::directory_iterator(out.parent_path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();

    const auto batches = testing::fixture_calibration(testing::bert_fixture());
    for (const QuantExecution exec : {QuantExecution::Simulated, QuantExecution::Native}) {
      apply_quantization(*model, q, exec);
      const auto reloaded = load_model_for_execution(out, exec);
      for (const ModelInputs& b : batches) expect_identical(logits_of(*model, b), logits_of(*reloaded, b));
    }
    // load_model runs a quantized folder natively.
    const auto native = load_model(out);
    apply_quantization(*model, q, QuantExecution::Native);
    expect_identical(logits_of(*model, batches[0]), logits_of(*native, batches[0]));
    int quantized = 0;
    native->visit_linears([&](nn::Linear& l) {
      if (l.kernel()) {
        ++quantized;
        EXPECT_EQ(l.kernel()->describe(), recipe == "int8" ? "int8" : "int8-dynamic");
      } else {
        EXPECT_EQ(l.name(), "classifier");
      }
    });
    EXPECT_EQ(quantized, int(q.linears.size()));

    const QuantizationConfig back = read_quantization_config(out);
    EXPECT_EQ(back.recipe, q.recipe);
    EXPECT_EQ(back.calibrator, q.calibrator);
    EXPECT_EQ(back.octet_version, OCTET_VERSION);
    ASSERT_EQ(back.linears.size(), q.linears.size());
    ASSERT_EQ(back.excluded.size(), 1u);
    EXPECT_EQ(back.excluded[0].name, "classifier");
    for (size_t i = 0; i < q.linears.size(); ++i) {
      EXPECT_EQ(back.linears[i].name, q.linears[i].name);
      EXPECT_EQ(back.linears[i].input->scale, q.linears[i].input->scale);
      EXPECT_EQ(back.linears[i].input->dynamic, q.linears[i].input->dynamic);
    }
  }
}

TEST(QuantizedFolder, ExistingOutputNeedsOverwriteAndFailuresLeaveNothing) {
  const auto model = load_model(testing::bert_fixture());
  const QuantizationConfig q = quantize_fixture(*model, "int8-dynamic");
  const fs::path out = testing::temp_dir() / "q";
  save_quantized_model(*model, q, testing::bert_fixture(), out);
  EXPECT_THROW(save_quantized_model(*model, q, testing::bert_fixture(), out), Error);
  EXPECT_NO_THROW(save_quantized_model(*model, q, testing::bert_fixture(), out, true));
  EXPECT_TRUE(is_quantized_model(out));
  EXPECT_THROW(save_quantized_model(*model, q, testing::bert_fixture(), testing::bert_fixture(), true), Error);

  // A config naming a Linear the model lacks fails after work began: nothing is left behind.
  QuantizationConfig bad = q;
  bad.linears[0].name = "no.such.layer";
  const fs::path out2 = testing::temp_dir() / "q2";
  EXPECT_THROW(save_quantized_model(*model, bad, testing::bert_fixture(), out2), Error);
  EXPECT_FALSE(fs::exists(out2));
  for (const auto& e : fs::directory_iterator(out2.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".q2."), std::string::npos) << e.path();
}

// ---- corrupted folders ----------------------------------------------------------------------

using TensorList = std::vector<std::pair<std::string, Tensor>>;

class CorruptedFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = load_model(testing::bert_fixture());
    config_ = quantize_fixture(*model_);
    out_ = testing::temp_dir() / "q";
    save_quantized_model(*model_, config_, testing::bert_fixture(), out_);
  }

  // Rewrites model.safetensors after `edit`.
  void edit_tensors(const std::function<void(TensorList&)>& edit) {
    TensorList tensors;
    {
      const SafetensorsFile f = SafetensorsFile::open(out_ / "model.safetensors");
      for (const auto& name : f.names()) tensors.emplace_back(name, f.get(name).clone());
    }
    edit(tensors);
    save_safetensors(out_ / "model.safetensors", tensors);
  }
  void edit_config(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(out_ / kQuantizationConfigFile));
    edit(j);
    std::ofstream(out_ / kQuantizationConfigFile) << j.dump(2);
  }
  // The error load_model gives for the folder, or "" when it loads.
  std::string load_error() {
    try {
      load_model(out_);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static Tensor* find(TensorList& t, const std::string& name) {
    for (auto& [n, tensor] : t)
      if (n == name) return &tensor;
    return nullptr;
  }

  std::unique_ptr<Model> model_;
  QuantizationConfig config_;
  fs::path out_;
  const std::string layer_ = "bert.encoder.layer.0.attention.self.query";
};

TEST_F(CorruptedFolder, LoadsWhenIntact) { EXPECT_EQ(load_error(), ""); }

TEST_F(CorruptedFolder, MissingWeightScale) {
  edit_tensors([&](TensorList& t) { std::erase_if(t, [&](auto& p) { return p.first == layer_ + ".weight_scale"; }); });
  const std::string e = load_error();
  EXPECT_NE(e.find("'" + layer_ + ".weight_scale' is missing"), std::string::npos) << e;
}

TEST_F(CorruptedFolder, MissingInputScale) {
  edit_tensors([&](TensorList& t) { std::erase_if(t, [&](auto& p) { return p.first == layer_ + ".input_scale"; }); });
  const std::string e = load_error();
  EXPECT_NE(e.find("'" + layer_ + ".input_scale' is missing"), std::string::npos) << e;
}

TEST_F(CorruptedFolder, WrongScaleShape) {
  edit_tensors([&](TensorList& t) { *find(t, layer_ + ".weight_scale") = Tensor::full({3}, 0.1f); });
  const std::string e = load_error();
  EXPECT_NE(e.find("has shape [3], expected [64]"), std::string::npos) << e;
}

TEST_F(CorruptedFolder, WeightStoredAsFloat) {
  edit_tensors([&](TensorList& t) {
    Tensor* w = find(t, layer_ + ".weight");
    *w = w->to(DType::F32);
  });
  const std::string e = load_error();
  EXPECT_NE(e.find("is f32, but quantization_config.json says int8"), std::string::npos) << e;
}

TEST_F(CorruptedFolder, WeightWithWrongShape) {
  edit_tensors([&](TensorList& t) { *find(t, layer_ + ".weight") = Tensor::zeros({64, 32}, DType::I8); });
  const std::string e = load_error();
  EXPECT_NE(e.find("has shape [64, 32]"), std::string::npos) << e;
  EXPECT_NE(e.find("[64, 64]"), std::string::npos) << e;
}

// An int8 code of -128 (off octet's symmetric grid [-127, 127]) is refused wherever it sits.
TEST_F(CorruptedFolder, Int8CodeOffTheSymmetricGrid) {
  for (const int64_t at : {int64_t{0}, int64_t{64 * 64 - 1}}) {
    SetUp();
    edit_tensors([&](TensorList& t) { find(t, layer_ + ".weight")->data<int8_t>()[at] = -128; });
    const std::string e = load_error();
    EXPECT_NE(e.find("holds -128, outside the symmetric grid [-127, 127]"), std::string::npos) << at << ": " << e;
  }
}

TEST_F(CorruptedFolder, NonPositiveScale) {
  edit_tensors([&](TensorList& t) { find(t, layer_ + ".weight_scale")->data<float>()[5] = 0.0f; });
  EXPECT_NE(load_error().find("a scale must be positive"), std::string::npos);
}

TEST_F(CorruptedFolder, Int8TensorTheConfigDoesNotList) {
  edit_config([&](nlohmann::json& j) {
    auto& l = j["linears"];
    l.erase(l.begin());
  });
  const std::string e = load_error();
  EXPECT_NE(e.find("belongs to no layer listed"), std::string::npos) << e;
}

TEST_F(CorruptedFolder, ConfigNamesALayerTheModelLacks) {
  edit_tensors([&](TensorList& t) {
    for (auto& [name, tensor] : t)
      if (name.rfind(layer_, 0) == 0) name = "ghost" + name.substr(layer_.size());
  });
  edit_config([&](nlohmann::json& j) { j["linears"][0]["name"] = "ghost"; });
  const std::string e = load_error();
  EXPECT_NE(e.find(layer_ + ".weight"), std::string::npos) << e;  // the builder misses the real weight
}

TEST_F(CorruptedFolder, BadConfigFields) {
  edit_config([](nlohmann::json& j) { j["linears"][0]["input"] = "int4:sym:per_tensor"; });
  EXPECT_NE(load_error().find("activations must be int8"), std::string::npos);
  SetUp();
  edit_config([](nlohmann::json& j) { j["format_version"] = 99; });
  EXPECT_NE(load_error().find("format_version 99"), std::string::npos);
  SetUp();
  edit_config([](nlohmann::json& j) { j.erase("linears"); });
  EXPECT_NE(load_error().find("has no 'linears'"), std::string::npos);
  SetUp();
  std::ofstream(out_ / kQuantizationConfigFile) << "{ not json";
  EXPECT_NE(load_error().find("invalid JSON"), std::string::npos);
  // calibration.samples / source were read with value(): a float past int64 was undefined
  // behaviour, a string a nlohmann exception; now they are checked like every other member.
  for (const nlohmann::json& samples : {nlohmann::json(1e300), nlohmann::json("16"), nlohmann::json(2.5)}) {
    SetUp();
    edit_config([&](nlohmann::json& j) { j["calibration"]["samples"] = samples; });
    EXPECT_NE(load_error().find("'samples' of 'calibration' has the wrong type"), std::string::npos)
        << samples.dump() << ": " << load_error();
  }
  SetUp();
  edit_config([](nlohmann::json& j) { j["calibration"]["source"] = 7; });
  EXPECT_NE(load_error().find("'source' of 'calibration' has the wrong type"), std::string::npos) << load_error();
}

}  // namespace
}  // namespace octet
