#include "octet/model.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/shared_data.h"

namespace octet {
namespace {

TEST(LoadModel, UnknownArchitectureNamesFileAndTypes) {
  const auto dir = testing::temp_dir();
  std::ofstream(dir / "config.json") << R"({"model_type": "frobnicator", "architectures": ["FrobModel"]})";
  try {
    load_model(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.tag(), "models");
    EXPECT_NE(msg.find("frobnicator"), std::string::npos) << msg;
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  }
}

TEST(LoadModel, MissingPathAndMissingConfig) {
  EXPECT_THROW(load_model("/nonexistent/octet-model"), Error);
  const auto dir = testing::temp_dir();
  try {
    load_model(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos);
  }
}

TEST(ModelHead, FromArchitectureName) {
  EXPECT_EQ(head_from_architecture("BertForSequenceClassification"), ModelHead::SequenceClassification);
  EXPECT_EQ(head_from_architecture("LlamaForCausalLM"), ModelHead::CausalLM);
  EXPECT_EQ(head_from_architecture("GPT2LMHeadModel"), ModelHead::CausalLM);
  EXPECT_EQ(head_from_architecture("BertModel"), ModelHead::Base);
}

TEST(CommonInfo, ReadsLabelsAndTokenIds) {
  auto cfg = JsonConfig::from_json(nlohmann::json::parse(R"({"model_type": "bert",
    "architectures": ["BertForSequenceClassification"], "id2label": {"1": "positive", "0": "negative"},
    "pad_token_id": 0, "eos_token_id": [2, 3]})"), "config.json");
  const ModelInfo info = read_common_info(cfg);
  EXPECT_EQ(info.head, ModelHead::SequenceClassification);
  EXPECT_EQ(info.num_labels, 2);
  EXPECT_EQ(info.labels, (std::vector<std::string>{"negative", "positive"}));
  EXPECT_EQ(info.pad_token_id, 0);
  EXPECT_EQ(info.eos_token_id, 2);
  EXPECT_EQ(info.bos_token_id, -1);
}

// id2label keys are strict decimals, one per label: std::stoul took "1abc"
// as 1, and "01" beside "1" left label 0 empty without a word.
TEST(CommonInfo, RejectsMalformedAndDuplicateLabelKeys) {
  for (const char* labels : {R"({"0": "negative", "1abc": "positive"})", R"({"1": "negative", "01": "positive"})",
                             R"({"0": "negative", " 1": "positive"})", R"({"0": "negative", "-1": "positive"})",
                             R"({"0": "negative", "2": "positive"})"}) {
    SCOPED_TRACE(labels);
    auto cfg = JsonConfig::from_json(
        nlohmann::json::parse(std::string(R"({"model_type": "bert", "id2label": )") + labels + "}"), "config.json");
    try {
      read_common_info(cfg);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "config");
      EXPECT_NE(std::string(e.what()).find("id2label"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace octet
