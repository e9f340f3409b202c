// The native kernel of FP8 e4m3 Linears on the CPU (kernels/fp8_gemm.h):
// the fp8 recipe's Linears (e4m3 weights per tensor or per channel, static
// e4m3 activations per tensor) with their weights kept as e4m3 codes.
#pragma once

#include <memory>

#include "octet/quantized_model.h"

namespace octet {

// Whether `q` runs on it: weight fp8_e4m3:sym per tensor / per channel(0) with no NaN code, input static
// fp8_e4m3 per tensor.
bool has_native_fp8_kernel(const QuantizedLinear& q);

// `q` must satisfy has_native_fp8_kernel (checked).
std::shared_ptr<const nn::LinearKernel> make_native_fp8_kernel(const QuantizedLinear& q, const Tensor& bias);

}  // namespace octet
