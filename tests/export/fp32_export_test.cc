// fp32 ONNX export: the checker accepts the files, ONNX Runtime reproduces
// octet's outputs on the HF fixtures and on sst2-bert-mini's 872 dev sentences.
//
// Bound (ORT fp32 vs octet fp32). Both evaluate the same graph in f32; they
// differ in the order of accumulation inside GEMMs and reductions (MLAS vs
// OpenBLAS, LayerNorm sums) and in exp / erf / tanh by an ulp or two. A dot
// product of length K in any order is within gamma_K * sum|x_k w_k| of the
// exact value, gamma_K = K u / (1 - K u), u = 2^-24: for K = 128 (the fixtures'
// widest GEMM) gamma = 7.6e-6 relative to sum|x w|, for K = 1024 (sst2-bert-mini)
// 6.1e-5. Rounding errors of random sign grow like sqrt(K) u, about 100x less.
// LayerNorm after every residual rescales perturbations relative to the
// hidden state (|h| <= 3.4 on the fixtures, ~10 on sst2), so each layer adds
// a relative error of order gamma and the layers add up, not multiply. That
// gives |d h| <= 2 layers * 7.6e-6 * 3.4 * (a few GEMMs per layer) ~ 1e-4 on
// the fixtures: the 1e-4 bound below (logits there are ~0.02, so they get the
// same absolute bound, loose by design). sst2-bert-mini: 4 layers, K up to
// 1024, |logits| up to 2.3: worst case 4 * 6.1e-5 * 2.3 ~ 6e-4; with the
// sqrt(K) estimate ~1e-5. The test uses 1e-3; measured: 8.3e-7 (printed).
#include <gtest/gtest.h>

#include "export/export_test_util.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/safetensors.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

constexpr double kFixtureBound = 1e-4;
constexpr double kSst2LogitBound = 1e-3;

ModelInputs reference_inputs(const std::string& fixture) {
  const SafetensorsFile ref = SafetensorsFile::open(shared_path("fixtures/hf/" + fixture + "/reference.safetensors"));
  ModelInputs in;
  in.input_ids = ref.get("input_ids").clone();
  in.attention_mask = ref.get("attention_mask").clone();
  in.token_type_ids = Tensor::zeros(in.input_ids.shape(), DType::I64);
  return in;
}

class Fp32FixtureExport : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp32FixtureExport, CheckerAcceptsAndOrtMatchesOctet) {
  const std::string name = GetParam();
  const auto model = load_model(shared_path("fixtures/hf/" + name));
  const auto path = temp_dir() / (name + ".onnx");
  export_onnx(*model, path);
  const nlohmann::json summary = check_onnx(path);
  ASSERT_EQ(model->info().head, ModelHead::SequenceClassification);

  // Interface: int64 [batch, seq] inputs, logits [batch, labels].
  ASSERT_GE(summary["inputs"].size(), 2u);
  EXPECT_EQ(summary["inputs"][0][0], "input_ids");
  EXPECT_EQ(summary["inputs"][1][0], "attention_mask");
  for (const auto& in : summary["inputs"]) {
    EXPECT_EQ(in[1], 7) << in.dump();  // INT64
    EXPECT_EQ(in[2], nlohmann::json::array({"batch", "seq"})) << in.dump();
  }
  ASSERT_EQ(summary["outputs"].size(), 1u);
  EXPECT_EQ(summary["outputs"][0][0], "logits");
  EXPECT_EQ(summary["outputs"][0][2], nlohmann::json::array({"batch", model->info().num_labels}));
  EXPECT_EQ(summary["opset"], 17);
  EXPECT_GT(summary["ops"].value("LayerNormalization", 0), 0);
  EXPECT_FALSE(summary["ops"].contains("QuantizeLinear"));

