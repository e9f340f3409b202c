// The tile loop shared by the AVX2 and AVX-512 weight-only kernels (included
// by wo_gemv_avx2.cc / wo_gemv_avx512.cc, compiled with their ISA flags), on
// the K4 layout of kernels/wo_gemv.h.
//
// Per tile (16 outputs), in vectors of Ops::kLanes outputs (16: one per tile;
// 8: two halves), per block: the 8 weight vectors of the block (quads of 4
// inputs) are unpacked once, then each row's dot is 8 Ops::dot4 of a weight
// vector with the row's 4 activation codes broadcast; the offset correction
// is applied in int32 and the f32 steps of the reference run lane-wise
// (vfmadd is the correctly rounded fma), so every variant equals
// wo_gemv_ref bit for bit.
//
// Rows go Ops::kRows at a time (the f32 accumulators stay in registers);
// with many rows (prefill) the tiles are taken kTileGroup at a time and
// every row block runs over that group while its weights are in cache.
//
// Groups of 64 inputs or more take tile_rows_grouped (the grouped form of
// kernels/wo_gemv.h: per block and row one conversion and one fma); groups of
// 32 or 16 and the k-quant form take tile_rows, in these forms:
// WoForm::Four (int4, symmetric), FourAffine (uint4 with per-group zero points),
// FourScaleMin (k-quant scale * u - min: the scale and min made from their
// 6-bit codes and the super-block's f32 factors, then a second fma per block
// with the min), Eight, and EightGroup16 (two dots per block, one per half, each with
// its own scale; quads 0-3 are inputs 0-15 of the block in the K4 layout).
//
// Ops: kLanes, kRows, kUnsigned8 (8-bit weights enter as u = q + 128 with the
// offset correction; else as q = u ^ 0x80 without it), and vector operations
// on I (int32 lanes) and F (f32 lanes; fstore aligned, fstoreu not); dot4
// takes the address of the 4 activation codes so the broadcast is one load
// (not a trip through a GPR).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/wo_gemv.h"

