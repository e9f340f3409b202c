// Models written by save_onnx, read back by the reference implementation:
// byte-identical to the same model built with onnx.helper, accepted by
// onnx.checker (full_check: shape and type inference too), and listed by
// onnx.load with the nodes, attributes, initializer bytes and interface the
// OnnxGraph holds. Needs /usr/bin/python3 with onnx (scripts/setup.sh).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "octet/number_formats.h"
#include "onnx/onnx_test_support.h"
#include "onnx/test_models.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

using nlohmann::json;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Must match reference() in onnx_inspect.py value for value.
OnnxGraph build_reference_graph() {
  OnnxGraph g("reference");
  g.add_input("x", DType::F32, {"batch", "seq", 4});
  g.add_input("ids", DType::I64, {"batch", "seq"});
  std::vector<float> w(12), emb(40);
  for (int i = 0; i < 12; ++i) w[i] = static_cast<float>(i) * 0.25f - 1.0f;
  for (int i = 0; i < 40; ++i) emb[i] = static_cast<float>(i) / 8.0f;
  g.add_initializer("w", Tensor::from_floats(w, {4, 3}));
  g.add_initializer("emb", Tensor::from_floats(emb, {10, 4}));
  g.add_initializer("scale", Tensor::full({}, 0.05f));
  g.add_initializer("zp", Tensor::from_vector(std::vector<int8_t>{-3}, {}));
  g.add_initializer("shape", Tensor::from_vector(std::vector<int64_t>{-1, 300, int64_t{1} << 40}, {3}));
  g.add_initializer("half", Tensor::from_vector(std::vector<f16>{{float_to_f16(1.5f)}, {float_to_f16(-2.0f)}}, {2}));
  g.add_initializer("mask", Tensor::from_vector(std::vector<uint8_t>{0, 255, 7}, {3}));
  g.add_node("Gather", {"emb", "ids"}, std::vector<std::string>{"g"}, {{"axis", 0}}, "gather");
  g.add_node("Add", {"x", "g"}, std::vector<std::string>{"a"}, {}, "add");
  g.add_node("MatMul", {"a", "w"}, std::vector<std::string>{"m"}, {}, "matmul");
  g.add_node("Constant", {}, std::vector<std::string>{"c"},
             {{"value", Tensor::from_floats(std::vector<float>{0.5f, -4.0f}, {2})}}, "constant");
  g.add_node("QuantizeLinear", {"m", "scale", "zp"}, std::vector<std::string>{"q"}, {}, "quantize");
  g.add_node("DequantizeLinear", {"q", "scale", "zp"}, std::vector<std::string>{"dq"}, {}, "dequantize");
  g.add_node("Custom", {"dq", "", "c"}, std::vector<std::string>{"y", "y2"},
             {{"f", 0.5f},
              {"i", -3},
              {"s", "hello"},
              {"floats", std::vector<float>{1.5f, -2.0f}},
              {"ints", {-1, 0, 300}},
              {"strings", std::vector<std::string>{"a", "bc"}}},
             "custom", "com.example");
  g.add_output("y", DType::F32, std::nullopt);
  g.add_output("dq", DType::F32, std::vector<OnnxDim>{"batch", "seq", 3});
  g.add_output("y2", DType::I8, std::vector<OnnxDim>{});
  g.add_value_info("a", DType::F32, {"batch", "seq", 4});
  return g;
}

TEST(OnnxPython, BytesEqualOnnxHelperModel) {
  const auto dir = temp_dir();
  run_onnx_inspect("reference " + shell_quote((dir / "python.onnx").string()));
  const std::string want = read_file(dir / "python.onnx");
  ASSERT_FALSE(want.empty());
  OnnxSaveOptions options;
  options.producer_version = "test";
  const std::string got = serialize_onnx(build_reference_graph(), options);
  EXPECT_EQ(got.size(), want.size());
  // The first differing byte, to find the field.
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  EXPECT_EQ(got, want) << "first difference at byte " << i;
  // save_onnx writes the same bytes.
  save_onnx(dir / "octet.onnx", build_reference_graph(), options);
  EXPECT_EQ(read_file(dir / "octet.onnx"), want);
}

json dims_json(const std::optional<std::vector<OnnxDim>>& dims) {
  if (!dims) return nullptr;
  json out = json::array();
  for (const auto& d : *dims) std::visit([&](const auto& v) { out.push_back(v); }, d);
  return out;
}