  const ModelInputs in = reference_inputs(name);
  const Tensor octet_logits = model->forward(in).at("logits");
  const auto ort = run_onnxruntime(path, feeds(in));
  ASSERT_TRUE(ort.contains("logits"));
  const double diff = max_abs_diff(ort.at("logits"), octet_logits);
  EXPECT_LE(diff, kFixtureBound) << name;
  // And against Hugging Face itself.
  const SafetensorsFile ref = SafetensorsFile::open(shared_path("fixtures/hf/" + name + "/reference.safetensors"));
  EXPECT_LE(max_abs_diff(ort.at("logits"), ref.get("logits")), kFixtureBound) << name;
  RecordProperty("max_abs_diff_logits", std::to_string(diff));
}

// The issue names bert, roberta and distilbert; electra and albert (shared
// layers) come with the same code.
INSTANTIATE_TEST_SUITE_P(Fixtures, Fp32FixtureExport,
                         ::testing::Values("bert", "roberta", "distilbert", "electra", "albert"));

// Base models (BertModel, XLMRobertaModel): last_hidden_state and pooler_output.
class Fp32BaseExport : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp32BaseExport, GivesHiddenStateAndPooler) {
  const std::string name = GetParam();
  const auto model = load_model(shared_path("fixtures/hf/" + name));
  const auto path = temp_dir() / "base.onnx";
  export_onnx(*model, path);
  const nlohmann::json summary = check_onnx(path);
  ASSERT_EQ(summary["outputs"].size(), 2u);
  EXPECT_EQ(summary["outputs"][0][0], "last_hidden_state");
  EXPECT_EQ(summary["outputs"][0][2], nlohmann::json::array({"batch", "seq", model->info().hidden_size}));
  EXPECT_EQ(summary["outputs"][1][0], "pooler_output");

  const ModelInputs in = reference_inputs(name);
  const NamedTensors octet_out = model->forward(in);
  const auto ort = run_onnxruntime(path, feeds(in));
  // Padded positions hold whatever attention over the real tokens gives: compare where mask == 1.
  EXPECT_LE(max_abs_diff(ort.at("last_hidden_state"), octet_out.at("last_hidden_state"), in.attention_mask),
            kFixtureBound);
  EXPECT_LE(max_abs_diff(ort.at("pooler_output"), octet_out.at("pooler_output")), kFixtureBound);
  const SafetensorsFile ref = SafetensorsFile::open(shared_path("fixtures/hf/" + name + "/reference.safetensors"));
  EXPECT_LE(max_abs_diff(ort.at("last_hidden_state"), ref.get("last_hidden_state"), in.attention_mask),
            kFixtureBound);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Fp32BaseExport, ::testing::Values("bert_base_model", "xlm_roberta"));

TEST(Fp32Export, OpsetsAndFixedShapes) {
  const auto model = load_model(shared_path("fixtures/hf/bert"));
  const ModelInputs in = reference_inputs("bert");
  const Tensor expected = model->forward(in).at("logits");
  const auto dir = temp_dir();
  for (const int opset : {13, 16, 17, 21}) {
    OnnxExportOptions options;
    options.opset = opset;
    options.batch = in.input_ids.dim(0);
    options.seq = in.input_ids.dim(1);
    const auto path = dir / fmt::format("bert-{}.onnx", opset);
    export_onnx(*model, path, options);
    // onnx 1.12's checker knows opsets up to 17; later ones are checked by running them.
    if (opset <= 17) {
      const nlohmann::json summary = check_onnx(path);
      EXPECT_EQ(summary["opset"], opset);
      EXPECT_EQ(summary["inputs"][0][2], nlohmann::json::array({in.input_ids.dim(0), in.input_ids.dim(1)}));
      // Below 17 LayerNorm is decomposed.
      EXPECT_EQ(summary["ops"].contains("LayerNormalization"), opset >= 17);
    }
    const auto ort = run_onnxruntime(path, feeds(in));
    EXPECT_LE(max_abs_diff(ort.at("logits"), expected), kFixtureBound) << "opset " << opset;
  }
}

