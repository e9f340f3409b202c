// fp32 kernels: GEMM and the row/elementwise ops of transformer models.
//
// All tensors are f32 (ids: i64 or i32), contiguous, row-major. Row ops work
// over the last dimension. Output parameters follow one convention: an
// undefined `out` Tensor is allocated with the right shape; a defined one must
// already have that shape (it is reused, so hot loops need not allocate).
// Row and elementwise ops may write over an input of the same shape (in
// place); GEMM outputs must not overlap their inputs.
//
// Errors are octet::Error tagged with the op name ("[layer_norm] gamma has 63
// elements, hidden size is 64"). The fastest variant the CPU supports is used
// (AVX2+FMA, else the scalar reference; OCTET_ISA=scalar forces the latter);
// GEMM runs on OpenBLAS, sized to octet::num_threads().
// See docs/kernels.md for error bounds and measured speed.
#pragma once

#include <string_view>

#include "octet/tensor.h"

namespace octet::kernels {

// ---- GEMM -----------------------------------------------------------------

struct GemmParams {
  // B is [N, K] (the Hugging Face Linear weight layout [out, in]) instead of [K, N].
  bool transpose_b = false;
  float alpha = 1.0f;
  // With beta == 0, C's previous contents are never read (NaN there is harmless).
  float beta = 0.0f;
};

// C[M, N] = alpha * A[M, K] * op(B) + beta * C + bias[N] (bias optional).
void gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmParams& params = {}, const Tensor& bias = {});

// For each i: C[i] = alpha * A[i] * op(B[i]) + beta * C[i]. A is [batch, M, K];
// B is [batch, K, N] (or [batch, N, K] transposed), or batch 1 to share one B.
void gemm_batched(const Tensor& a, const Tensor& b, Tensor& c, const GemmParams& params = {});

// y[..., out] = x[..., in] * weight^T + bias, weight [out, in] (HF Linear).
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

// ---- normalisation ----------------------------------------------------------

// y = (x - mean) / sqrt(var + eps) * gamma + beta (biased variance, PyTorch's LayerNorm).
void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& y);
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);

// y = layer_norm(x + residual): the post-norm residual block of BERT-style
// models. When `sum` is non-null it receives x + residual (as rounded to f32,
// which is what the norm sees), for pre-norm models that carry it forward.
void add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta, float eps,
                    Tensor& y, Tensor* sum = nullptr);

// y = x / sqrt(mean(x^2) + eps) * w, where w = weight, or 1 + weight when
// `unit_offset` (Gemma-style checkpoints store weight - 1).
void rms_norm(const Tensor& x, const Tensor& weight, float eps, bool unit_offset, Tensor& y);
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, bool unit_offset = false);

// ---- activations and elementwise ops ----------------------------------------

enum class Activation {
  Gelu,       // x * Phi(x), exact (erf)
  GeluTanh,   // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  QuickGelu,  // x * sigmoid(1.702 x)
  Relu,
  Silu,       // x * sigmoid(x)
};

// From a Hugging Face config's spelling: gelu, gelu_new, gelu_pytorch_tanh,
// gelu_fast, quick_gelu, relu, silu (or swish). Anything else throws Error("activation").
Activation parse_activation(std::string_view hf_name);
std::string_view activation_name(Activation act);

// y = act(x), elementwise (any shape).
void activation(Activation act, const Tensor& x, Tensor& y);
Tensor activation(Activation act, const Tensor& x);

// y = a + b and y = a * b. b has a's shape, or a's trailing dimensions
// (broadcast over the leading ones: a bias [H] over [B, S, H]).
void add(const Tensor& a, const Tensor& b, Tensor& y);
Tensor add(const Tensor& a, const Tensor& b);
void mul(const Tensor& a, const Tensor& b, Tensor& y);
Tensor mul(const Tensor& a, const Tensor& b);

// ---- softmax ---------------------------------------------------------------

// y = softmax(scale * x + mask) over the last dimension. `mask` (optional,
// additive) broadcasts to x numpy-style, with its last dimension equal to x's.
// Entries that end up -inf get probability exactly 0; a row that is -inf
// everywhere gives all zeros (never NaN).
void softmax(const Tensor& x, Tensor& y, float scale = 1.0f, const Tensor& mask = {});
Tensor softmax(const Tensor& x, float scale = 1.0f, const Tensor& mask = {});

// ---- embedding ----------------------------------------------------------------

// out[..., H] = table[ids[...], :]; table [V, H], ids i64 or i32 of any shape.
// An id outside [0, V) throws Error("embedding").
void embedding(const Tensor& table, const Tensor& ids, Tensor& out);
Tensor embedding(const Tensor& table, const Tensor& ids);

}  // namespace octet::kernels
