// CUDA ops of LLaMA-family decoders: RMSNorm, rotary embeddings, SiLU gating,
// embedding gather, residual adds, a KV cache in f16 or fp8 e4m3 with decode
// and causal prefill attention, and the W4A16 (int4 weights, group 128, f16
// activations) GEMV / GEMM. Everything is queued on the given stream and
// returns without waiting. Activations are F16 unless a comment says
// otherwise; math is f32 inside every kernel. Errors are octet::Error "cuda".
//
// Sequence lengths that change from step to step (the cache length) are read
// from device memory (an i32 scalar), so one decode step can be captured in a
// cuda::Graph and replayed while the cache grows.
//
// Built without CUDA every entry point throws the stand-in's Error "cuda".
#pragma once

#include <cstdint>

#include "octet/cuda.h"
#include "octet/cuda_ops.h"

namespace octet::cuda {

// ---- row and elementwise kernels ------------------------------------------------

// y[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * weight   (HF LlamaRMSNorm:
// the normalised row is rounded to f16 before the weight multiply, as
// transformers does for f16 models). x, y f16 [rows, H]; weight f16 [H].
// y may be x.
void rms_norm(const DeviceTensor& x, const DeviceTensor& weight, float eps, DeviceTensor& y, const Stream& stream);

// x += residual (rounded to f16, written back to x), then y = rms_norm(x):
// the residual add of one block fused with the next block's norm.
void add_rms_norm(DeviceTensor& x, const DeviceTensor& residual, const DeviceTensor& weight, float eps,
                  DeviceTensor& y, const Stream& stream);

// x += y elementwise (f16, same numel).
void add_inplace(DeviceTensor& x, const DeviceTensor& y, const Stream& stream);

// out[r, i] = silu(gu[r, i]) * gu[r, I + i] for gu f16 [rows, 2 I] (gate and
// up projections side by side); out f16 [rows, I].
void silu_mul(const DeviceTensor& gate_up, DeviceTensor& out, const Stream& stream);

// out[t, :] = table[ids[t], :]; ids i32 [T], table f16 [V, H], out f16 [T, H].
// An id outside [0, V) gives a row of zeros (no error: graph-safe).
void embedding_gather(const DeviceTensor& ids, const DeviceTensor& table, DeviceTensor& out, const Stream& stream);

// ---- rotary embedding ---------------------------------------------------------------

// Rotates, in place, the first `q_heads + k_heads` heads of every token row of
// `qkv` (f16 [B * S, row_elems], head h at columns h * head_dim ..) with the
// HF LLaMA rotate_half convention: for i < head_dim / 2, angle =
// (pos / position_divisor) * inv_freq[i] (f32),
//   x[i] <- x[i] cos - x[i + d/2] sin,  x[i + d/2] <- x[i + d/2] cos + x[i] sin.
// Token (b, s) sits at position *past_len + s (past_len: i32 [1] on device).
// inv_freq: f32 [head_dim / 2].
struct RotaryArgs {
  int64_t batch = 0, seq = 0;
  int64_t q_heads = 0, k_heads = 0, head_dim = 0;
  DeviceTensor inv_freq;      // f32 [head_dim / 2]
  DeviceTensor past_len;      // i32 [1]
  float position_divisor = 1;  // rope_scaling "linear": factor
};
void rotary_inplace(DeviceTensor& qkv, const RotaryArgs& args, const Stream& stream);

// ---- KV cache ------------------------------------------------------------------------

// Keys and values of every layer: [layers][B][kv_heads][max_seq][head_dim],
// F16 or F8_E4M3. fp8 values are code * scale with one f32 scale per
// (layer, kv head) (`k_scale`, `v_scale` f32 [layers * kv_heads]; a
// per-tensor scale is the same value everywhere), quantized on append as
// octet's CPU rule does: code = e4m3(x * (1 / scale)), saturating at +-448.
struct KvCacheView {
  DeviceTensor k, v;              // [layers, B, kv_heads, max_seq, head_dim]
  DeviceTensor k_scale, v_scale;  // f32 [layers * kv_heads], F8_E4M3 only
  int64_t layers = 0, batch = 0, kv_heads = 0, max_seq = 0, head_dim = 0;
};

// Writes the keys and values of S new tokens per sequence into `layer` at
// positions *past_len .. *past_len + S - 1. `qkv` f16 [B * S, (q_heads + 2 kv_heads)
// * head_dim] holds q, then k, then v heads per token (k already rotated).
// Positions past max_seq are dropped (the runner checks lengths on the host).
void kv_append(const DeviceTensor& qkv, int64_t q_heads, int64_t seq, const DeviceTensor& past_len,
               KvCacheView& cache, int64_t layer, const Stream& stream);

// Attention of S new query tokens per sequence against the cache of `layer`
// (which already holds them): query s of sequence b attends keys
// 0 .. *past_len + s (causal), softmax(scale q.k) v in f32, GQA (query head h
// reads kv head h / (q_heads / kv_heads)). q is read from `qkv` (as in
// kv_append); out f16 [B * S, q_heads * head_dim]. head_dim must be a
// multiple of 32 and at most 256. S = 1 (decode) splits the keys over the
// warps of a block per (b, head); S > 1 (prefill) gives each query a warp.
void cached_attention(const DeviceTensor& qkv, int64_t q_heads, int64_t seq, const DeviceTensor& past_len,
                      const KvCacheView& cache, int64_t layer, float scale, DeviceTensor& out,
                      const Stream& stream);

// ---- W4A16 -------------------------------------------------------------------------------

// An int4 weight [N, K] quantized per group of 128 input columns:
//   w[n, k] = (u[n, k] - zero[n, k / 128]) * scale[n, k / 128]
// with u in 0..15 (a signed int4 code q is stored as u = q + 8 with zero 8).
//
// Packed layout (`packed`, U8 [N, Kp / 2], Kp = K rounded up to 256; padded
// columns have u = zero and scale 0): each row is a run of 128-byte chunks of
// 256 columns. In chunk c, lane s (0..7) of the 8 lanes that read the row owns
// the 16 bytes at c * 128 + 16 s: little-endian 32-bit word t (0..3) of
// them holds columns 256 c + 64 t + 8 s + e (e = 0..7) in nibble e (bits
// 4e .. 4e + 3). So 8 lanes read one 128-byte line with one 16-byte load
// each (a warp covers 4 rows), and the activations each lane needs (8
// consecutive columns per word) come from shared memory without bank
// conflicts. Words t = 0, 1 fall in group 2c, t = 2, 3 in group 2c + 1.
struct W4Weight {
  DeviceTensor packed;  // U8 [N, Kp / 2]
  DeviceTensor scales;  // F16 [N, Kp / 128]
  DeviceTensor zeros;   // U8 [N, Kp / 128]
  int64_t n = 0, k = 0;
  int64_t bytes() const;  // device bytes of codes, scales and zero points
};

// Host side: the packed layout of codes u (U8 [N, K], values 0..15), scales
// (F32 [N, K / 128], rounded to f16 here) and zero points (U8 or I32 [N, K /
// 128]; undefined: 8 everywhere). K must be a multiple of 128.
struct W4Host {
  Tensor packed, scales, zeros;  // U8, F16, U8 as W4Weight
  int64_t n = 0, k = 0;
};
W4Host pack_w4(const Tensor& codes, const Tensor& scales, const Tensor& zeros);
// The weight the kernels compute with, f32 [N, K]: (u - zero) * f16(scale).
Tensor dequantize_w4(const W4Host& w);
W4Weight upload_w4(const W4Host& w, const Stream& stream);

// y[M, N] = x[M, K] W^T (+ bias[N]), x f16 [M, K], y f16 [M, N], bias f16
// [N] or undefined. M <= 16: one GEMV kernel reading each weight byte once
// (f32 accumulation, the group scale applied to each lane's partial sum).
// M > 16: the weight is dequantized to an f16 scratch [N, K] and cuBLASLt's
// f16 `linear` runs (prefill).
void linear_w4a16(const DeviceTensor& x, const W4Weight& w, const DeviceTensor& bias, DeviceTensor& y,
                  const Stream& stream);

// Dequantizes the whole weight into f16 [N, K] (what the M > 16 path uses).
void dequantize_w4_device(const W4Weight& w, DeviceTensor& out, const Stream& stream);

// ---- measurement ----------------------------------------------------------------------------

// Device-to-device copy bandwidth in bytes/s (read + written bytes over the
// time of the best of `repeats` copies of `bytes` bytes, timed with events).
double measure_copy_bandwidth(size_t bytes, int repeats, const Stream& stream);

}  // namespace octet::cuda