void expect_values_listed(const json& listed, const std::vector<OnnxValueInfo>& values, const char* what) {
  ASSERT_EQ(listed.size(), values.size()) << what;
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(listed[i]["name"], values[i].name) << what;
    EXPECT_EQ(listed[i]["elem_type"], static_cast<int>(values[i].elem_type)) << values[i].name;
    EXPECT_EQ(listed[i]["dims"], dims_json(values[i].dims)) << values[i].name;
  }
}

json attribute_json(const OnnxAttribute::Value& value) {
  return std::visit(
      [](const auto& v) -> json {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, Tensor>) {
          return {{"name", ""}, {"data_type", static_cast<int>(onnx_type(v.dtype()))}, {"dims", v.shape()},
                  {"hex", tensor_hex(v)}};
        } else {
          return v;
        }
      },
      value);
}

// The listing onnx.load gives back must be the graph that was saved.
void expect_listing_matches(const json& listing, const OnnxGraph& g, const OnnxSaveOptions& options) {
  EXPECT_EQ(listing["ir_version"], onnx_ir_version_for_opset(options.opset));
  EXPECT_EQ(listing["producer_name"], "octet");
  EXPECT_EQ(listing["producer_version"], options.producer_version);
  EXPECT_EQ(listing["opset_import"][0], json::array({"", options.opset}));
  EXPECT_EQ(listing["graph_name"], g.name());
  expect_values_listed(listing["inputs"], g.inputs(), "inputs");
  expect_values_listed(listing["outputs"], g.outputs(), "outputs");
  expect_values_listed(listing["value_info"], g.value_infos(), "value_info");
  const auto& inits = listing["initializers"];
  ASSERT_EQ(inits.size(), g.initializers().size());
  for (size_t i = 0; i < inits.size(); ++i) {
    const auto& want = g.initializers()[i];
    EXPECT_EQ(inits[i]["name"], want.name);
    EXPECT_EQ(inits[i]["data_type"], static_cast<int>(onnx_type(want.tensor.dtype()))) << want.name;
    EXPECT_EQ(inits[i]["dims"], json(want.tensor.shape())) << want.name;
    EXPECT_EQ(inits[i]["numel"], want.tensor.numel()) << want.name;
    EXPECT_EQ(inits[i]["hex"], tensor_hex(want.tensor)) << want.name;
  }
  const auto& nodes = listing["nodes"];
  ASSERT_EQ(nodes.size(), g.nodes().size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& want = g.nodes()[i];
    EXPECT_EQ(nodes[i]["name"], want.name);
    EXPECT_EQ(nodes[i]["op_type"], want.op_type) << want.name;
    EXPECT_EQ(nodes[i]["domain"], want.domain) << want.name;
    EXPECT_EQ(nodes[i]["inputs"], json(want.inputs)) << want.name;
    EXPECT_EQ(nodes[i]["outputs"], json(want.outputs)) << want.name;
    const auto& attrs = nodes[i]["attributes"];
    ASSERT_EQ(attrs.size(), want.attributes.size()) << want.name;
    for (size_t a = 0; a < attrs.size(); ++a) {
      EXPECT_EQ(attrs[a]["name"], want.attributes[a].name) << want.name;
      EXPECT_EQ(attrs[a]["value"], attribute_json(want.attributes[a].value))
          << want.name << "." << want.attributes[a].name;
    }
  }
}

void check_model(OnnxTestModel (*make)()) {
  OnnxTestModel m = make();
  const auto path = temp_dir() / (m.name + ".onnx");
  const auto result = save_onnx(path, m.graph, m.options);
  EXPECT_FALSE(result.data_path) << "a small model stays inline";
  const json listing = check_and_list_onnx(path);
  expect_listing_matches(listing, m.graph, m.options);
  for (const auto& init : listing["initializers"]) EXPECT_EQ(init["location"], "inline") << init["name"];
}

TEST(OnnxPython, MlpGeluPassesChecker) { check_model(make_mlp_gelu_model); }
TEST(OnnxPython, LayerNormSoftmaxPassesChecker) { check_model(make_layernorm_softmax_model); }
TEST(OnnxPython, GatherPassesChecker) { check_model(make_gather_model); }
TEST(OnnxPython, QdqExactPassesCheckerAtOpset13) { check_model(make_qdq_exact_model); }
TEST(OnnxPython, QdqLinearPassesChecker) { check_model(make_qdq_linear_model); }

