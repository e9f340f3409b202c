// `octet inspect`, `octet run` and `octet eval` end to end, checked against
// Hugging Face references (fixture meta.json / reference.safetensors, the
// sst2-bert-mini model card and reference_dev.jsonl).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "cli_models/cli_models_util.h"
#include "octet/eval.h"
#include "octet/gemm_bf16.h"
#include "octet/model.h"
#include "octet/safetensors.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::run_octet;

const char* const kFixtures[] = {"bert",       "roberta",     "distilbert",     "albert",
                                 "electra",    "deberta_v2",  "xlm_roberta",    "bert_base_model"};

fs::path sst2_model() { return testing::source_root() / "models/sst2-bert-mini"; }

nlohmann::json parse_json(const testing::Run& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// The error contract: exit code 1, nothing on stdout, exactly one line on stderr.
void expect_one_line_error(const testing::Run& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("octet: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(CliInspect, ParameterCountsMatchTransformers) {
  const auto scratch = testing::temp_dir();
  for (const char* name : kFixtures) {
    const fs::path dir = testing::shared_path(std::string("fixtures/hf/") + name);
    const auto meta = nlohmann::json::parse(std::ifstream(dir / "meta.json"));
    const auto j = parse_json(run_octet({"inspect", "--json", dir.string()}, scratch));
    // meta.json's num_parameters is HF's model.num_parameters().
    EXPECT_EQ(j.at("parameters").get<int64_t>(), meta.at("num_parameters").get<int64_t>()) << name;
    EXPECT_EQ(j.at("architecture"), meta.at("class_name")) << name;
    EXPECT_EQ(j.at("model_type"), meta.at("model_type")) << name;
    EXPECT_EQ(j.at("tensors").size(), meta.at("model_safetensors").at("num_tensors").get<size_t>()) << name;
    EXPECT_TRUE(j.at("unused_tensors").empty()) << name;
  }
}

TEST(CliInspect, TableShowsHeadDtypesAndTensors) {
  const auto scratch = testing::temp_dir();
  const auto r = run_octet({"inspect", sst2_model().string()}, scratch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The model card: 11,072,770 parameters, labels negative / positive.
  EXPECT_NE(r.out.find("11072770"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sequence-classification"), std::string::npos);
  EXPECT_NE(r.out.find("negative, positive"), std::string::npos);
  EXPECT_NE(r.out.find("f32"), std::string::npos);
  EXPECT_NE(r.out.find("--tensors"), std::string::npos);  // the table is cut short
  const auto all = run_octet({"inspect", "--tensors", sst2_model().string()}, scratch);
  EXPECT_NE(all.out.find("bert.encoder.layer.2.attention.self.key.weight"), std::string::npos);
  EXPECT_EQ(all.out.find("more (--tensors"), std::string::npos);
}

// run --inputs on each fixture's reference inputs writes outputs that match
// HF's within the fixture test's budget (1e-4; see tests/models/encoder_fixtures_test.cc).
TEST(CliRun, SavedOutputsMatchReferences) {
  const auto scratch = testing::temp_dir();
  for (const char* name : kFixtures) {
    const fs::path dir = testing::shared_path(std::string("fixtures/hf/") + name);
    const fs::path out = scratch / fmt::format("{}.safetensors", name);
    const auto r = run_octet({"run", dir.string(), "--inputs", (dir / "reference.safetensors").string(),
                              "--save-outputs", out.string()},
                             scratch);
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    const auto saved = SafetensorsFile::open(out);
    const auto ref = SafetensorsFile::open(dir / "reference.safetensors");
    const Tensor mask = ref.get("attention_mask");
    for (const std::string output : {"logits", "last_hidden_state", "pooler_output"}) {
      if (!ref.contains(output)) continue;
      ASSERT_TRUE(saved.contains(output)) << name << " " << output;
      const Tensor a = saved.get(output), b = ref.get(output);
      ASSERT_EQ(a.shape(), b.shape());
      const int64_t width = output == "last_hidden_state" ? a.dim(2) : a.numel();
      double worst = 0;
      for (int64_t i = 0; i < a.numel(); ++i) {
        if (output == "last_hidden_state" && mask.data<int64_t>()[i / width] == 0) continue;
        worst = std::max(worst, double(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
      }
      EXPECT_LE(worst, 1e-4) << name << " " << output;
    }
  }
}

TEST(CliRun, ErrorsLeaveNoOutputFile) {
  const auto scratch = testing::temp_dir();
  const fs::path dir = testing::shared_path("fixtures/hf/bert");
  const fs::path out = scratch / "out.safetensors";
  // Inputs file without input_ids.
  save_safetensors(scratch / "bad.safetensors", {{"ids", Tensor::zeros({1, 3}, DType::I64)}});
  auto run_on = [&](const fs::path& model, const fs::path& inputs) {
    return run_octet({"run", model.string(), "--inputs", inputs.string(), "--save-outputs", out.string()}, scratch);
  };
  expect_one_line_error(run_on(dir, scratch / "bad.safetensors"), "input_ids");
  // Token ids out of the vocabulary: the forward fails after loading.
  save_safetensors(scratch / "oov.safetensors", {{"input_ids", Tensor::full({1, 3}, 0.0f)}});
  expect_one_line_error(run_on(dir, scratch / "oov.safetensors"), "i64");
  save_safetensors(scratch / "big.safetensors", {{"input_ids", Tensor::from_vector<int64_t>({1, 9999}, {1, 2})}});
  expect_one_line_error(run_on(dir, scratch / "big.safetensors"), "9999");
  expect_one_line_error(run_on(scratch, dir / "reference.safetensors"), "config.json");
  EXPECT_FALSE(fs::exists(out));
  for (const auto& entry : fs::directory_iterator(scratch))
    EXPECT_EQ(entry.path().filename().string().find("out.safetensors"), std::string::npos) << entry.path();
  expect_one_line_error(run_octet({"run", dir.string()}, scratch), "--text or --inputs");
  expect_one_line_error(run_octet({"run", sst2_model().string(), "--text", "hi", "--pooling", "max"}, scratch), "max");
}

TEST(CliRun, ClassifiesTextLikeTransformers) {
  const auto scratch = testing::temp_dir();
  std::ifstream in(testing::shared_path("models/sst2-bert-mini/reference_dev.jsonl"));
  std::string line;
  for (int i = 0; i < 3 && std::getline(in, line); ++i) {
    const auto ref = nlohmann::json::parse(line);
    const std::string sentence = ref.at("sentence");
    const auto j = parse_json(run_octet({"run", sst2_model().string(), "--json", "--text", sentence}, scratch));
    EXPECT_EQ(j.at("label_id"), ref.at("pred"));
    EXPECT_EQ(j.at("tokens"), ref.at("input_ids").size());
    for (size_t c = 0; c < 2; ++c)
      EXPECT_NEAR(j.at("logits")[c].get<double>(), ref.at("logits")[c].get<double>(), 1e-4) << sentence;
  }
}

// A base model's sentence embedding is the masked mean (or first row) of last_hidden_state.
TEST(CliRun, EmbeddingIsThePooledHiddenState) {
  const auto scratch = testing::temp_dir();
  const std::string text = "a gorgeous , witty , seductive movie .";
  LoadOptions base;
  base.head = ModelHead::Base;
  const auto model = load_model(sst2_model(), base);
  const auto tok = Tokenizer::load(sst2_model());
  const ModelInputs inputs = encode_inputs(*model, tok, text);
  const Tensor hidden = model->forward(inputs).at("last_hidden_state");
  for (const std::string pooling : {"mean", "cls"}) {
    const auto j = parse_json(run_octet(
        {"run", sst2_model().string(), "--head", "base", "--json", "--pooling", pooling, "--text", text}, scratch));
    const Tensor expected = pool_embeddings(hidden, inputs.attention_mask, parse_pooling(pooling));
    ASSERT_EQ(j.at("dim").get<int64_t>(), 256);
    double norm = 0;
    for (int64_t c = 0; c < 256; ++c) {
      // Same process of computation on both sides: identical floats.
      EXPECT_EQ(j.at("embedding")[size_t(c)].get<float>(), expected.data<float>()[c]) << pooling << " " << c;
      norm += double(expected.data<float>()[c]) * expected.data<float>()[c];
    }
    EXPECT_NEAR(j.at("l2_norm").get<double>(), std::sqrt(norm), 1e-9 * std::sqrt(norm));
  }
}

// The dev accuracy of the model card ("Dev accuracy 81.42% (710/872)"), read from the card.
TEST(CliEval, Sst2DevAccuracyIsTheModelCards) {
  std::ifstream card_file(sst2_model() / "README.md");
  const std::string card((std::istreambuf_iterator<char>(card_file)), std::istreambuf_iterator<char>());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(card, m, std::regex(R"(Dev accuracy ([0-9.]+)% \(([0-9]+)/([0-9]+)\))")));
  const std::string percent = m[1];
  const int64_t correct = std::stoll(m[2]), total = std::stoll(m[3]);

  const auto scratch = testing::temp_dir();
  const fs::path data = testing::source_root() / "data/sst2/dev.tsv";
  const auto j = parse_json(
      run_octet({"eval", sst2_model().string(), "--task", "glue", "--data", data.string(), "--json"}, scratch));
  EXPECT_EQ(j.at("examples").get<int64_t>(), total);
  EXPECT_EQ(j.at("correct").get<int64_t>(), correct);
  EXPECT_EQ(fmt::format("{:.2f}", 100.0 * j.at("accuracy").get<double>()), percent);
  RecordProperty("eval_seconds", std::to_string(j.at("seconds").get<double>()));

  const auto text = run_octet({"eval", sst2_model().string(), "--task", "glue", "--data", data.string()}, scratch);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(percent + "%"), std::string::npos) << text.out;
}

TEST(CliEval, OptionsAndErrors) {
  const auto scratch = testing::temp_dir();
  const fs::path data = testing::source_root() / "data/sst2/dev.tsv";
  const auto j = parse_json(run_octet({"eval", sst2_model().string(), "--data", data.string(), "--limit", "40",
                                       "--batch-size", "7", "--text-column", "0", "--label-column", "label", "--json"},
                                      scratch));
  EXPECT_EQ(j.at("examples").get<int64_t>(), 40);
  int64_t support = 0;
  for (const auto& c : j.at("per_class")) support += c.at("support").get<int64_t>();
  EXPECT_EQ(support, 40);
  const std::string model = sst2_model().string(), tsv = data.string();
  expect_one_line_error(run_octet({"eval", model, "--task", "squad", "--data", tsv}, scratch), "squad");
  expect_one_line_error(run_octet({"eval", model, "--data", tsv, "--text-column", "text"}, scratch), "'text'");
  expect_one_line_error(
      run_octet({"eval", testing::shared_path("fixtures/hf/bert_base_model").string(), "--data", tsv}, scratch),
      "tokenizer");
}

// --precision on the CPU: bf16 (where the CPU has AVX-512 BF16) runs and says
// so; the CUDA-only precisions name what the CPU takes.
TEST(CliEval, CpuPrecisions) {
  const auto scratch = testing::temp_dir();
  const std::string model = sst2_model().string(), tsv = (testing::source_root() / "data/sst2/dev.tsv").string();
  expect_one_line_error(run_octet({"eval", model, "--data", tsv, "--precision", "int8"}, scratch), "fp32 or bf16");
  expect_one_line_error(run_octet({"run", model, "--text", "a fine film", "--precision", "fp16"}, scratch),
                        "fp32 or bf16");
  const auto bf16 = run_octet({"eval", model, "--data", tsv, "--limit", "64", "--precision", "bf16", "--json"}, scratch);
  if (!bf16_gemm_supported()) {
    expect_one_line_error(bf16, "AVX-512 BF16");
    return;
  }
  const auto j = parse_json(bf16);
  EXPECT_EQ(j.at("precision"), "bf16");
  EXPECT_EQ(j.at("examples").get<int64_t>(), 64);
  const auto fp32 = parse_json(run_octet({"eval", model, "--data", tsv, "--limit", "64", "--json"}, scratch));
  EXPECT_EQ(fp32.at("precision"), "as loaded");
  // Measured: bf16 changes none of these 64 predictions (the full-set budget is
  // checked in tests/runtime/bf16_precision_test.cc).
  EXPECT_EQ(j.at("correct"), fp32.at("correct"));
}

}  // namespace
}  // namespace octet
