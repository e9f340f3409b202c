// The native kernel of an attention block whose query, key, value and
// probabilities sites are quantized to static int8 (a recipe with attention
// sites): kernels::attention_int8 with the sites' grids.
#pragma once

#include <memory>

#include "octet/nn_sites.h"
#include "octet/quantized_model.h"

namespace octet {

// The kernel, or nullptr when these sites cannot run natively: any of them
// dynamic, fp8 or not per tensor, or keys or values affine (the int8 GEMM's
// weight side is symmetric). The sites' fake quantization then stays the
// only path.
std::shared_ptr<const nn::AttentionKernel> make_int8_attention_kernel(const ActivationQuant& query,
                                                                      const ActivationQuant& key,
                                                                      const ActivationQuant& value,
                                                                      const ActivationQuant& probabilities);

}  // namespace octet
