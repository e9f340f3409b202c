// OnnxGraph: building and validating a graph (serialization is in onnx_writer.cc).
#include <bit>
#include <cmath>

#include "core/error_tags.h"
#include "octet/onnx.h"

namespace octet {
namespace {

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

void check_dims(const std::string& value, const std::vector<OnnxDim>& dims) {
  for (const auto& d : dims) {
    if (const auto* size = std::get_if<int64_t>(&d)) {
      check(*size >= 0, kOnnxTag, "value '{}': negative dimension {}", value, *size);
    } else {
      check(!std::get<std::string>(d).empty(), kOnnxTag, "value '{}': empty symbolic dimension name", value);
    }
  }
}

}  // namespace

OnnxType onnx_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return OnnxType::Float;
    case DType::F16: return OnnxType::Float16;
    case DType::BF16: return OnnxType::BFloat16;
    case DType::F8_E4M3: return OnnxType::Float8E4M3FN;
    case DType::F8_E5M2: return OnnxType::Float8E5M2;
    case DType::F64: return OnnxType::Double;
    case DType::I8: return OnnxType::Int8;
    case DType::U8: return OnnxType::UInt8;
    case DType::I4: return OnnxType::Int4;
    case DType::U4: return OnnxType::UInt4;
    case DType::I16: return OnnxType::Int16;
    case DType::I32: return OnnxType::Int32;
    case DType::I64: return OnnxType::Int64;
    case DType::Bool: return OnnxType::Bool;
  }
  fail(kOnnxTag, "dtype {} has no ONNX element type", static_cast<int>(dtype));
}

int onnx_min_opset(OnnxType type) {
  switch (type) {
    case OnnxType::Float8E4M3FN:
    case OnnxType::Float8E5M2: return 19;
    case OnnxType::Int4:
    case OnnxType::UInt4: return 21;
    default: return 13;
  }
}

