// GGML block formats: blocks are built here by a test-side packer written from
// the layouts in ggml-common.h, and the library's dequantization is compared
// with values computed here element by element from ggml's formulas.
//
// Exactness: the library evaluates each formula with the same float operations
// in the same order as ggml (the base build has no FMA contraction), and so
// does this test, so results are compared bit for bit. The hand-built cases
// also use scales that are powers of two times small integers, so every
// product there is exact in float and no rounding is involved at all.
#include "io/ggml_quants.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "io/gguf_builder.h"
#include "io/io_test_util.h"
#include "octet/gguf.h"
#include "octet/number_formats.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using io::BlockQ4_0;
using io::BlockQ4_K;
using io::BlockQ6_K;
using io::BlockQ8_0;

// ---- test-side packers ------------------------------------------------------

BlockQ8_0 pack_q8_0(float d, const int8_t* q) {
  BlockQ8_0 b{};
  b.d = float_to_f16(d);
  std::memcpy(b.qs, q, 32);
  return b;
}

// q[i] in [0, 15]; value i < 16 is the low nibble of byte i, value i + 16 the high nibble.
BlockQ4_0 pack_q4_0(float d, const uint8_t* q) {
  BlockQ4_0 b{};
  b.d = float_to_f16(d);
  for (int i = 0; i < 16; ++i) b.qs[i] = static_cast<uint8_t>(q[i] | (q[i + 16] << 4));
  return b;
}

// sc, m in [0, 63] (6 bits); q in [0, 15]. Scales/mins 0..3 take the low 6 bits
// of bytes 0..3 / 4..7; 4..7 split into a low nibble in bytes 8..11 and their
// top 2 bits in the top bits of bytes 0..3 / 4..7.
BlockQ4_K pack_q4_k(float d, float dmin, const uint8_t* sc, const uint8_t* m, const uint8_t* q) {
  BlockQ4_K b{};
  b.d = float_to_f16(d);
  b.dmin = float_to_f16(dmin);
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
  // Each 64 values: the first 32 in the low nibbles of 32 bytes, the next 32 in their high nibbles.
  for (int e = 0; e < 256; ++e) {
    const int byte = (e / 64) * 32 + e % 32;
    b.qs[byte] = static_cast<uint8_t>(b.qs[byte] | (q[e] << ((e % 64) < 32 ? 0 : 4)));
  }
  return b;
}

// q in [0, 63]. In each half of 128 values, value l + 32k (k = 0..3) keeps its
// low 4 bits in nibble k / 2 of ql[l + 32 (k % 2)] and its top 2 bits in bits
// 2k..2k+1 of qh[l].
BlockQ6_K pack_q6_k(float d, const int8_t* sc, const uint8_t* q) {
  BlockQ6_K b{};
  b.d = float_to_f16(d);
  std::memcpy(b.scales, sc, 16);
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, l = e % 32, k = (e % 128) / 32;
    uint8_t& lo = b.ql[64 * half + l + 32 * (k % 2)];
    lo = static_cast<uint8_t>(lo | ((q[e] & 0xF) << (4 * (k / 2))));
    uint8_t& hi = b.qh[32 * half + l];
    hi = static_cast<uint8_t>(hi | ((q[e] >> 4) << (2 * k)));
  }
  return b;
}

std::vector<float> dequantize(io::DequantizeFn fn, const std::string& bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  fn(reinterpret_cast<const uint8_t*>(bytes.data()), out.data(), n);
  return out;
}

// ---- per-format cases -------------------------------------------------------

TEST(GgmlQuants, Q8_0KnownValues) {
  // d = 0.5 and q = -128..127 over 8 blocks: x = q / 2 exactly.
  std::vector<BlockQ8_0> blocks;
  std::vector<float> expected;
  for (int blk = 0; blk < 8; ++blk) {
    int8_t q[32];
    for (int i = 0; i < 32; ++i) {
      q[i] = static_cast<int8_t>(-128 + blk * 32 + i);
      expected.push_back(q[i] * 0.5f);
    }
    blocks.push_back(pack_q8_0(0.5f, q));
  }
  EXPECT_EQ(dequantize(io::dequantize_q8_0, testing::bytes_of_blocks(blocks), 256), expected);
}

