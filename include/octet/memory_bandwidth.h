// The read bandwidth the CPU's memory gives octet's thread pool: what bounds
// a decode step, which reads every weight once (docs/llm_benchmarks.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace octet {

struct ReadBandwidth {
  double bytes_per_second = 0;  // bytes read over all passes / their seconds
  int64_t bytes = 0;            // bytes of one pass (the regions' total)
  // One pass's sum, with wrap-around, of each region's 8-byte little-endian
  // words from its start, and of its last size % 8 bytes one by one: proof
  // that every byte was read (and what keeps the reads from being optimised out).
  uint64_t checksum = 0;
};

// Reads `regions` `passes` times (>= 1) over the pool's threads, in pieces of
// 256 KiB balanced over them as decode's GEMVs are (parallel_for_balanced),
// four independent sums per thread so that the loop waits on memory and not
// on its adds (bench_decode's BM_ReadBandwidth runs this too). Regions
// much larger than the last-level cache measure DRAM; regions already in
// cache measure the cache. Empty regions: bytes 0, rate 0.
ReadBandwidth measure_read_bandwidth(std::span<const std::span<const std::byte>> regions, int passes = 3);

}  // namespace octet
