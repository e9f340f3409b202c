// CUDA kernels of LLaMA-family decoders (octet/cuda_llm_ops.h): RMSNorm,
// rotary, SiLU gating, embedding gather, residual add, KV-cache append,
// decode / prefill attention, the W4A16 GEMV and its dequantizer, and the copy
// bandwidth probe. Each public wrapper checks its arguments, then launches.
// Kernels are deliberately plain: one thread per element or a block per row,
// f32 math, f16 storage.
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/llm_launch.h"

namespace octet::cuda::detail {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n, int threads) { return static_cast<unsigned>(std::min<int64_t>((n + threads - 1) / threads, 65535 * 16)); }

// ---- row and elementwise kernels ---------------------------------------------------

__global__ void rms_norm_kernel(const __half* x, const __half* w, float eps, __half* y, int64_t cols) {
  const __half* row = x + blockIdx.x * cols;
  __half* out = y + blockIdx.x * cols;
  float ss = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = __half2float(row[c]);
    ss += v * v;
  }
  ss = detail::block_reduce<false>(ss);
  const float r = rsqrtf(ss / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float n = __half2float(__float2half_rn(__half2float(row[c]) * r));  // transformers: .to(f16) first
    out[c] = __float2half_rn(n * __half2float(w[c]));
  }
}

// x += residual (f16 rounding, written back), then RMSNorm of x into y. Each
// thread reads back only the elements it wrote, so no barrier is needed
// between the two passes beyond the reduction's.
__global__ void add_rms_norm_kernel(__half* x, const __half* residual, const __half* w, float eps, __half* y,
                                    int64_t cols) {
  __half* row = x + blockIdx.x * cols;
  const __half* res = residual + blockIdx.x * cols;
  __half* out = y + blockIdx.x * cols;
  float ss = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const __half h = __float2half_rn(__half2float(row[c]) + __half2float(res[c]));
    row[c] = h;
    const float v = __half2float(h);
    ss += v * v;
  }
  ss = detail::block_reduce<false>(ss);
  const float r = rsqrtf(ss / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float n = __half2float(__float2half_rn(__half2float(row[c]) * r));
    out[c] = __float2half_rn(n * __half2float(w[c]));
  }
}

__global__ void add_kernel(__half* x, const __half* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = __float2half_rn(__half2float(x[i]) + __half2float(y[i]));
}

