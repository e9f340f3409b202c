// Weight-only quantized Linear kernels for LLMs on x86 CPUs: weights stay
// packed (int4 two per byte, or int8) with their scales; activations are
// quantized at run time to int8 per block of 32 along K (llama.cpp's Q8_0).
// One kernel serves decode (1-8 rows) and prefill (hundreds of rows).
//
// Activation blocks (quantize_q8_blocks; SIMD versions give equal results):
// for row m and block b (32 consecutive features), amax = max |x| (NaN
// ignored), scale = amax / 127 (0 when amax is 0), code =
// clamp(round_half_even(x * (1 / scale)), -127, 127) (NaN -> 0, all codes 0
// when scale is 0), and sum = sum of the 32 codes (int32).
//
// Packed weights (pack_wo_weights). The stored code q of output n, input k is
// kept as an unsigned byte u = q + o with a per (n, group) offset o:
//   int4:sym:group(G)      q in [-8, 7],   o = 8       u in [0, 15], 4 bits
//   uint4:affine:group(G)  q in [0, 15],   o = zp      (q - zp is the value), 4 bits
//   int8:sym (per channel or group(G)) q in [-128, 127], o = 128, u = q + 128, 8 bits
// so dot(q - zp, a) = dot(u, a) - o * sum(a) for every format, exact in int32.
// Two forms serve ggml's k-quants (GGUF Q4_K / Q6_K, executed natively):
//   scale-min (4 bits, group 32; Q4_K): the value is scale * u - min, u in
//     [0, 15], with scale = fl(d * float(sc)) and min = fl(dmin * float(m)):
//     6-bit codes sc, m per group and f32 d, dmin per 256 inputs (8 groups),
//     kept as such (1 + 1 bytes per 32 inputs, not 4 + 4) and multiplied in
//     the kernel;
//   group 16 (8 bits only): a scale per 16 inputs, so each block takes two
//     integer dots, one per half (Q6_K: q - 32 in [-32, 31], scale = d * sc).
//
// Layout ("K4", the order VNNI's vpdpbusd consumes): outputs in tiles of 16
// (the last tile padded with zero codes and zero scales). Tile t, block b (32
// inputs) is block_bytes() at (t * blocks + b) * block_bytes(), made of 64-byte
// chunks; in a chunk, output (lane) r's 4 bytes sit at r * 4, so one vector
// holds 4 consecutive inputs of 16 outputs, one int32 lane per output:
//   8 bits: 8 chunks; chunk c byte r*4 + j = u[r][b*32 + 4c + j]
//   4 bits: 4 chunks; chunk c byte r*4 + j = u[r][b*32 + 4c + j] | u[r][b*32 + 16 + 4c + j] << 4
// (a 4-bit chunk's low nibbles are inputs 4c.., its high nibbles 16 + 4c..).
// Scales are [tiles][groups][16] f32, one vector load per tile; offsets are
// stored the same way (i32) only for uint4 affine: the symmetric formats'
// offset is one constant (8 or 128), and storing it per group would add a
// quarter to what a decode step reads.
// A row's block dot for 16 outputs is then 8 multiply-adds of a weight vector
// with the row's 4 activation codes broadcast, each lane its own output: no
// horizontal reduction, and the unpacked weights serve every row of a batch.
//
// Result (every variant computes exactly this; the int32 dots are exact and
// the f32 steps are the same correctly rounded operations in the same order):
//   groups of 32 or 16 inputs (and the scale-min form):
//     acc = 0; for b in blocks, for each sub-block s of b (one of 32 inputs,
//     or two of 16 for group 16), in order:
//       scale-min:  acc = fma(w_scale[n, g(s)] * a_scale[m, b], float(dot_s(u, a)), acc)
//                   acc = fma(w_min[n, g(s)], -(a_scale[m, b] * float(sum[m, s])), acc)
//       otherwise:  d = dot_s(u, a) - o[n, g(s)] * sum[m, s]
//                   acc = fma(w_scale[n, g(s)] * a_scale[m, b], float(d), acc)
//   groups of 64 inputs or more ("grouped": the weight scale is applied once
//   per group, the offset once per group in f32, so a block costs a row one
//   conversion and one fma instead of four vector operations):
//     acc = 0; for g in groups, in order:
//       c = 0;    for b in g: c = fma(a_scale[m, b], float(sum[m, b]), c)
//       gacc = float(o[n, g]) * -c
//       for b in g: gacc = fma(a_scale[m, b], float(dot_b(u, a)), gacc)
//       acc = fma(w_scale[n, g], gacc, acc)
//     (float(dot_b(u, a)) is exact: |dot| <= 32 * 255 * 127 < 2^24.)
//   y[m, n] = bias ? acc + bias[n] : acc
// with g(s) the group holding s, and sum[m, s] the sum of the activation
// codes of s (sums per sum_block() inputs). A row's result does not depend on
// the other rows or on their count, so batching never changes a result.
// The grouped form's f32 rounding differs from the per-block form's (the
// offset is subtracted in f32 from a sum of unsigned dots), by a few units of
// the last place of w_scale * sum |u| a_scale |a|: far below the activation
// blocks' own rounding (1/254 of a block's largest value).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "octet/tensor.h"

