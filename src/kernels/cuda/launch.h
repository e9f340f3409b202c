// Internal: host-side launchers of the CUDA kernels (src/kernels/cuda/*.cu).
// They take raw device pointers and assume validated arguments; the public
// wrappers (ops.cc, gemm_lt.cc) check shapes, dtypes and devices first.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/dtype.h"

namespace octet::cuda::detail {

// A device array whose element type is chosen at run time (F32, F16, BF16,
// I8, F8_E4M3, I32). Kernels convert on load and store; memory-bound row ops
// lose nothing to a uniform switch and it keeps template instantiations (and
// compile time for three architectures) small.
struct Operand {
  const void* data = nullptr;
  DType dtype = DType::F32;
};

enum class OutMode : int {
  Float,     // out.dtype is F32 / F16 / BF16
  Static,    // quantize with scale[0]
  PerToken,  // quantize each row with its own scale, written to scale[row]
  FromAmax,  // scale = scale_from_amax(*amax); block 0 writes it to scale[0]
};

struct RowOut {
  void* data = nullptr;
  DType dtype = DType::F32;
  OutMode mode = OutMode::Float;
  float* scale = nullptr;
  const float* amax = nullptr;
};

// Largest row the shared-memory row kernels take: one f32 per element in
// dynamic shared memory, which with the reductions' static 128 bytes must
// stay within the default 48 KiB per block (12288 floats would not).
inline constexpr int64_t kMaxRowElements = 12000;

void launch_add_layer_norm(Operand x, Operand residual, Operand gamma, Operand beta, float eps, int64_t rows,
                           int64_t cols, RowOut out, cudaStream_t stream);

// ids i32 [tokens]; token types and positions i32 [tokens] or null (0, and
// t % seq_len). An out-of-range id sets *error (if 0) to 1 + token * 3 + which
// (0 word, 1 position, 2 token type) and that row is written as zeros.
struct EmbeddingArgs {
  const int32_t* input_ids = nullptr;
  const int32_t* token_type_ids = nullptr;
  const int32_t* position_ids = nullptr;
  Operand word, position, token_type, gamma, beta;
  int64_t word_rows = 0, position_rows = 0, token_type_rows = 0;
  int64_t tokens = 0, seq_len = 0, hidden = 0;
  float eps = 0;
  unsigned long long* error = nullptr;
};
void launch_embedding_layer_norm(const EmbeddingArgs& args, RowOut out, cudaStream_t stream);

// act: 0 none, 1 gelu erf, 2 gelu tanh.
void launch_bias_activation(Operand x, Operand bias, int act, int64_t rows, int64_t cols, RowOut out,
                            cudaStream_t stream);

// *amax = max |x| over n elements (NaN ignored); *amax must be zeroed first.
void launch_abs_max(Operand x, int64_t n, float* amax, cudaStream_t stream);

// INT8 GEMM epilogue: y[m, n] = act(acc[m, n] * x_scale[m or 0] * w_scale[n] + bias[n]).
void launch_int8_dequant(const int32_t* acc, const float* x_scale, bool x_scale_per_row, const float* w_scale,
                         Operand bias, int act, int64_t rows, int64_t cols, RowOut out, cudaStream_t stream);

struct AttentionArgs {
  Operand q, k, v;  // already offset to the first element
  int64_t row_stride = 0, batch = 0, seq = 0, heads = 0, head_dim = 0;
  const int32_t* key_mask = nullptr;
  float scale = 0;                  // softmax scale
  const float* q_scale = nullptr;   // per-tensor dequant scales for I8 / F8 q and k, else null
  const float* k_scale = nullptr;
  void* out = nullptr;
  DType out_dtype = DType::F32;
};
// Dynamic shared memory the warp-per-query attention kernel needs, to check
// before launching (the tensor-core kernel's is fixed and independent of seq).
int64_t attention_shared_bytes(int64_t seq, int64_t head_dim);
// Whether launch_attention takes the tensor-core kernel (attention_tc.cu): f16
// q, k and v, head_dim 64 or 128, 16-byte aligned rows. Else one warp per query.
bool attention_uses_tensor_cores(const AttentionArgs& args);
void launch_attention_tensor_cores(const AttentionArgs& args, cudaStream_t stream);
void launch_attention(const AttentionArgs& args, cudaStream_t stream);

struct ClassifierArgs {
  Operand hidden;  // [batch, seq, hidden]; row 0 of each batch is read
  Operand pooler_w, pooler_b, classifier_w, classifier_b;  // pooler_w.data may be null
  int64_t batch = 0, seq = 0, hidden_size = 0, classes = 0;
  float* logits = nullptr;
};
void launch_classification_head(const ClassifierArgs& args, cudaStream_t stream);

}  // namespace octet::cuda::detail