__global__ void silu_mul_kernel(const __half* gu, __half* out, int64_t rows, int64_t inter) {
  const int64_t n = rows * inter;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, c = i % inter;
    const float g = __half2float(gu[r * 2 * inter + c]);
    const float u = __half2float(gu[r * 2 * inter + inter + c]);
    out[i] = __float2half_rn(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void embedding_kernel(const int32_t* ids, const __half* table, int64_t rows, int64_t cols, __half* out) {
  const int32_t id = ids[blockIdx.x];
  __half* dst = out + blockIdx.x * cols;
  const bool ok = id >= 0 && id < rows;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = ok ? table[int64_t(id) * cols + c] : __float2half(0.0f);
}

// One block per token; threads over (head, pair).
__global__ void rotary_kernel(__half* qkv, int64_t row_elems, int64_t seq, int heads, int half_dim, int head_dim,
                              const float* inv_freq, const int32_t* past_len, float divisor) {
  const int64_t token = blockIdx.x;
  const int s = static_cast<int>(token % seq);
  const float pos = static_cast<float>(*past_len + s) / divisor;
  __half* row = qkv + token * row_elems;
  for (int i = threadIdx.x; i < heads * half_dim; i += blockDim.x) {
    const int h = i / half_dim, p = i % half_dim;
    const float angle = pos * inv_freq[p];
    float sn, cs;
    sincosf(angle, &sn, &cs);
    __half* x = row + h * head_dim;
    const float a = __half2float(x[p]), b = __half2float(x[p + half_dim]);
    x[p] = __float2half_rn(a * cs - b * sn);
    x[p + half_dim] = __float2half_rn(b * cs + a * sn);
  }
}

// ---- KV cache --------------------------------------------------------------------------

using CacheArgs = LlmCache;
using AttnArgs = LlmAttn;

// Element offset of (layer, b, h, position 0).
__device__ __forceinline__ int64_t cache_base(const CacheArgs& c, int64_t b, int64_t h) {
  return (((c.layer * c.batch + b) * c.kv_heads + h) * c.max_seq) * c.head_dim;
}

// One block per token; threads over (kv head, dim) for keys and values.
__global__ void kv_append_kernel(const __half* qkv, int64_t row_elems, int q_heads, int64_t seq,
                                 const int32_t* past_len, CacheArgs c) {
  const int64_t token = blockIdx.x, b = token / seq, s = token % seq;
  const int64_t pos = *past_len + s;
  if (pos >= c.max_seq) return;
  const __half* row = qkv + token * row_elems;
  const int64_t per = c.kv_heads * c.head_dim;
  for (int64_t i = threadIdx.x; i < 2 * per; i += blockDim.x) {
    const int which = i < per ? 0 : 1;  // 0 key, 1 value
    const int64_t j = i - which * per, h = j / c.head_dim, d = j % c.head_dim;
    const __half x = row[(q_heads + which * c.kv_heads) * c.head_dim + j];
    const int64_t dst = cache_base(c, b, h) + pos * c.head_dim + d;
    if (c.fp8) {
      const float scale = (which ? c.v_scale : c.k_scale)[c.layer * c.kv_heads + h];
      const uint8_t code = math::quantize_e4m3(__half2float(x), 1.0f / scale);
      static_cast<uint8_t*>(which ? c.v : c.k)[dst] = code;
    } else {
      static_cast<__half*>(which ? c.v : c.k)[dst] = x;
    }
  }
}

__device__ __forceinline__ float load_cache(const void* p, int fp8, int64_t i) {
  if (fp8)
    return __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<const __nv_fp8_storage_t*>(p)[i], __NV_E4M3)));
  return __half2float(static_cast<const __half*>(p)[i]);
}

// Dot product of q (f32, shared memory) with one cached key row of head_dim
// values (16-byte loads: 8 halves or 16 fp8 codes).
__device__ __forceinline__ float key_dot(const float* q, const void* key, int fp8, int head_dim) {
  float s = 0;
  const uint4* p = static_cast<const uint4*>(key);
  if (fp8) {
    for (int i = 0; i < head_dim / 16; ++i) {
      const uint4 v = p[i];
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const __half2_raw hr =
              __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>((w[j] >> (16 * e)) & 0xFFFFu), __NV_E4M3);
          const float2 f = __half22float2(__half2(hr));
          const int idx = i * 16 + j * 4 + e * 2;
          s = fmaf(q[idx], f.x, s);
          s = fmaf(q[idx + 1], f.y, s);
        }
      }
    }
  } else {
    for (int i = 0; i < head_dim / 8; ++i) {
      const uint4 v = p[i];
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        __half2 h;
        memcpy(&h, &w[j], 4);
        const float2 f = __half22float2(h);
        const int idx = i * 8 + j * 2;
        s = fmaf(q[idx], f.x, s);
        s = fmaf(q[idx + 1], f.y, s);
      }
    }
  }
  return s;
}

constexpr int kMaxDimsPerLane = 8;  // head_dim <= 256

