#include "core/parse_int.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

namespace octet {
namespace {

TEST(ParseDecimal, AcceptsPlainDecimalsInRange) {
  EXPECT_EQ(parse_decimal<int64_t>("0"), 0);
  EXPECT_EQ(parse_decimal<int64_t>("42"), 42);
  EXPECT_EQ(parse_decimal<int64_t>("-7"), -7);
  EXPECT_EQ(parse_decimal<int64_t>("007"), 7);
  EXPECT_EQ(parse_decimal<int64_t>("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_decimal<int64_t>("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(parse_decimal<size_t>("18446744073709551615"), SIZE_MAX);
  EXPECT_EQ(parse_decimal<int>("2147483647"), 2147483647);
}

// What std::stoul / stoll let through (spaces, suffixes, a wrapped '-') or
// threw on (overflow, no digits) is nullopt.
TEST(ParseDecimal, RejectsAnythingElse) {
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "1abc", "abc", "1.0", "1e3", "0x10", "--1", "1-", "١"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(parse_decimal<int64_t>(bad), std::nullopt);
    EXPECT_EQ(parse_decimal<size_t>(bad), std::nullopt);
  }
  EXPECT_EQ(parse_decimal<size_t>("-1"), std::nullopt);
  EXPECT_EQ(parse_decimal<size_t>("-0"), std::nullopt);
  EXPECT_EQ(parse_decimal<int64_t>("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parse_decimal<int64_t>("-9223372036854775809"), std::nullopt);
  EXPECT_EQ(parse_decimal<size_t>("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_decimal<int>("2147483648"), std::nullopt);
  EXPECT_EQ(parse_decimal<uint8_t>("256"), std::nullopt);
}

}  // namespace
}  // namespace octet
