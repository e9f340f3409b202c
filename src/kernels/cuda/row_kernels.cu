// Block-per-row kernels: (residual add +) layer norm, BERT embeddings + layer
// norm, bias + activation, the INT8 GEMM dequant epilogue, and |x| max for
// dynamic per-tensor scales. Each can quantize its output (device_common.cuh).
#include "kernels/cuda/device_common.cuh"

namespace octet::cuda::detail {
namespace {

// Normalises the row held in shared `values` and writes it. Two-pass
// variance in f32 (mean first), as the CPU reference does in double.
__device__ void normalize_row(const float* values, int64_t row, int64_t cols, Operand gamma, Operand beta, float eps,
                              const RowOut& out) {
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += values[c];
  const float mean = block_reduce<false>(sum) / static_cast<float>(cols);
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = values[c] - mean;
    sq += d * d;
  }
  const float rstd = 1.0f / sqrtf(block_reduce<false>(sq) / static_cast<float>(cols) + eps);
  finish_row(row, cols, out, [&](int64_t c) { return (values[c] - mean) * rstd * load(gamma, c) + load(beta, c); });
}

__global__ void add_layer_norm_kernel(Operand x, Operand residual, Operand gamma, Operand beta, float eps,
                                      int64_t cols, RowOut out) {
  extern __shared__ float values[];
  const int64_t row = blockIdx.x, base = row * cols;
  // Every read of x and residual happens before the first barrier, so y may alias them.
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = load(x, base + c);
    if (residual.data != nullptr) v += load(residual, base + c);
    values[c] = v;
  }
  normalize_row(values, row, cols, gamma, beta, eps, out);
}

__global__ void embedding_layer_norm_kernel(EmbeddingArgs a, RowOut out) {
  extern __shared__ float values[];
  const int64_t t = blockIdx.x;
  const int64_t id = a.input_ids[t];
  const int64_t pos = a.position_ids != nullptr ? a.position_ids[t] : t % a.seq_len;
  const int64_t type = a.token_type_ids != nullptr ? a.token_type_ids[t] : 0;
  int bad = -1;
  if (id < 0 || id >= a.word_rows) bad = 0;
  else if (pos < 0 || pos >= a.position_rows) bad = 1;
  else if (a.token_type.data != nullptr ? (type < 0 || type >= a.token_type_rows) : type != 0) bad = 2;
  if (bad >= 0) {
    if (threadIdx.x == 0) atomicCAS(a.error, 0ull, 1ull + static_cast<unsigned long long>(t) * 3 + bad);
    finish_row(t, a.hidden, out, [](int64_t) { return 0.0f; });
    return;
  }
  for (int64_t c = threadIdx.x; c < a.hidden; c += blockDim.x) {
    float v = load(a.word, id * a.hidden + c) + load(a.position, pos * a.hidden + c);
    if (a.token_type.data != nullptr) v += load(a.token_type, type * a.hidden + c);
    values[c] = v;
  }
  normalize_row(values, t, a.hidden, a.gamma, a.beta, a.eps, out);
}

__global__ void bias_activation_kernel(Operand x, Operand bias, int act, int64_t cols, RowOut out) {
  const int64_t base = static_cast<int64_t>(blockIdx.x) * cols;
  // value(c) reads only element c, which only this thread writes: y may alias x.
  finish_row(blockIdx.x, cols, out, [&](int64_t c) {
    const float v = load(x, base + c) + (bias.data != nullptr ? load(bias, c) : 0.0f);
    return activate(act, v);
  });
}

__global__ void int8_dequant_kernel(const int32_t* acc, const float* x_scale, bool per_row, const float* w_scale,
                                    Operand bias, int act, int64_t cols, RowOut out) {
  const int64_t row = blockIdx.x, base = row * cols;
  const float xs = x_scale[per_row ? row : 0];
  finish_row(row, cols, out, [&](int64_t c) {
    // Exact while |acc| < 2^24; then two roundings (x scale, w scale), then the bias.
    const float v = static_cast<float>(acc[base + c]) * xs * w_scale[c];
    return activate(act, bias.data != nullptr ? v + load(bias, c) : v);
  });
}

__global__ void abs_max_kernel(Operand x, int64_t n, float* amax) {
  float m = 0.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    m = fmaxf(m, fabsf(load(x, i)));  // fmaxf drops NaN
  m = block_reduce<true>(m);
  // Non-negative floats order like their bit patterns.
  if (threadIdx.x == 0) atomicMax(reinterpret_cast<unsigned int*>(amax), __float_as_uint(m));
}

unsigned grid_rows(int64_t rows) { return static_cast<unsigned>(rows); }

}  // namespace

void launch_add_layer_norm(Operand x, Operand residual, Operand gamma, Operand beta, float eps, int64_t rows,
                           int64_t cols, RowOut out, cudaStream_t stream) {
  if (rows == 0) return;
  add_layer_norm_kernel<<<grid_rows(rows), row_block_threads(cols), cols * sizeof(float), stream>>>(
      x, residual, gamma, beta, eps, cols, out);
}

void launch_embedding_layer_norm(const EmbeddingArgs& args, RowOut out, cudaStream_t stream) {
  if (args.tokens == 0) return;
  embedding_layer_norm_kernel<<<grid_rows(args.tokens), row_block_threads(args.hidden), args.hidden * sizeof(float),
                                stream>>>(args, out);
}

void launch_bias_activation(Operand x, Operand bias, int act, int64_t rows, int64_t cols, RowOut out,
                            cudaStream_t stream) {
  if (rows == 0) return;
  bias_activation_kernel<<<grid_rows(rows), row_block_threads(cols), 0, stream>>>(x, bias, act, cols, out);
}

void launch_int8_dequant(const int32_t* acc, const float* x_scale, bool x_scale_per_row, const float* w_scale,
                         Operand bias, int act, int64_t rows, int64_t cols, RowOut out, cudaStream_t stream) {
  if (rows == 0) return;
  int8_dequant_kernel<<<grid_rows(rows), row_block_threads(cols), 0, stream>>>(acc, x_scale, x_scale_per_row, w_scale,
                                                                                bias, act, cols, out);
}

void launch_abs_max(Operand x, int64_t n, float* amax, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int64_t kThreads = 256, kMaxBlocks = 1024;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks);
  abs_max_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, n, amax);
}

}  // namespace octet::cuda::detail