namespace octet::kernels::wo_detail {

constexpr int64_t kQuads = kWoBlock / 4;  // 8 weight vectors per block
constexpr int64_t kTileGroup = 4;         // tiles a row block visits before the next row block
// Software prefetch distance along the packed weights, for R > 1 rows (tile_rows). Measured on the 1.1B
// w4a16 model, batch-8 decode: none 160-192 tok/s, 512 B ~200, 1 KiB 225-260, 2-4 KiB 271-277, 8 KiB 257-265;
// batch 1 (one row) keeps up with memory without it and was not faster with it. The lines go to L2 (T1), not
// L1: batch-8 decode with prefill 128, four alternations, 295-322 tok/s with T1 against 284-298 with T0; 8 KiB
// to L2 or T2 were not better, and prefill (many rows) measured the same.
constexpr int64_t kPrefetchBytes = 4096;
constexpr auto kPrefetchHint = _MM_HINT_T1;

enum class WoForm { Four, FourAffine, FourScaleMin, Eight, EightGroup16 };

// A row block's view of the per-block forms' terms (kernels/wo_gemv.h WoTerms, [block][m]): row i's of block
// b at scales[b * stride + i], starts[b * stride + i].
struct RowBlockTerms {
  const float* scales = nullptr;
  const int32_t* starts = nullptr;
  int64_t stride = 0;
};

// Writes R rows' accumulators (lanes [lane0, lane0 + kLanes) of tile t) to y, adding the bias.
// Always inlined: a call would take the accumulators' address, and GCC then keeps them in memory (a store per
// row and block) instead of registers.
template <class Ops, int64_t R>
[[gnu::always_inline]] inline void store_rows(const PackedWoWeights& w, int64_t t, int64_t lane0,
                                              const typename Ops::F* acc, const float* bias, float* y, int64_t ldy) {
  constexpr int64_t L = Ops::kLanes;
  const int64_t n0 = t * kWoTile + lane0, valid = std::min<int64_t>(L, w.n - n0);
#pragma GCC unroll 8
  for (int64_t i = 0; i < R; ++i) {
    if (valid == L && !bias) {
      Ops::fstoreu(y + i * ldy + n0, acc[i]);
      continue;
    }
    alignas(64) float out[L];
    Ops::fstore(out, acc[i]);
    for (int64_t r = 0; r < valid; ++r) y[i * ldy + n0 + r] = bias ? out[r] + bias[n0 + r] : out[r];
  }
}

// R rows (R <= Ops::kRows) x lanes [half * kLanes, +kLanes) of tile t.
// The row loops are unrolled (R and kQuads are constants) so that the weight
// vectors, the R int32 dots and the R f32 accumulators stay in registers, and
// the quads go outermost: R independent dependency chains of vpdpbusd are in
// flight instead of one row's chain of 8 at a time (per row, the dot's
// operations and their order are unchanged, so results are too).
template <class Ops, int64_t R, WoForm kForm>
void tile_rows(const PackedWoWeights& w, int64_t t, int64_t half, const int8_t* a, const float* a_scales,
               const int32_t* a_sums, const RowBlockTerms& terms, const float* bias, float* y, int64_t ldy) {
  using I = typename Ops::I;
  using F = typename Ops::F;
  constexpr int64_t L = Ops::kLanes;
  constexpr bool kFour = kForm == WoForm::Four || kForm == WoForm::FourAffine || kForm == WoForm::FourScaleMin;
  constexpr bool kAffine = kForm == WoForm::FourAffine;
  constexpr bool kMin = kForm == WoForm::FourScaleMin, kHalves = kForm == WoForm::EightGroup16;
  constexpr bool use_offset = kFour ? !kMin : Ops::kUnsigned8;
  const uint8_t* codes = w.codes.data<uint8_t>();
  const float* ws = kMin ? nullptr : w.scales.data<float>();
  const int32_t* wo = kAffine ? w.offsets.data<int32_t>() : nullptr;
  const int64_t blocks = w.blocks(), groups = w.groups(), k = w.k;
  const int64_t sums_per_row = k / w.sum_block();
  constexpr int64_t bb = kWoTile * kWoBlock * (kFour ? 4 : 8) / 8;  // w.block_bytes(), a constant for the unrolling
  const int64_t lane0 = half * L;
  const int32_t sym_offset = w.sym_offset();
  F acc[R];
#pragma GCC unroll 8
  for (int64_t i = 0; i < R; ++i) acc[i] = Ops::fzero();
  const uint8_t* tile = codes + t * blocks * bb + lane0 * 4;
  const float* scale_at = kMin ? nullptr : ws + t * groups * kWoTile + lane0;
  const int32_t* offset_at = wo ? wo + t * groups * kWoTile + lane0 : nullptr;
  // Scale-min form: the group's 6-bit scale and min codes, and the super-block's d and dmin (kernels/wo_gemv.h).
  const uint8_t* code_at = kMin ? w.scale_min_codes.data<uint8_t>() + t * groups * 2 * kWoTile + lane0 : nullptr;
  const float* super_at = kMin ? w.super_scales.data<float>() + t * (k / kWoSuperBlock) * 2 * kWoTile + lane0 : nullptr;
  for (int64_t b = 0; b < blocks; ++b) {
    F scale;
    if constexpr (kMin)
      scale = Ops::fmulv(Ops::fload(super_at), Ops::u8_to_f(code_at));  // fl(d * sc), as group_scale()
    else
      scale = Ops::fload(scale_at);
    const uint8_t* blk = tile + b * bb;
    // Decode streams the weights from memory once per step: with several rows the multiply-adds per byte
    // leave the hardware prefetcher too little lead, so fetch kPrefetchBytes ahead (the tiles of a task are
    // contiguous, so this runs on into the next tile).
    if constexpr (R > 1) {
#pragma GCC unroll 8
      for (int64_t line = 0; line < bb; line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes + line), kPrefetchHint);
    }
    I wv[kQuads];
    if constexpr (kFour) {
#pragma GCC unroll 4
      for (int64_t c = 0; c < kQuads / 2; ++c) Ops::unpack4(blk + c * kWoChunkBytes, wv[c], wv[c + kQuads / 2]);
    } else {
#pragma GCC unroll 8
      for (int64_t c = 0; c < kQuads; ++c) wv[c] = Ops::load8(blk + c * kWoChunkBytes);
    }
    const int8_t* ab = a + b * kWoBlock;
    if constexpr (kHalves) {
      // Two sub-blocks of 16 (quads 0-3, then 4-7), each its own offset-corrected dot and scale, in order.
#pragma GCC unroll 2
      for (int64_t h = 0; h < 2; ++h) {
        const F scale_h = Ops::fload(scale_at + h * kWoTile);
        I d[R];
#pragma GCC unroll 8
        for (int64_t i = 0; i < R; ++i)
          d[i] = use_offset ? Ops::iset1(-sym_offset * a_sums[i * sums_per_row + 2 * b + h]) : Ops::izero();
#pragma GCC unroll 4
        for (int64_t q = h * kQuads / 2; q < (h + 1) * kQuads / 2; ++q)
#pragma GCC unroll 8
          for (int64_t i = 0; i < R; ++i) d[i] = Ops::dot4_8(d[i], wv[q], ab + i * k + 4 * q);
#pragma GCC unroll 8
        for (int64_t i = 0; i < R; ++i)
          acc[i] = Ops::fma(Ops::fmul(scale_h, a_scales[i * blocks + b]), Ops::cvt(d[i]), acc[i]);
      }
      scale_at += 2 * kWoTile;
      continue;
    }
    // The dot starts from -o * sum(a) (exact in int32 in any order): for the symmetric formats a broadcast of
    // the precomputed start value, not a vector multiply per row and block.
    I d[R];
    if constexpr (kMin) {
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) d[i] = Ops::izero();
    } else if constexpr (kAffine) {
      const I offset = Ops::iload(offset_at);
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) d[i] = Ops::imul(offset, terms.starts[b * terms.stride + i]);
    } else if constexpr (use_offset) {
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) d[i] = Ops::iset1(terms.starts[b * terms.stride + i]);
    } else {
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) d[i] = Ops::izero();
    }
