// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization for LLM
// Compression and Acceleration"): per-input-channel scales that protect the
// weights of salient (large-activation) channels before RTN, and per-group
// clipping of the weight range (private to src/quant). Both follow AutoAWQ
// (auto_scale / quantizer: _search_best_scale, _compute_best_clip) with
// octet's grids (quant.h).
#pragma once

#include <cstdint>
#include <vector>

#include "octet/quant.h"
#include "octet/tensor.h"
#include "quant/group_quant.h"

namespace octet {

struct AwqScaleResult {
  std::vector<float> scales;       // per input channel, > 0
  double alpha = 0;                // the best grid point
  std::vector<double> errors;      // output MSE per grid point (alpha = i / grid, i = 0 .. grid - 1)
  double rtn_error = 0;            // errors[0] (alpha 0: s = 1, plain RTN)
};

// Activation-aware scale search for a set of Linears reading the same input.
// x [n, in] input rows (f32; leading dims beyond one are flattened), weights:
// each f32 [out_i, in]. For each alpha = i / grid:
//   s = max(mean_rows(|x|)^alpha, 1e-4), then s /= sqrt(max(s) * min(s))
//   (AutoAWQ's order: the clamp keeps the normalisation finite; Inf / NaN -> 1);
//   W' = RTN(W * s) / s per weight (octet's fake_quantize, `spec`);
//   error = mean over all outputs of all weights of (x W'^T - x W^T)^2,
//   computed as (x (W' - W)^T)^2 so no cancellation hides small errors.
// Returns the argmin (the first on ties). The caller applies it as x / s (into
// the previous op) and W * s. Throws Error("quantize") on bad shapes, specs,
// grid < 1, or NaN / Inf.
AwqScaleResult awq_search_scales(const Tensor& x, const std::vector<Tensor>& weights, const QuantSpec& spec,
                                 int grid = 20);

// AutoAWQ's clipping search for one weight w [out, in] with input rows
// x [n, in] (subsampled to min(n, max_rows) rows, evenly spaced: row
// floor(i * n / m) for i < m). For each (row, group) the candidates are
// max_val = amax * (1 - i / grid), i = 0 .. floor(grid * max_shrink) - 1; the
// one minimising the mean over rows of (sum_{k in group} x_k (w_k - q(w_k)))^2,
// q being RTN of the group clamped to [-max_val, max_val], is kept (the first
// on ties, so i = 0, no clipping, wins unless something is strictly better).
// Returns clip_max F32 [out, in / group] for quantize_weight_rtn.
Tensor awq_search_clip(const Tensor& x, const Tensor& w, const QuantSpec& spec, int grid = 20,
                       double max_shrink = 0.5, int64_t max_rows = 512);

}  // namespace octet
