// Encoder families against Hugging Face transformers v4.40.2 outputs
// (fixtures/hf/<name>/reference.safetensors): a right-padded batch of 2.
//
// Tolerance 1e-4 (absolute). The fixtures are 2-layer, width-64 models with
// outputs of magnitude <= 3.4 (meta.json max_abs_*). fp32 results differ from
// PyTorch's only in summation order (GEMM blocking, softmax / norm reductions)
// and in 1-ulp differences of exp/erf/tanh: each dot product of length K <= 128
// carries a relative error below K * 2^-24 ~ 7.6e-6 of the sum of |terms|, and
// each LayerNorm renormalises the state, so the per-layer error stays near
// 3.4 * 7.6e-6 ~ 2.6e-5 and two layers plus the heads stay well inside 1e-4.
// A real bug (a wrong order, a missing bias, the wrong gelu) moves outputs by
// 1e-2 or more.
#include <gtest/gtest.h>

#include <set>

#include "models/encoder_test_util.h"
#include "octet/model.h"
#include "octet/safetensors.h"

namespace octet {
namespace {

using testing::fixture_dir;
using testing::max_abs_diff;

constexpr double kTolerance = 1e-4;

class EncoderFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderFixture, MatchesTransformersOnPaddedBatch) {
  const auto dir = fixture_dir(GetParam());
  const auto model = load_model(dir);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const ModelInputs inputs = testing::reference_inputs(ref);
  const NamedTensors out = model->forward(inputs);