// One warp's online softmax over the key chunks chunk0, chunk0 + step, ...
// (32 keys each) below n_keys. q: f32 head_dim values in shared memory,
// already multiplied by the softmax scale and the key scale. Lane l keeps the
// output dims l + 32 j. m: running max, l: running sum of exp(s - m).
__device__ void warp_attend(const float* q, const void* keys, const void* values, int fp8, int head_dim,
                            int64_t n_keys, int64_t chunk0, int64_t step, float& m, float& l,
                            float (&o)[kMaxDimsPerLane]) {
  const int lane = threadIdx.x & 31, dpl = head_dim / 32;
  const int esize = fp8 ? 1 : 2;
  for (int64_t chunk = chunk0; chunk * 32 < n_keys; chunk += step) {
    const int64_t j = chunk * 32 + lane;
    float s = -INFINITY;
    if (j < n_keys) s = key_dot(q, static_cast<const char*>(keys) + j * head_dim * esize, fp8, head_dim);
    const float m_new = fmaxf(m, detail::warp_max(s));  // finite: key chunk * 32 < n_keys
    const float corr = expf(m - m_new);
    const float p = j < n_keys ? expf(s - m_new) : 0.0f;
    l = l * corr + detail::warp_sum(p);
    m = m_new;
#pragma unroll
    for (int d = 0; d < kMaxDimsPerLane; ++d) o[d] *= corr;
    const int count = static_cast<int>(min(int64_t(32), n_keys - chunk * 32));
    for (int jj = 0; jj < count; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const int64_t row = (chunk * 32 + jj) * head_dim;
#pragma unroll
      for (int d = 0; d < kMaxDimsPerLane; ++d)
        if (d < dpl) o[d] = fmaf(pj, load_cache(values, fp8, row + lane + 32 * d), o[d]);
    }
  }
}


// S = 1: grid (q_heads, B), 8 warps split the keys, then combine.
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(AttnArgs a, CacheArgs c) {
  __shared__ float qs[256];
  __shared__ float wm[kThreads / 32], wl[kThreads / 32];
  __shared__ float wo[kThreads / 32][256];
  const int h = blockIdx.x, b = blockIdx.y, hk = h / a.group, d = static_cast<int>(c.head_dim);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  const float kscale = c.fp8 ? c.k_scale[c.layer * c.kv_heads + hk] : 1.0f;
  const float vscale = c.fp8 ? c.v_scale[c.layer * c.kv_heads + hk] : 1.0f;
  const __half* q = static_cast<const __half*>(a.qkv) + b * a.row_elems + int64_t(h) * d;  // token b (seq 1)
  for (int i = threadIdx.x; i < d; i += blockDim.x) qs[i] = __half2float(q[i]) * a.scale * kscale;
  __syncthreads();
  const int64_t n_keys = min(int64_t(*a.past_len) + 1, c.max_seq);
  const int esize = c.fp8 ? 1 : 2;
  const char* keys = static_cast<const char*>(c.k) + cache_base(c, b, hk) * esize;
  const char* values = static_cast<const char*>(c.v) + cache_base(c, b, hk) * esize;
  float m = -INFINITY, l = 0, o[kMaxDimsPerLane] = {};
  warp_attend(qs, keys, values, c.fp8, d, n_keys, warp, warps, m, l, o);
  if (lane == 0) wm[warp] = m, wl[warp] = l;
#pragma unroll
  for (int j = 0; j < kMaxDimsPerLane; ++j)
    if (lane + 32 * j < d) wo[warp][lane + 32 * j] = o[j];
  __syncthreads();
  float mx = -INFINITY;
  for (int w = 0; w < warps; ++w) mx = fmaxf(mx, wm[w]);
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float num = 0, den = 0;
    for (int w = 0; w < warps; ++w) {
      if (wl[w] == 0.0f) continue;  // a warp that saw no key (m = -inf)
      const float f = expf(wm[w] - mx);
      num += f * wo[w][i];
      den += f * wl[w];
    }
    static_cast<__half*>(a.out)[b * int64_t(a.q_heads) * d + int64_t(h) * d + i] = __float2half_rn(num / den * vscale);
  }
}