int64_t onnx_ir_version_for_opset(int opset) {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

OnnxGraph::OnnxGraph(std::string name) : name_(std::move(name)) {
  check(!name_.empty(), kOnnxTag, "graph name is empty");
}

void OnnxGraph::claim_value(const std::string& name, const char* what) {
  check(!name.empty(), kOnnxTag, "{} with an empty name", what);
  check(values_.insert(name).second, kOnnxTag, "{} '{}': a value with that name already exists", what, name);
}

std::string OnnxGraph::unique_name(const std::string& prefix, const std::set<std::string>& taken) {
  int& next = next_suffix_[prefix];
  for (;; ++next) {
    std::string candidate = fmt::format("{}_{}", prefix, next);
    if (!taken.contains(candidate)) {
      ++next;
      return candidate;
    }
  }
}

std::string OnnxGraph::fresh_name(const std::string& preferred, const std::set<std::string>& taken) {
  return taken.contains(preferred) ? unique_name(preferred, taken) : preferred;
}

std::string OnnxGraph::add_input(std::string name, DType elem_type, std::vector<OnnxDim> dims) {
  check_dims(name, dims);
  claim_value(name, "graph input");
  inputs_.push_back({name, onnx_type(elem_type), std::move(dims)});
  return name;
}

void OnnxGraph::add_output(const std::string& name, DType elem_type, std::optional<std::vector<OnnxDim>> dims) {
  check(has_value(name), kOnnxTag, "graph output '{}' is not a value of the graph", name);
  for (const auto& o : outputs_) check(o.name != name, kOnnxTag, "graph output '{}' declared twice", name);
  if (dims) check_dims(name, *dims);
  outputs_.push_back({name, onnx_type(elem_type), std::move(dims)});
}

void OnnxGraph::add_value_info(const std::string& name, DType elem_type, std::vector<OnnxDim> dims) {
  check(has_value(name), kOnnxTag, "value_info '{}' is not a value of the graph", name);
  for (const auto& v : value_infos_) check(v.name != name, kOnnxTag, "value_info '{}' declared twice", name);
  check_dims(name, dims);
  value_infos_.push_back({name, onnx_type(elem_type), std::move(dims)});
}

std::string OnnxGraph::add_initializer(std::string name, const Tensor& tensor) {
  check(tensor.defined(), kOnnxTag, "initializer '{}' has no tensor", name);
  if (name.empty()) name = unique_name("const", values_);
  claim_value(name, "initializer");
  initializer_index_[name] = initializers_.size();
  initializers_.push_back({name, tensor});
  return name;
}

const Tensor* OnnxGraph::find_initializer(const std::string& name) const {
  auto it = initializer_index_.find(name);
  return it == initializer_index_.end() ? nullptr : &initializers_[it->second].tensor;
}

std::vector<std::string> OnnxGraph::add_node(const std::string& op_type, std::vector<std::string> inputs,
                                             std::vector<std::string> outputs, std::vector<OnnxAttribute> attributes,
                                             std::string name, std::string domain) {
  check(!op_type.empty(), kOnnxTag, "node with an empty op_type");
  if (name.empty()) name = unique_name(op_type, node_names_);
  check(!node_names_.contains(name), kOnnxTag, "node '{}': a node with that name already exists", name);
  // Nodes must come in topological order: every input already defined.
  for (const auto& in : inputs)
    check(in.empty() || has_value(in), kOnnxTag, "node '{}' ({}): input '{}' is not defined yet", name, op_type, in);
  check(!outputs.empty(), kOnnxTag, "node '{}' ({}) has no outputs", name, op_type);
  std::set<std::string> attribute_names;
  for (const auto& a : attributes) {
    check(!a.name.empty(), kOnnxTag, "node '{}': attribute with an empty name", name);
    check(attribute_names.insert(a.name).second, kOnnxTag, "node '{}': attribute '{}' given twice", name, a.name);
    if (const auto* t = std::get_if<Tensor>(&a.value))
      check(t->defined(), kOnnxTag, "node '{}': tensor attribute '{}' has no tensor", name, a.name);
  }
  for (const auto& out : outputs) {
    check(!out.empty(), kOnnxTag, "node '{}' ({}): empty output name", name, op_type);
    check(!has_value(out), kOnnxTag, "node '{}' ({}): output '{}' is already defined", name, op_type, out);
  }
  std::set<std::string> distinct(outputs.begin(), outputs.end());
  check(distinct.size() == outputs.size(), kOnnxTag, "node '{}' ({}): an output name repeats", name, op_type);
  for (const auto& out : outputs) values_.insert(out);
  node_names_.insert(name);
  nodes_.push_back({name, op_type, std::move(domain), std::move(inputs), outputs, std::move(attributes)});
  return outputs;
}

std::vector<std::string> OnnxGraph::add_node(const std::string& op_type, std::vector<std::string> inputs,
                                             int output_count, std::vector<OnnxAttribute> attributes,
                                             std::string name, std::string domain) {
  check(output_count >= 1, kOnnxTag, "node '{}' ({}): output count {} < 1", name, op_type, output_count);
  if (name.empty()) name = unique_name(op_type, node_names_);
  std::vector<std::string> outputs;
  for (int i = 0; i < output_count; ++i) {
    std::string out = output_count == 1 ? name : fmt::format("{}_out{}", name, i);
    // The node name is free as a value name unless a value took it already.
    out = fresh_name(out, values_);
    outputs.push_back(std::move(out));
  }
  return add_node(op_type, std::move(inputs), std::move(outputs), std::move(attributes), std::move(name),
                  std::move(domain));
}

std::string OnnxGraph::add_op(const std::string& op_type, std::vector<std::string> inputs,
                              std::vector<OnnxAttribute> attributes, std::string name) {
  return add_node(op_type, std::move(inputs), 1, std::move(attributes), std::move(name)).front();
}

std::string OnnxGraph::add_constant_i64(const std::vector<int64_t>& values, std::string name) {
  if (name.empty()) name = unique_name("const_i64", values_);
  return add_initializer(std::move(name),
                         Tensor::from_vector(values, {static_cast<int64_t>(values.size())}));
}

std::string OnnxGraph::add_constant_f32(const std::vector<float>& values, Shape shape, std::string name) {
  if (name.empty()) name = unique_name("const_f32", values_);
  return add_initializer(std::move(name), Tensor::from_vector(values, std::move(shape)));
}

std::string OnnxGraph::scalar_f32(float value) {
  const auto bits = std::bit_cast<uint32_t>(value);
  if (auto it = scalar_cache_.find(bits); it != scalar_cache_.end()) return it->second;
  std::string name = add_constant_f32({value}, {});
  scalar_cache_[bits] = name;
  return name;
}

std::string OnnxGraph::add_matmul(const std::string& a, const std::string& b, std::string name) {
  return add_op("MatMul", {a, b}, {}, std::move(name));
}

std::string OnnxGraph::add_linear(const std::string& x, const std::string& weight, const std::string& bias,
                                  std::string name) {
  if (name.empty()) name = unique_name("linear", node_names_);
  std::string y = add_op("MatMul", {x, weight}, {}, name + "_matmul");
  if (!bias.empty()) y = add_op("Add", {y, bias}, {}, name + "_bias");
  return y;
}

std::string OnnxGraph::add_gelu_erf(const std::string& x, std::string name) {
  if (name.empty()) name = unique_name("gelu", node_names_);
  // The order HF computes (x * 0.5 * (1 + erf(x / sqrt(2)))) and ONNX Runtime's GeluFusion matches.
  const std::string d = add_op("Div", {x, scalar_f32(static_cast<float>(std::sqrt(2.0)))}, {}, name + "_div");
  const std::string e = add_op("Erf", {d}, {}, name + "_erf");
  const std::string a = add_op("Add", {e, scalar_f32(1.0f)}, {}, name + "_add");
  const std::string m = add_op("Mul", {x, a}, {}, name + "_mul");
  return add_op("Mul", {m, scalar_f32(0.5f)}, {}, name + "_half");
}

void OnnxGraph::check_quant_params(const std::string& op, const std::string& scale, const std::string& zero_point,
                                   std::optional<int64_t> axis) const {
  check(has_value(scale), kOnnxTag, "{}: scale '{}' is not defined", op, scale);
  check(zero_point.empty() || has_value(zero_point), kOnnxTag, "{}: zero point '{}' is not defined", op, zero_point);
  // Shapes are checked where the parameters are initializers (the usual case).
  const Tensor* s = find_initializer(scale);
  if (s) {
    check(is_float_type(s->dtype()), kOnnxTag, "{}: scale '{}' is {}, not a float type", op, scale, s->describe());
    if (axis) {
      check(s->rank() == 1, kOnnxTag, "{}: per-channel scale '{}' must be 1-D, is {}", op, scale, s->describe());
    } else {
      check(s->rank() == 0, kOnnxTag,
            "{}: per-tensor scale '{}' must be a scalar, is {} (give an axis for per-channel)", op, scale,
            s->describe());
    }
  }
  const Tensor* z = zero_point.empty() ? nullptr : find_initializer(zero_point);
  if (z) {
    check(!is_float_type(z->dtype()) && z->dtype() != DType::F64, kOnnxTag,
          "{}: zero point '{}' is {}: it must have the quantized type", op, zero_point, z->describe());
    if (s)
      check(z->shape() == s->shape(), kOnnxTag, "{}: zero point '{}' shape {} differs from scale '{}' shape {}", op,
            zero_point, shape_str(z->shape()), scale, shape_str(s->shape()));
  }
}

std::string OnnxGraph::add_qdq(const std::string& x, const std::string& scale, const std::string& zero_point,
                               std::optional<int64_t> axis, std::string name) {
  check(has_value(x), kOnnxTag, "QDQ: input '{}' is not defined", x);
  check_quant_params("QuantizeLinear", scale, zero_point, axis);
  if (const Tensor* xt = find_initializer(x); xt && axis) {
    const int64_t rank = xt->rank();
    const int64_t a = *axis < 0 ? *axis + rank : *axis;
    check(a >= 0 && a < rank, kOnnxTag, "QDQ on '{}': axis {} out of range for {}", x, *axis, xt->describe());
    if (const Tensor* s = find_initializer(scale))
      check(s->numel() == xt->dim(static_cast<int>(a)), kOnnxTag, "QDQ on '{}': {} scales for axis {} of {}", x,
            s->numel(), *axis, xt->describe());
  }
  if (name.empty()) name = x;
  std::vector<OnnxAttribute> attrs;
  if (axis) attrs.emplace_back("axis", *axis);
  std::vector<std::string> params{scale};
  if (!zero_point.empty()) params.push_back(zero_point);
  std::vector<std::string> q_inputs{x};
  q_inputs.insert(q_inputs.end(), params.begin(), params.end());
  const std::string q_out = fresh_name(name + "_quantized", values_);
  const std::string q = add_node("QuantizeLinear", std::move(q_inputs), std::vector<std::string>{q_out}, attrs,
                                 fresh_name(name + "_QuantizeLinear", node_names_))
                            .front();
  return add_dequantize(q, scale, zero_point, axis, name);
}

std::string OnnxGraph::add_dequantize(const std::string& q, const std::string& scale, const std::string& zero_point,
                                      std::optional<int64_t> axis, std::string name) {
  check(has_value(q), kOnnxTag, "DequantizeLinear: input '{}' is not defined", q);
  check_quant_params("DequantizeLinear", scale, zero_point, axis);
  if (name.empty()) name = q;
  std::vector<OnnxAttribute> attrs;
  if (axis) attrs.emplace_back("axis", *axis);
  std::vector<std::string> inputs{q, scale};
  if (!zero_point.empty()) inputs.push_back(zero_point);
  const std::string out = fresh_name(name + "_dequantized", values_);
  return add_node("DequantizeLinear", std::move(inputs), std::vector<std::string>{out}, std::move(attrs),
                  fresh_name(name + "_DequantizeLinear", node_names_))
      .front();
}

}  // namespace octet
