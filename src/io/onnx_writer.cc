// Serializing an OnnxGraph as a ModelProto, inline or with external data.
//
// Fields are written in field-number order, as protobuf's own serializers do,
// so a model is byte-identical to the same model built with onnx.helper
// (tests/onnx check this). Tensor bytes are streamed from the Tensors: the
// lengths of the enclosing messages are computed first, which the wire format
// needs up front, then headers and data are written in one pass.
#include <algorithm>
#include <memory>
#include <set>

#include "core/error_tags.h"
#include "io/atomic_file.h"
#include "io/onnx_proto.h"
#include "octet/onnx.h"

namespace octet {
namespace {

using onnx_proto::length_delimited_size;
using onnx_proto::ProtoWriter;
// External tensors start at page boundaries so runtimes can map them directly.
constexpr uint64_t kExternalAlignment = 4096;

// Field numbers from onnx/onnx.proto (onnx 1.12, IR 8).
namespace field {
// ModelProto
constexpr uint32_t kModelIrVersion = 1, kModelProducerName = 2, kModelProducerVersion = 3, kModelGraph = 7,
                   kModelOpsetImport = 8;
// OperatorSetIdProto
constexpr uint32_t kOpsetDomain = 1, kOpsetVersion = 2;
// GraphProto
constexpr uint32_t kGraphNode = 1, kGraphName = 2, kGraphInitializer = 5, kGraphInput = 11, kGraphOutput = 12,
                   kGraphValueInfo = 13;
// NodeProto
constexpr uint32_t kNodeInput = 1, kNodeOutput = 2, kNodeName = 3, kNodeOpType = 4, kNodeAttribute = 5,
                   kNodeDomain = 7;
// AttributeProto
constexpr uint32_t kAttrName = 1, kAttrF = 2, kAttrI = 3, kAttrS = 4, kAttrT = 5, kAttrFloats = 7, kAttrInts = 8,
                   kAttrStrings = 9, kAttrType = 20;
// TensorProto
constexpr uint32_t kTensorDims = 1, kTensorDataType = 2, kTensorName = 8, kTensorRawData = 9,
                   kTensorExternalData = 13, kTensorDataLocation = 14;
// StringStringEntryProto
constexpr uint32_t kEntryKey = 1, kEntryValue = 2;
// ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto, Dimension
constexpr uint32_t kValueInfoName = 1, kValueInfoType = 2;
constexpr uint32_t kTypeTensorType = 1;
constexpr uint32_t kTensorTypeElemType = 1, kTensorTypeShape = 2;
constexpr uint32_t kShapeDim = 1;
constexpr uint32_t kDimValue = 1, kDimParam = 2;
}  // namespace field

// AttributeProto.AttributeType
enum AttributeType : int64_t { kFloat = 1, kInt = 2, kString = 3, kTensor = 4, kFloats = 6, kInts = 7, kStrings = 8 };
constexpr int64_t kDataLocationExternal = 1;

// ---- output sinks --------------------------------------------------------------

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const void* data, size_t bytes) = 0;
  void write(const std::string& s) { write(s.data(), s.size()); }
};

class StringSink final : public Sink {
 public:
  void write(const void* data, size_t bytes) override { out.append(static_cast<const char*>(data), bytes); }
  std::string out;
};

// A file written through io::AtomicFileWriter (a temporary renamed into place;
// a killed run's temporary is removed by the next save of the same path),
// counting its bytes for the external data's offsets.
class FileSink final : public Sink {
 public:
  explicit FileSink(std::filesystem::path path) : file_(std::move(path), std::string(kOnnxTag)) {}
  void write(const void* data, size_t bytes) override {
    file_.write(data, bytes);
    written_ += bytes;
  }
  void pad_to(uint64_t offset) {
    static const char zeros[kExternalAlignment] = {};
    while (written_ < offset) write(zeros, std::min<uint64_t>(offset - written_, sizeof zeros));
  }
  uint64_t written() const { return written_; }
  // Flushes to disk and closes; the file keeps its temporary name until commit().
  void sync() { file_.sync(); }
  void commit() { file_.commit(); }

 private:
  io::AtomicFileWriter file_;
  uint64_t written_ = 0;
};

// ---- message encoders -------------------------------------------------------------

