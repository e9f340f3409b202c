// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers"): weights quantized column by column,
// each column's rounding error spread over the columns not yet quantized
// through the inverse Hessian of the layer's inputs (private to src/quant).
#pragma once

#include <cstdint>
#include <vector>

#include "octet/quant.h"
#include "octet/tensor.h"
#include "quant/group_quant.h"

namespace octet {

// Accumulates H = (2 / n) * sum over rows x of x^T x for inputs x [..., in]
// (f32): chunks of rows go through kernels::gemm in f32 and are summed in
// double. Throws Error("quantize") on a wrong shape or dtype, or NaN / Inf.
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t in);
  void add(const Tensor& x);
  // F64 [in, in], exactly symmetric. Throws Error("quantize") before any row was added.
  Tensor hessian() const;
  int64_t rows() const;

 private:
  int64_t in_;
  int64_t rows_ = 0;
  std::vector<double> sum_;  // sum of x^T x, lower triangle (row-major [in, in])
};

struct GptqOptions {
  double damp = 0.01;       // damp * mean(diag H) added to the diagonal
  int64_t block = 128;      // lazy-batch block of columns
  bool act_order = false;   // columns in descending diag(H) order
};

struct GptqStats {
  double damp_added = 0;     // the value added to H's diagonal
  int64_t dead_columns = 0;  // columns with H_ii == 0 (inputs always 0): weights set to 0
};

// GPTQ as in the reference implementation (IST-DASLab gptq.py, AutoGPTQ /
// GPTQModel fasterquant), on w F32 [out, in] with the Hessian F64 (or F32)
// [in, in] of the layer's inputs (only its lower triangle is read):
//   dead columns (H_ii == 0) get weight 0 and H_ii = 1; damp * mean(diag H) is
//   added to the diagonal; U = the upper Cholesky factor of H^-1; columns are
//   quantized in lazy blocks of `block`, each column's error (w - q) / U_ii fed
//   into the later columns through row i of U.
// Without act_order a group's params come from the current (error-updated)
// weights of its columns when its first column is reached. With act_order,
// columns run in descending diag(H) order and group params are computed up
// front from the original weights per contiguous group in the ORIGINAL column
// order ("static groups"), so groups stay contiguous and no g_idx is needed.
// The result is in the original column order either way.
// Throws Error("quantize") on bad shapes / specs / options, NaN or Inf, a
// negative H_ii, or when H + damping is not positive definite (raise damp).
GroupQuantizedWeight gptq_quantize(const Tensor& w, const Tensor& hessian, const QuantSpec& spec,
                                   const GptqOptions& options = {}, GptqStats* stats = nullptr);

}  // namespace octet
