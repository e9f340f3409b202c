// Attention with its q, k, v and softmax probabilities on static int8 grids:
// what a recipe with attention sites (`octet quantize --quantize-attention`)
// simulates as fake quantization, computed natively. Q K^T and P V run on the
// exact int8 GEMM (octet/gemm_int8.h: vpdpbusd on AVX-512 VNNI); the masks,
// bias and softmax stay f32, as in kernels::attention.
//
// For each (batch, head), with codes c = clamp(round_half_even(x / s) + z, qmin, 127):
//   scores = float(sum_t (cq - zq) ck) * sq * (sk * scale)    masks, bias, softmax -> p
//   out    = float(sum_j (cp - zp) cv) * sp * sv
// Keys and values are symmetric (z = 0, codes in [-127, 127]: they take the
// GEMM's weight side); queries and probabilities may be affine. The integer
// sums are exact, so the result differs from fake quantization + f32
// attention only by f32 rounding, and where that rounding moves a
// probability across a code boundary, by one code (sp * sv * |cv|) per key.
#pragma once

#include <cstdint>

#include "octet/gemm_int8.h"
#include "octet/kernels_attention.h"

namespace octet::kernels {

// One operand's static grid (octet/quant.h): symmetric activations use qmin = -127.
struct Int8Grid {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t qmin = -128;
};

struct Int8AttentionQuant {
  Int8Grid query, key, value, probabilities;
};

// Why `quant` cannot run natively ("" when it can): a scale that is not
// positive and finite, a zero point or qmin outside [-128, 127], keys or
// values that are not symmetric.
std::string int8_attention_unsupported(const Int8AttentionQuant& quant);

// Shapes, views and masks as kernels::attention (octet/kernels_attention.h);
// params.probabilities and params.transform_probabilities must be unset (the
// probabilities exist only as codes). seq_k is at most 65,000 (the int32 sum
// of P V). Throws Error("attention_int8") on bad input or an `isa` this CPU
// cannot run; every isa gives the same bits.
void attention_int8(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, const AttentionParams& params,
                    const Int8AttentionQuant& quant, Int8Isa isa = int8_default_isa());

}  // namespace octet::kernels
