// The native kernel of weight-only int8 / int4 Linears (kernels/wo_gemv.h).
#pragma once

#include <memory>

#include "octet/quantized_model.h"

namespace octet {

// `q` must satisfy has_native_weight_only_kernel (checked).
std::shared_ptr<const nn::LinearKernel> make_native_weight_only_kernel(const QuantizedLinear& q, const Tensor& bias);

// Inputs with at most this many rows take the integer path (GEMV or GEMM),
// more the dequantize-panels + fp32 GEMM path (default: no cap, or
// OCTET_WO_GEMV_MAX_ROWS; 0 always dequantizes). Returns the previous value;
// for tests and measurements (not per thread).
int64_t set_weight_only_gemv_max_rows(int64_t rows);

}  // namespace octet