TEST(GgmlQuants, Q8_0RoundTripWithinBound) {
  // Test-side round-to-nearest quantizer: d = amax / 127, q = round(x / d),
  // d stored as fp16 (d'). Then |x - q d'| <= |x - q d| + |q| |d - d'|
  // <= d/2 + 127 d 2^-11 (fp16 keeps 11 significant bits), plus the final
  // float product's rounding, at most |x^| 2^-24; we allow |x| 2^-23.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (int trial = 0; trial < 50; ++trial) {
    float x[32], amax = 0;
    for (float& v : x) amax = std::max(amax, std::fabs(v = dist(rng)));
    const float d = amax / 127.0f;
    int8_t q[32];
    for (int i = 0; i < 32; ++i) q[i] = static_cast<int8_t>(std::lround(x[i] / d));
    const std::vector<BlockQ8_0> blocks = {pack_q8_0(d, q)};
    const auto y = dequantize(io::dequantize_q8_0, testing::bytes_of_blocks(blocks), 32);
    for (int i = 0; i < 32; ++i)
      EXPECT_LE(std::fabs(y[i] - x[i]), d / 2 + 127 * d * 0x1p-11f + std::fabs(x[i]) * 0x1p-23f) << i;
  }
}

TEST(GgmlQuants, Q4_0KnownValues) {
  std::vector<BlockQ4_0> blocks;
  std::vector<float> expected;
  for (int blk = 0; blk < 3; ++blk) {
    const float d = blk == 1 ? -0.25f : 0.5f * static_cast<float>(blk + 1);
    uint8_t q[32];
    for (int i = 0; i < 32; ++i) {
      q[i] = static_cast<uint8_t>((i * 7 + blk) % 16);
      expected.push_back(static_cast<float>(q[i] - 8) * d);
    }
    blocks.push_back(pack_q4_0(d, q));
  }
  EXPECT_EQ(dequantize(io::dequantize_q4_0, testing::bytes_of_blocks(blocks), 96), expected);
}

TEST(GgmlQuants, Q4_KScaleUnpackingIsExhaustivelyInverseOfPacking) {
  for (int v = 0; v < 64; ++v) {
    for (int j = 0; j < 8; ++j) {
      uint8_t sc[8], m[8], q[256] = {};
      for (int k = 0; k < 8; ++k) {
        sc[k] = static_cast<uint8_t>((v + 5 * k) % 64);
        m[k] = static_cast<uint8_t>((63 - v + 3 * k) % 64);
      }
      const BlockQ4_K b = pack_q4_k(1.0f, 1.0f, sc, m, q);
      uint8_t got_sc = 0, got_m = 0;
      io::get_scale_min_k4(j, b.scales, &got_sc, &got_m);
      ASSERT_EQ(got_sc, sc[j]) << "v=" << v << " j=" << j;
      ASSERT_EQ(got_m, m[j]) << "v=" << v << " j=" << j;
    }
  }
}

// x = d * sc[s] * q - dmin * m[s] for value e in sub-block s = e / 32.
std::vector<float> q4_k_expected(float d, float dmin, const uint8_t* sc, const uint8_t* m, const uint8_t* q) {
  std::vector<float> out;
  const float df = f16_to_float(float_to_f16(d)), dminf = f16_to_float(float_to_f16(dmin));
  for (int e = 0; e < 256; ++e) {
    const float scale = df * static_cast<float>(sc[e / 32]);
    const float offset = dminf * static_cast<float>(m[e / 32]);
    out.push_back(scale * static_cast<float>(q[e]) - offset);
  }
  return out;
}

TEST(GgmlQuants, Q4_KHandBuiltScales) {
  // Scales and mins span all 6 bits (values >= 16 use the split top bits).
  const uint8_t sc[8] = {1, 63, 17, 32, 48, 5, 16, 60};
  const uint8_t m[8] = {0, 7, 63, 33, 20, 47, 2, 31};
  uint8_t q[256];
  for (int e = 0; e < 256; ++e) q[e] = static_cast<uint8_t>((e * 5 + e / 32) % 16);
  std::vector<BlockQ4_K> blocks = {pack_q4_k(0.25f, 0.125f, sc, m, q), pack_q4_k(-2.0f, 0.5f, m, sc, q)};
  std::vector<float> expected = q4_k_expected(0.25f, 0.125f, sc, m, q);
  const std::vector<float> second = q4_k_expected(-2.0f, 0.5f, m, sc, q);
  expected.insert(expected.end(), second.begin(), second.end());
  // Spot-check one value by hand: e = 40 is sub-block 1, q = (200 + 1) % 16 = 9:
  // 0.25 * 63 * 9 - 0.125 * 7 = 140.875.
  ASSERT_EQ(expected[40], 140.875f);
  EXPECT_EQ(dequantize(io::dequantize_q4_k, testing::bytes_of_blocks(blocks), 512), expected);
}

