// CUDA ops: cuBLASLt GEMMs (fp16/bf16, INT8, FP8 e4m3) and the fused kernels of
// encoder transformers. Everything is queued on the given stream and returns
// without waiting; tensors must live on the stream's device.
//
// Tensors are DeviceTensors, contiguous and row-major; row ops work over the
// last dimension. Float inputs may be F32, F16 or BF16 (math is f32 inside);
// `y` must be allocated by the caller with the right shape, and its dtype
// picks the output: F32 / F16 / BF16, or I8 / F8_E4M3 quantized as
// `OutputQuant` says. Errors are octet::Error tagged "cuda".
// See docs/cuda.md for layouts, error bounds and what has run on a GPU.
#pragma once

#include "octet/cuda.h"

namespace octet::cuda {

// ---- quantized outputs -----------------------------------------------------------

// Quantization follows octet's CPU convention (octet/quant.h) exactly:
//   int8: scale = amax / 127 (1 when amax = 0, never below FLT_MIN),
//         q = clamp(round_half_even(x * (1 / scale)), -127, 127), NaN -> 0
//   fp8 e4m3: scale = amax / 448, q = e4m3(x * (1 / scale)), round to nearest
//         even, saturating to +-448.
enum class QuantMode {
  Static,            // `scale` [1] f32 holds a calibrated per-tensor scale (read)
  DynamicPerToken,   // `scale` [rows] f32 receives each row's scale (written)
  DynamicPerTensor,  // `scale` [1] f32 receives the tensor's scale (written; quantize() only)
};

struct OutputQuant {
  QuantMode mode = QuantMode::Static;
  DeviceTensor scale;  // f32; unused when the output is a float type
};

// ---- fused row and elementwise kernels ------------------------------------------

// y = layer_norm(x + residual) * gamma + beta over the last dim (biased
// variance, PyTorch's LayerNorm). `residual` may be undefined (plain layer
// norm). y may be x or residual (in place) when it has their dtype.
void add_layer_norm(const DeviceTensor& x, const DeviceTensor& residual, const DeviceTensor& gamma,
                    const DeviceTensor& beta, float eps, DeviceTensor& y, const Stream& stream,
                    const OutputQuant& quant = {});

// BERT embeddings: y[b, s] = layer_norm(word[ids] + position[pos] + token_type[tt]).
// input_ids i32 [B, S]; token_type_ids i32 [B, S] or undefined (type 0; a
// table with no token types is allowed as an undefined `token_type`);
// position_ids i32 [B, S] or undefined (0 .. S-1). Tables [rows, H].
struct EmbeddingTables {
  DeviceTensor word, position, token_type, gamma, beta;
  float eps = 1e-12f;
};
// An id outside its table throws Error "cuda" naming it; checking waits for
// the stream (validate = false skips the check and the wait, e.g. inside a
// CUDA graph: out-of-range rows are then written as zeros).
void embedding_layer_norm(const DeviceTensor& input_ids, const DeviceTensor& token_type_ids,
                          const DeviceTensor& position_ids, const EmbeddingTables& tables, DeviceTensor& y,
                          const Stream& stream, const OutputQuant& quant = {}, bool validate = true);

enum class Activation {
  None,
  GeluErf,   // x * Phi(x), exact
  GeluTanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
};

// y = act(x + bias) with bias [N] broadcast over rows of x [..., N] (bias may
// be undefined). y may be x (in place) when it has x's dtype.
void bias_activation(const DeviceTensor& x, const DeviceTensor& bias, Activation act, DeviceTensor& y,
                     const Stream& stream, const OutputQuant& quant = {});

// Quantizes x (float) to y (I8 or F8_E4M3): static, dynamic per token or
// dynamic per tensor (an amax reduction, then the quantize pass).
void quantize(const DeviceTensor& x, DeviceTensor& y, const Stream& stream, const OutputQuant& quant);

// ---- attention ----------------------------------------------------------------

// Encoder self-attention, one fused kernel per (batch, head, query block):
//   out[b, s, h, :] = softmax(scale * q[b, s, h] . k[b, j, h] + mask) v[b, j, h]
// q, k, v are [B, S, heads, head_dim] views that may sit inside one packed QKV
// projection output: element (b, s, h, d) is at base + (b * S + s) * row_stride
// + h * head_dim + d, with row_stride = 3 * heads * head_dim for packed QKV
// (then pass the same tensor three times with offsets, see AttentionInputs).
// key_mask: i32 [B, S], nonzero = attend, or undefined. A row with every key
// masked gives zeros. out: [B, S, heads * head_dim] (F16, BF16 or F32).
struct AttentionInputs {
  DeviceTensor q, k, v;               // F16 / BF16 / F32, or q and k both I8 or both F8_E4M3
  int64_t q_offset = 0, k_offset = 0, v_offset = 0;  // elements from each tensor's start
  int64_t row_stride = 0;             // elements between tokens; 0 = heads * head_dim
  int64_t heads = 0;
  int64_t head_dim = 0;
  DeviceTensor key_mask;
  float scale = 0;                    // 0 = 1 / sqrt(head_dim)
  DeviceTensor q_scale, k_scale;      // f32 [1] each, for I8 / F8_E4M3 q and k (per tensor)
};
void attention(const AttentionInputs& in, DeviceTensor& out, const Stream& stream);

// BERT-style classification head on the first token:
//   logits[b] = classifier_w tanh(pooler_w hidden[b, 0] + pooler_b) + classifier_b
// hidden [B, S, H]; pooler_w [H, H]; classifier_w [C, H]; logits f32 [B, C].
// pooler_w may be undefined (no pooler: the first token goes to the classifier).
struct ClassifierWeights {
  DeviceTensor pooler_w, pooler_b, classifier_w, classifier_b;
};
void classification_head(const DeviceTensor& hidden, const ClassifierWeights& weights, DeviceTensor& logits,
                         const Stream& stream);

// ---- GEMM (cuBLASLt) --------------------------------------------------------------

// A Linear weight [N, K] (out, in: Hugging Face's layout) prepared once at
// load. The layout is what cuBLASLt's "TN" wants (weight as A, transposed;
// activations as B): row-major [N, K] is column-major K x N.
struct GemmWeight {
  DeviceTensor w;      // F16, BF16, I8 or F8_E4M3, [N, K]
  DeviceTensor scale;  // I8: f32 [N] per output channel; F8_E4M3: f32 [1]; floats: undefined
  int64_t out_features() const { return w.dim(0); }
  int64_t in_features() const { return w.dim(1); }
};

// Uploads an F16/BF16 weight (an F32 one is converted to `dtype`), or an
// already quantized I8 / F8_E4M3 weight with its scales (host f32: [N] for
// I8, one value for F8_E4M3). INT8 needs K and N multiples of 4 and FP8
// multiples of 16 (checked here, before any upload).
GemmWeight upload_weight(const Tensor& w, DType dtype, const Stream& stream);
GemmWeight upload_quantized_weight(const Tensor& w, const Tensor& scale, const Stream& stream);

enum class GemmEpilogue { None, Bias, BiasGeluErf, BiasGeluTanh };

// y[M, N] = epilogue(x[M, K] W^T * scales + bias) (x may be [..., K]):
//   F16 x F16, BF16 x BF16: cuBLASLt with f32 accumulation; y F16/BF16 (x's
//     type) or F32, or quantized through bias_activation.
//   I8 x I8: cuBLASLt IMMA, int32 accumulation, then one epilogue kernel:
//     y = act(acc * x_scale * w.scale[n] + bias[n]) (x_scale f32 [1] per
//     tensor or [M] per token), written as float or requantized.
//   F8_E4M3 x F8_E4M3: cuBLASLt fp8 with per-tensor A/B scale pointers,
//     f32 accumulation; needs compute capability 8.9+ (checked at run time).
// bias (any float type, [N]) may be undefined unless the epilogue uses it.
// Workspace comes from the pool; plans are cached per shape and alignment.
void linear(const DeviceTensor& x, const DeviceTensor& x_scale, const GemmWeight& w, const DeviceTensor& bias,
            GemmEpilogue epilogue, DeviceTensor& y, const Stream& stream, const OutputQuant& quant = {});

// Number of cached cuBLASLt plans on `device` (for tests and stats).
size_t gemm_plan_count(int device);

}  // namespace octet::cuda
