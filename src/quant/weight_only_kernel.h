// The native kernel of weight-only int8 / int4 Linears (kernels/wo_gemv.h).
#pragma once

#include <memory>
#include <string>

#include "kernels/wo_gemv.h"
#include "octet/quantized_model.h"

namespace octet {

// `q` must satisfy has_native_weight_only_kernel (checked).
std::shared_ptr<const nn::LinearKernel> make_native_weight_only_kernel(const QuantizedLinear& q, const Tensor& bias);

// The same kernel on weights packed by the caller (formats no QuantizedLinear expresses: GGUF Q4_K's
// scale-min form, Q6_K's groups of 16); `label` is its describe().
std::shared_ptr<const nn::LinearKernel> make_packed_weight_only_kernel(kernels::PackedWoWeights packed,
                                                                       const Tensor& bias, std::string label);

// Inputs with at most this many rows take the integer path (GEMV or GEMM),
// more the dequantize-panels + fp32 GEMM path (default: no cap, or
// OCTET_WO_GEMV_MAX_ROWS; 0 always dequantizes). Returns the previous value;
// for tests and measurements (not per thread).
int64_t set_weight_only_gemv_max_rows(int64_t rows);

}  // namespace octet