#pragma GCC unroll 8
    for (int64_t q = 0; q < kQuads; ++q)
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i)
        d[i] = kFour ? Ops::dot4_u(d[i], wv[q], ab + i * k + 4 * q) : Ops::dot4_8(d[i], wv[q], ab + i * k + 4 * q);
    if constexpr (kMin) {
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i)
        acc[i] = Ops::fma(Ops::fmul(scale, a_scales[i * blocks + b]), Ops::cvt(d[i]), acc[i]);
    } else {
      const float* row_scales = terms.scales + b * terms.stride;
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) acc[i] = Ops::fma(Ops::fmul_at(scale, row_scales + i), Ops::cvt(d[i]), acc[i]);
    }
    if constexpr (kMin) {
      // - min * (a_scale * sum(a)): the min's share of the block, one more fma per row.
      const F mn = Ops::fmulv(Ops::fload(super_at + kWoTile), Ops::u8_to_f(code_at + kWoTile));
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i)
        acc[i] = Ops::fma(mn, Ops::fset1(-(a_scales[i * blocks + b] * static_cast<float>(a_sums[i * sums_per_row + b]))),
                          acc[i]);
    }
    if constexpr (kMin) {
      code_at += 2 * kWoTile;  // group 32: one group per block
      if ((b + 1) % (kWoSuperBlock / kWoBlock) == 0) super_at += 2 * kWoTile;
    } else {  // one group per block (larger groups take tile_rows_grouped)
      scale_at += kWoTile;
      if constexpr (kAffine) offset_at += kWoTile;
    }
  }
  store_rows<Ops, R>(w, t, lane0, acc, bias, y, ldy);
}

