// AVX2 + F16C bulk conversions. Each must be bit-identical to the scalar
// loop in bulk_convert.cc (tests/formats/bulk_convert_test.cc checks every
// code and random inputs); the comments say why each trick gives the same
// answer as the scalar rounding.
#include <immintrin.h>

#include <cstring>

#include "formats/bulk_kernels.h"
#include "octet/number_formats.h"

namespace octet::formats {
namespace {

// Runs `block` over whole blocks of kBlock elements. The tail goes through a
// zero-padded buffer so the same vector code converts it.
template <size_t kBlock, typename Src, typename Dst, typename Block>
inline void for_blocks(const Src* src, Dst* dst, size_t n, Block block) {
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) block(src + i, dst + i);
  if (i < n) {
    Src in[kBlock] = {};
    Dst out[kBlock];
    std::memcpy(in, src + i, (n - i) * sizeof(Src));
    block(in, out);
    std::memcpy(dst + i, out, (n - i) * sizeof(Dst));
  }
}

inline __m256i splat(uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }

// ---- fp16: F16C does it in hardware --------------------------------------
// vcvtps2ph with an explicit round-to-nearest-even immediate (MXCSR.RC is not
// consulted); NaNs are quieted with the top payload bits kept, which is the
// rule float_to_f16 follows.
void f32_to_f16(const float* src, uint16_t* dst, size_t n) {
  for_blocks<16>(src, dst, n, [](const float* s, uint16_t* d) {
    constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm256_cvtps_ph(_mm256_loadu_ps(s), kRne));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 8), _mm256_cvtps_ph(_mm256_loadu_ps(s + 8), kRne));
  });
}

void f16_to_f32(const uint16_t* src, float* dst, size_t n) {
  for_blocks<16>(src, dst, n, [](const uint16_t* s, float* d) {
    _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s))));
    _mm256_storeu_ps(d + 8, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 8))));
  });
}

// ---- bf16: integer round-to-nearest-even on the f32 bits ---------------------
// Same arithmetic as float_to_bf16: u + 0x7FFF + (bit 16 of u), keep the top
// half; a carry out of the mantissa bumps the exponent (up to Inf), which is
// the correct rounding. NaNs skip the rounding (it could carry them into
// Inf or flip the sign) and get the quiet bit instead.
inline __m256i f32_to_bf16_lanes(__m256i u) {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), splat(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, splat(0x7FFF)), lsb), 16);
  const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, splat(0x7FFFFFFF)), splat(0x7F800000));
  const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), splat(0x40));
  return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

void f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
  for_blocks<16>(src, dst, n, [](const float* s, uint16_t* d) {
    const __m256i lo = f32_to_bf16_lanes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
    const __m256i hi = f32_to_bf16_lanes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 8)));
    // Lanes hold 0..0xFFFF, so the unsigned-saturating pack is exact; it
    // interleaves 128-bit halves, which the permute puts back in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), packed);
  });
}

void bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
  for_blocks<16>(src, dst, n, [](const uint16_t* s, float* d) {
    const __m256i lo = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
    const __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 8)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), _mm256_slli_epi32(lo, 16));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 8), _mm256_slli_epi32(hi, 16));
  });
}

// ---- fp8 encode ------------------------------------------------------------
// One lane = one f32 -> one fp8 code in the low byte, for a format with
// kMant mantissa bits and exponent bias kBias. Magnitudes are rounded two
// ways and the right one is picked per lane:
//  * results below the smallest normal (|x| < 2^(1-kBias)): add the magic
//    float 2^(1-kBias+23-kMant), whose ulp is exactly the smallest subnormal.
//    |x| < magic, so the sum stays in [magic, 2*magic) and the FPU's
//    round-to-nearest-even puts |x| on the subnormal grid; sum - magic (as
//    integers) is then the code. Rounding up to the top of the grid gives
//    1 << kMant, the smallest normal code, as it should. f32 denormal inputs
//    give 0 whether or not DAZ is on.
//  * normal results: integer RNE on the f32 bits (add half an ulp minus one
//    plus the kept LSB, shift), then rebias the exponent. A mantissa carry
//    moves into the exponent, as in float_to_bf16.
// Codes past the largest allowed one clamp to kMaxCode (e4m3: 0x7E saturates;
// e5m2: 0x7C is Inf; e5m2 saturating: 0x7B); +-Inf takes the same path and
// clamps too. NaN lanes become kNanCode. The sign goes on last.
template <int kMant, int kBias, uint32_t kMaxCode, uint32_t kNanCode>
inline __m256i f32_to_fp8_lanes(__m256 x) {
  constexpr int kDrop = 23 - kMant;
  constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(127 - kBias + 1) << 23;
  constexpr uint32_t kMagicBits = static_cast<uint32_t>((127 - kBias) + kDrop + 1) << 23;
  constexpr uint32_t kRebiasAndHalf = (static_cast<uint32_t>(kBias - 127) << 23) + (1u << (kDrop - 1)) - 1;

  const __m256i u = _mm256_castps_si256(x);
  const __m256i sign = _mm256_and_si256(u, splat(0x80000000u));
  const __m256i a = _mm256_xor_si256(u, sign);

  const __m256 magic = _mm256_castsi256_ps(splat(kMagicBits));
  const __m256i sub = _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(a), magic)),
                                       splat(kMagicBits));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(a, kDrop), splat(1));
  const __m256i normal = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(a, splat(kRebiasAndHalf)), odd), kDrop);

  // a has its sign bit clear, so signed 32-bit compares order magnitudes.
  const __m256i is_sub = _mm256_cmpgt_epi32(splat(kMinNormalBits), a);
  __m256i code = _mm256_blendv_epi8(normal, sub, is_sub);
  code = _mm256_min_epu32(code, splat(kMaxCode));
  const __m256i is_nan = _mm256_cmpgt_epi32(a, splat(0x7F800000));
  code = _mm256_blendv_epi8(code, splat(kNanCode), is_nan);
  return _mm256_or_si256(code, _mm256_srli_epi32(sign, 24));
}

