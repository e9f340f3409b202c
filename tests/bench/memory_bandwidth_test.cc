// measure_read_bandwidth (octet/memory_bandwidth.h) reads every byte of its
// regions once per pass, whatever their alignment, sizes and count, on any
// number of threads: its checksum equals one computed here byte by byte.
#include "octet/memory_bandwidth.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

// The checksum's definition: each region's 8-byte little-endian words from its start, then its tail bytes.
uint64_t reference_checksum(const std::vector<std::span<const std::byte>>& regions) {
  uint64_t sum = 0;
  for (const auto& r : regions) {
    size_t i = 0;
    for (; i + 8 <= r.size(); i += 8) {
      uint64_t w = 0;
      for (int b = 7; b >= 0; --b) w = (w << 8) | uint64_t(static_cast<uint8_t>(r[i + size_t(b)]));
      sum += w;
    }
    for (; i < r.size(); ++i) sum += static_cast<uint8_t>(r[i]);
  }
  return sum;
}

class ReadBandwidthThreads : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    saved_ = num_threads();
    set_num_threads(GetParam());
  }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

TEST_P(ReadBandwidthThreads, ReadsEveryByteOfUnalignedRegionsWithTails) {
  std::vector<std::byte> memory((size_t(3) << 20) + 64);
  std::mt19937_64 rng(7);
  for (auto& b : memory) b = static_cast<std::byte>(rng());
  // Odd starts and sizes; one region spans many 256 KiB pieces and ends mid-word; one is shorter than a word.
  const std::vector<std::span<const std::byte>> regions{
      {memory.data() + 3, (size_t(2) << 20) + 1001},
      {memory.data() + (size_t(2) << 20) + 2000, 5},
      {memory.data() + (size_t(2) << 20) + 2100, 700 * 1024 + 7},
      {memory.data(), 0},
  };
  const ReadBandwidth r = measure_read_bandwidth(regions, 2);
  EXPECT_EQ(r.checksum, reference_checksum(regions));
  int64_t bytes = 0;
  for (const auto& region : regions) bytes += int64_t(region.size());
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_GT(r.bytes_per_second, 0.0);
  // A changed byte in the middle of a piece, and one in a tail, change the checksum.
  memory[size_t(1) << 19] ^= std::byte{1};
  EXPECT_NE(measure_read_bandwidth(regions, 1).checksum, r.checksum);
  memory[size_t(1) << 19] ^= std::byte{1};
  memory[3 + (size_t(2) << 20) + 1000] ^= std::byte{0x80};
  EXPECT_EQ(measure_read_bandwidth(regions, 1).checksum, reference_checksum(regions));
}

INSTANTIATE_TEST_SUITE_P(MemoryBandwidth, ReadBandwidthThreads, ::testing::Values(1, 2, 3));

TEST(MemoryBandwidth, NoRegionsReadNothing) {
  const ReadBandwidth r = measure_read_bandwidth({}, 1);
  EXPECT_EQ(r.bytes, 0);
  EXPECT_EQ(r.checksum, 0u);
  EXPECT_EQ(r.bytes_per_second, 0.0);
}

TEST(MemoryBandwidth, PassesBelowOneAreRefused) {
  std::vector<std::byte> memory(64);
  const std::span<const std::byte> region(memory);
  EXPECT_THROW(measure_read_bandwidth({&region, 1}, 0), Error);
}

}  // namespace
}  // namespace octet
