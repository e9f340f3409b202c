// The QDQ part of ONNX export: QuantizeLinear -> DequantizeLinear on quantized
// activations, integer weight initializers + DequantizeLinear for quantized
// Linears, fp32 [in, out] weights for the rest (docs/onnx.md conventions).
#pragma once

#include <map>
#include <set>
#include <string>

#include "octet/export_onnx.h"
#include "octet/nn.h"
#include "octet/onnx.h"

namespace octet::export_detail {

class QdqNodes {
 public:
  // `plan` may be null (an fp32 export).
  QdqNodes(OnnxGraph& graph, const QdqPlan* plan);

  // `x` itself, or its QDQ when the plan quantizes the site named `site`.
  std::string activation(const std::string& x, const std::string& site, const std::string& scope);
  // Input B of the Linear's MatMul ([in, out]): the transposed fp32 weight, or
  // the transposed integer codes + DequantizeLinear (axis 1 when per channel).
  // Made once per Linear (shared layers reuse it).
  std::string weight(const nn::Linear& linear, const std::string& scope);
  // Throws Error("export") naming plan entries the graph never used (a plan
  // made for another model).
  void check_all_used() const;

 private:
  OnnxGraph& g_;
  const QdqPlan* plan_;
  std::map<std::string, std::string> weights_;                        // Linear name -> MatMul input
  std::map<std::string, std::pair<std::string, std::string>> params_;  // site -> (scale, zero point)
  std::set<std::string> used_sites_;
};

// [rows, cols] -> [cols, rows], any 1-, 2- or 4-byte dtype, contiguous result.
Tensor transpose_2d(const Tensor& t);

}  // namespace octet::export_detail