TEST(OnnxPython, CheckerRejectsInvalidModels) {
  // The check can fail: an attribute of the wrong type, and a node whose
  // shapes do not agree (full_check runs strict shape inference).
  const auto dir = temp_dir();
  OnnxGraph bad_attr("bad_attr");
  bad_attr.add_input("x", DType::F32, {2, 3});
  bad_attr.add_output(bad_attr.add_op("Softmax", {"x"}, {{"axis", "last"}}), DType::F32, std::nullopt);
  save_onnx(dir / "bad_attr.onnx", bad_attr);
  EXPECT_THROW(check_and_list_onnx(dir / "bad_attr.onnx"), std::runtime_error);
  OnnxGraph bad_shape("bad_shape");
  bad_shape.add_input("x", DType::F32, {2, 3});
  bad_shape.add_initializer("w", Tensor::full({4, 5}, 1.0f));
  bad_shape.add_output(bad_shape.add_matmul("x", "w"), DType::F32, std::nullopt);
  save_onnx(dir / "bad_shape.onnx", bad_shape);
  EXPECT_THROW(check_and_list_onnx(dir / "bad_shape.onnx"), std::runtime_error);
}

TEST(OnnxPython, ForcedExternalDataPassesChecker) {
  OnnxTestModel m = make_qdq_linear_model();
  m.options.external_data = OnnxExternalData::Always;
  m.options.external_min_bytes = 64;  // the f32 weights (288 bytes) and int8 weight (72) go out; scales stay
  const auto dir = temp_dir();  // (each temp_dir() call empties the folder)
  const auto path = dir / "external.onnx";
  const auto result = save_onnx(path, m.graph, m.options);
  ASSERT_TRUE(result.data_path);
  EXPECT_EQ(*result.data_path, dir / "external.onnx.data");
  EXPECT_EQ(std::filesystem::file_size(*result.data_path), result.data_bytes);
  EXPECT_EQ(std::filesystem::file_size(path), result.model_bytes);
  const json listing = check_and_list_onnx(path);
  expect_listing_matches(listing, m.graph, m.options);
  int external = 0;
  uint64_t previous_end = 0;
  for (const auto& init : listing["initializers"]) {
    const auto* t = m.graph.find_initializer(init["name"]);
    ASSERT_TRUE(t);
    if (t->nbytes() < 64) {
      EXPECT_EQ(init["location"], "inline") << init["name"];
      continue;
    }
    ++external;
    EXPECT_EQ(init["location"], "external") << init["name"];
    const auto& e = init["external_data"];
    EXPECT_EQ(e["location"], "external.onnx.data");
    const uint64_t offset = std::stoull(e["offset"].get<std::string>());
    EXPECT_EQ(offset % 4096, 0u) << "page-aligned";
    EXPECT_GE(offset, previous_end);
    EXPECT_EQ(std::stoull(e["length"].get<std::string>()), t->nbytes());
    previous_end = offset + t->nbytes();
  }
  EXPECT_EQ(external, 3);  // w_t and w (288 bytes each), w_q (72)
}

TEST(OnnxPython, AutoGoesExternalPastTheInlineLimit) {
  OnnxTestModel m = make_mlp_gelu_model();
  const auto inline_bytes = serialize_onnx(m.graph, m.options).size();
  m.options.inline_limit_bytes = inline_bytes - 1;  // stands in for 2 GB
  m.options.external_min_bytes = 256;  // w1 (512 bytes) and w2 (256) go out
  const auto dir = temp_dir();
  const auto path = dir / "auto.onnx";
  const auto result = save_onnx(path, m.graph, m.options);
  ASSERT_TRUE(result.data_path);
  EXPECT_LT(result.model_bytes, inline_bytes);
  expect_listing_matches(check_and_list_onnx(path), m.graph, m.options);
  // Exactly at the limit it stays inline.
  m.options.inline_limit_bytes = inline_bytes;
  EXPECT_FALSE(save_onnx(dir / "inline.onnx", m.graph, m.options).data_path);
}

}  // namespace
}  // namespace octet::testing
