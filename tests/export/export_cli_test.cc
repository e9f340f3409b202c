// `octet export-onnx` end to end: the files it writes and its errors.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "export/export_test_util.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

std::string octet_cli() { return quote(OCTET_CLI_PATH); }

TEST(ExportCli, WritesFp32AndInt8Graphs) {
  const auto fixture = shared_path("fixtures/hf/bert");
  const auto out = temp_dir() / "bert.onnx";
  auto r = run_shell(octet_cli() + " export-onnx " + quote(fixture.string()) + " -o " + quote(out.string()) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["qdq_nodes"], 0);
  EXPECT_EQ(j["outputs"], nlohmann::json::array({"logits"}));
  EXPECT_EQ(check_onnx(out)["inputs"][0][2], nlohmann::json::array({"batch", "seq"}));

  // --int8 with calibration texts from train.tsv (a vocabulary of 512 maps most words to [UNK]; fine for the mapping).
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  const auto q = out.parent_path() / "sst2-int8.onnx";
  r = run_shell(octet_cli() + " export-onnx " + quote(model_dir.string()) + " -o " + quote(q.string()) +
                " --int8 --calib " + quote((source_root() / "data/sst2/train.tsv").string()) +
                " --samples 16 --exclude classifier --batch 2 --seq 16 --opset 13 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto jq = nlohmann::json::parse(r.output);
  EXPECT_EQ(jq["quantized_linears"], 25);
  EXPECT_EQ(jq["qdq_nodes"], 25 * 3);  // Q + DQ on the input, DQ on the weight
  const auto summary = check_onnx(q);
  EXPECT_EQ(summary["opset"], 13);
  EXPECT_EQ(summary["inputs"][0][2], nlohmann::json::array({2, 16}));
}

// An existing output is replaced only with --force, and checked before the model loads.
TEST(ExportCli, ReplacesAnExistingFileOnlyWithForce) {
  const auto fixture = shared_path("fixtures/hf/bert");
  const auto out = temp_dir() / "m.onnx";
  std::ofstream(out) << "an older file";
  const std::string base = octet_cli() + " export-onnx " + quote(fixture.string()) + " -o " + quote(out.string());
  auto r = run_shell(base);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("already exists (pass --force to replace it)"), std::string::npos) << r.output;
  std::ifstream kept(out);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "an older file");
  r = run_shell(base + " --force --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["qdq_nodes"], 0);
  EXPECT_EQ(check_onnx(out)["outputs"].size(), 1u);
}

TEST(ExportCli, ErrorsAreOneLine) {
  const auto fixture = shared_path("fixtures/hf/bert");
  const auto out = temp_dir() / "x.onnx";
  const std::string base = octet_cli() + " export-onnx " + quote(fixture.string()) + " -o " + quote(out.string());
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {" --int8", "--calib"},
           {" --dynamic-axes --batch 2", "contradict"},
           {" --opset 11", "opset 11"},
           {" --int8 --calib /no/such.tsv", "no/such.tsv"},
       }) {
    const auto r = run_shell(base + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find("octet: error:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << ": " << r.output;
  }
  const auto deberta = run_shell(octet_cli() + " export-onnx " + quote(shared_path("fixtures/hf/deberta_v2").string()) +
                                 " -o " + quote(out.string()));
  EXPECT_NE(deberta.exit_code, 0);
  EXPECT_NE(deberta.output.find("not supported for ONNX export yet"), std::string::npos) << deberta.output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace octet::testing
