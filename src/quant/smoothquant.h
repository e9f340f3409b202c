// SmoothQuant (Xiao et al. 2023) and the per-channel folding it shares with
// AWQ (private to src/quant).
//
// For Linears reading one activation X, channel j of X is divided by s_j and
// column j of every weight multiplied by s_j: X W^T is unchanged, but the
// outlier channels of X shrink while the weights absorb them.
//   s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha)   (max over every consumer's column j)
// The division happens where X is produced (a norm's scale, or the rows of
// the Linear producing it), so nothing is added at run time.
#pragma once

#include <span>
#include <vector>

#include "octet/llm_quantize.h"
#include "octet/nn.h"

namespace octet {

// Reduces per-column values (consumer input columns) to per-producer-channel
// maxima (through channel_of; GQA heads sharing a v row share its factor).
std::vector<float> producer_channel_max(const nn::ChannelScaleProducer& producer, std::span<const float> per_column);
// The factor of each consumer column: producer_factors[channel_of[c]].
std::vector<float> column_factors(const nn::ChannelScaleProducer& producer, std::span<const float> producer_factors,
                                  int64_t columns);

// SmoothQuant factors per producer channel. A channel with no activation or
// no weight magnitude gets 1; factors are clamped to [1e-5, 1e5].
std::vector<float> smoothquant_factors(const nn::LinearInputGroup& group, std::span<const float> channel_amax,
                                       double alpha);

// Divides the producer's channels by `producer_factors` and multiplies every
// consumer's columns by the matching factor (function-preserving).
void fold_channel_factors(nn::LinearInputGroup& group, std::span<const float> producer_factors);

// The relative output error ||Q(X/s) Q(W s)^T - X W^T|| / ||X W^T|| of the
// group's Linears on input rows `x` [n, in] for the recipe's int8 weights and
// activations (per token, or one static scale from the rows' max |x|).
double smoothed_output_error(const nn::LinearInputGroup& group, const Tensor& x, std::span<const float> producer_factors,
                             const LlmRecipe& recipe);

// --alpha auto: the alpha in 0.3, 0.35, ..., 0.9 with the least smoothed_output_error on `x` (the first on ties).
double search_smoothquant_alpha(const nn::LinearInputGroup& group, std::span<const float> channel_amax, const Tensor& x,
                                const LlmRecipe& recipe);

}  // namespace octet