// The grouped form (groups of 64 inputs or more; kernels/wo_gemv.h): per row and block one conversion and one
// fma with the block's activation scale; per row and group the offset's start value and one fma with the
// group's weight scale. group_base[i * groups + g] is row i's float(o) * -c for the symmetric formats, -c for
// uint4 affine (multiplied here by the lanes' zero points).
template <class Ops, int64_t R, bool kFour>
void tile_rows_grouped(const PackedWoWeights& w, int64_t t, int64_t half, const int8_t* a, const float* a_scales,
                       const int32_t* a_sums, const float* group_base, const float* bias, float* y, int64_t ldy) {
  using I = typename Ops::I;
  using F = typename Ops::F;
  constexpr int64_t L = Ops::kLanes;
  const int64_t blocks = w.blocks(), groups = w.groups(), k = w.k, per_group = w.group / kWoBlock;
  constexpr int64_t bb = kWoTile * kWoBlock * (kFour ? 4 : 8) / 8;  // w.block_bytes()
  const int64_t lane0 = half * L;
  const uint8_t* tile = w.codes.data<uint8_t>() + t * blocks * bb + lane0 * 4;
  const float* scale_at = w.scales.data<float>() + t * groups * kWoTile + lane0;
  const int32_t* offset_at = w.affine ? w.offsets.data<int32_t>() + t * groups * kWoTile + lane0 : nullptr;
  // 8-bit weights on a variant that multiplies the signed q (not u = q + 128): the dot of u is the dot of q
  // plus 128 * sum(a), started in int32.
  constexpr bool kSigned8 = !kFour && !Ops::kUnsigned8;
  F acc[R];
#pragma GCC unroll 8
  for (int64_t i = 0; i < R; ++i) acc[i] = Ops::fzero();
  for (int64_t g = 0; g < groups; ++g) {
    F gacc[R];
    if (offset_at) {
      const F zp = Ops::cvt(Ops::iload(offset_at + g * kWoTile));
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) gacc[i] = Ops::fmul(zp, group_base[i * groups + g]);
    } else {
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) gacc[i] = Ops::fset1(group_base[i * groups + g]);
    }
    for (int64_t b = g * per_group; b < (g + 1) * per_group; ++b) {
      const uint8_t* blk = tile + b * bb;
      if constexpr (R > 1) {
#pragma GCC unroll 8
        for (int64_t line = 0; line < bb; line += 64)
          _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes + line), kPrefetchHint);
      }
      const int8_t* ab = a + b * kWoBlock;
      I d[R];
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) d[i] = kSigned8 ? Ops::iset1(128 * a_sums[i * blocks + b]) : Ops::izero();
      // A weight vector is used by every row as soon as it is unpacked (int32 dots are exact in any order), so
      // two weight vectors are live, not eight, next to the rows' dots and both accumulators.
      if constexpr (kFour) {
#pragma GCC unroll 4
        for (int64_t c = 0; c < kQuads / 2; ++c) {
          I lo, hi;
          Ops::unpack4(blk + c * kWoChunkBytes, lo, hi);
#pragma GCC unroll 8
          for (int64_t i = 0; i < R; ++i) d[i] = Ops::dot4_u(d[i], lo, ab + i * k + 4 * c);
#pragma GCC unroll 8
          for (int64_t i = 0; i < R; ++i) d[i] = Ops::dot4_u(d[i], hi, ab + i * k + 4 * (c + kQuads / 2));
        }
      } else {
#pragma GCC unroll 8
        for (int64_t q = 0; q < kQuads; ++q) {
          const I wv = Ops::load8(blk + q * kWoChunkBytes);
#pragma GCC unroll 8
          for (int64_t i = 0; i < R; ++i) d[i] = Ops::dot4_8(d[i], wv, ab + i * k + 4 * q);
        }
      }