namespace octet::kernels {

inline constexpr int64_t kWoBlock = 32;       // activation block along K
inline constexpr int64_t kWoTile = 16;        // outputs per tile
inline constexpr int64_t kWoChunkBytes = 64;  // one vector: 4 inputs x 16 outputs

struct PackedWoWeights {
  int64_t n = 0, k = 0;        // outputs, inputs (k % 32 == 0)
  int64_t group = 0;           // inputs per scale (a multiple of 32, or 16 with 8 bits; k for per channel)
  int bits = 4;                // 4 or 8
  bool affine = false;         // uint4 with per-group zero points in `offsets`
  int64_t tiles() const { return (n + kWoTile - 1) / kWoTile; }
  int64_t blocks() const { return k / kWoBlock; }
  int64_t groups() const { return k / group; }
  int64_t block_bytes() const { return kWoTile * kWoBlock * bits / 8; }  // 256 or 512
  // Inputs per activation code sum (sum[m, s] above): 16 for group 16, else 32.
  int64_t sum_block() const { return group < kWoBlock ? group : kWoBlock; }
  bool scale_min() const { return scale_min_codes.defined(); }
  // The grouped form of the result (above): groups of 64 inputs or more, not scale-min.
  bool grouped() const { return !scale_min() && group >= 2 * kWoBlock; }
  Tensor codes;    // u8, tiles * blocks * block_bytes
  Tensor scales;   // f32 [tiles, groups, 16] (undefined in the scale-min form)
  Tensor offsets;  // i32 [tiles, groups, 16], affine only (else undefined: every offset is sym_offset())
  // Scale-min form only (no offset: u is the code): sc, m as u8 [tiles, groups, 2, 16] (sc first), and
  // d, dmin as f32 [tiles, k / 256, 2, 16] (d first).
  Tensor scale_min_codes, super_scales;
  int32_t sym_offset() const { return bits == 8 ? 128 : 8; }
  // The scale-min form's scale and min of output lane r of tile t, group g.
  float group_scale(int64_t t, int64_t g, int64_t r) const;
  float group_min(int64_t t, int64_t g, int64_t r) const;
  // The tensors the kernels read (those this format uses), and their total.
  std::vector<const Tensor*> tensors() const {
    std::vector<const Tensor*> out;
    for (const Tensor* t : {&codes, &scales, &offsets, &scale_min_codes, &super_scales})
      if (t->defined() && t->nbytes() > 0) out.push_back(t);
    return out;
  }
  size_t bytes() const {
    size_t total = 0;
    for (const Tensor* t : tensors()) total += t->nbytes();
    return total;
  }
};

// Packs codes q [n, k] (int8 storage of the values: int4 in [-8, 7], uint4 in
// [0, 15], int8 in [-128, 127]); scales f32 [n, groups]; zero_points i32
// [n, groups] or null (symmetric). bits 4 or 8; `affine` only with 4 bits.
// Group 16 only with 8 bits (symmetric).
PackedWoWeights pack_wo_weights(const int8_t* q, int64_t n, int64_t k, int64_t group, int bits, bool affine,
                                const float* scales, const int32_t* zero_points);
inline constexpr int64_t kWoSuperBlock = 256;  // inputs per d, dmin of the scale-min form

// The scale-min form: 4-bit codes u [n, k] in [0, 15] (k a multiple of 256), value fl(d * sc) * u - fl(dmin * m)
// with sc, m [n, k / 32] in [0, 63] and d, dmin f32 [n, k / 256].
PackedWoWeights pack_wo_weights_scale_min(const uint8_t* u, int64_t n, int64_t k, const uint8_t* sc, const uint8_t* m,
                                          const float* d, const float* dmin);

// The Q8 activation blocks of x [m, k] (k % 32 == 0): codes [m, k], scales and sums [m, k / 32].
void quantize_q8_blocks(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums);
using WoQuantizeFn = void (*)(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums);
void quantize_q8_blocks_avx2(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums);
void quantize_q8_blocks_avx512(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums);

// The code sums of x's activation codes [m, k] per 16 inputs, [m, k / 16] (for group-16 weights).
void sum_codes_per_16(const int8_t* codes, int64_t m, int64_t k, int32_t* sums);

// What every tile range of one product takes from its m rows' activation blocks and the weights' format,
// made once per product (wo_gemv_shared calls prepare_wo_terms; a kernel given none makes its own per call):
//   per-block forms (int4 / uint4 / int8 with one scale per 32 inputs; not group 16, not scale-min): the
//     activation scales and the dots' start values, interleaved by row [block][m] so that a tile reaches every
//     row's through one pointer: start = -o * sum(a) (symmetric), -sum(a) (uint4 affine: times the zero points);
//   grouped form (groups of 64 or more): each row's per-group start value [m, groups], float(o) * -c of the
//     result above (-c for affine, times the zero points).
struct WoTerms {
  std::vector<float> scales;
  std::vector<int32_t> starts;
  std::vector<float> group_bases;
};
void prepare_wo_terms(const PackedWoWeights& w, const float* a_scales, const int32_t* a_sums, int64_t m,
                      WoTerms& terms);
// Whether weights a and b take the same terms from the same activations (equal k assumed).
bool same_wo_terms(const PackedWoWeights& a, const PackedWoWeights& b);

// Output tiles [tile_begin, tile_end) of y [m, ldy] for m rows (any m); a and a_scales hold the m rows'
// activation blocks, a_sums their code sums per w.sum_block() inputs; terms: prepare_wo_terms' of these
// activations for w, or null; bias may be null.
using WoGemvFn = void (*)(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums,
                          int64_t m, const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin,
                          int64_t tile_end);

void wo_gemv_ref(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                 const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin, int64_t tile_end);
void wo_gemv_avx2(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                  const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin, int64_t tile_end);
void wo_gemv_avx512(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                    const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin,
                    int64_t tile_end);

enum class WoIsa { Reference, Avx2, Avx512 };
// Whether this CPU runs the variant (hardware, ignoring OCTET_ISA).
bool wo_isa_supported(WoIsa isa);
WoGemvFn wo_gemv_variant(WoIsa isa);
WoQuantizeFn wo_quantize_variant(WoIsa isa);
// The variant public ops use: the best cpu_features() allows (so OCTET_ISA caps it).
WoIsa wo_gemv_default_isa();

// y [m, n] = x [m, k] W^T + b over the thread pool with `isa`, m any
// (activations quantized as above, outputs split over the pool by tiles).
void wo_gemv(const PackedWoWeights& w, const float* x, int64_t m, const float* bias, float* y, WoIsa isa);

// One product of wo_gemv_shared: y [m, w->n] = x W^T + bias (bias may be null).
struct WoGemvOutput {
  const PackedWoWeights* w = nullptr;
  const float* bias = nullptr;
  float* y = nullptr;
};

// wo_gemv for several weights reading the same x (equal k; any formats):
// x is quantized once and the tiles of every output are split over the pool
// as one job, not one job per weight (a decode step's q, k, v and gate, up:
// fewer hand-offs and one balanced tail). Each y equals
// wo_gemv(*w, x, m, bias, y, isa) bit for bit.
void wo_gemv_shared(std::span<const WoGemvOutput> outputs, const float* x, int64_t m, WoIsa isa);

// W^ = float(q - zp) * scale (as quant.h's dequantize()), or float(u) * scale - min in the scale-min form
// (as ggml's dequantize_row_q4_K), of outputs [n0, n1), written to out [n1 - n0, k].
void dequantize_wo_panel(const PackedWoWeights& w, int64_t n0, int64_t n1, float* out);

}  // namespace octet::kernels
