// Building ONNX graphs and writing them as .onnx files (no protobuf library).
//
// OnnxGraph holds one graph in the ONNX data model: typed inputs and outputs
// (fixed or symbolic dims), initializers (octet Tensors, shared not copied),
// nodes in topological order. It enforces what onnx.checker would reject
// later, at the call that causes it: every name is unique (values and nodes),
// a node may only read values that already exist, graph outputs must exist.
// Errors are octet::Error with tag "onnx".
//
// save_onnx() writes a ModelProto (IR 8 for opset <= 18, producer "octet")
// through a hand-written protobuf encoder (src/io/onnx_proto.h), streaming
// tensor bytes so no second copy of the weights is made. Large models put
// tensor data in "<model file name>.data" next to the model (ONNX external
// data). Both files are written under temporary names and renamed.
// See docs/onnx.md for the QDQ conventions octet's exports follow.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "octet/tensor.h"

namespace octet {

// TensorProto.DataType codes.
enum class OnnxType : int32_t {
  Float = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  Bool = 9,
  Float16 = 10,
  Double = 11,
  BFloat16 = 16,
  Float8E4M3FN = 17,  // opset 19 / IR 9
  Float8E5M2 = 19,    // opset 19 / IR 9
  UInt4 = 21,         // opset 21 / IR 10
  Int4 = 22,          // opset 21 / IR 10
};

// The ONNX element type of an octet dtype (all octet dtypes have one).
OnnxType onnx_type(DType dtype);
// The lowest opset whose QuantizeLinear/DequantizeLinear/Cast accept the type
// (13 for the classic types, 19 for fp8, 21 for int4).
int onnx_min_opset(OnnxType type);
// The IR version a model with this opset needs (8 up to opset 18, 9 for 19-20,
// 10 for 21-22, 11 beyond).
int64_t onnx_ir_version_for_opset(int opset);

// One dimension of a value's shape: a size, or a symbolic name ("batch", "seq").
using OnnxDim = std::variant<int64_t, std::string>;

// A node attribute. Construct from a name and a value; the ONNX attribute type
// (FLOAT, INT, STRING, TENSOR, FLOATS, INTS, STRINGS) follows the C++ type:
//   {"axis", 0}, {"epsilon", 1e-12f}, {"perm", {0, 2, 1, 3}}, {"mode", "constant"}
struct OnnxAttribute {
  using Value = std::variant<float, int64_t, std::string, Tensor, std::vector<float>, std::vector<int64_t>,
                             std::vector<std::string>>;
  std::string name;
  Value value;

  OnnxAttribute(std::string n, float v) : name(std::move(n)), value(v) {}
  OnnxAttribute(std::string n, double v) : name(std::move(n)), value(static_cast<float>(v)) {}
  OnnxAttribute(std::string n, int v) : name(std::move(n)), value(int64_t{v}) {}
  OnnxAttribute(std::string n, int64_t v) : name(std::move(n)), value(v) {}
  OnnxAttribute(std::string n, const char* v) : name(std::move(n)), value(std::string(v)) {}
  OnnxAttribute(std::string n, std::string v) : name(std::move(n)), value(std::move(v)) {}
  OnnxAttribute(std::string n, Tensor v) : name(std::move(n)), value(std::move(v)) {}
  OnnxAttribute(std::string n, std::initializer_list<int64_t> v)
      : name(std::move(n)), value(std::vector<int64_t>(v)) {}
  OnnxAttribute(std::string n, std::vector<int64_t> v) : name(std::move(n)), value(std::move(v)) {}
  OnnxAttribute(std::string n, std::vector<float> v) : name(std::move(n)), value(std::move(v)) {}
  OnnxAttribute(std::string n, std::vector<std::string> v) : name(std::move(n)), value(std::move(v)) {}
};

struct OnnxNode {
  std::string name;
  std::string op_type;
  std::string domain;  // "" = the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::vector<OnnxAttribute> attributes;
};

// A typed value of the graph interface (input, output or value_info).
struct OnnxValueInfo {
  std::string name;
  OnnxType elem_type;
  std::optional<std::vector<OnnxDim>> dims;  // nullopt: shape unknown
};

struct OnnxInitializer {
  std::string name;
  Tensor tensor;
};

class OnnxGraph {
 public:
  explicit OnnxGraph(std::string name = "octet");

  const std::string& name() const { return name_; }

  // Declares a graph input; returns its name.
  std::string add_input(std::string name, DType elem_type, std::vector<OnnxDim> dims);
  // Declares an existing value as a graph output (shape unknown when dims is nullopt).
  void add_output(const std::string& name, DType elem_type, std::optional<std::vector<OnnxDim>> dims);
  // Records the type/shape of an intermediate value (optional; helps viewers).
  void add_value_info(const std::string& name, DType elem_type, std::vector<OnnxDim> dims);

  // Adds a constant tensor (shared, not copied: keep it unchanged until saved).
  // An empty name picks "<prefix>_<n>" ("const" by default). Returns the name.
  std::string add_initializer(std::string name, const Tensor& tensor);

