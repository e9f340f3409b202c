#include "octet/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

namespace octet {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<std::atomic<int>> hits(1000);
    parallel_for(1000, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
  set_num_threads(0);
}

TEST(ThreadPool, RethrowsWorkerException) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(10, [](int64_t b, int64_t) {
                 if (b > 0) throw std::runtime_error("boom");
               }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(100, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 100);
  set_num_threads(0);
}

TEST(ThreadPool, NestedCallsRunSerially) {
  set_num_threads(2);
  std::atomic<int64_t> sum{0};
  parallel_for(4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) parallel_for(10, [&](int64_t b2, int64_t e2) { sum += e2 - b2; });
  });
  EXPECT_EQ(sum.load(), 40);
  set_num_threads(0);
}

// Workers poll for the next job a while, then sleep: jobs back to back (the polling path) and jobs further
// apart than the polling budget (the condition-variable path) each run every chunk exactly once, and a
// worker that sat out a one-chunk job never runs a later job's chunk twice.
TEST(ThreadPool, BackToBackAndSpacedJobsRunEveryChunkOnce) {
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    for (int job = 0; job < 4000; ++job) {
      const int64_t n = 1 + job % 5;  // 1 item: runs inline; 2+: split over the pool
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "job " << job;
      if (job % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));  // past the 100 us budget
    }
  }
  set_num_threads(0);
}

// parallel_for_balanced: every index exactly once for sizes around the shares' tails and pieces (a tail of
// 0, 1 or several pieces, a last piece cut short), with 1-3 threads, and the first exception rethrown.
TEST(ThreadPool, BalancedCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t n : {1, 2, 7, 16, 17, 100, 1000, 2001})
      for (int64_t piece : {1, 2, 5}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for_balanced(
            n,
            [&](int64_t b, int64_t e) {
              ASSERT_LT(b, e);
              ASSERT_LE(e - b, std::max<int64_t>(piece, n / threads + 1)) << "a front or a piece";
              for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
            },
            piece);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[size_t(i)].load(), 1) << threads << " threads, n " << n << ", piece " << piece << ", i " << i;
      }
  }
  set_num_threads(2);
  EXPECT_THROW(parallel_for_balanced(
                   64, [](int64_t b, int64_t) { if (b >= 60) throw std::runtime_error("tail"); }, 1),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  parallel_for_balanced(0, [&](int64_t b, int64_t e) { sum += e - b; }, 4);
  parallel_for(4, [&](int64_t begin, int64_t end) {  // nested: serial, the whole range at once
    for (int64_t i = begin; i < end; ++i)
      parallel_for_balanced(10, [&](int64_t b, int64_t e) { sum += (b == 0 && e == 10) ? 10 : 1000; }, 2);
  });
  EXPECT_EQ(sum.load(), 40);
  set_num_threads(0);
}

}  // namespace
}  // namespace octet
