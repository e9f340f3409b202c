// Bad input to the decoders: clear errors naming the file and the problem.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "octet/generate.h"
#include "support/shared_data.h"

namespace octet {
namespace {

// A copy of a fixture folder whose config.json has `patch` merged in (weights linked).
std::filesystem::path patched_fixture(const std::string& name, const nlohmann::json& patch) {
  const auto src = testing::shared_path("fixtures/hf/" + name);
  const auto dir = testing::temp_dir() / name;
  std::filesystem::create_directories(dir);
  auto config = nlohmann::json::parse(std::ifstream(src / "config.json"));
  config.merge_patch(patch);
  std::ofstream(dir / "config.json") << config.dump(2);
  std::filesystem::create_symlink(src / "model.safetensors", dir / "model.safetensors");
  return dir;
}

std::string load_error(const std::filesystem::path& dir) {
  try {
    load_model(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(DecoderErrors, InconsistentHeadCounts) {
  std::string msg = load_error(patched_fixture("llama", {{"num_key_value_heads", 3}}));
  EXPECT_NE(msg.find("4 attention heads cannot be shared by 3 key/value heads"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  msg = load_error(patched_fixture("gpt2", {{"n_head", 5}}));
  EXPECT_NE(msg.find("hidden size 64 is not a multiple of 5 attention heads"), std::string::npos) << msg;
}

// Sizes from config.json are bounded before any builder runs. A head_dim of 2^40 (found by
// fuzz_config_build, tests/fuzz/regressions/config_build/llama_heads_overflow) used to reach
// the rotary table's allocation and throw std::bad_alloc.
TEST(DecoderErrors, HostileSizesAreRejectedBeforeBuilding) {
  const int64_t huge = int64_t{1} << 40;
  std::string msg = load_error(patched_fixture(
      "llama", {{"num_attention_heads", huge}, {"num_key_value_heads", huge}, {"head_dim", huge}}));
  EXPECT_NE(msg.find("'head_dim' = 1099511627776 is larger than octet accepts (16777216)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  msg = load_error(patched_fixture("gpt2", {{"num_labels", huge}}));
  EXPECT_NE(msg.find("'num_labels' = 1099511627776 is larger than octet accepts (1048576)"), std::string::npos)
      << msg;
}

TEST(DecoderErrors, ShapeMismatchNamesTensorAndFile) {
  // A config that disagrees with the weights: intermediate_size 256 vs 128 stored.
  const std::string msg = load_error(patched_fixture("llama", {{"intermediate_size", 256}}));
  EXPECT_NE(msg.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
}

TEST(DecoderErrors, UnsupportedVariantsSaySo) {
  std::string msg = load_error(patched_fixture("falcon", {{"alibi", true}}));
  EXPECT_NE(msg.find("alibi"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
  msg = load_error(patched_fixture("llama", {{"rope_scaling", {{"type", "yarn"}, {"factor", 4.0}}}}));
  EXPECT_NE(msg.find("'yarn' is not supported"), std::string::npos) << msg;
}

TEST(DecoderErrors, PromptLongerThanContext) {
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/gpt2"));  // n_positions 128
  GenerationOptions opt;
  opt.max_new_tokens = 4;
  try {
    generate(*model, {std::vector<int64_t>(129, 5)}, opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "generate");
    EXPECT_NE(std::string(e.what()).find("129 tokens, more than the model's context of 128"), std::string::npos)
        << e.what();
  }
  // At the context limit generation stops early instead of running past it.
  const GenerationResult r = generate(*model, {std::vector<int64_t>(126, 5)}, opt);
  EXPECT_EQ(r.new_tokens[0].size(), 3u);
  EXPECT_EQ(r.finish_reasons[0], FinishReason::Context);
  // Token ids outside the vocabulary.
  EXPECT_THROW(generate(*model, {{5, 512}}, opt), Error);
  EXPECT_THROW(generate(*model, {{}}, opt), Error);
}

}  // namespace
}  // namespace octet
