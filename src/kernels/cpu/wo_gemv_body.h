// The tile loop shared by the AVX2 and AVX-512 weight-only GEMV variants
// (included by wo_gemv_avx2.cc / wo_gemv_avx512.cc, compiled with their ISA
// flags). `Dot` gives, for one output's 32 unpacked weight bytes and a block
// of 32 activation codes, 8 int32 partial sums whose total is the block's
// integer dot (as dot(u, a) - correction: see kWithOffset); the partials of 8
// outputs are reduced to one vector (lane r = output r of the tile), the
// offset correction applied in int32, and the f32 steps of kernels/wo_gemv.h
// run lane-wise (vfmadd is the correctly rounded fma of the reference).
#pragma once

#include <immintrin.h>

#include <algorithm>

#include "kernels/wo_gemv.h"

namespace octet::kernels::wo_detail {

// Lane r = sum of the 8 lanes of p[r].
static inline __m256i reduce8(const __m256i* p) {
  const __m256i s01 = _mm256_hadd_epi32(p[0], p[1]), s23 = _mm256_hadd_epi32(p[2], p[3]);
  const __m256i s45 = _mm256_hadd_epi32(p[4], p[5]), s67 = _mm256_hadd_epi32(p[6], p[7]);
  const __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                          _mm256_permute2x128_si256(s0123, s4567, 0x31));
}

// 32 u8 weights of one output's block: the 16 packed bytes split into low nibbles (inputs 0..15) and high (16..31).
static inline __m256i unpack4(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(v, mask), hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

// Dot::partial(w, a): 8 int32 partial sums; Dot::kUnsignedOnly: whether the
// weights enter as the unsigned u (offset applied), else 8-bit weights enter
// signed (u ^ 0x80 = q) and no offset is applied.
template <class Dot>
void wo_gemv_tiles(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                   const float* bias, float* y, int64_t ldy, int64_t tile_begin, int64_t tile_end) {
  const uint8_t* codes = w.codes.data<uint8_t>();
  const float* ws = w.scales.data<float>();
  const int32_t* wo = w.offsets.data<int32_t>();
  const int64_t blocks = w.blocks(), groups = w.groups(), per_group = w.group / kWoBlock, bb = w.block_bytes();
  const bool four = w.bits == 4;
  const bool use_offset = four || Dot::kUnsigned8;
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    __m256 acc[kWoGemvMaxRows];
    for (int64_t i = 0; i < m; ++i) acc[i] = _mm256_setzero_ps();
    const uint8_t* tile = codes + t * blocks * kWoTile * bb;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t g = b / per_group;
      const __m256 scale = _mm256_loadu_ps(ws + (t * groups + g) * kWoTile);
      const __m256i offset = use_offset ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wo + (t * groups + g) * kWoTile))
                                        : _mm256_setzero_si256();
      __m256i wv[kWoTile];
      const uint8_t* blk = tile + b * kWoTile * bb;
      for (int r = 0; r < kWoTile; ++r)
        wv[r] = four ? unpack4(blk + r * bb) : Dot::load8(blk + r * bb);
      for (int64_t i = 0; i < m; ++i) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i * w.k + b * kWoBlock));
        __m256i p[kWoTile];
        for (int r = 0; r < kWoTile; ++r) p[r] = four ? Dot::partial_u(wv[r], av) : Dot::partial8(wv[r], av);
        __m256i d = reduce8(p);
        if (use_offset) d = _mm256_sub_epi32(d, _mm256_mullo_epi32(offset, _mm256_set1_epi32(a_sums[i * blocks + b])));
        const __m256 s = _mm256_mul_ps(scale, _mm256_set1_ps(a_scales[i * blocks + b]));
        acc[i] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(d), acc[i]);
      }
    }
    const int64_t n0 = t * kWoTile, valid = std::min<int64_t>(kWoTile, w.n - n0);
    for (int64_t i = 0; i < m; ++i) {
      alignas(32) float out[kWoTile];
      __m256 v = acc[i];
      if (bias && valid == kWoTile) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + n0));
      _mm256_store_ps(out, v);
      for (int64_t r = 0; r < valid; ++r)
        y[i * ldy + n0 + r] = (bias && valid < kWoTile) ? out[r] + bias[n0 + r] : out[r];
    }
  }
}

}  // namespace octet::kernels::wo_detail
