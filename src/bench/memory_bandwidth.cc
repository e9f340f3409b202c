#include "octet/memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

// A share of one region: [begin, begin + bytes), begin a multiple of 8 bytes from the region's start.
struct Piece {
  const std::byte* begin;
  size_t bytes;
};

constexpr size_t kPieceBytes = size_t(1) << 18;  // 256 KiB: shares even to a piece, pieces long enough to stream

uint64_t sum_piece(const Piece& p) {
  const size_t words = p.bytes / 8;
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  const auto word = [&](size_t w) {
    uint64_t v;
    std::memcpy(&v, p.begin + 8 * w, 8);  // one unaligned load; regions need not be aligned
    return v;
  };
  for (; i + 4 <= words; i += 4) s0 += word(i), s1 += word(i + 1), s2 += word(i + 2), s3 += word(i + 3);
  for (; i < words; ++i) s0 += word(i);
  for (size_t b = 8 * words; b < p.bytes; ++b) s1 += static_cast<uint8_t>(p.begin[b]);
  return s0 + s1 + s2 + s3;
}

}  // namespace

ReadBandwidth measure_read_bandwidth(std::span<const std::span<const std::byte>> regions, int passes) {
  check(passes >= 1, "bench", "measure_read_bandwidth: passes must be >= 1, got {}", passes);
  std::vector<Piece> pieces;
  ReadBandwidth out;
  for (const auto& r : regions) {
    out.bytes += int64_t(r.size());
    for (size_t off = 0; off < r.size(); off += kPieceBytes)
      pieces.push_back({r.data() + off, std::min(kPieceBytes, r.size() - off)});
  }
  if (pieces.empty()) return out;
  const auto start = std::chrono::steady_clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    std::atomic<uint64_t> total{0};
    // Balanced as a decode step's GEMVs are (thread_pool.h): on a machine whose threads run at uneven speeds a
    // plain split would time the slower thread's share, and the probe would read low against decode.
    parallel_for_balanced(
        int64_t(pieces.size()),
        [&](int64_t b, int64_t e) {
          uint64_t s = 0;
          for (int64_t i = b; i < e; ++i) s += sum_piece(pieces[size_t(i)]);
          total += s;
        },
        1);
    out.checksum = total.load();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.bytes_per_second = seconds > 0 ? double(out.bytes) * passes / seconds : 0.0;
  return out;
}

}  // namespace octet
