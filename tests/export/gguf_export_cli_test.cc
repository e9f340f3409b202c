// `octet export-gguf` through the real binary: a good export (JSON report,
// the file runs with `octet generate`), and bad input refused in one line
// with nothing written.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

namespace fs = std::filesystem;

void expect_refused(const std::string& args, const std::string& needle, const fs::path& out, const fs::path& dir) {
  const CommandResult r = run_octet(args, dir);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
  EXPECT_NE(r.errors.find(needle), std::string::npos) << args << "\nstderr: " << r.errors;
  EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << r.errors;
  EXPECT_FALSE(fs::exists(out)) << args;
}

TEST(ExportGgufCli, ExportThenGenerate) {
  const fs::path dir = temp_dir(), out = dir / "kjv.gguf";
  const std::string kjv = shared_path("models/kjv-llama").string();
  const CommandResult e = run_octet("export-gguf " + kjv + " -o " + out.string() + " --type q8_0 --json", dir);
  ASSERT_EQ(e.exit_code, 0) << e.errors;
  const auto j = nlohmann::json::parse(e.output);
  EXPECT_EQ(j.at("type"), "q8_0");
  EXPECT_EQ(j.at("source"), "hf");
  EXPECT_EQ(j.at("tensors"), 57);
  EXPECT_EQ(j.at("bytes").get<uint64_t>(), fs::file_size(out));
  // The same greedy tokens as the folder (q8_0 weights: the first few at least).
  const std::string gen = " --prompt-ids 1,512,278 --max-new-tokens 4 --json";
  const CommandResult a = run_octet("generate " + out.string() + gen, dir);
  const CommandResult b = run_octet("generate " + kjv + gen, dir);
  ASSERT_EQ(a.exit_code, 0) << a.errors;
  ASSERT_EQ(b.exit_code, 0) << b.errors;
  EXPECT_FALSE(nlohmann::json::parse(a.output).empty());
  // An existing output is kept unless --force.
  expect_refused("export-gguf " + kjv + " -o " + out.string(), "--force", dir / "none", dir);
  EXPECT_EQ(run_octet("export-gguf " + kjv + " -o " + out.string() + " --type f16 --force", dir).exit_code, 0);
}

TEST(ExportGgufCli, BadInputIsOneLine) {
  const fs::path dir = temp_dir(), out = dir / "x.gguf";
  const std::string kjv = shared_path("models/kjv-llama").string();
  expect_refused("export-gguf " + kjv + " -o " + out.string() + " --type q5_k", "'q5_k'", out, dir);
  expect_refused("export-gguf " + shared_path("fixtures/hf/bert").string() + " -o " + out.string(),
                 "architecture 'bert'", out, dir);
  expect_refused("export-gguf " + shared_path("fixtures/hf/gpt2").string() + " -o " + out.string(),
                 "architecture 'gpt2'", out, dir);
  expect_refused("export-gguf " + shared_path("fixtures/hf/qwen2").string() + " -o " + out.string(),
                 "architecture 'qwen2'", out, dir);
  expect_refused("export-gguf /no/such/model -o " + out.string(), "/no/such/model", out, dir);
  expect_refused("export-gguf " + (shared_path("models/kjv-llama") / "kjv.valid.txt").string() + " -o " +
                     out.string(),
                 "neither a GGUF file nor a model folder", out, dir);
}

}  // namespace
}  // namespace octet::testing