// S > 1: grid (ceil(S / 8), q_heads, B), warp w takes query blockIdx.x * 8 + w.
__global__ void __launch_bounds__(kThreads) prefill_attention_kernel(AttnArgs a, CacheArgs c) {
  __shared__ float qs[kThreads / 32][256];
  const int h = blockIdx.y, b = blockIdx.z, hk = h / a.group, d = static_cast<int>(c.head_dim);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t s = int64_t(blockIdx.x) * (blockDim.x >> 5) + warp;
  if (s >= a.seq) return;  // whole warp; no block barrier below
  const float kscale = c.fp8 ? c.k_scale[c.layer * c.kv_heads + hk] : 1.0f;
  const float vscale = c.fp8 ? c.v_scale[c.layer * c.kv_heads + hk] : 1.0f;
  const int64_t token = b * a.seq + s;
  const __half* q = static_cast<const __half*>(a.qkv) + token * a.row_elems + int64_t(h) * d;
  for (int i = lane; i < d; i += 32) qs[warp][i] = __half2float(q[i]) * a.scale * kscale;
  __syncwarp();
  const int64_t n_keys = min(int64_t(*a.past_len) + s + 1, c.max_seq);
  const int esize = c.fp8 ? 1 : 2;
  const char* keys = static_cast<const char*>(c.k) + cache_base(c, b, hk) * esize;
  const char* values = static_cast<const char*>(c.v) + cache_base(c, b, hk) * esize;
  float m = -INFINITY, l = 0, o[kMaxDimsPerLane] = {};
  warp_attend(qs[warp], keys, values, c.fp8, d, n_keys, 0, 1, m, l, o);
  __half* out = static_cast<__half*>(a.out) + token * int64_t(a.q_heads) * d + int64_t(h) * d;
#pragma unroll
  for (int j = 0; j < kMaxDimsPerLane; ++j)
    if (lane + 32 * j < d) out[lane + 32 * j] = __float2half_rn(o[j] / l * vscale);
}

// ---- W4A16 --------------------------------------------------------------------------------

constexpr int kW4Rows = 16;      // rows per block: 4 warps x 4 rows (8 lanes per row)
constexpr int kW4Threads = 128;

// Columns of x staged per pass: 2048 for MT <= 2, else 1024 (MT = 16: 64 KiB).
template <int MT>
struct W4Tile {
  static constexpr int value = MT <= 2 ? 2048 : 1024;
};

// y[m, n] = sum_k x[m, k] w[n, k] (+ bias[n]) for m < M <= MT (see the packed
// layout in cuda_llm_ops.h). x is staged in shared memory as f32, one tile of
// w4_tile columns at a time; the tile's weights are loaded into registers
// before the barrier so the loads overlap the staging.
template <int MT>
__global__ void __launch_bounds__(kW4Threads) w4_gemv_kernel(const __half* x, int M, int K, int Kp,
                                                             const uint4* packed, const __half* scales,
                                                             const uint8_t* zeros, const __half* bias, __half* y,
                                                             int N) {
  constexpr int KT = W4Tile<MT>::value, CPT = KT / 256;  // chunks per tile
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);  // [MT][KT]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, s = lane & 7;
  const int n = blockIdx.x * kW4Rows + warp * 4 + (lane >> 3);
  const int nr = min(n, N - 1);  // rows past N compute row N - 1 and are not written
  const int groups = Kp / 128;
  const uint4* wrow = packed + int64_t(nr) * (Kp / 32);
  const __half* srow = scales + int64_t(nr) * groups;
  const uint8_t* zrow = zeros + int64_t(nr) * groups;
  float acc[MT];
