// `octet report` refuses bad input through the real binary: one clear line on
// stderr, a non-zero exit, and no report folder written (or an existing one
// left untouched).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "report/report_test_util.h"

namespace octet::testing {
namespace {

namespace fs = std::filesystem;

struct Paths {
  std::string sst2, dev, train, kjv, valid;
};

Paths paths() {
  return {shared_path("models/sst2-bert-mini").string(), shared_path("data/sst2/dev.tsv").string(),
          shared_path("data/sst2/train.tsv").string(), shared_path("models/kjv-llama").string(),
          shared_path("models/kjv-llama/kjv.valid.txt").string()};
}

void expect_refused(const std::string& args, const std::string& needle, const fs::path& out, const fs::path& dir) {
  const CommandResult r = run_octet("report " + args + " -o " + out.string(), dir);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
  EXPECT_NE(r.errors.find(needle), std::string::npos) << args << "\nstderr: " << r.errors;
  EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << args << "\nstderr: " << r.errors;
  EXPECT_TRUE(r.output.empty()) << r.output;
  EXPECT_FALSE(fs::exists(out)) << args;
}

TEST(ReportCli, BadInputIsOneLineAndWritesNothing) {
  const auto dir = temp_dir(), out = dir / "report";
  const Paths p = paths();
  const std::string glue = p.sst2 + " --task glue --data " + p.dev;
  const std::string ppl = p.kjv + " --task perplexity --data " + p.valid;
  // Recipes: unknown (the valid ones listed), or for the other kind of model.
  expect_refused(glue + " --calib " + p.train + " --recipes int8,int9", "unknown recipe 'int9' (encoders: fp32, int8,", out, dir);
  expect_refused(glue + " --recipes int8,int9", "w4a16-awq", out, dir);  // the LLM names are listed too
  expect_refused(glue + " --recipes w8a8-sq", "recipe 'w8a8-sq' is for decoder LLMs", out, dir);
  expect_refused(ppl + " --recipes int8-entropy", "recipe 'int8-entropy' is for encoders", out, dir);
  // Data: missing, empty, a header only.
  expect_refused(p.sst2 + " --task glue --data " + (dir / "none.tsv").string(), "--data '" + (dir / "none.tsv").string() + "' does not exist", out, dir);
  std::ofstream(dir / "empty.txt").close();
  expect_refused(p.kjv + " --task perplexity --data " + (dir / "empty.txt").string(), "--data '" + (dir / "empty.txt").string() + "' is empty", out, dir);
  std::ofstream(dir / "header.tsv") << "sentence\tlabel\n";
  expect_refused(p.sst2 + " --task glue --recipes int8-dynamic --data " + (dir / "header.tsv").string(), "no examples after the header", out, dir);
  expect_refused(glue + " --recipes int8 --calib " + (dir / "missing.tsv").string(), "--calib '" + (dir / "missing.tsv").string() + "' does not exist", out, dir);
  // Calibration needed and not given.
  expect_refused(glue + " --recipes int8-dynamic,int8-mse", "recipe int8-mse calibrates on data: give --calib", out, dir);
  expect_refused(ppl + " --recipes w8a16,w8a8-sq,kv-int8", "recipes w8a8-sq, kv-int8 calibrate on data: give --calib", out, dir);
  // A task that does not fit the model; an unknown task; options of the other task.
  expect_refused(p.kjv + " --task glue --data " + p.dev, "--task glue needs a sentence classifier", out, dir);
  expect_refused(p.sst2 + " --task perplexity --data " + p.valid, "--task perplexity needs a decoder LLM", out, dir);
  expect_refused(p.sst2 + " --task lambada --data " + p.dev, "unknown task 'lambada'", out, dir);
  expect_refused(glue + " --limit-tokens 100", "--limit-tokens applies to --task perplexity", out, dir);
  expect_refused(ppl + " --calib-samples 8", "--calib-samples applies to --task glue", out, dir);
  expect_refused(glue + " --force --append", "--force and --append exclude each other", out, dir);
  expect_refused(glue + " --recipes int8-dynamic --seq 4096", "--seq 4096 is longer than the model's 128 positions", out, dir);
  expect_refused(glue + " --iters -1", "--iters must be >= 0", out, dir);
}

TEST(ReportCli, ExistingFolderNeedsForceOrAppend) {
  const auto dir = temp_dir(), out = dir / "report";
  const Paths p = paths();
  fs::create_directories(out);
  std::ofstream(out / "index.html") << "keep me";
  const CommandResult r =
      run_octet("report " + p.sst2 + " --task glue --data " + p.dev + " --recipes int8-dynamic -o " + out.string(), dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("already exists (pass --force to replace its report, or --append"), std::string::npos)
      << r.errors;
  EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << r.errors;
  EXPECT_EQ(read_file(out / "index.html"), "keep me");
  // --append onto a report.json that is not a report: refused before anything is measured.
  std::ofstream(out / "report.json") << "[1, 2]";
  const CommandResult a = run_octet(
      "report " + p.sst2 + " --task glue --data " + p.dev + " --recipes int8-dynamic --append -o " + out.string(), dir);
  EXPECT_NE(a.exit_code, 0);
  EXPECT_NE(a.errors.find("is not an octet report"), std::string::npos) << a.errors;
  EXPECT_EQ(read_file(out / "report.json"), "[1, 2]");
}

}  // namespace
}  // namespace octet::testing
