// Small ONNX graphs built with OnnxGraph, each with its inputs and the outputs
// it must produce: values computed here in double (or exactly, for QDQ and
// Gather) with a per-element error bound derived in test_models.cc.
// Used by the checker tests (onnx_python_test.cc) and the ONNX Runtime tests
// (onnx_ort_test.cc).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "octet/onnx.h"

namespace octet::testing {

// An expected output: |got - value| <= bound elementwise (bound 0: exact).
struct ExpectedOutput {
  Shape shape;
  std::vector<double> value;
  std::vector<double> bound;
};

struct OnnxTestModel {
  std::string name;
  OnnxGraph graph;
  OnnxSaveOptions options;
  std::map<std::string, Tensor> inputs;
  std::map<std::string, ExpectedOutput> expected;
};

// MatMul + Add, GELU as Div/Erf/Add/Mul/Mul, MatMul + Add; batch is symbolic.
OnnxTestModel make_mlp_gelu_model();
// LayerNormalization (opset 17) then Softmax, both outputs.
OnnxTestModel make_layernorm_softmax_model();
// Gather rows of an embedding table by int64 ids (a negative id included),
// then Reshape to [tokens, dim] with an add_constant_i64 shape.
OnnxTestModel make_gather_model();
// QuantizeLinear/DequantizeLinear at opset 13: per-tensor uint8 and int8 on
// an input with rounding ties and saturating values, per-channel int8 (axis 0)
// and uint8 (axis 1) on a weight. All outputs exact.
OnnxTestModel make_qdq_exact_model();
// A Linear in three QDQ forms sharing the per-tensor uint8 activation QDQ:
// weight [in,out] with per-channel QDQ on axis 1 before MatMul (octet's
// convention), weight [out,in] with QDQ on axis 0 into Gemm(transB=1), and an
// int8 weight initializer with DequantizeLinear only.
OnnxTestModel make_qdq_linear_model();
// fp8 e4m3 QDQ (opset 19, IR 9). onnx 1.12's checker predates fp8: ORT only.
OnnxTestModel make_fp8_qdq_model();
// int4 weight + DequantizeLinear per channel, then MatMul (opset 21, IR 10). ORT only.
OnnxTestModel make_int4_weight_model();

// Scalar reference of ONNX QuantizeLinear for integer types:
// saturate(round_half_even(x / scale) + zero_point) into [qmin, qmax].
int quantize_reference(float x, float scale, int zero_point, int qmin, int qmax);
// DequantizeLinear: (q - zero_point) * scale in float.
float dequantize_reference(int q, float scale, int zero_point);

// Checks every expected output of `model` against `got` (gtest expectations).
void expect_outputs_match(const std::map<std::string, Tensor>& got, const OnnxTestModel& model);

}  // namespace octet::testing