#pragma GCC unroll 8
      for (int64_t i = 0; i < R; ++i) gacc[i] = Ops::fma(Ops::fset1(a_scales[i * blocks + b]), Ops::cvt(d[i]), gacc[i]);
    }
    const F scale = Ops::fload(scale_at + g * kWoTile);
#pragma GCC unroll 8
    for (int64_t i = 0; i < R; ++i) acc[i] = Ops::fma(scale, gacc[i], acc[i]);
  }
  store_rows<Ops, R>(w, t, lane0, acc, bias, y, ldy);
}

// tile_rows<Ops, R, kForm> for R = 1 .. Ops::kRows, indexed by R - 1.
template <class Ops, WoForm kForm, int64_t... R>
constexpr auto row_kernels(std::integer_sequence<int64_t, R...>) {
  return std::array{&tile_rows<Ops, R + 1, kForm>...};
}

template <class Ops, WoForm kForm>
constexpr auto kRowKernels = row_kernels<Ops, kForm>(std::make_integer_sequence<int64_t, Ops::kRows>{});

template <class Ops, bool kFour, int64_t... R>
constexpr auto grouped_row_kernels(std::integer_sequence<int64_t, R...>) {
  return std::array{&tile_rows_grouped<Ops, R + 1, kFour>...};
}

template <class Ops, bool kFour>
constexpr auto kGroupedRowKernels = grouped_row_kernels<Ops, kFour>(std::make_integer_sequence<int64_t, Ops::kRows>{});

template <class Ops>
void wo_gemv_tiles(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                   const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin,
                   int64_t tile_end) {
  constexpr int64_t halves = kWoTile / Ops::kLanes;
  const auto& kernels = w.bits == 4          ? (w.scale_min() ? kRowKernels<Ops, WoForm::FourScaleMin>
                                                : w.affine    ? kRowKernels<Ops, WoForm::FourAffine>
                                                              : kRowKernels<Ops, WoForm::Four>)
                        : w.group < kWoBlock ? kRowKernels<Ops, WoForm::EightGroup16>
                                             : kRowKernels<Ops, WoForm::Eight>;
  const int64_t blocks = w.blocks(), sums_per_row = w.k / w.sum_block(), groups = w.groups();
  const bool grouped = w.grouped();
  const bool interleaved = !grouped && !w.scale_min() && w.sum_block() == kWoBlock;
  const auto& grouped_kernels = w.bits == 4 ? kGroupedRowKernels<Ops, true> : kGroupedRowKernels<Ops, false>;
  if (!terms && (grouped || interleaved)) {
    thread_local WoTerms own;
    prepare_wo_terms(w, a_scales, a_sums, m, own);
    terms = &own;
  }
  for (int64_t t0 = tile_begin; t0 < tile_end; t0 += kTileGroup) {
    const int64_t t1 = std::min(tile_end, t0 + kTileGroup);
    for (int64_t r0 = 0; r0 < m; r0 += Ops::kRows) {
      const int64_t rows = std::min(Ops::kRows, m - r0);
      const RowBlockTerms row_terms =
          interleaved ? RowBlockTerms{terms->scales.data() + r0, terms->starts.data() + r0, m} : RowBlockTerms{};
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t h = 0; h < halves; ++h) {
          if (h * Ops::kLanes >= w.n - t * kWoTile) break;  // a padded half of the last tile
          if (grouped)
            grouped_kernels[rows - 1](w, t, h, a + r0 * w.k, a_scales + r0 * blocks, a_sums + r0 * sums_per_row,
                                      terms->group_bases.data() + r0 * groups, bias, y + r0 * ldy, ldy);
          else
            kernels[rows - 1](w, t, h, a + r0 * w.k, a_scales + r0 * blocks, a_sums + r0 * sums_per_row, row_terms,
                              bias, y + r0 * ldy, ldy);
        }
    }
  }
}

}  // namespace octet::kernels::wo_detail