// Packs 4 x 8 lanes holding bytes (0..255) into 32 bytes in element order.
inline __m256i pack_lanes_to_bytes(__m256i c0, __m256i c1, __m256i c2, __m256i c3) {
  const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
  // The two packs interleave per 128-bit half: dwords hold c0[0:4] c1[0:4]
  // c2[0:4] c3[0:4] c0[4:8] c1[4:8] c2[4:8] c3[4:8].
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <int kMant, int kBias, uint32_t kMaxCode, uint32_t kNanCode>
void f32_to_fp8(const float* src, uint8_t* dst, size_t n) {
  for_blocks<32>(src, dst, n, [](const float* s, uint8_t* d) {
    const __m256i c0 = f32_to_fp8_lanes<kMant, kBias, kMaxCode, kNanCode>(_mm256_loadu_ps(s));
    const __m256i c1 = f32_to_fp8_lanes<kMant, kBias, kMaxCode, kNanCode>(_mm256_loadu_ps(s + 8));
    const __m256i c2 = f32_to_fp8_lanes<kMant, kBias, kMaxCode, kNanCode>(_mm256_loadu_ps(s + 16));
    const __m256i c3 = f32_to_fp8_lanes<kMant, kBias, kMaxCode, kNanCode>(_mm256_loadu_ps(s + 24));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), pack_lanes_to_bytes(c0, c1, c2, c3));
  });
}

// ---- fp8 decode: widen to f16 codes, let F16C do the rest ------------------
// e5m2 is the top byte of an f16, so code << 8 is the same value as an f16.
// e4m3 magnitude bits (eeee.mmm) placed at f16 bits 13..7 read as an f16 with
// bias 15 instead of 7, i.e. the value times 2^-8, subnormals included; the
// product with 2^8 is exact. NaN codes are replaced before widening by the f16
// quiet NaN without payload (sign | 0x7E00), which F16C turns into
// sign | 0x7FC00000 (multiplying by 2^8 keeps it), the scalar decoders' NaN.
template <bool kE4M3>
inline void fp8_to_f32_16(const uint8_t* s, float* d) {
  const __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  const __m256i sign = _mm256_slli_epi16(_mm256_and_si256(c, _mm256_set1_epi16(0x80)), 8);
  const __m256i mag = _mm256_and_si256(c, _mm256_set1_epi16(0x7F));
  __m256i h;
  __m256i is_nan;
  if constexpr (kE4M3) {
    h = _mm256_or_si256(sign, _mm256_slli_epi16(mag, 7));
    is_nan = _mm256_cmpeq_epi16(mag, _mm256_set1_epi16(0x7F));
  } else {
    h = _mm256_slli_epi16(c, 8);
    is_nan = _mm256_cmpgt_epi16(mag, _mm256_set1_epi16(0x7C));
  }
  h = _mm256_blendv_epi8(h, _mm256_or_si256(sign, _mm256_set1_epi16(0x7E00)), is_nan);
  __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  __m256 hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  if constexpr (kE4M3) {
    const __m256 rebias = _mm256_set1_ps(256.0f);
    lo = _mm256_mul_ps(lo, rebias);
    hi = _mm256_mul_ps(hi, rebias);
  }
  _mm256_storeu_ps(d, lo);
  _mm256_storeu_ps(d + 8, hi);
}

template <bool kE4M3>
void fp8_to_f32(const uint8_t* src, float* dst, size_t n) {
  for_blocks<32>(src, dst, n, [](const uint8_t* s, float* d) {
    fp8_to_f32_16<kE4M3>(s, d);
    fp8_to_f32_16<kE4M3>(s + 16, d + 16);
  });
}

constexpr BulkKernels kAvx2Kernels{
    "avx2",
    f32_to_f16,
    f16_to_f32,
    f32_to_bf16,
    bf16_to_f32,
    f32_to_fp8<3, 7, 0x7E, 0x7F>,
    fp8_to_f32<true>,
    f32_to_fp8<2, 15, 0x7C, 0x7E>,
    f32_to_fp8<2, 15, 0x7B, 0x7E>,
    fp8_to_f32<false>,
};

}  // namespace

const BulkKernels& avx2_bulk_kernels() { return kAvx2Kernels; }

}  // namespace octet::formats
