// CPU precisions a loaded fp32 model can run its Linear layers in.
//
//   fp32: as loaded (the fp32 GEMM);
//   bf16: every Linear's weights converted to bf16 and packed once
//         (octet/gemm_bf16.h), activations rounded to bf16 at each Linear's
//         input, f32 accumulation. Attention, norms and activations stay f32.
//
// Quantized models (int8 / weight-only kernels already installed) keep their
// own kernels; asking them for bf16 is an error.
#pragma once

#include <string>
#include <string_view>

namespace octet {

class Model;

// Installs the bf16 kernel on every Linear. Throws Error("precision") when
// the CPU lacks AVX-512 BF16 (no emulated path: it would be slower than fp32)
// or when a Linear already runs another kernel (a quantized model). The f32
// weights stay as loaded (mapped from the checkpoint when it is f32); the
// bf16 copies add half their size.
void use_bf16_kernels(Model& model);

// "fp32" (nothing to do) or "bf16" (use_bf16_kernels); anything else throws
// Error("precision") listing both.
void apply_cpu_precision(Model& model, std::string_view precision);

// The bytes of bf16 weights the installed kernels hold (0 without them).
size_t bf16_weight_bytes(Model& model);

}  // namespace octet
