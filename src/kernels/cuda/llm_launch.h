// Internal: launchers of the LLM kernels (llm_kernels.cu), called by the
// checked public wrappers in llm_ops.cc. Raw device pointers, validated
// arguments; C++17-clean so nvcc can include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace octet::cuda::detail {

// A KV cache [layers][batch][kv_heads][max_seq][head_dim], f16 or fp8 e4m3.
struct LlmCache {
  void* k = nullptr;
  void* v = nullptr;
  const float* k_scale = nullptr;  // [layers * kv_heads], fp8 only
  const float* v_scale = nullptr;
  int fp8 = 0;
  int64_t batch = 0, kv_heads = 0, max_seq = 0, head_dim = 0;
  int64_t layer = 0;
};

// q (and the new k, v) rows of a packed QKV projection output.
struct LlmAttn {
  const void* qkv = nullptr;   // f16 [batch * seq, row_elems]
  int64_t row_elems = 0, seq = 0;
  int q_heads = 0, group = 1;  // q heads per kv head
  const int32_t* past_len = nullptr;
  float scale = 1;
  void* out = nullptr;         // f16 [batch * seq, q_heads * head_dim]
};

struct W4Args {
  const void* packed = nullptr;   // uint4-aligned
  const void* scales = nullptr;   // f16
  const uint8_t* zeros = nullptr;
  int n = 0, k = 0, kp = 0;
};

void launch_rms_norm(const void* x, const void* w, float eps, void* y, int64_t rows, int64_t cols, cudaStream_t s);
// residual may be null (plain RMSNorm).
void launch_add_rms_norm(void* x, const void* residual, const void* w, float eps, void* y, int64_t rows, int64_t cols,
                         cudaStream_t s);
void launch_add(void* x, const void* y, int64_t n, cudaStream_t s);
void launch_silu_mul(const void* gate_up, void* out, int64_t rows, int64_t inter, cudaStream_t s);
void launch_embedding(const int32_t* ids, int64_t tokens, const void* table, int64_t rows, int64_t cols, void* out,
                      cudaStream_t s);
void launch_rotary(void* qkv, int64_t tokens, int64_t row_elems, int64_t seq, int heads, int head_dim,
                   const float* inv_freq, const int32_t* past_len, float divisor, cudaStream_t s);
void launch_kv_append(const void* qkv, int64_t tokens, int64_t row_elems, int q_heads, int64_t seq,
                      const int32_t* past_len, const LlmCache& c, cudaStream_t s);
void launch_cached_attention(const LlmAttn& a, const LlmCache& c, cudaStream_t s);
// M <= 16 rows; returns the status of the shared-memory attribute call.
cudaError_t launch_w4_gemv(const void* x, int m, const W4Args& w, const void* bias, void* y, cudaStream_t s);
void launch_w4_dequant(const W4Args& w, void* out, cudaStream_t s);

}  // namespace octet::cuda::detail
