// int4 packing: every pair of values, both signednesses, odd lengths, and
// bad inputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet {
namespace {

TEST(Int4, PackedBytes) {
  EXPECT_EQ(int4_packed_bytes(0), 0u);
  EXPECT_EQ(int4_packed_bytes(1), 1u);
  EXPECT_EQ(int4_packed_bytes(2), 1u);
  EXPECT_EQ(int4_packed_bytes(7), 4u);
}

// All 256 (lo, hi) pairs: the byte layout is lo | hi << 4 in two's
// complement nibbles, and unpacking gives the pair back.
TEST(Int4, EverySignedPair) {
  for (int lo = -8; lo <= 7; ++lo) {
    for (int hi = -8; hi <= 7; ++hi) {
      const std::vector<int8_t> values = {static_cast<int8_t>(lo), static_cast<int8_t>(hi)};
      std::vector<uint8_t> packed(1);
      pack_int4(values, packed);
      const int expected_byte = (lo < 0 ? lo + 16 : lo) + 16 * (hi < 0 ? hi + 16 : hi);
      ASSERT_EQ(packed[0], expected_byte) << lo << "," << hi;
      std::vector<int8_t> back(2);
      unpack_int4(packed, back);
      ASSERT_EQ(back, values);
      ASSERT_EQ(unpack_int4_lo(packed[0]), lo);
      ASSERT_EQ(unpack_int4_hi(packed[0]), hi);
    }
  }
}

TEST(Int4, EveryUnsignedPair) {
  for (int lo = 0; lo <= 15; ++lo) {
    for (int hi = 0; hi <= 15; ++hi) {
      const std::vector<uint8_t> values = {static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)};
      std::vector<uint8_t> packed(1);
      pack_uint4(values, packed);
      ASSERT_EQ(packed[0], lo + 16 * hi);
      std::vector<uint8_t> back(2);
      unpack_uint4(packed, back);
      ASSERT_EQ(back, values);
    }
  }
}

// Every byte unpacks to the nibbles' values (signed: two's complement).
TEST(Int4, EveryByteUnpacks) {
  std::vector<uint8_t> packed(256);
  for (int b = 0; b < 256; ++b) packed[b] = static_cast<uint8_t>(b);
  std::vector<int8_t> s(512);
  std::vector<uint8_t> u(512);
  unpack_int4(packed, s);
  unpack_uint4(packed, u);
  for (int b = 0; b < 256; ++b) {
    const int lo = b & 15, hi = b >> 4;
    EXPECT_EQ(u[2 * b], lo);
    EXPECT_EQ(u[2 * b + 1], hi);
    EXPECT_EQ(s[2 * b], lo >= 8 ? lo - 16 : lo);
    EXPECT_EQ(s[2 * b + 1], hi >= 8 ? hi - 16 : hi);
  }
}

TEST(Int4, OddLengthLeavesHighNibbleZero) {
  std::mt19937 rng(4);
  for (const size_t n : std::vector<size_t>{1, 3, 5, 17, 101}) {
    std::vector<int8_t> values(n);
    std::vector<uint8_t> uvalues(n);
    for (size_t i = 0; i < n; ++i) {
      values[i] = static_cast<int8_t>(static_cast<int>(rng() % 16) - 8);
      uvalues[i] = static_cast<uint8_t>(rng() % 16);
    }
    // The last value is all-ones: a sign-extension leak would show in the high nibble.
    values[n - 1] = -1;
    uvalues[n - 1] = 15;
    std::vector<uint8_t> packed(int4_packed_bytes(n), 0xFF), upacked(int4_packed_bytes(n), 0xFF);
    pack_int4(values, packed);
    pack_uint4(uvalues, upacked);
    EXPECT_EQ(packed.back(), 0x0F) << n;
    EXPECT_EQ(upacked.back(), 0x0F) << n;
    std::vector<int8_t> back(n);
    std::vector<uint8_t> uback(n);
    unpack_int4(packed, back);
    unpack_uint4(upacked, uback);
    EXPECT_EQ(back, values);
    EXPECT_EQ(uback, uvalues);
  }
}

TEST(Int4, BadInputsThrow) {
  std::vector<uint8_t> packed(2);
  EXPECT_THROW(pack_int4(std::vector<int8_t>{0, 8, 0}, packed), Error);     // 8 > 7
  EXPECT_THROW(pack_int4(std::vector<int8_t>{-9, 0, 0}, packed), Error);    // -9 < -8
  EXPECT_THROW(pack_uint4(std::vector<uint8_t>{16, 0, 0}, packed), Error);  // 16 > 15
  EXPECT_EQ(packed, (std::vector<uint8_t>{0, 0})) << "a rejected input must not be half-written";
  std::vector<uint8_t> one(1);
  EXPECT_THROW(pack_int4(std::vector<int8_t>{0, 0, 0}, one), Error);  // 3 values need 2 bytes
  EXPECT_THROW(pack_uint4(std::vector<uint8_t>{0, 0}, packed), Error);  // 2 values need 1 byte
  std::vector<int8_t> out(3);
  EXPECT_THROW(unpack_int4(one, out), Error);
  std::vector<uint8_t> uout(4);
  EXPECT_THROW(unpack_uint4(one, uout), Error);
  EXPECT_NO_THROW(pack_int4(std::span<const int8_t>{}, std::span<uint8_t>{}));
}

}  // namespace
}  // namespace octet
