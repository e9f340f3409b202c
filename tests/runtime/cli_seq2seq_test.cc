// `octet generate` and `octet run` on the encoder-decoder fixtures (T5, BART),
// end to end through the built binary.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet {
namespace {

struct CliRun {
  int status = -1;
  std::string out, err;
};

CliRun run_octet(const std::string& args) {
  static int calls = 0;
  const std::string err_file =
      (std::filesystem::temp_directory_path() / fmt::format("octet-s2s-{}-{}.stderr", getpid(), ++calls)).string();
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

std::string fixture(const std::string& name) { return testing::shared_path("fixtures/hf/" + name).string(); }

TEST(CliSeq2Seq, GenerateReproducesTransformersGreedyIds) {
  // reference.safetensors: prompt_ids [235, 409, 409, 21, 322] -> generated_ids [0, 326, ...].
  const CliRun r = run_octet("generate " + fixture("t5_gated") + " --prompt-ids 235,409,409,21,322 --max-new-tokens 10 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["sequences"][0]["generated_ids"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{326, 98, 105, 302, 351, 351, 429, 135, 24, 251}));
  // BART stops at eos (2) at once, as transformers does.
  const CliRun b = run_octet("generate " + fixture("bart") + " --prompt-ids 225,184,438,402,395 --max-new-tokens 10 --json");
  ASSERT_EQ(b.status, 0) << b.err;
  const auto jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(jb["sequences"][0]["generated_ids"].get<std::vector<int64_t>>(), (std::vector<int64_t>{2}));
  EXPECT_EQ(jb["sequences"][0]["finish_reason"], "eos");
}

TEST(CliSeq2Seq, RunWritesLogitsAndEncoderStates) {
  const auto out = testing::temp_dir() / "out.safetensors";
  const CliRun r = run_octet("run " + fixture("t5") + " --inputs " + fixture("t5") + "/reference.safetensors --save-outputs " +
                             out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const SafetensorsFile f = SafetensorsFile::open(out);
  ASSERT_TRUE(f.contains("logits") && f.contains("encoder_last_hidden_state"));
  EXPECT_EQ(f.get("logits").shape(), (Shape{2, 6, 512}));  // decoder_input_ids [2, 6] were read
  EXPECT_EQ(f.get("encoder_last_hidden_state").shape(), (Shape{2, 9, 64}));
}

}  // namespace
}  // namespace octet
