// CPU precisions a loaded fp32 model can run its Linear layers in.
//
//   fp32: the fp32 GEMM (weights packed once where octet's AVX-512 GEMM runs);
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

// Where octet's own fp32 GEMM runs (AVX-512), packs every Linear's weights
// once into its layout (a kernel the quantization passes clear like any
// other): the same results, bit for bit, without re-packing the weights from
// memory on every call, which is most of the time of a pass over few tokens
// (BERT-base, 16 tokens: 55 %). Costs the fp32 weights' size once more.
// Linears that already run a kernel keep it. A no-op elsewhere.
void use_packed_fp32_kernels(Model& model);
bool packed_fp32_supported();

// "fp32": use_packed_fp32_kernels, except for decoder LLMs (their fp32
// weights are too large to hold twice; use_decode_kernels runs them);
// "bf16": use_bf16_kernels; anything else throws Error("precision") listing both.
void apply_cpu_precision(Model& model, std::string_view precision);

// The bytes of packed fp32 / bf16 weights the installed kernels hold (0 without them).
size_t packed_fp32_weight_bytes(Model& model);
size_t bf16_weight_bytes(Model& model);

}  // namespace octet
