// `octet eval MODEL --task last-word`: the JSON fields agree with the library
// run in-process, a .gguf model works with its own tokenizer, and a data
// file without a usable line is a one-line error.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_models/cli_models_util.h"
#include "octet/eval.h"
#include "octet/generate.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using testing::kjv_llama_dir;

namespace fs = std::filesystem;
using testing::run_octet;

LastWordResult in_process(const fs::path& model_path, const fs::path& data, int64_t limit) {
  const auto model = load_causal_lm(model_path);
  use_decode_kernels(*model);
  LastWordOptions opt;
  opt.limit = limit;
  opt.progress = false;
  return evaluate_last_word(*model, load_model_tokenizer(model_path), load_last_word_examples(data), opt);
}

TEST(CliEvalLastWord, JsonFieldsMatchTheLibrary) {
  const auto scratch = testing::temp_dir();
  const fs::path data = kjv_llama_dir() / "kjv.valid.txt";
  const auto r = run_octet({"eval", kjv_llama_dir().string(), "--task", "last-word", "--data", data.string(), "--limit",
                            "40", "--batch-size", "8", "--json"},
                           scratch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const LastWordResult want = in_process(kjv_llama_dir(), data, 40);
  EXPECT_EQ(j.at("task"), "last-word");
  EXPECT_EQ(j.at("model"), kjv_llama_dir().string());
  EXPECT_EQ(j.at("data"), data.string());
  EXPECT_EQ(j.at("examples").get<int64_t>(), want.examples);
  EXPECT_EQ(j.at("correct").get<int64_t>(), want.correct);
  EXPECT_EQ(j.at("skipped").get<int64_t>(), want.skipped);
  EXPECT_EQ(j.at("examples").get<int64_t>() + j.at("skipped").get<int64_t>(), 40);
  EXPECT_DOUBLE_EQ(j.at("accuracy").get<double>(), want.accuracy);
  EXPECT_GT(j.at("seconds").get<double>(), 0.0);
  EXPECT_GT(j.at("examples_per_second").get<double>(), 0.0);
  EXPECT_EQ(j.at("batch_size").get<int64_t>(), 8);

  const auto table = run_octet(
      {"eval", kjv_llama_dir().string(), "--task", "last-word", "--data", data.string(), "--limit", "40"}, scratch);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(fmt::format("{:.2f}%", 100.0 * want.accuracy)), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("skipped"), std::string::npos) << table.out;
}

TEST(CliEvalLastWord, GgufModelUsesItsOwnTokenizer) {
  const auto scratch = testing::temp_dir();
  const fs::path data = scratch / "story.txt";
  std::ofstream(data) << "Once upon a time, there was a little girl named Lily.\n"
                         "She loved to play outside in the park.\n"
                         "One day, she saw a big tree.\n";
  const fs::path gguf = testing::shared_path("models/stories260K/stories260K.gguf");
  const auto r = run_octet({"eval", gguf.string(), "--task", "last-word", "--data", data.string(), "--json"}, scratch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const LastWordResult want = in_process(gguf, data, 3);
  EXPECT_EQ(j.at("examples").get<int64_t>() + j.at("skipped").get<int64_t>(), 3);
  EXPECT_EQ(j.at("correct").get<int64_t>(), want.correct);
  EXPECT_EQ(j.at("skipped").get<int64_t>(), want.skipped);
}

TEST(CliEvalLastWord, DataWithoutUsableLineIsOneLineError) {
  const auto scratch = testing::temp_dir();
  const fs::path data = scratch / "headings.txt";
  std::ofstream(data) << "Genesis 11\n\nExodus 3\n";
  const auto r = run_octet({"eval", kjv_llama_dir().string(), "--task", "last-word", "--data", data.string()}, scratch);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("headings.txt: no usable line"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace octet