#pragma unroll
  for (int m = 0; m < MT; ++m) acc[m] = 0;

  for (int k0 = 0; k0 < Kp; k0 += KT) {
    const int chunks = min(KT, Kp - k0) / 256;
    uint4 wv[CPT];
#pragma unroll
    for (int c = 0; c < CPT; ++c)
      if (c < chunks) wv[c] = __ldg(wrow + (k0 / 256 + c) * 8 + s);
    __syncthreads();  // the previous tile's readers are done
    for (int i = threadIdx.x; i < MT * KT; i += blockDim.x) {
      const int m = i / KT, k = k0 + i % KT;
      xs[i] = (m < M && k < K) ? __half2float(x[int64_t(m) * K + k]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < CPT; ++c) {
      if (c >= chunks) break;
      const int g = (k0 / 256 + c) * 2;
      const float s0 = __half2float(srow[g]), s1 = __half2float(srow[g + 1]);
      const __half2 z0 = __float2half2_rn(1024.0f + zrow[g]), z1 = __float2half2_rn(1024.0f + zrow[g + 1]);
      const uint32_t words[4] = {wv[c].x, wv[c].y, wv[c].z, wv[c].w};
      float p0[MT], p1[MT];
#pragma unroll
      for (int m = 0; m < MT; ++m) p0[m] = p1[m] = 0;
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        const int off = c * 256 + 64 * t + 8 * s;  // column of nibble 0 within the tile
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          // Nibbles e and e + 4 as the halves 1024 + u, then minus (1024 + zero): exact.
          const uint32_t bits = ((words[t] >> (4 * e)) & 0x000F000Fu) | 0x64006400u;
          __half2 h;
          memcpy(&h, &bits, 4);
          const float2 f = __half22float2(__hsub2(h, t < 2 ? z0 : z1));
#pragma unroll
          for (int m = 0; m < MT; ++m) {
            const float* xm = xs + m * KT + off;
            float& p = t < 2 ? p0[m] : p1[m];
            p = fmaf(f.x, xm[e], p);
            p = fmaf(f.y, xm[e + 4], p);
          }
        }
      }
#pragma unroll
      for (int m = 0; m < MT; ++m) acc[m] = fmaf(s1, p1[m], fmaf(s0, p0[m], acc[m]));
    }
  }
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], 1);
    acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], 2);
    acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], 4);
  }
  if (s == 0 && n < N) {
    const float bn = bias ? __half2float(bias[n]) : 0.0f;
#pragma unroll
    for (int m = 0; m < MT; ++m)
      if (m < M) y[int64_t(m) * N + n] = __float2half_rn(acc[m] + bn);
  }
}

template <int MT>
cudaError_t w4_gemv(const void* x, int M, const W4Args& w, const void* bias, void* y, cudaStream_t stream) {
  const size_t smem = size_t(MT) * W4Tile<MT>::value * sizeof(float);
  // The shared-memory opt-in once per device (before any graph capture: the
  // runner's first decode step runs eagerly).
  static std::atomic<unsigned long long> configured{0};
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return e;
  const unsigned long long bit = device < 64 ? 1ull << device : 0ull;
  if (bit == 0 || (configured.load() & bit) == 0) {
    e = cudaFuncSetAttribute(w4_gemv_kernel<MT>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (e != cudaSuccess) return e;
    configured.fetch_or(bit);
  }
  const unsigned blocks = static_cast<unsigned>((w.n + kW4Rows - 1) / kW4Rows);
  w4_gemv_kernel<MT><<<blocks, kW4Threads, smem, stream>>>(
      static_cast<const __half*>(x), M, w.k, w.kp, static_cast<const uint4*>(w.packed),
      static_cast<const __half*>(w.scales), w.zeros, static_cast<const __half*>(bias), static_cast<__half*>(y), w.n);
  return cudaSuccess;
}

// One thread per 16-byte lane slot (32 columns) of the packed layout.
__global__ void w4_dequant_kernel(const uint4* packed, const __half* scales, const uint8_t* zeros, int64_t N, int64_t K,
                                  int64_t Kp, __half* out) {
  const int64_t slots = Kp / 32, total = N * slots;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / slots, q = i % slots, c = q / 8, s = q % 8;
    const uint4 v = packed[i];
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
    for (int t = 0; t < 4; ++t) {
      const int64_t g = 2 * c + (t < 2 ? 0 : 1);
      const float scale = __half2float(scales[n * (Kp / 128) + g]);
      const int z = zeros[n * (Kp / 128) + g];
      for (int e = 0; e < 8; ++e) {
        const int64_t col = 256 * c + 64 * t + 8 * s + e;
        const int u = (words[t] >> (4 * e)) & 0xF;
        if (col < K) out[n * K + col] = __float2half_rn(static_cast<float>(u - z) * scale);
      }
    }
  }
}

}  // namespace

// ---- launchers ------------------------------------------------------------------------------