// Above 2 GB the weights go to "<file>.data" (ONNX external data); forced here on a small model.
TEST(Fp32Export, ExternalDataRunsInOnnxRuntime) {
  const auto model = load_model(shared_path("fixtures/hf/bert"));
  const ModelInputs in = reference_inputs("bert");
  OnnxExportOptions options;
  options.external_data = OnnxExternalData::Always;
  const auto path = temp_dir() / "bert-external.onnx";
  const OnnxSaveResult r = export_onnx(*model, path, options);
  ASSERT_TRUE(r.data_path.has_value());
  EXPECT_TRUE(std::filesystem::exists(*r.data_path));
  EXPECT_GT(r.data_bytes, r.model_bytes);
  check_onnx(path);
  const auto ort = run_onnxruntime(path, feeds(in));
  EXPECT_LE(max_abs_diff(ort.at("logits"), model->forward(in).at("logits")), kFixtureBound);
}

TEST(Fp32Export, SharedAlbertLayersAreStoredOnce) {
  const auto model = load_model(shared_path("fixtures/hf/albert"));
  const OnnxGraph graph = build_onnx_graph(*model);
  int64_t params = 0;
  for (const auto& [name, t] : model->parameters()) params += t.numel();
  int64_t stored = 0;
  for (const auto& init : graph.initializers())
    if (init.tensor.dtype() == DType::F32 && init.tensor.numel() > 1) stored += init.tensor.numel();
  // Every parameter once (constants of one element aside), none repeated per use.
  EXPECT_EQ(stored, params);
}

TEST(Fp32Export, UnsupportedModelsAndOptionsAreErrors) {
  const auto deberta = load_model(shared_path("fixtures/hf/deberta_v2"));
  EXPECT_NE(onnx_export_unsupported(*deberta).find("not supported for ONNX export yet"), std::string::npos);
  EXPECT_THROW(build_onnx_graph(*deberta), Error);
  const auto bert = load_model(shared_path("fixtures/hf/bert"));
  EXPECT_EQ(onnx_export_unsupported(*bert), "");
  OnnxExportOptions bad;
  bad.opset = 12;
  EXPECT_THROW(build_onnx_graph(*bert, bad), Error);
  bad.opset = 17;
  bad.seq = 0;
  EXPECT_THROW(build_onnx_graph(*bert, bad), Error);
}

// All 872 sentences, tokenized and batched as `octet eval` does, through
// octet and through ORT (one serve-mode process for every batch).
TEST(Fp32Export, Sst2DevLogitsMatchOnnxRuntime) {
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  std::shared_ptr<Model> model(load_model(model_dir).release());
  const Tokenizer tokenizer = Tokenizer::load(model_dir);
  const TokenizedBatches data =
      tokenize_batches(*model, tokenizer, load_tsv_dataset(source_root() / "data" / "sst2" / "dev.tsv"), 32);
  ASSERT_EQ(data.size(), 872);
  const auto dir = temp_dir();
  const auto path = dir / "sst2.onnx";
  export_onnx(*model, path);
  check_onnx(path);
  PeerOptions peer;
  peer.peers_dir = source_root() / "bench" / "peers";
  peer.work_dir = dir;
  auto ort = make_ort_runner(path, "fp32", peer);
  auto octet = make_octet_runner(model, "fp32");
  const auto ort_logits = runner_logits(*ort, data);
  const auto octet_logits = runner_logits(*octet, data);
  double worst = 0, largest = 0;
  for (size_t b = 0; b < ort_logits.size(); ++b) {
    worst = std::max(worst, max_abs_diff(ort_logits[b], octet_logits[b]));
    largest = std::max(largest, max_abs(octet_logits[b]));
  }
  EXPECT_LE(worst, kSst2LogitBound) << "largest |logit| " << largest;
  EXPECT_EQ(batch_predictions(data, ort_logits), batch_predictions(data, octet_logits));
  std::printf("sst2 fp32: max |ORT - octet| logits %.3g (largest |logit| %.3g)\n", worst, largest);
}

}  // namespace
}  // namespace octet::testing