// TensorProto fields before the data: dims, data_type, name.
void encode_tensor_header(ProtoWriter& w, const std::string& name, const Tensor& t) {
  w.repeated_int_field(field::kTensorDims, t.shape());
  w.int_field(field::kTensorDataType, static_cast<int64_t>(onnx_type(t.dtype())));
  w.bytes_field(field::kTensorName, name);
}

std::string_view tensor_bytes(const Tensor& contiguous) {
  return {static_cast<const char*>(contiguous.raw_data()), contiguous.nbytes()};
}

// A complete inline TensorProto (for attributes: small, built in memory).
ProtoWriter encode_tensor(const std::string& name, const Tensor& t) {
  ProtoWriter w;
  encode_tensor_header(w, name, t);
  w.bytes_field(field::kTensorRawData, tensor_bytes(t.contiguous()));
  return w;
}

ProtoWriter encode_attribute(const OnnxAttribute& a) {
  ProtoWriter w;
  w.bytes_field(field::kAttrName, a.name);
  int64_t type = 0;
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, float>) {
          w.float_field(field::kAttrF, v);
          type = kFloat;
        } else if constexpr (std::is_same_v<V, int64_t>) {
          w.int_field(field::kAttrI, v);
          type = kInt;
        } else if constexpr (std::is_same_v<V, std::string>) {
          w.bytes_field(field::kAttrS, v);
          type = kString;
        } else if constexpr (std::is_same_v<V, Tensor>) {
          w.message_field(field::kAttrT, encode_tensor("", v));
          type = kTensor;
        } else if constexpr (std::is_same_v<V, std::vector<float>>) {
          w.repeated_float_field(field::kAttrFloats, v);
          type = kFloats;
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
          w.repeated_int_field(field::kAttrInts, v);
          type = kInts;
        } else {
          static_assert(std::is_same_v<V, std::vector<std::string>>);
          for (const auto& s : v) w.bytes_field(field::kAttrStrings, s);
          type = kStrings;
        }
      },
      a.value);
  w.int_field(field::kAttrType, type);
  return w;
}

ProtoWriter encode_node(const OnnxNode& n) {
  ProtoWriter w;
  for (const auto& in : n.inputs) w.bytes_field(field::kNodeInput, in);
  for (const auto& out : n.outputs) w.bytes_field(field::kNodeOutput, out);
  w.bytes_field(field::kNodeName, n.name);
  w.bytes_field(field::kNodeOpType, n.op_type);
  for (const auto& a : n.attributes) w.message_field(field::kNodeAttribute, encode_attribute(a));
  if (!n.domain.empty()) w.bytes_field(field::kNodeDomain, n.domain);
  return w;
}

ProtoWriter encode_value_info(const OnnxValueInfo& v) {
  ProtoWriter tensor_type;
  tensor_type.int_field(field::kTensorTypeElemType, static_cast<int64_t>(v.elem_type));
  if (v.dims) {
    ProtoWriter shape;
    for (const auto& d : *v.dims) {
      ProtoWriter dim;
      if (const auto* size = std::get_if<int64_t>(&d)) {
        dim.int_field(field::kDimValue, *size);
      } else {
        dim.bytes_field(field::kDimParam, std::get<std::string>(d));
      }
      shape.message_field(field::kShapeDim, dim);
    }
    tensor_type.message_field(field::kTensorTypeShape, shape);
  }
  ProtoWriter type;
  type.message_field(field::kTypeTensorType, tensor_type);
  ProtoWriter w;
  w.bytes_field(field::kValueInfoName, v.name);
  w.message_field(field::kValueInfoType, type);
  return w;
}

// ---- the model plan ----------------------------------------------------------------
// Everything but tensor data, encoded, with the sizes the wire format needs.

struct InitializerPlan {
  const OnnxInitializer* init = nullptr;
  std::string header;          // TensorProto fields except raw_data
  uint64_t raw_bytes = 0;
  bool external = false;
  uint64_t external_offset = 0;
  uint64_t message_bytes() const {
    return header.size() + (external ? 0 : length_delimited_size(field::kTensorRawData, raw_bytes));
  }
};