TEST(GgmlQuants, Q4_KRandomBlocksBitExact) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> six(0, 63), four(0, 15);
  std::uniform_real_distribution<float> scale(1e-4f, 2.0f);
  std::vector<BlockQ4_K> blocks;
  std::vector<float> expected;
  for (int blk = 0; blk < 16; ++blk) {
    uint8_t sc[8], m[8], q[256];
    for (int k = 0; k < 8; ++k) sc[k] = static_cast<uint8_t>(six(rng)), m[k] = static_cast<uint8_t>(six(rng));
    for (uint8_t& v : q) v = static_cast<uint8_t>(four(rng));
    const float d = scale(rng), dmin = scale(rng);
    blocks.push_back(pack_q4_k(d, dmin, sc, m, q));
    const auto e = q4_k_expected(d, dmin, sc, m, q);
    expected.insert(expected.end(), e.begin(), e.end());
  }
  EXPECT_EQ(dequantize(io::dequantize_q4_k, testing::bytes_of_blocks(blocks), 16 * 256), expected);
}

// x = d * sc[e / 16] * (q - 32).
std::vector<float> q6_k_expected(float d, const int8_t* sc, const uint8_t* q) {
  std::vector<float> out;
  const float df = f16_to_float(float_to_f16(d));
  for (int e = 0; e < 256; ++e)
    out.push_back(df * static_cast<float>(sc[e / 16]) * static_cast<float>(static_cast<int>(q[e]) - 32));
  return out;
}

TEST(GgmlQuants, Q6_KHandBuiltScales) {
  const int8_t sc[16] = {-128, 127, 1, -1, 64, -64, 3, 5, 7, 9, -11, 13, 100, -100, 0, 2};
  uint8_t q[256];
  for (int e = 0; e < 256; ++e) q[e] = static_cast<uint8_t>((e * 13 + 7) % 64);
  std::vector<BlockQ6_K> blocks = {pack_q6_k(0.5f, sc, q), pack_q6_k(-0.0625f, sc, q)};
  std::vector<float> expected = q6_k_expected(0.5f, sc, q);
  const auto second = q6_k_expected(-0.0625f, sc, q);
  expected.insert(expected.end(), second.begin(), second.end());
  // e = 200: scale index 12 (100), q = (2600 + 7) % 64 = 47: 0.5 * 100 * 15 = 750.
  ASSERT_EQ(expected[200], 750.0f);
  EXPECT_EQ(dequantize(io::dequantize_q6_k, testing::bytes_of_blocks(blocks), 512), expected);
}

TEST(GgmlQuants, Q6_KRandomBlocksBitExact) {
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> six(0, 63), byte(-128, 127);
  std::uniform_real_distribution<float> scale(-1.0f, 1.0f);
  std::vector<BlockQ6_K> blocks;
  std::vector<float> expected;
  for (int blk = 0; blk < 16; ++blk) {
    int8_t sc[16];
    uint8_t q[256];
    for (int8_t& s : sc) s = static_cast<int8_t>(byte(rng));
    for (uint8_t& v : q) v = static_cast<uint8_t>(six(rng));
    const float d = scale(rng);
    blocks.push_back(pack_q6_k(d, sc, q));
    const auto e = q6_k_expected(d, sc, q);
    expected.insert(expected.end(), e.begin(), e.end());
  }
  EXPECT_EQ(dequantize(io::dequantize_q6_k, testing::bytes_of_blocks(blocks), 16 * 256), expected);
}

