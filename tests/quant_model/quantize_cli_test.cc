// `octet quantize` end to end through the real binary, `octet eval` / `octet
// run` on its output (both executions), and the bad-input errors and warnings.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

struct Cli {
  int exit_code = -1;
  std::string out, err;
};

Cli run_octet(const std::string& args) {
  // Not under testing::temp_dir(): that call empties the test's folder.
  const auto err_path = testing::process_temp_root() / "quantize-cli.err";
  std::filesystem::create_directories(err_path.parent_path());
  const std::string command = fmt::format("env -u OCTET_LOG_LEVEL '{}' {} 2>'{}'", OCTET_CLI_PATH, args, err_path.string());
  Cli r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ostringstream err;
  err << std::ifstream(err_path).rdbuf();
  r.err = err.str();
  return r;
}

std::string q(const std::filesystem::path& p) { return fmt::format("'{}'", p.string()); }

TEST(QuantizeCli, QuantizeThenEvalAndRunBothExecutions) {
  const auto dir = testing::temp_dir();
  const auto out = dir / "sst2-int8";
  const Cli quant = run_octet("quantize " + q(testing::sst2_model()) + " -o " + q(out) + " --calib " +
                              q(testing::sst2_train()) + " --samples 32 --calibrator entropy --json");
  ASSERT_EQ(quant.exit_code, 0) << quant.err;
  const auto j = nlohmann::json::parse(quant.out);
  EXPECT_EQ(j.at("recipe"), "int8");
  EXPECT_EQ(j.at("calibrator"), "entropy");
  EXPECT_EQ(j.at("calibration_sequences"), 32);
  EXPECT_EQ(j.at("quantized_linears"), 26);  // 4 layers x 6, pooler, classifier
  EXPECT_TRUE(std::filesystem::exists(out / "tokenizer.json"));
  EXPECT_TRUE(std::filesystem::exists(out / "vocab.txt"));

  double acc[2] = {0, 0};
  int i = 0;
  for (const char* exec : {"native", "simulated"}) {
    const Cli eval = run_octet("eval " + q(out) + " --data " + q(testing::sst2_dev()) +
                               " --limit 100 --json --exec " + exec);
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    acc[i++] = nlohmann::json::parse(eval.out).at("accuracy").get<double>();
  }
  EXPECT_GT(acc[0], 0.7);
  EXPECT_NEAR(acc[0], acc[1], 0.03);  // at most 3 of 100 predictions differ between executions
  const Cli run = run_octet("run " + q(out) + " --text 'a moving and wonderful film' --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(nlohmann::json::parse(run.out).at("label"), "positive");
  const Cli bad_exec = run_octet("run " + q(out) + " --text 'x' --exec fast");
  EXPECT_NE(bad_exec.exit_code, 0);
  EXPECT_NE(bad_exec.err.find("unknown execution 'fast'"), std::string::npos) << bad_exec.err;

  // The table form prints every layer and the summary.
  const Cli dyn = run_octet("quantize " + q(testing::sst2_model()) + " -o " + q(dir / "dyn") +
                            " --recipe int8-dynamic");
  ASSERT_EQ(dyn.exit_code, 0) << dyn.err;
  EXPECT_NE(dyn.out.find("bert.encoder.layer.3.output.dense"), std::string::npos) << dyn.out;
  EXPECT_NE(dyn.out.find("int8-dynamic"), std::string::npos) << dyn.out;
}

TEST(QuantizeCli, BadInputsAreOneLineErrorsOrWarnings) {
  const auto dir = testing::temp_dir();
  const std::string model = q(testing::sst2_model());
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    const Cli r = run_octet("quantize " + model + " -o " + q(dir / "out") + " " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out")) << args;
  };
  expect_error("--calib /nonexistent.tsv", "does not exist");
  std::ofstream(dir / "empty.tsv").close();
  expect_error("--calib " + q(dir / "empty.tsv"), "is empty");
  std::ofstream(dir / "nocol.tsv") << "text\tlabel\nfine\t1\n";
  expect_error("--calib " + q(dir / "nocol.tsv"), "no column 'sentence'");
  expect_error("", "give --calib FILE.tsv");
  expect_error("--calib " + q(testing::sst2_train()) + " --calibrator kl", "unknown calibrator 'kl'");
  expect_error("--recipe int4", "unknown recipe 'int4'");
  expect_error("--recipe int8-dynamic --affine", "--affine");

  // Warnings: fewer rows than --samples, and an --exclude pattern matching nothing; the output is written.
  std::ofstream(dir / "few.tsv") << "sentence\tlabel\na fine film\t1\na dull film\t0\n";
  const Cli warn = run_octet("quantize " + model + " -o " + q(dir / "few") + " --calib " + q(dir / "few.tsv") +
                             " --samples 10 --exclude '*.nothing,classifier'");
  ASSERT_EQ(warn.exit_code, 0) << warn.err;
  EXPECT_NE(warn.err.find("has 2 rows, fewer than the 10 samples asked"), std::string::npos) << warn.err;
  EXPECT_NE(warn.err.find("'*.nothing' matches no Linear"), std::string::npos) << warn.err;
  const QuantizationConfig c = read_quantization_config(dir / "few");
  ASSERT_EQ(c.excluded.size(), 1u);
  EXPECT_EQ(c.excluded[0].name, "classifier");

  // An existing output needs --force.
  const Cli exists = run_octet("quantize " + model + " -o " + q(dir / "few") + " --recipe int8-dynamic");
  EXPECT_NE(exists.exit_code, 0);
  EXPECT_NE(exists.err.find("already exists"), std::string::npos) << exists.err;
  EXPECT_EQ(run_octet("quantize " + model + " -o " + q(dir / "few") + " --recipe int8-dynamic --force").exit_code, 0);
  EXPECT_EQ(read_quantization_config(dir / "few").recipe, "int8-dynamic");
}

}  // namespace
}  // namespace octet