struct ModelPlan {
  std::string model_prefix;  // ir_version, producer
  std::string graph_prefix;  // nodes, name
  std::vector<InitializerPlan> initializers;
  std::string graph_suffix;  // inputs, outputs, value_info
  std::string model_suffix;  // opset imports
  uint64_t graph_bytes() const {
    uint64_t n = graph_prefix.size() + graph_suffix.size();
    for (const auto& i : initializers) n += length_delimited_size(field::kGraphInitializer, i.message_bytes());
    return n;
  }
  uint64_t model_bytes() const {
    return model_prefix.size() + length_delimited_size(field::kModelGraph, graph_bytes()) + model_suffix.size();
  }
};

void check_type_allowed(OnnxType type, int opset, const std::string& where) {
  check(onnx_min_opset(type) <= opset, kOnnxTag, "{} has ONNX type {}, which needs opset >= {} (saving opset {})",
        where, static_cast<int>(type), onnx_min_opset(type), opset);
}

void validate(const OnnxGraph& g, const OnnxSaveOptions& options) {
  check(options.opset >= 13, kOnnxTag, "opset {} is below 13 (per-channel QDQ needs 13)", options.opset);
  check(options.opset <= 23, kOnnxTag, "opset {} is newer than octet knows (23)", options.opset);
  check(!g.outputs().empty(), kOnnxTag, "graph '{}' has no outputs", g.name());
  for (const auto& i : g.initializers())
    check_type_allowed(onnx_type(i.tensor.dtype()), options.opset, fmt::format("initializer '{}'", i.name));
  for (const auto* list : {&g.inputs(), &g.outputs(), &g.value_infos()})
    for (const auto& v : *list) check_type_allowed(v.elem_type, options.opset, fmt::format("value '{}'", v.name));
  for (const auto& n : g.nodes())
    for (const auto& a : n.attributes)
      if (const auto* t = std::get_if<Tensor>(&a.value))
        check_type_allowed(onnx_type(t->dtype()), options.opset,
                           fmt::format("attribute '{}' of node '{}'", a.name, n.name));
}

ModelPlan plan_model(const OnnxGraph& g, const OnnxSaveOptions& options) {
  validate(g, options);
  ModelPlan plan;
  ProtoWriter model_prefix;
  model_prefix.int_field(field::kModelIrVersion, onnx_ir_version_for_opset(options.opset));
  model_prefix.bytes_field(field::kModelProducerName, "octet");
  model_prefix.bytes_field(field::kModelProducerVersion, options.producer_version);
  plan.model_prefix = model_prefix.take();

  ProtoWriter graph_prefix;
  for (const auto& n : g.nodes()) graph_prefix.message_field(field::kGraphNode, encode_node(n));
  graph_prefix.bytes_field(field::kGraphName, g.name());
  plan.graph_prefix = graph_prefix.take();

  for (const auto& init : g.initializers()) {
    ProtoWriter header;
    encode_tensor_header(header, init.name, init.tensor);
    plan.initializers.push_back({&init, header.take(), init.tensor.nbytes()});
  }

  ProtoWriter graph_suffix;
  for (const auto& v : g.inputs()) graph_suffix.message_field(field::kGraphInput, encode_value_info(v));
  for (const auto& v : g.outputs()) graph_suffix.message_field(field::kGraphOutput, encode_value_info(v));
  for (const auto& v : g.value_infos()) graph_suffix.message_field(field::kGraphValueInfo, encode_value_info(v));
  plan.graph_suffix = graph_suffix.take();

  // The default domain, then one entry (version 1) per custom domain the nodes use.
  std::set<std::string> domains;
  for (const auto& n : g.nodes())
    if (!n.domain.empty()) domains.insert(n.domain);
  ProtoWriter model_suffix;
  auto add_opset = [&](const std::string& domain, int64_t version) {
    ProtoWriter opset;
    opset.bytes_field(field::kOpsetDomain, domain);
    opset.int_field(field::kOpsetVersion, version);
    model_suffix.message_field(field::kModelOpsetImport, opset);
  };
  add_opset("", options.opset);
  for (const auto& d : domains) add_opset(d, 1);
  plan.model_suffix = model_suffix.take();
  return plan;
}

