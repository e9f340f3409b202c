// The decoder commands end to end through the built `octet` binary.
#include <gtest/gtest.h>

#include <array>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "octet/gemm_bf16.h"
#include "octet/model.h"
#include "support/shared_data.h"

namespace octet {
namespace {

struct CliRun {
  int status = -1;
  std::string out, err;
};

CliRun run_octet(const std::string& args) {
  // Not testing::temp_dir(): that empties the test's folder, which holds its inputs.
  static int calls = 0;
  const std::string err_file =
      (std::filesystem::temp_directory_path() / fmt::format("octet-cli-{}-{}.stderr", getpid(), ++calls)).string();
  const std::string cmd = std::string(OCTET_CLI_PATH) + " " + args + " 2>" + err_file;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  r.status = WEXITSTATUS(pclose(p));
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  std::filesystem::remove(err_file);
  return r;
}

std::string stories() { return (testing::source_root() / "models" / "stories260K.gguf").string(); }

TEST(CliGenerate, StreamsTheStoryAndReportsSpeed) {
  const CliRun r = run_octet("generate " + stories() + " --prompt 'Once upon a time' --max-new-tokens 30");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("Once upon a time, there was a little girl named Lily.")) << r.out;
  EXPECT_NE(r.err.find("prefill:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
}

TEST(CliGenerate, JsonWithPromptIdsStopAndSampling) {
  CliRun r = run_octet("generate " + stories() + " --prompt-ids 1 --max-new-tokens 40 --stop Lily --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& s = j["sequences"][0];
  EXPECT_EQ(s["prompt_ids"], nlohmann::json::array({1}));
  EXPECT_EQ(s["finish_reason"], "stop");
  EXPECT_TRUE(s["text"].get<std::string>().ends_with("Lily")) << s["text"];
  // Same seed, same sample; sampling options accepted.
  const std::string sample = "generate " + stories() + " --prompt-ids 1 --max-new-tokens 20 --temperature 0.9 --top-k 20 --top-p 0.95 --repetition-penalty 1.1 --seed 7 --json";
  const CliRun a = run_octet(sample), b = run_octet(sample);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["sequences"], nlohmann::json::parse(b.out)["sequences"]);
}

TEST(CliGenerate, ErrorsAreOneLine) {
  std::string ids = "1";
  for (int i = 0; i < 2048; ++i) ids += ",5";  // 2049 tokens: the context is 2048
  const CliRun r = run_octet("generate " + stories() + " --prompt-ids " + ids + " --max-new-tokens 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("more than the model's context of 2048"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CliPerplexity, RunsOnWikitextSliceAndCompares) {
  const std::string data = testing::shared_path("data/wikitext-2/wiki.test.raw").string();
  CliRun r = run_octet("perplexity " + stories() + " --data " + data + " --ctx 64 --stride 32 --limit-tokens 400 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scored_tokens"], 399);  // overlapping windows score every token but the first
  const double wiki = j["perplexity"];
  EXPECT_GT(wiki, 1.0);
  EXPECT_LT(wiki, 512.0);  // better than uniform over the 512-token vocabulary
  // On text like its training data (TinyStories) the model is far less perplexed.
  const auto story = testing::temp_dir() / "story.txt";
  std::ofstream(story) << "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                          "One day, she saw a big, red ball. She wanted to play with it.";
  r = run_octet("perplexity " + stories() + " --data " + story.string() + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out)["perplexity"].get<double>(), wiki / 4);
  r = run_octet("perplexity " + stories() + " --data " + data + " --ctx 64 --limit-tokens 200 --compare " + stories() +
                " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mean_kl"], 0.0);
  EXPECT_EQ(j["top1_agreement"], 1.0);
}

// --precision on the CPU applies to MODEL: bf16 against the same model in fp32.
TEST(CliPerplexity, CpuPrecisionBf16ComparesWithFp32) {
  const std::string data = testing::shared_path("data/wikitext-2/wiki.test.raw").string();
  CliRun r = run_octet("perplexity " + stories() + " --data " + data + " --precision w4a16");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("fp32 (as loaded) or bf16"), std::string::npos) << r.err;
  r = run_octet("perplexity " + stories() + " --data " + data + " --ctx 64 --limit-tokens 300 --precision bf16 --compare " +
                stories() + " --json");
  if (!bf16_gemm_supported()) {
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("AVX-512 BF16"), std::string::npos) << r.err;
    return;
  }
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // bf16 moves the logits, a little (stories260K, 300 tokens: measured KL 1.8e-4,
  // top-1 agreement 99.7 %, perplexity 113.85 vs 114.06).
  EXPECT_GT(j["mean_kl"].get<double>(), 0.0);
  EXPECT_LT(j["mean_kl"].get<double>(), 1e-3);
  EXPECT_GE(j["top1_agreement"].get<double>(), 0.97);
  EXPECT_NEAR(j["perplexity"].get<double>(), j["compare_perplexity"].get<double>(),
              0.01 * j["compare_perplexity"].get<double>());
}

TEST(CliSynth, WritesLoadableModelWithSyntheticTokenizer) {
  const auto dir = testing::temp_dir() / "tiny";
  CliRun r = run_octet("synth --arch llama --size tiny -o " + dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("tokenizer.gguf"), std::string::npos) << r.out;
  r = run_octet("generate " + dir.string() + " --prompt-ids 1,2,3 --max-new-tokens 4 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["sequences"][0]["generated_ids"].size(), 4u);
  // Text prompts go through the synthetic vocabulary (tokenizer.gguf).
  r = run_octet("generate " + dir.string() + " --prompt 'in the beginning' --max-new-tokens 4 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["sequences"][0]["generated_ids"].size(), 4u);
  r = run_octet("synth --help");
  EXPECT_NE(r.out.find("synthetic SentencePiece vocabulary"), std::string::npos) << r.out;
}

// An existing output is refused without --force; with it the folder is replaced whole, so no
// file of the old model stays (synth used to write into the folder, leaving a llama
// tokenizer.gguf beside a bert config.json).
TEST(CliSynth, ReplacesAnExistingFolderOnlyWithForceAndWhole) {
  const auto dir = testing::temp_dir() / "model";
  CliRun r = run_octet("synth --arch llama --size tiny -o " + dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(std::filesystem::exists(dir / "tokenizer.gguf"));
  const auto config_before = std::filesystem::last_write_time(dir / "config.json");
  r = run_octet("synth --arch bert --size tiny -o " + dir.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("already exists (pass --force to replace it)"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "tokenizer.gguf"));
  EXPECT_EQ(std::filesystem::last_write_time(dir / "config.json"), config_before);
  r = run_octet("synth --arch bert --size tiny -o " + dir.string() + " --force");
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.parent_path())) files.insert(e.path().filename());
  EXPECT_EQ(files, std::set<std::string>{"model"}) << "a temporary or backup folder was left beside the output";
  files.clear();
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.insert(e.path().filename());
  EXPECT_EQ(files, (std::set<std::string>{"config.json", "model.safetensors"}));
  EXPECT_EQ(load_model(dir)->info().architecture, "BertForSequenceClassification");
}

}  // namespace
}  // namespace octet