void launch_rms_norm(const void* x, const void* w, float eps, void* y, int64_t rows, int64_t cols, cudaStream_t s) {
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
      static_cast<const __half*>(x), static_cast<const __half*>(w), eps, static_cast<__half*>(y), cols);
}

void launch_add_rms_norm(void* x, const void* residual, const void* w, float eps, void* y, int64_t rows, int64_t cols,
                         cudaStream_t s) {
  if (residual == nullptr) {
    launch_rms_norm(x, w, eps, y, rows, cols, s);
    return;
  }
  add_rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
      static_cast<__half*>(x), static_cast<const __half*>(residual), static_cast<const __half*>(w), eps,
      static_cast<__half*>(y), cols);
}

void launch_add(void* x, const void* y, int64_t n, cudaStream_t s) {
  add_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<__half*>(x), static_cast<const __half*>(y), n);
}

void launch_silu_mul(const void* gate_up, void* out, int64_t rows, int64_t inter, cudaStream_t s) {
  silu_mul_kernel<<<grid_for(rows * inter, kThreads), kThreads, 0, s>>>(static_cast<const __half*>(gate_up),
                                                                         static_cast<__half*>(out), rows, inter);
}

void launch_embedding(const int32_t* ids, int64_t tokens, const void* table, int64_t rows, int64_t cols, void* out,
                      cudaStream_t s) {
  embedding_kernel<<<static_cast<unsigned>(tokens), kThreads, 0, s>>>(ids, static_cast<const __half*>(table), rows,
                                                                       cols, static_cast<__half*>(out));
}

void launch_rotary(void* qkv, int64_t tokens, int64_t row_elems, int64_t seq, int heads, int head_dim,
                   const float* inv_freq, const int32_t* past_len, float divisor, cudaStream_t s) {
  rotary_kernel<<<static_cast<unsigned>(tokens), kThreads, 0, s>>>(static_cast<__half*>(qkv), row_elems, seq, heads,
                                                                    head_dim / 2, head_dim, inv_freq, past_len,
                                                                    divisor);
}

void launch_kv_append(const void* qkv, int64_t tokens, int64_t row_elems, int q_heads, int64_t seq,
                      const int32_t* past_len, const LlmCache& c, cudaStream_t s) {
  kv_append_kernel<<<static_cast<unsigned>(tokens), kThreads, 0, s>>>(static_cast<const __half*>(qkv), row_elems,
                                                                       q_heads, seq, past_len, c);
}

void launch_cached_attention(const LlmAttn& a, const LlmCache& c, cudaStream_t s) {
  if (a.seq == 1) {
    decode_attention_kernel<<<dim3(unsigned(a.q_heads), unsigned(c.batch)), kThreads, 0, s>>>(a, c);
  } else {
    const unsigned tiles = static_cast<unsigned>((a.seq + 7) / 8);
    prefill_attention_kernel<<<dim3(tiles, unsigned(a.q_heads), unsigned(c.batch)), kThreads, 0, s>>>(a, c);
  }
}

cudaError_t launch_w4_gemv(const void* x, int m, const W4Args& w, const void* bias, void* y, cudaStream_t s) {
  if (m <= 1) return w4_gemv<1>(x, m, w, bias, y, s);
  if (m <= 2) return w4_gemv<2>(x, m, w, bias, y, s);
  if (m <= 4) return w4_gemv<4>(x, m, w, bias, y, s);
  if (m <= 8) return w4_gemv<8>(x, m, w, bias, y, s);
  return w4_gemv<16>(x, m, w, bias, y, s);
}

void launch_w4_dequant(const W4Args& w, void* out, cudaStream_t s) {
  w4_dequant_kernel<<<grid_for(int64_t(w.n) * w.kp / 32, kThreads), kThreads, 0, s>>>(
      static_cast<const uint4*>(w.packed), static_cast<const __half*>(w.scales), w.zeros, w.n, w.k, w.kp,
      static_cast<__half*>(out));
}

}  // namespace octet::cuda::detail
