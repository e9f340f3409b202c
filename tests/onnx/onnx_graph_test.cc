// OnnxGraph's checks (unique names, topological order, QDQ parameter shapes,
// opset/type rules), its automatic names, and save_onnx's file handling.
#include <gtest/gtest.h>

#include <fstream>

#include "octet/onnx.h"
#include "support/shared_data.h"

namespace octet {
namespace {

// Runs `f`, expecting Error "onnx" whose message contains `needle`.
template <typename F>
void expect_onnx_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "onnx") << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

OnnxGraph small_graph() {
  OnnxGraph g("small");
  g.add_input("x", DType::F32, {"batch", 4});
  g.add_initializer("w", Tensor::full({4, 2}, 0.5f));
  g.add_output(g.add_matmul("x", "w", "mm"), DType::F32, std::vector<OnnxDim>{"batch", 2});
  return g;
}

TEST(OnnxGraph, ValueNamesAreUnique) {
  OnnxGraph g = small_graph();
  expect_onnx_error([&] { g.add_input("x", DType::F32, {1}); }, "'x': a value with that name already exists");
  expect_onnx_error([&] { g.add_initializer("w", Tensor::full({1}, 1.0f)); }, "already exists");
  expect_onnx_error([&] { g.add_initializer("mm", Tensor::full({1}, 1.0f)); }, "already exists");
  expect_onnx_error([&] { g.add_node("Relu", {"x"}, std::vector<std::string>{"w"}); }, "output 'w' is already defined");
  expect_onnx_error([&] { g.add_node("Split", {"x"}, std::vector<std::string>{"a", "a"}); }, "an output name repeats");
  expect_onnx_error([&] { g.add_input("", DType::F32, {1}); }, "empty name");
}

TEST(OnnxGraph, NodeNamesAreUniqueAndAutomaticOnesAvoidTaken) {
  OnnxGraph g = small_graph();
  expect_onnx_error([&] { g.add_op("Relu", {"x"}, {}, "mm"); }, "node 'mm': a node with that name already exists");
  g.add_op("Relu", {"x"}, {}, "Relu_0");  // takes the name the first automatic Relu would get
  const auto r1 = g.add_op("Relu", {"x"});
  const auto r2 = g.add_op("Relu", {"x"});
  EXPECT_EQ(r1, "Relu_1");
  EXPECT_EQ(r2, "Relu_2");
  const auto outs = g.add_node("Split", {"x"}, 2, {{"axis", 1}}, "split");
  EXPECT_EQ(outs, (std::vector<std::string>{"split_out0", "split_out1"}));
  // A node named like an existing value gets its output renamed, not an error.
  const auto y = g.add_op("Relu", {"x"}, {}, "w");
  EXPECT_NE(y, "w");
  EXPECT_TRUE(g.has_value(y));
}

TEST(OnnxGraph, NodesComeInTopologicalOrder) {
  OnnxGraph g = small_graph();
  expect_onnx_error([&] { g.add_op("Relu", {"later"}); }, "input 'later' is not defined yet");
  g.add_op("Clip", {"x", "", ""});  // "" marks omitted optional inputs
  expect_onnx_error([&] { g.add_output("nowhere", DType::F32, std::nullopt); }, "'nowhere' is not a value");
  expect_onnx_error([&] { g.add_output("mm", DType::F32, std::nullopt); }, "declared twice");
  expect_onnx_error([&] { g.add_value_info("nope", DType::F32, {1}); }, "not a value");
}

TEST(OnnxGraph, AttributesAreCheckedAndTyped) {
  OnnxGraph g = small_graph();
  expect_onnx_error([&] { g.add_op("Relu", {"x"}, {{"a", 1}, {"a", 2}}); }, "attribute 'a' given twice");
  expect_onnx_error([&] { g.add_op("Relu", {"x"}, {{"", 1}}); }, "attribute with an empty name");
  expect_onnx_error([&] { g.add_op("Constant", {}, {{"value", Tensor()}}); }, "has no tensor");
  // The C++ type picks the ONNX attribute type.
  const OnnxAttribute i{"axis", 0}, f{"alpha", 0.5}, s{"mode", "constant"}, ints{"perm", {0, 2, 1}};
  EXPECT_TRUE(std::holds_alternative<int64_t>(i.value));
  EXPECT_TRUE(std::holds_alternative<float>(f.value));
  EXPECT_TRUE(std::holds_alternative<std::string>(s.value));
  EXPECT_EQ(std::get<std::vector<int64_t>>(ints.value), (std::vector<int64_t>{0, 2, 1}));
}

TEST(OnnxGraph, DimsAreChecked) {
  OnnxGraph g;
  expect_onnx_error([&] { g.add_input("x", DType::F32, {-1}); }, "negative dimension");
  expect_onnx_error([&] { g.add_input("y", DType::F32, {""}); }, "empty symbolic dimension");
}

TEST(OnnxGraph, QdqParametersAreChecked) {
  OnnxGraph g = small_graph();
  const auto s = g.add_initializer("s", Tensor::full({}, 0.1f));
  const auto zp = g.add_initializer("zp", Tensor::from_vector(std::vector<int8_t>{0}, {}));
  const auto s4 = g.add_initializer("s4", Tensor::full({4}, 0.1f));
  const auto zp4 = g.add_initializer("zp4", Tensor::from_vector(std::vector<int8_t>{0, 0, 0, 0}, {4}));
  const auto zp2 = g.add_initializer("zp2", Tensor::from_vector(std::vector<int8_t>{0, 0}, {2}));
  const auto zp_f = g.add_initializer("zp_f", Tensor::full({}, 0.0f));
  expect_onnx_error([&] { g.add_qdq("x", s4, zp4); }, "per-tensor scale 's4' must be a scalar");
  expect_onnx_error([&] { g.add_qdq("x", s, zp, 1); }, "per-channel scale 's' must be 1-D");
  expect_onnx_error([&] { g.add_qdq("x", s, zp_f); }, "it must have the quantized type");
  expect_onnx_error([&] { g.add_qdq("w", s4, zp2, 0); }, "differs from scale");
  expect_onnx_error([&] { g.add_qdq("w", s4, zp4, 1); }, "4 scales for axis 1");
  expect_onnx_error([&] { g.add_qdq("w", s4, zp4, 2); }, "axis 2 out of range");
  expect_onnx_error([&] { g.add_qdq("x", "nope", zp); }, "scale 'nope' is not defined");
  // Valid forms; the zero point may be omitted.
  EXPECT_EQ(g.add_qdq("w", s4, zp4, 0), "w_dequantized");
  EXPECT_EQ(g.add_qdq("x", s, ""), "x_dequantized");
  EXPECT_EQ(g.add_qdq("x", s, zp), "x_dequantized_0");  // the name was taken
  const auto& q = g.nodes()[g.nodes().size() - 2];
  EXPECT_EQ(q.op_type, "QuantizeLinear");
  EXPECT_EQ(q.inputs, (std::vector<std::string>{"x", "s", "zp"}));
  EXPECT_TRUE(q.attributes.empty());
  const auto& wq = g.nodes()[g.nodes().size() - 6];
  ASSERT_EQ(wq.attributes.size(), 1u);
  EXPECT_EQ(wq.attributes[0].name, "axis");
}

TEST(OnnxGraph, SaveChecksOpsetAndTypes) {
  OnnxGraph g = small_graph();
  OnnxSaveOptions options;
  options.opset = 12;
  expect_onnx_error([&] { serialize_onnx(g, options); }, "opset 12 is below 13");
  g.add_initializer("fp8", Tensor::zeros({2}, DType::F8_E4M3));
  expect_onnx_error([&] { serialize_onnx(g, {}); }, "needs opset >= 19");
  options.opset = 19;
  EXPECT_NO_THROW(serialize_onnx(g, options));
  g.add_initializer("int4", Tensor::zeros({2}, DType::I4));
  expect_onnx_error([&] { serialize_onnx(g, options); }, "needs opset >= 21");
  OnnxGraph no_outputs;
  no_outputs.add_input("x", DType::F32, {1});
  expect_onnx_error([&] { serialize_onnx(no_outputs, {}); }, "has no outputs");
}

TEST(OnnxGraph, IrVersionFollowsOpset) {
  EXPECT_EQ(onnx_ir_version_for_opset(13), 8);
  EXPECT_EQ(onnx_ir_version_for_opset(17), 8);
  EXPECT_EQ(onnx_ir_version_for_opset(19), 9);
  EXPECT_EQ(onnx_ir_version_for_opset(21), 10);
  EXPECT_EQ(onnx_type(DType::F32), OnnxType::Float);
  EXPECT_EQ(onnx_type(DType::U8), OnnxType::UInt8);
  EXPECT_EQ(onnx_type(DType::I8), OnnxType::Int8);
  EXPECT_EQ(onnx_type(DType::I32), OnnxType::Int32);
  EXPECT_EQ(onnx_type(DType::I64), OnnxType::Int64);
  EXPECT_EQ(onnx_type(DType::F16), OnnxType::Float16);
  EXPECT_EQ(onnx_type(DType::F8_E4M3), OnnxType::Float8E4M3FN);
  EXPECT_EQ(static_cast<int>(OnnxType::Float8E4M3FN), 17);
}

TEST(OnnxSave, WritesAtomicallyAndLeavesNoTempFiles) {
  const auto dir = testing::temp_dir();
  const auto result = save_onnx(dir / "m.onnx", small_graph());
  EXPECT_EQ(result.model_path, dir / "m.onnx");
  EXPECT_EQ(result.ir_version, 8);
  EXPECT_EQ(std::filesystem::file_size(dir / "m.onnx"), result.model_bytes);
  EXPECT_EQ(result.model_bytes, serialize_onnx(small_graph()).size());
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "m.onnx");
  }
  EXPECT_EQ(files, 1);
  // A failing save (no such folder) throws Error "onnx" and creates nothing.
  expect_onnx_error([&] { save_onnx(dir / "missing" / "m.onnx", small_graph()); }, "cannot create");
  EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

TEST(OnnxSave, NeverExternalOverTheLimitIsAnError) {
  const auto dir = testing::temp_dir();
  OnnxSaveOptions options;
  options.external_data = OnnxExternalData::Never;
  options.inline_limit_bytes = 64;
  expect_onnx_error([&] { save_onnx(dir / "m.onnx", small_graph(), options); }, "external data is off");
  EXPECT_FALSE(std::filesystem::exists(dir / "m.onnx"));
  expect_onnx_error([&] { serialize_onnx(small_graph(), options); }, "over protobuf's 2 GB limit");
}

TEST(OnnxSave, NonContiguousInitializerIsWrittenInLogicalOrder) {
  Tensor w = Tensor::from_floats(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  OnnxGraph a, b;
  for (auto* g : {&a, &b}) g->add_input("x", DType::F32, {1, 2});
  a.add_initializer("w", w.transpose(0, 1));  // a view: [[1,4],[2,5],[3,6]]
  b.add_initializer("w", w.transpose(0, 1).contiguous());
  for (auto* g : {&a, &b}) g->add_output(g->add_matmul("w", "x", "y"), DType::F32, std::nullopt);
  EXPECT_EQ(serialize_onnx(a), serialize_onnx(b));
}

}  // namespace
}  // namespace octet
