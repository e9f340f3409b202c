#include "octet/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace octet {
namespace {

thread_local bool t_inside_pool_job = false;

// How long a worker keeps polling for the next job after finishing one, and
// the caller for the workers' last chunk, before sleeping on the condition
// variable. A decode step issues hundreds of short parallel_for calls a few
// microseconds apart; a futex sleep and wake-up costs tens of microseconds
// each (more in a VM), which was ~12 % of a decode step. Bounded, so an idle
// or oversubscribed process still sleeps (OCTET_SPIN_US=0: never poll).
std::chrono::microseconds spin_budget() {
  static const std::chrono::microseconds budget = [] {
    if (const char* env = std::getenv("OCTET_SPIN_US")) {
      const long v = std::atol(env);
      if (v >= 0) return std::chrono::microseconds(std::min(v, 1000000L));
    }
    return std::chrono::microseconds(100);
  }();
  return budget;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `ready` for at most spin_budget(); true once it held.
template <class Ready>
bool spin_until(const Ready& ready) {
  const auto budget = spin_budget();
  if (budget.count() == 0) return ready();
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

int hardware_threads() {
  if (const char* env = std::getenv("OCTET_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop_workers();
    stopping_.store(false, std::memory_order_relaxed);
    // New workers must not mistake the last finished job for a new one.
    const uint64_t current = generation_.load(std::memory_order_relaxed);
    for (int i = 0; i + 1 < n; ++i) workers_.emplace_back([this, i, current] { worker_loop(i, current); });
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t max_chunks = (n + grain - 1) / grain;
    if (t_inside_pool_job || size() == 1 || max_chunks == 1) {
      fn(0, n);
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    const int chunks = static_cast<int>(std::min<int64_t>(size(), max_chunks));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      job_n_ = n;
      job_chunks_ = chunks;
      pending_.store(chunks - 1, std::memory_order_relaxed);
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    // The caller runs chunk 0.
    run_chunk(0);
    if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    std::exception_ptr error;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = nullptr;
      error = error_;
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  void run_chunk(int c) {
    const int64_t begin = job_n_ * c / job_chunks_;
    const int64_t end = job_n_ * (c + 1) / job_chunks_;
    t_inside_pool_job = true;
    try {
      if (begin < end) (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    t_inside_pool_job = false;
  }

  void worker_loop(int index, uint64_t seen) {
    const auto job_or_stop = [&] {
      return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
      const bool polled = spin_until(job_or_stop);
      lock.lock();
      if (!polled) cv_.wait(lock, job_or_stop);
      // The job's fields are read under the mutex: a worker outside this job may see it only after the caller
      // moved on to the next one, and must then take the next one whole.
      if (stopping_.load(std::memory_order_relaxed)) return;
      seen = generation_.load(std::memory_order_relaxed);
      const int chunk = index + 1;
      if (chunk >= job_chunks_) continue;
      lock.unlock();
      run_chunk(chunk);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Taking the mutex orders this wake-up after a caller that found pending_ > 0 and went to sleep.
        lock.lock();
        done_cv_.notify_one();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;
};

Pool& global_pool() {
  static Pool pool(hardware_threads());
  return pool;
}

}  // namespace

int num_threads() { return global_pool().size(); }

void set_num_threads(int n) {
  const int target = n <= 0 ? hardware_threads() : n;
  if (target != global_pool().size()) global_pool().resize(target);
}

bool in_parallel_for() { return t_inside_pool_job; }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  global_pool().run(n, fn, grain);
}

void parallel_for_balanced(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t piece) {
  if (n <= 0) return;
  const int64_t threads = std::min<int64_t>(num_threads(), n);
  if (threads <= 1 || in_parallel_for()) {
    fn(0, n);
    return;
  }
  piece = std::max<int64_t>(1, piece);
  // Share t is [n t / T, n (t + 1) / T); its tail (the last eighth, rounded down) is handed out in pieces.
  // Why (2 threads, the 1.1B w4a16 model's decode): with static halves the main thread spent ~20 % more
  // time than the worker in the same GEMVs (it also takes the VM's interrupts), so the worker idled at
  // the end of each; all-pieces scheduling from the start (no contiguous front) was ~5 % slower than halves.
  struct alignas(64) Tail {
    int64_t begin = 0, end = 0;     // fixed before the threads start
    std::atomic<int64_t> next{0};  // the next unclaimed item
  };
  std::vector<Tail> tails(static_cast<size_t>(threads));
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    tails[size_t(t)].begin = end - (end - begin) / 8;
    tails[size_t(t)].end = end;
    tails[size_t(t)].next.store(tails[size_t(t)].begin, std::memory_order_relaxed);
  }
  parallel_for(threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      // (The front's end is the fixed tail start: other threads may already be taking the tail.)
      const int64_t front_begin = n * t / threads, front_end = tails[size_t(t)].begin;
      if (front_begin < front_end) fn(front_begin, front_end);
      for (int64_t k = 0; k < threads; ++k) {
        Tail& tail = tails[size_t((t + k) % threads)];
        for (int64_t at; (at = tail.next.fetch_add(piece, std::memory_order_relaxed)) < tail.end;)
          fn(at, std::min(tail.end, at + piece));
      }
    }
  });
}

}  // namespace octet
