// Encoder attention on tensor cores for f16 q/k/v (head_dim 64 or 128): a
// flash-attention-style tiling with WMMA 16x16x16 products and an online
// softmax, so each block reads K and V once per 64 queries instead of once per
// query (the warp-per-query kernel in attention_kernels.cu re-reads them for
// every query: 16 MB of K/V traffic per (batch, head) at seq 256).
//
// Block: 4 warps, 64 queries of one (batch, head); warp w owns queries
// 16w..16w+15. Per 64-key tile: S = Q K^T (f32 accumulate) -> shared memory,
// the owning lanes (two per query row, 32 keys each) apply scale and mask and
// update the running max m and sum l, rescale the row's output accumulator O
// (f32, shared) and write P = exp(S - m) as f16; then O += P V on tensor cores.
// At the end out = O / l (0 for a row whose keys are all masked).
//
// Numerics against the f32 kernel: P is rounded to f16 before P V (relative
// 2^-11 per probability), and the tensor cores' f32 accumulation order
// differs; tests/cuda/attention_test.cc states the bound it checks.
#include <mma.h>

#include "kernels/cuda/device_common.cuh"

namespace octet::cuda::detail {
namespace {

using namespace nvcuda;

constexpr int kTileQ = 64, kTileK = 64, kWarps = 4;

template <int HD>
struct TcLayout {
  static constexpr int kLdH = HD + 8;       // halves per Q/K/V row in shared memory (bank offset; multiple of 8)
  static constexpr int kLdS = kTileK + 4;   // floats per score row
  static constexpr int kLdP = kTileK + 8;   // halves per probability row
  static constexpr int kLdO = HD + 4;       // floats per output row
  static constexpr int kQkvBytes = kTileQ * kLdH * 2;
  static constexpr int kWarpBytes = 16 * kLdS * 4 + 16 * kLdP * 2 + 16 * kLdO * 4;
  static constexpr int kBytes = 3 * kQkvBytes + kWarps * kWarpBytes;
  static_assert(kQkvBytes % 128 == 0 && (16 * kLdS * 4) % 128 == 0 && (16 * kLdP * 2) % 128 == 0 &&
                    (16 * kLdO * 4) % 128 == 0,
                "every shared region must start 32-byte aligned for wmma");
};

// Copies rows [first, first + 64) of one head (HD halves each, 16-byte
// chunks) into shared memory; rows past seq are zeros (a NaN there would
// survive 0 * NaN in P V).
template <int HD>
__device__ void load_tile(const __half* base, int64_t row_stride, int64_t first, int64_t seq, __half* dst) {
  constexpr int kChunks = HD / 8;  // 16-byte chunks per row
  for (int i = threadIdx.x; i < kTileQ * kChunks; i += blockDim.x) {
    const int r = i / kChunks, c = i % kChunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (first + r < seq) v = *reinterpret_cast<const uint4*>(base + (first + r) * row_stride + c * 8);
    *reinterpret_cast<uint4*>(dst + r * TcLayout<HD>::kLdH + c * 8) = v;
  }
}

template <int HD>
__global__ void __launch_bounds__(kWarps * 32) attention_tc_kernel(AttentionArgs a) {
  using L = TcLayout<HD>;
  extern __shared__ __align__(128) unsigned char smem[];
  __half* qs = reinterpret_cast<__half*>(smem);
  __half* ks = qs + kTileQ * L::kLdH;
  __half* vs = ks + kTileK * L::kLdH;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  unsigned char* mine = smem + 3 * L::kQkvBytes + warp * L::kWarpBytes;
  float* sw = reinterpret_cast<float*>(mine);
  __half* pw = reinterpret_cast<__half*>(mine + 16 * L::kLdS * 4);
  float* ow = reinterpret_cast<float*>(mine + 16 * L::kLdS * 4 + 16 * L::kLdP * 2);

  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = static_cast<int64_t>(blockIdx.x) * kTileQ, seq = a.seq;
  const int64_t head_base = b * seq * a.row_stride + h * HD;
  const __half* qg = static_cast<const __half*>(a.q.data) + head_base;
  const __half* kg = static_cast<const __half*>(a.k.data) + head_base;
  const __half* vg = static_cast<const __half*>(a.v.data) + head_base;
  load_tile<HD>(qg, a.row_stride, q0, seq, qs);
  for (int i = lane; i < 16 * L::kLdO; i += 32) ow[i] = 0.0f;

  // Lanes 2r and 2r+1 own row r of this warp's 16 queries, keys [32 (lane & 1), +32) of each tile.
  const int row = lane >> 1, half_cols = (lane & 1) * 32;
  float m = -INFINITY, l = 0.0f;
  const float scale = a.scale;
  const int32_t* mask = a.key_mask != nullptr ? a.key_mask + b * seq : nullptr;

  for (int64_t k0 = 0; k0 < seq; k0 += kTileK) {
    __syncthreads();  // the previous tile's K and V are no longer read
    load_tile<HD>(kg, a.row_stride, k0, seq, ks);
    load_tile<HD>(vg, a.row_stride, k0, seq, vs);
    __syncthreads();

    // S (16 x 64) = Q_w (16 x HD) K_tile^T (HD x 64).
    for (int n = 0; n < kTileK; n += 16) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int d = 0; d < HD; d += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> qa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> kb;
        wmma::load_matrix_sync(qa, qs + warp * 16 * L::kLdH + d, L::kLdH);
        wmma::load_matrix_sync(kb, ks + n * L::kLdH + d, L::kLdH);  // K row-major = K^T col-major
        wmma::mma_sync(acc, qa, kb, acc);
      }
      wmma::store_matrix_sync(sw + n, acc, L::kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over this row's 64 new scores (32 per lane).
    float* srow = sw + row * L::kLdS + half_cols;
    float tile_max = -INFINITY;
    for (int c = 0; c < 32; ++c) {
      const int64_t j = k0 + half_cols + c;
      const bool keep = j < seq && (mask == nullptr || mask[j] != 0);
      const float s = keep ? srow[c] * scale : -INFINITY;
      srow[c] = s;
      tile_max = fmaxf(tile_max, s);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    __half* prow = pw + row * L::kLdP + half_cols;
    float tile_sum = 0.0f;
    if (m_new == -INFINITY) {  // nothing to attend to yet
      for (int c = 0; c < 32; ++c) prow[c] = __float2half_rn(0.0f);
    } else {
      for (int c = 0; c < 32; ++c) {
        const float p = expf(srow[c] - m_new);  // masked: exp(-inf) = 0
        tile_sum += p;
        prow[c] = __float2half_rn(p);
      }
      const float alpha = expf(m - m_new);  // m = -inf: 0 (O and l are 0 then)
      float* orow = ow + row * L::kLdO + (lane & 1) * (HD / 2);
      for (int c = 0; c < HD / 2; ++c) orow[c] *= alpha;
      l *= alpha;
      m = m_new;
    }
    tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, 1);
    l += tile_sum;
    __syncwarp();

    // O_w (16 x HD) += P_w (16 x 64) V_tile (64 x HD).
    for (int n = 0; n < HD; n += 16) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, ow + n, L::kLdO, wmma::mem_row_major);
      for (int k = 0; k < kTileK; k += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vb;
        wmma::load_matrix_sync(pa, pw + k, L::kLdP);
        wmma::load_matrix_sync(vb, vs + k * L::kLdH + n, L::kLdH);
        wmma::mma_sync(acc, pa, vb, acc);
      }
      wmma::store_matrix_sync(ow + n, acc, L::kLdO, wmma::mem_row_major);
    }
    __syncwarp();
  }

