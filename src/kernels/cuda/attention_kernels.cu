// Encoder attention (one warp per query, fused masked softmax) and the BERT
// classification head. Simple and memory-bound by design: the GEMM-heavy work
// is in cuBLASLt; these favour few instantiations over peak speed.
#include "kernels/cuda/device_common.cuh"

namespace octet::cuda::detail {
namespace {

constexpr int kAttentionWarps = 4;

// Per warp: the query (f32, head_dim) and the scores / probabilities (seq).
__global__ void attention_kernel(AttentionArgs a) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t s = static_cast<int64_t>(blockIdx.x) * kAttentionWarps + warp;
  const int64_t h = blockIdx.y, b = blockIdx.z, hd = a.head_dim, seq = a.seq;
  if (s >= seq) return;  // whole warps leave; no block-wide barrier follows
  float* q = shared + warp * (hd + seq);
  float* p = q + hd;

  const int64_t q_base = (b * seq + s) * a.row_stride + h * hd;
  for (int64_t d = lane; d < hd; d += 32) q[d] = load(a.q, q_base + d);
  __syncwarp();
  // I8 q and k: the f32 dot of integers is exact (|sum| <= 127^2 * head_dim < 2^24
  // for head_dim <= 1024); the per-tensor scales are applied once per score.
  float qk_scale = a.scale;
  if (a.q_scale != nullptr) qk_scale *= a.q_scale[0] * a.k_scale[0];

  float row_max = -INFINITY;
  for (int64_t j = 0; j < seq; ++j) {
    float score = -INFINITY;
    if (a.key_mask == nullptr || a.key_mask[b * seq + j] != 0) {
      const int64_t k_base = (b * seq + j) * a.row_stride + h * hd;
      float partial = 0.0f;
      for (int64_t d = lane; d < hd; d += 32) partial += q[d] * load(a.k, k_base + d);
      score = warp_sum(partial) * qk_scale;  // every lane holds the same sum
    }
    if (lane == 0) p[j] = score;
    row_max = fmaxf(row_max, score);
  }
  __syncwarp();

  const int64_t out_base = (b * seq + s) * a.heads * hd + h * hd;
  if (row_max == -INFINITY) {  // every key masked: zeros, not NaN
    for (int64_t d = lane; d < hd; d += 32) store_float(a.out, a.out_dtype, out_base + d, 0.0f);
    return;
  }
  float sum = 0.0f;
  for (int64_t j = lane; j < seq; j += 32) {
    const float e = expf(p[j] - row_max);  // masked: exp(-inf) = 0
    p[j] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  __syncwarp();
  const float inv_sum = 1.0f / sum;
  for (int64_t d = lane; d < hd; d += 32) {
    float acc = 0.0f;
    for (int64_t j = 0; j < seq; ++j) acc += p[j] * load(a.v, (b * seq + j) * a.row_stride + h * hd + d);
    store_float(a.out, a.out_dtype, out_base + d, acc * inv_sum);
  }
}

// One block per batch row; one warp per output feature (coalesced weight rows).
__global__ void classification_head_kernel(ClassifierArgs a) {
  extern __shared__ float shared[];
  const int64_t b = blockIdx.x, H = a.hidden_size;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  float* first = shared;
  float* pooled = shared + H;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) first[i] = load(a.hidden, b * a.seq * H + i);
  __syncthreads();
  const float* features = first;
  if (a.pooler_w.data != nullptr) {
    for (int64_t j = warp; j < H; j += warps) {
      float partial = 0.0f;
      for (int64_t i = lane; i < H; i += 32) partial += load(a.pooler_w, j * H + i) * first[i];
      const float dot = warp_sum(partial);
      if (lane == 0) pooled[j] = tanhf(dot + (a.pooler_b.data != nullptr ? load(a.pooler_b, j) : 0.0f));
    }
    __syncthreads();
    features = pooled;
  }
  for (int64_t c = warp; c < a.classes; c += warps) {
    float partial = 0.0f;
    for (int64_t i = lane; i < H; i += 32) partial += load(a.classifier_w, c * H + i) * features[i];
    const float dot = warp_sum(partial);
    if (lane == 0) a.logits[b * a.classes + c] = dot + (a.classifier_b.data != nullptr ? load(a.classifier_b, c) : 0.0f);
  }
}

}  // namespace

int64_t attention_shared_bytes(int64_t seq, int64_t head_dim) {
  return kAttentionWarps * (seq + head_dim) * static_cast<int64_t>(sizeof(float));
}

void launch_attention(const AttentionArgs& args, cudaStream_t stream) {
  if (args.batch == 0 || args.seq == 0 || args.heads == 0) return;
  if (attention_uses_tensor_cores(args)) {
    launch_attention_tensor_cores(args, stream);
    return;
  }
  const dim3 grid(static_cast<unsigned>((args.seq + kAttentionWarps - 1) / kAttentionWarps),
                  static_cast<unsigned>(args.heads), static_cast<unsigned>(args.batch));
  attention_kernel<<<grid, 32 * kAttentionWarps, attention_shared_bytes(args.seq, args.head_dim), stream>>>(args);
}

void launch_classification_head(const ClassifierArgs& args, cudaStream_t stream) {
  if (args.batch == 0) return;
  classification_head_kernel<<<static_cast<unsigned>(args.batch), 256, 2 * args.hidden_size * sizeof(float),
                               stream>>>(args);
}

}  // namespace octet::cuda::detail