  int compared = 0;
  for (const std::string name : {"logits", "last_hidden_state", "pooler_output"}) {
    if (!ref.contains(name)) {
      // Outputs HF does not give for this head are not made up either (except
      // pooler_output, which a classifier with a pooler may report).
      if (name != "pooler_output") {
        EXPECT_EQ(out.count(name), 0u) << name;
      }
      continue;
    }
    ASSERT_EQ(out.count(name), 1u) << name << " missing from the outputs";
    const Tensor mask = name == "last_hidden_state" ? inputs.attention_mask : Tensor();
    EXPECT_LE(max_abs_diff(out.at(name), ref.get(name), mask), kTolerance) << name;
    ++compared;
  }
  EXPECT_GE(compared, 2);
}

// Row 1 of the batch is right-padded: its valid tokens run alone, unpadded,
// must give the same outputs (same budget: both are fp32 evaluations of the
// same function that differ in summation order only).
TEST_P(EncoderFixture, PaddedRowMatchesUnpaddedRun) {
  const auto dir = fixture_dir(GetParam());
  const auto model = load_model(dir);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const ModelInputs batch = testing::reference_inputs(ref);
  const NamedTensors padded = model->forward(batch);

  const int64_t seq = batch.input_ids.dim(1);
  const auto mask = batch.attention_mask.select(1).contiguous();
  int64_t valid = 0;
  for (const int64_t m : mask.span<int64_t>()) valid += m != 0;
  ASSERT_LT(valid, seq) << "row 1 of the fixture should be padded";
  ModelInputs alone;
  alone.input_ids = batch.input_ids.slice(0, 1, 2).slice(1, 0, valid).contiguous();
  const NamedTensors single = model->forward(alone);

  for (const auto& [name, t] : single) {
    ASSERT_TRUE(padded.count(name)) << name;
    Tensor row = padded.at(name).slice(0, 1, 2);
    if (name == "last_hidden_state") row = row.slice(1, 0, valid);
    EXPECT_LE(max_abs_diff(t, row.contiguous()), kTolerance) << name;
  }
}

// Every Linear is named by its checkpoint module (name + ".weight" is a
// parameter), once; sites have unique names and cost nothing until installed.
TEST_P(EncoderFixture, LinearsAndSitesAreNamedAfterTheCheckpoint) {
  const auto model = load_model(fixture_dir(GetParam()));
  std::set<std::string> params;
  for (const auto& [name, t] : model->parameters()) EXPECT_TRUE(params.insert(name).second) << name;
  std::set<std::string> linears;
  model->visit_linears([&](nn::Linear& l) {
    EXPECT_TRUE(params.count(l.name() + ".weight")) << l.name();
    EXPECT_TRUE(linears.insert(l.name()).second) << "visited twice: " << l.name();
  });
  // Every 2-D weight of the trunk and heads belongs to a visited Linear, except embedding tables.
  for (const auto& [name, t] : model->parameters()) {
    if (t.rank() != 2 || name.find("embeddings.") != std::string::npos) continue;
    const std::string module = name.substr(0, name.rfind('.'));
    EXPECT_TRUE(linears.count(module)) << name << " is not a visited Linear";
  }
  std::set<std::string> sites;
  int residuals = 0, norms = 0, attention = 0;
  model->visit_sites([&](nn::ActivationSite& s) {
    EXPECT_FALSE(s.active());
    EXPECT_TRUE(sites.insert(s.name()).second) << "duplicate site " << s.name();
    residuals += s.kind() == nn::SiteKind::ResidualAdd;
    norms += s.kind() == nn::SiteKind::NormInput;
    attention += s.kind() == nn::SiteKind::AttentionQuery;
  });
  const int64_t layers = model->info().num_layers;
  // ALBERT shares one layer across depth: its sites exist once.
  const int64_t distinct = model->info().model_type == "albert" ? 1 : layers;
  EXPECT_EQ(residuals, 2 * distinct);
  EXPECT_EQ(norms, 2 * distinct + 1);  // + the embeddings LayerNorm
  EXPECT_EQ(attention, distinct);
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, EncoderFixture,
                         ::testing::Values("bert", "roberta", "distilbert", "albert", "electra", "deberta_v2",
                                           "xlm_roberta", "bert_base_model"),
                         [](const auto& info) { return info.param; });

TEST(EncoderInfo, ReadsFamilySettings) {
  const auto albert = load_model(fixture_dir("albert"));
  EXPECT_EQ(albert->info().model_type, "albert");
  EXPECT_EQ(albert->info().head, ModelHead::SequenceClassification);
  EXPECT_EQ(albert->info().hidden_size, 64);
  EXPECT_EQ(albert->info().num_layers, 2);
  const auto roberta = load_model(fixture_dir("roberta"));
  // 130 rows of positions, the first at padding_idx + 1 = 2: 128 usable.
  EXPECT_EQ(roberta->info().max_positions, 128);
  const auto xlmr = load_model(fixture_dir("xlm_roberta"));
  EXPECT_EQ(xlmr->info().head, ModelHead::Base);
}

TEST(EncoderHead, BaseOverrideDropsTheClassifier) {
  LoadOptions options;
  options.head = ModelHead::Base;
  const auto dir = fixture_dir("bert");
  const auto base = load_model(dir, options);
  const auto classifier = load_model(dir);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const ModelInputs inputs = testing::reference_inputs(ref);
  const NamedTensors out = base->forward(inputs);
  EXPECT_EQ(out.count("logits"), 0u);
  ASSERT_EQ(out.count("pooler_output"), 1u);
  EXPECT_LE(max_abs_diff(out.at("last_hidden_state"), ref.get("last_hidden_state"), inputs.attention_mask), kTolerance);
  // The classifier reads the same pooled [CLS] the base model reports.
  EXPECT_EQ(max_abs_diff(out.at("pooler_output"), classifier->forward(inputs).at("pooler_output")), 0.0);
}

TEST(EncoderHead, ClassifierOnBaseCheckpointNamesTheMissingTensor) {
  LoadOptions options;
  options.head = ModelHead::SequenceClassification;
  const Error e = testing::error_of([&] { load_model(fixture_dir("bert_base_model"), options); });
  EXPECT_NE(std::string(e.what()).find("classifier.weight"), std::string::npos) << e.what();
}

// RoBERTa's default positions are HF's create_position_ids_from_input_ids:
// giving them explicitly changes nothing; giving BERT-style 0..n-1 does.
TEST(EncoderPositions, RobertaPositionsArePaddingAware) {
  const auto dir = fixture_dir("roberta");
  const auto model = load_model(dir);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  ModelInputs inputs = testing::reference_inputs(ref);
  const int64_t batch = inputs.input_ids.dim(0), seq = inputs.input_ids.dim(1);
  const int64_t pad = model->info().pad_token_id;
  ASSERT_EQ(pad, 1);
  // Put real padding into row 1 where the mask is 0, as a tokenizer would.
  auto ids = inputs.input_ids.span<int64_t>();
  const auto mask = inputs.attention_mask.span<int64_t>();
  for (size_t i = 0; i < ids.size(); ++i)
    if (mask[i] == 0) ids[i] = pad;
  const NamedTensors by_default = model->forward(inputs);

  Tensor hf_positions = Tensor::empty({batch, seq}, DType::I64);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t count = 0;
    for (int64_t s = 0; s < seq; ++s) {
      const bool token = ids[size_t(b * seq + s)] != pad;
      count += token;
      hf_positions.span<int64_t>()[size_t(b * seq + s)] = token ? count + pad : pad;
    }
  }
  inputs.position_ids = hf_positions;
  EXPECT_EQ(max_abs_diff(model->forward(inputs).at("logits"), by_default.at("logits")), 0.0);
  EXPECT_LE(max_abs_diff(by_default.at("logits"), ref.get("logits")), kTolerance);

  Tensor plain = Tensor::empty({batch, seq}, DType::I64);
  for (int64_t i = 0; i < batch * seq; ++i) plain.span<int64_t>()[size_t(i)] = i % seq;
  inputs.position_ids = plain;
  EXPECT_GT(max_abs_diff(model->forward(inputs).at("last_hidden_state"), by_default.at("last_hidden_state")), 1e-3);
}

}  // namespace
}  // namespace octet
