// Saved models run in ONNX Runtime (onnxruntime-node through
// bench/peers/ort_run.js, 1 thread, all graph optimizations on) must give the
// outputs computed in test_models.cc: exactly for QDQ and Gather, within the
// derived bounds for float math. Needs node and onnxruntime-node (scripts/setup.sh).
#include <gtest/gtest.h>

#include "onnx/onnx_test_support.h"
#include "onnx/test_models.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

void run_model(OnnxTestModel m) {
  const auto path = temp_dir() / (m.name + ".onnx");
  save_onnx(path, m.graph, m.options);
  expect_outputs_match(run_in_onnxruntime(path, m.inputs), m);
}

TEST(OnnxRuntime, MlpGelu) { run_model(make_mlp_gelu_model()); }
TEST(OnnxRuntime, LayerNormSoftmax) { run_model(make_layernorm_softmax_model()); }
TEST(OnnxRuntime, Gather) { run_model(make_gather_model()); }
TEST(OnnxRuntime, QdqExactRoundHalfEvenAndSaturate) { run_model(make_qdq_exact_model()); }
TEST(OnnxRuntime, QdqLinearThreeWeightForms) { run_model(make_qdq_linear_model()); }
// fp8 and int4 need opsets newer than the installed onnx checker knows: ORT is their only check.
TEST(OnnxRuntime, Fp8E4M3QdqAtOpset19) { run_model(make_fp8_qdq_model()); }
TEST(OnnxRuntime, Int4WeightDequantizeAtOpset21) { run_model(make_int4_weight_model()); }

TEST(OnnxRuntime, ForcedExternalData) {
  OnnxTestModel m = make_qdq_linear_model();
  m.options.external_data = OnnxExternalData::Always;
  m.options.external_min_bytes = 64;
  const auto dir = temp_dir();
  const auto result = save_onnx(dir / "external.onnx", m.graph, m.options);
  ASSERT_TRUE(result.data_path);
  // ORT resolves the data file relative to the model, so the pair must load from a new folder.
  const auto moved = dir / "moved";
  std::filesystem::create_directories(moved);
  std::filesystem::rename(dir / "external.onnx", moved / "external.onnx");
  std::filesystem::rename(*result.data_path, moved / "external.onnx.data");
  expect_outputs_match(run_in_onnxruntime(moved / "external.onnx", m.inputs), m);
  // Without the data file the model cannot load: the weights really are outside.
  std::filesystem::remove(moved / "external.onnx.data");
  EXPECT_THROW(run_in_onnxruntime(moved / "external.onnx", m.inputs), std::runtime_error);
}

}  // namespace
}  // namespace octet::testing