TEST(GgmlQuants, TraitTable) {
  EXPECT_EQ(io::ggml_type_traits(8)->block_bytes, 34u);
  EXPECT_EQ(io::ggml_type_traits(2)->block_bytes, 18u);
  EXPECT_EQ(io::ggml_type_traits(12)->block_bytes, 144u);
  EXPECT_EQ(io::ggml_type_traits(14)->block_bytes, 210u);
  EXPECT_EQ(io::ggml_type_traits(12)->block_size, 256);
  EXPECT_EQ(io::ggml_type_traits(30)->plain_dtype, DType::BF16);
  EXPECT_EQ(io::ggml_type_traits(4), nullptr);
  EXPECT_EQ(io::ggml_type_traits(1000), nullptr);
}

// ---- through a GGUF file ------------------------------------------------------

TEST(GgmlQuants, GgufGetF32DequantizesRowsInOrder) {
  // Each tensor has 2 rows (ne[1] = 2) of two blocks' worth of values (ne[0]).
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> six(0, 63), four(0, 15), byte(-128, 127);
  std::vector<BlockQ8_0> q8;
  std::vector<BlockQ4_0> q4;
  std::vector<BlockQ4_K> q4k;
  std::vector<BlockQ6_K> q6k;
  std::vector<float> e8, e4, e4k, e6k;
  for (int blk = 0; blk < 4; ++blk) {
    int8_t qs8[32];
    uint8_t qs4[32];
    for (int i = 0; i < 32; ++i) {
      qs8[i] = static_cast<int8_t>(byte(rng));
      qs4[i] = static_cast<uint8_t>(four(rng));
      e8.push_back(static_cast<float>(qs8[i]) * 0.25f * static_cast<float>(blk + 1));
      e4.push_back(static_cast<float>(qs4[i] - 8) * 0.125f * static_cast<float>(blk + 1));
    }
    q8.push_back(pack_q8_0(0.25f * static_cast<float>(blk + 1), qs8));
    q4.push_back(pack_q4_0(0.125f * static_cast<float>(blk + 1), qs4));
    uint8_t sc[8], m[8], q[256];
    int8_t sc6[16];
    for (int k = 0; k < 8; ++k) sc[k] = static_cast<uint8_t>(six(rng)), m[k] = static_cast<uint8_t>(six(rng));
    for (int8_t& s : sc6) s = static_cast<int8_t>(byte(rng));
    for (uint8_t& v : q) v = static_cast<uint8_t>(six(rng));
    q6k.push_back(pack_q6_k(0.5f, sc6, q));
    const auto x6 = q6_k_expected(0.5f, sc6, q);
    e6k.insert(e6k.end(), x6.begin(), x6.end());
    for (uint8_t& v : q) v &= 0xF;
    q4k.push_back(pack_q4_k(0.5f, 0.25f, sc, m, q));
    const auto x4 = q4_k_expected(0.5f, 0.25f, sc, m, q);
    e4k.insert(e4k.end(), x4.begin(), x4.end());
  }
  testing::GgufBuilder b;
  b.tensor("q8_0", {64, 2}, 8, testing::bytes_of_blocks(q8))
      .tensor("q4_0", {64, 2}, 2, testing::bytes_of_blocks(q4))
      .tensor("q4_k", {512, 2}, 12, testing::bytes_of_blocks(q4k))
      .tensor("q6_k", {512, 2}, 14, testing::bytes_of_blocks(q6k));
  const auto path = testing::temp_dir() / "quant.gguf";
  testing::write_bytes(path, b.build());
  const GgufFile f = GgufFile::open(path);
  const struct {
    const char* name;
    int64_t row;
    const std::vector<float>* expected;
  } cases[] = {{"q8_0", 64, &e8}, {"q4_0", 64, &e4}, {"q4_k", 512, &e4k}, {"q6_k", 512, &e6k}};
  for (const auto& [name, row, expected] : cases) {
    SCOPED_TRACE(name);
    const Tensor t = f.get_f32(name);
    EXPECT_EQ(t.dtype(), DType::F32);
    EXPECT_EQ(t.shape(), (Shape{2, row}));
    const auto got = t.span<float>();
    EXPECT_EQ(std::vector<float>(got.begin(), got.end()), *expected);
  }
  EXPECT_EQ(f.tensor_info("q4_k").nbytes, 4 * sizeof(BlockQ4_K));
}

}  // namespace
}  // namespace octet
