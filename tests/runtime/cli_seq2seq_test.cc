// `octet generate` and `octet run` on the encoder-decoder fixtures (T5, BART),
// end to end through the built binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "octet/safetensors.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet {
namespace {

std::string fixture(const std::string& name) { return testing::shared_path("fixtures/hf/" + name).string(); }

using testing::CommandResult;

TEST(CliSeq2Seq, GenerateReproducesTransformersGreedyIds) {
  const auto dir = testing::temp_dir();
  // reference.safetensors: prompt_ids [235, 409, 409, 21, 322] -> generated_ids [0, 326, ...].
  const CommandResult r = testing::run_octet(
      "generate " + fixture("t5_gated") + " --prompt-ids 235,409,409,21,322 --max-new-tokens 10 --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["sequences"][0]["generated_ids"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{326, 98, 105, 302, 351, 351, 429, 135, 24, 251}));
  // BART stops at eos (2) at once, as transformers does.
  const CommandResult b = testing::run_octet(
      "generate " + fixture("bart") + " --prompt-ids 225,184,438,402,395 --max-new-tokens 10 --json", dir);
  ASSERT_EQ(b.exit_code, 0) << b.errors;
  const auto jb = nlohmann::json::parse(b.output);
  EXPECT_EQ(jb["sequences"][0]["generated_ids"].get<std::vector<int64_t>>(), (std::vector<int64_t>{2}));
  EXPECT_EQ(jb["sequences"][0]["finish_reason"], "eos");
}

TEST(CliSeq2Seq, RunWritesLogitsAndEncoderStates) {
  const auto dir = testing::temp_dir();
  const auto out = dir / "out.safetensors";
  const CommandResult r = testing::run_octet(
      "run " + fixture("t5") + " --inputs " + fixture("t5") + "/reference.safetensors --save-outputs " + out.string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  const SafetensorsFile f = SafetensorsFile::open(out);
  ASSERT_TRUE(f.contains("logits") && f.contains("encoder_last_hidden_state"));
  EXPECT_EQ(f.get("logits").shape(), (Shape{2, 6, 512}));  // decoder_input_ids [2, 6] were read
  EXPECT_EQ(f.get("encoder_last_hidden_state").shape(), (Shape{2, 9, 64}));
}

}  // namespace
}  // namespace octet