  const int64_t s = q0 + warp * 16 + row;
  if (s >= seq) return;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // every key masked: zeros, as the f32 kernel
  const float* orow = ow + row * L::kLdO + (lane & 1) * (HD / 2);
  const int64_t out_base = (b * seq + s) * a.heads * HD + h * HD + (lane & 1) * (HD / 2);
  for (int c = 0; c < HD / 2; ++c) store_float(a.out, a.out_dtype, out_base + c, orow[c] * inv);
}

template <int HD>
void launch_tc(const AttentionArgs& a, cudaStream_t stream) {
  static const cudaError_t configured = cudaFuncSetAttribute(
      attention_tc_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, TcLayout<HD>::kBytes);
  (void)configured;  // a failure shows up as the launch error, which the caller checks
  const dim3 grid(static_cast<unsigned>((a.seq + kTileQ - 1) / kTileQ), static_cast<unsigned>(a.heads),
                  static_cast<unsigned>(a.batch));
  attention_tc_kernel<HD><<<grid, kWarps * 32, TcLayout<HD>::kBytes, stream>>>(a);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool attention_uses_tensor_cores(const AttentionArgs& a) {
  return a.q.dtype == DType::F16 && a.k.dtype == DType::F16 && a.v.dtype == DType::F16 && a.q_scale == nullptr &&
         (a.head_dim == 64 || a.head_dim == 128) && a.row_stride % 8 == 0 && aligned16(a.q.data) &&
         aligned16(a.k.data) && aligned16(a.v.data);
}

void launch_attention_tensor_cores(const AttentionArgs& a, cudaStream_t stream) {
  if (a.head_dim == 64)
    launch_tc<64>(a, stream);
  else
    launch_tc<128>(a, stream);
}

}  // namespace octet::cuda::detail