// Moves tensors of at least `min_bytes` to the data file; returns its size.
uint64_t make_external(ModelPlan& plan, const std::string& location, size_t min_bytes) {
  uint64_t offset = 0;
  for (auto& i : plan.initializers) {
    if (i.raw_bytes < min_bytes || i.raw_bytes == 0) continue;
    offset = (offset + kExternalAlignment - 1) / kExternalAlignment * kExternalAlignment;
    i.external = true;
    i.external_offset = offset;
    ProtoWriter w;
    w.append_raw(i.header);
    auto entry = [&](const char* key, const std::string& value) {
      ProtoWriter e;
      e.bytes_field(field::kEntryKey, key);
      e.bytes_field(field::kEntryValue, value);
      w.message_field(field::kTensorExternalData, e);
    };
    entry("location", location);
    entry("offset", std::to_string(offset));
    entry("length", std::to_string(i.raw_bytes));
    w.int_field(field::kTensorDataLocation, kDataLocationExternal);
    i.header = w.take();
    offset += i.raw_bytes;
  }
  return offset;
}

void write_model(const ModelPlan& plan, Sink& out) {
  ProtoWriter head;
  head.append_raw(plan.model_prefix);
  head.length_delimited_header(field::kModelGraph, plan.graph_bytes());
  head.append_raw(plan.graph_prefix);
  out.write(head.bytes());
  for (const auto& i : plan.initializers) {
    ProtoWriter w;
    w.length_delimited_header(field::kGraphInitializer, i.message_bytes());
    w.append_raw(i.header);
    if (!i.external) w.length_delimited_header(field::kTensorRawData, i.raw_bytes);
    out.write(w.bytes());
    if (!i.external) {
      const Tensor data = i.init->tensor.contiguous();
      out.write(data.raw_data(), i.raw_bytes);
    }
  }
  out.write(plan.graph_suffix);
  out.write(plan.model_suffix);
}

}  // namespace

std::string serialize_onnx(const OnnxGraph& graph, const OnnxSaveOptions& options) {
  const ModelPlan plan = plan_model(graph, options);
  check(plan.model_bytes() <= options.inline_limit_bytes, kOnnxTag,
        "graph '{}' is {} bytes inline, over protobuf's 2 GB limit: save it with external data", graph.name(),
        plan.model_bytes());
  StringSink sink;
  write_model(plan, sink);
  return std::move(sink.out);
}

OnnxSaveResult save_onnx(const std::filesystem::path& path, const OnnxGraph& graph, const OnnxSaveOptions& options) {
  check(!path.filename().empty(), kOnnxTag, "no file name in output path '{}'", path.string());
  ModelPlan plan = plan_model(graph, options);
  bool external = options.external_data == OnnxExternalData::Always;
  if (plan.model_bytes() > options.inline_limit_bytes) {
    check(options.external_data != OnnxExternalData::Never, kOnnxTag,
          "model '{}' is {} bytes inline, over protobuf's 2 GB limit, and external data is off", path.string(),
          plan.model_bytes());
    external = true;
  }
  OnnxSaveResult result;
  result.model_path = path;
  result.ir_version = onnx_ir_version_for_opset(options.opset);

  std::unique_ptr<FileSink> data_file;
  if (external) {
    const std::string location = path.filename().string() + ".data";
    // Even with 1-byte tensors kept inline the rest must fit under the limit.
    make_external(plan, location, options.external_min_bytes);
    check(plan.model_bytes() <= options.inline_limit_bytes, kOnnxTag,
          "model '{}' is still {} bytes with external data (lower external_min_bytes)", path.string(),
          plan.model_bytes());
    result.data_path = path.parent_path() / location;
    data_file = std::make_unique<FileSink>(*result.data_path);
    for (const auto& i : plan.initializers) {
      if (!i.external) continue;
      data_file->pad_to(i.external_offset);
      const Tensor data = i.init->tensor.contiguous();
      data_file->write(data.raw_data(), i.raw_bytes);
    }
    result.data_bytes = data_file->written();
    data_file->sync();
  }
  FileSink model_file(path);
  write_model(plan, model_file);
  result.model_bytes = model_file.written();
  check(result.model_bytes == plan.model_bytes(), kOnnxTag, "internal: wrote {} bytes, planned {}", result.model_bytes,
        plan.model_bytes());
  model_file.sync();
  // The data first: a model file never points at a data file that is not there yet.
  if (data_file) data_file->commit();
  model_file.commit();
  return result;
}

}  // namespace octet
