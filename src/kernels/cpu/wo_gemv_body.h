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
// Ops: kLanes, kRows, kUnsigned8 (8-bit weights enter as u = q + 128 with the
// offset correction; else as q = u ^ 0x80 without it), and vector operations
// on I (int32 lanes) and F (f32 lanes); dot4 takes the address of the 4
// activation codes so the broadcast is one load (not a trip through a GPR).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/wo_gemv.h"

namespace octet::kernels::wo_detail {

constexpr int64_t kQuads = kWoBlock / 4;  // 8 weight vectors per block
constexpr int64_t kTileGroup = 4;         // tiles a row block visits before the next row block

// R rows (R <= Ops::kRows) x lanes [half * kLanes, +kLanes) of tile t.
template <class Ops, int64_t R, bool kFour>
void tile_rows(const PackedWoWeights& w, int64_t t, int64_t half, const int8_t* a, const float* a_scales,
               const int32_t* a_sums, const float* bias, float* y, int64_t ldy) {
  using I = typename Ops::I;
  using F = typename Ops::F;
  constexpr int64_t L = Ops::kLanes;
  constexpr bool use_offset = kFour || Ops::kUnsigned8;
  const uint8_t* codes = w.codes.data<uint8_t>();
  const float* ws = w.scales.data<float>();
  const int32_t* wo = w.affine ? w.offsets.data<int32_t>() : nullptr;
  const int64_t blocks = w.blocks(), groups = w.groups(), per_group = w.group / kWoBlock, k = w.k;
  const int64_t bb = w.block_bytes(), lane0 = half * L;
  F acc[R];
  for (int64_t i = 0; i < R; ++i) acc[i] = Ops::fzero();
  const uint8_t* tile = codes + t * blocks * bb + lane0 * 4;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t g = b / per_group;
    const F scale = Ops::fload(ws + (t * groups + g) * kWoTile + lane0);
    const I offset = wo ? Ops::iload(wo + (t * groups + g) * kWoTile + lane0) : Ops::izero();
    const uint8_t* blk = tile + b * bb;
    I wv[kQuads];
    if constexpr (kFour) {
      for (int64_t c = 0; c < kQuads / 2; ++c) Ops::unpack4(blk + c * kWoChunkBytes, wv[c], wv[c + kQuads / 2]);
    } else {
      for (int64_t c = 0; c < kQuads; ++c) wv[c] = Ops::load8(blk + c * kWoChunkBytes);
    }
    for (int64_t i = 0; i < R; ++i) {
      const int8_t* ab = a + i * k + b * kWoBlock;
      // The dot starts from -o * sum(a) (exact in int32 in any order): for the symmetric formats that is one
      // scalar product broadcast, not a vector multiply per row and block.
      I d = Ops::izero();
      if constexpr (use_offset) {
        const int32_t sum = a_sums[i * blocks + b];
        d = wo ? Ops::isub(d, Ops::imul(offset, sum)) : Ops::iset1(-w.sym_offset() * sum);
      }
      for (int64_t q = 0; q < kQuads; ++q)
        d = kFour ? Ops::dot4_u(d, wv[q], ab + 4 * q) : Ops::dot4_8(d, wv[q], ab + 4 * q);
      acc[i] = Ops::fma(Ops::fmul(scale, a_scales[i * blocks + b]), Ops::cvt(d), acc[i]);
    }
  }
  const int64_t n0 = t * kWoTile + lane0, valid = std::min<int64_t>(L, w.n - n0);
  for (int64_t i = 0; i < R; ++i) {
    alignas(64) float out[L];
    Ops::fstore(out, acc[i]);
    for (int64_t r = 0; r < valid; ++r) y[i * ldy + n0 + r] = bias ? out[r] + bias[n0 + r] : out[r];
  }
}

// tile_rows<Ops, R, kFour> for R = 1 .. Ops::kRows, indexed by R - 1.
template <class Ops, bool kFour, int64_t... R>
constexpr auto row_kernels(std::integer_sequence<int64_t, R...>) {
  return std::array{&tile_rows<Ops, R + 1, kFour>...};
}

template <class Ops>
void wo_gemv_tiles(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                   const float* bias, float* y, int64_t ldy, int64_t tile_begin, int64_t tile_end) {
  constexpr int64_t halves = kWoTile / Ops::kLanes;
  static constexpr auto with4 = row_kernels<Ops, true>(std::make_integer_sequence<int64_t, Ops::kRows>{});
  static constexpr auto with8 = row_kernels<Ops, false>(std::make_integer_sequence<int64_t, Ops::kRows>{});
  const bool four = w.bits == 4;
  const int64_t blocks = w.blocks();
  for (int64_t t0 = tile_begin; t0 < tile_end; t0 += kTileGroup) {
    const int64_t t1 = std::min(tile_end, t0 + kTileGroup);
    for (int64_t r0 = 0; r0 < m; r0 += Ops::kRows) {
      const int64_t rows = std::min(Ops::kRows, m - r0);
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t h = 0; h < halves; ++h) {
          if (h * Ops::kLanes >= w.n - t * kWoTile) break;  // a padded half of the last tile
          (four ? with4[rows - 1] : with8[rows - 1])(w, t, h, a + r0 * w.k, a_scales + r0 * blocks,
                                                       a_sums + r0 * blocks, bias, y + r0 * ldy, ldy);
        }
    }
  }
}

}  // namespace octet::kernels::wo_detail