  // Adds a node reading `inputs` and producing `outputs` (new, unique names).
  // An empty node name picks "<op_type>_<n>". Returns the output names.
  std::vector<std::string> add_node(const std::string& op_type, std::vector<std::string> inputs,
                                    std::vector<std::string> outputs, std::vector<OnnxAttribute> attributes = {},
                                    std::string name = {}, std::string domain = {});
  // As above with `output_count` outputs named "<node name>" (one output) or
  // "<node name>_out<i>".
  std::vector<std::string> add_node(const std::string& op_type, std::vector<std::string> inputs, int output_count,
                                    std::vector<OnnxAttribute> attributes = {}, std::string name = {},
                                    std::string domain = {});
  // A one-output node; returns the output's name.
  std::string add_op(const std::string& op_type, std::vector<std::string> inputs,
                     std::vector<OnnxAttribute> attributes = {}, std::string name = {});

  // ---- helpers -------------------------------------------------------------
  // 1-D int64 initializer (shapes, axes, indices); returns its name.
  std::string add_constant_i64(const std::vector<int64_t>& values, std::string name = {});
  // f32 initializer with `shape` ({} = scalar); returns its name.
  std::string add_constant_f32(const std::vector<float>& values, Shape shape, std::string name = {});
  std::string add_matmul(const std::string& a, const std::string& b, std::string name = {});
  // x @ weight (+ bias): weight is stored [in, out] so it feeds MatMul directly.
  std::string add_linear(const std::string& x, const std::string& weight, const std::string& bias = {},
                         std::string name = {});
  // GELU (erf form) decomposed into opset-13 ops: 0.5 * x * (1 + Erf(x / sqrt(2))).
  std::string add_gelu_erf(const std::string& x, std::string name = {});
  // QuantizeLinear -> DequantizeLinear on x; returns the dequantized value.
  // Per-channel when `axis` is given (scale and zero point 1-D along it),
  // per-tensor otherwise (scalar scale and zero point). The zero point's
  // dtype is the quantized type.
  std::string add_qdq(const std::string& x, const std::string& scale, const std::string& zero_point,
                      std::optional<int64_t> axis = std::nullopt, std::string name = {});
  // DequantizeLinear alone, for weights stored already quantized.
  std::string add_dequantize(const std::string& q, const std::string& scale, const std::string& zero_point,
                             std::optional<int64_t> axis = std::nullopt, std::string name = {});

  // ---- contents -------------------------------------------------------------
  const std::vector<OnnxValueInfo>& inputs() const { return inputs_; }
  const std::vector<OnnxValueInfo>& outputs() const { return outputs_; }
  const std::vector<OnnxValueInfo>& value_infos() const { return value_infos_; }
  const std::vector<OnnxInitializer>& initializers() const { return initializers_; }
  const std::vector<OnnxNode>& nodes() const { return nodes_; }
  bool has_value(const std::string& name) const { return values_.contains(name); }
  // The initializer named `name`, or nullptr.
  const Tensor* find_initializer(const std::string& name) const;

 private:
  void claim_value(const std::string& name, const char* what);
  // "<prefix>_<n>" not in `taken`.
  std::string unique_name(const std::string& prefix, const std::set<std::string>& taken);
  // `preferred` itself when not in `taken`, else unique_name(preferred, taken).
  std::string fresh_name(const std::string& preferred, const std::set<std::string>& taken);
  // A shared f32 scalar initializer holding `value`.
  std::string scalar_f32(float value);
  void check_quant_params(const std::string& op, const std::string& scale, const std::string& zero_point,
                          std::optional<int64_t> axis) const;

  std::string name_;
  std::vector<OnnxValueInfo> inputs_;
  std::vector<OnnxValueInfo> outputs_;
  std::vector<OnnxValueInfo> value_infos_;
  std::vector<OnnxInitializer> initializers_;
  std::map<std::string, size_t> initializer_index_;
  std::vector<OnnxNode> nodes_;
  std::set<std::string> values_;      // every value name defined so far
  std::set<std::string> node_names_;
  std::map<std::string, int> next_suffix_;     // per prefix, where unique_name starts looking
  std::map<uint32_t, std::string> scalar_cache_;  // f32 bits -> initializer name
};

enum class OnnxExternalData {
  Auto,    // external only when the model would pass protobuf's 2 GB limit
  Always,  // tensors of at least external_min_bytes go to the data file
  Never,   // inline; a model over 2 GB is an error
};

struct OnnxSaveOptions {
  int opset = 17;  // default-domain opset, >= 13
  OnnxExternalData external_data = OnnxExternalData::Auto;
  // Smaller tensors stay inline even in an external-data model (scales, shapes).
  size_t external_min_bytes = 1024;
  // Largest inline model: protobuf's limit (messages under 2 GiB). Lowered by
  // tests to exercise the switch to external data without 2 GB of weights.
  uint64_t inline_limit_bytes = (uint64_t{1} << 31) - 1;
  std::string producer_version = OCTET_VERSION;
};

// What save_onnx wrote.
struct OnnxSaveResult {
  std::filesystem::path model_path;
  std::optional<std::filesystem::path> data_path;  // set when tensor data went external
  uint64_t model_bytes = 0;
  uint64_t data_bytes = 0;
  int64_t ir_version = 0;
};

// Writes `graph` as a ModelProto to `path` (and "<file name>.data" beside it
// when external). Throws Error "onnx" for an invalid graph or options, or an
// I/O failure; a failed save leaves no partial files.
OnnxSaveResult save_onnx(const std::filesystem::path& path, const OnnxGraph& graph,
                         const OnnxSaveOptions& options = {});

// The serialized ModelProto with every tensor inline (for tests and small
// graphs; throws when it would pass 2 GB).
std::string serialize_onnx(const OnnxGraph& graph, const OnnxSaveOptions& options = {});

}  // namespace octet
