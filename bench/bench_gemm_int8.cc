// INT8 GEMM benchmarks (docs/int8_gemm.md has the measured table):
//  (a) the CPU's vpmaddubsw peak (and vpdpbusd where AVX-512 VNNI exists),
//      1 and 2 threads, counting 2 ops per u8 x s8 multiply (64 per ymm op);
//  (b) octet INT8 GEMM on BERT-base shapes, 2 threads: GOP/s and % of peak;
//  (c) OpenBLAS cblas_sgemm on the same shapes (the fp32 baseline);
//  (d) small M (1..8, decode): GB/s of weights streamed from DRAM;
//  (e) activation quantization throughput.
// Rates are reported from the mean wall time per iteration ("GOP/s") and from
// the fastest iteration ("GOP/s_best"). Other processes only ever slow a run
// down, so on a shared machine the best-of rates (over many short iterations)
// are the estimate of what the hardware does; "pct_peak" compares best with
// best at the same thread count. One-thread runs also report the best rate
// from the thread's CPU time ("_cpu"), which does not count preemption.
// Run: build/bench/bench_gemm_int8 [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "octet/cpu_features.h"
#include "octet/gemm_int8.h"
#include "octet/thread_pool.h"

// The library links OpenBLAS; the bench has no include path to cblas.h.
extern "C" {
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc);
void openblas_set_num_threads(int n);
}

namespace {

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;
constexpr int kBenchThreads = 2;

// ---- (a) peak -----------------------------------------------------------------

// 12 independent chains cover the instruction latency (3-5 cycles) at 2 per
// cycle. Named variables, not an array: GCC 12 keeps an array of vectors in
// memory and the loop then measures store forwarding (half the peak).
#define OCTET_REPEAT12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx2"), noinline)) int64_t maddubs_loop(int64_t iters) {
  const __m256i b = _mm256_set1_epi8(1);
#define OCTET_INIT(i) __m256i r##i = _mm256_set1_epi8(static_cast<char>(i));
  OCTET_REPEAT12(OCTET_INIT)
#undef OCTET_INIT
  for (int64_t it = 0; it < iters; ++it) {
#define OCTET_STEP(i) r##i = _mm256_maddubs_epi16(r##i, b);
    OCTET_REPEAT12(OCTET_STEP)
#undef OCTET_STEP
    __asm__ volatile("" : "+x"(r0), "+x"(r1), "+x"(r2), "+x"(r3), "+x"(r4), "+x"(r5), "+x"(r6), "+x"(r7), "+x"(r8),
                     "+x"(r9), "+x"(r10), "+x"(r11));
  }
  int64_t sink = 0;
#define OCTET_SUM(i) sink += _mm256_extract_epi32(r##i, 0);
  OCTET_REPEAT12(OCTET_SUM)
#undef OCTET_SUM
  return sink;
}

__attribute__((target("avx512f,avx512vnni"), noinline)) int64_t dpbusd_loop(int64_t iters) {
  const __m512i b = _mm512_set1_epi8(1);
#define OCTET_INIT(i) __m512i r##i = _mm512_set1_epi8(static_cast<char>(i));
  OCTET_REPEAT12(OCTET_INIT)
#undef OCTET_INIT
  for (int64_t it = 0; it < iters; ++it) {
#define OCTET_STEP(i) r##i = _mm512_dpbusd_epi32(r##i, b, b);
    OCTET_REPEAT12(OCTET_STEP)
#undef OCTET_STEP
    __asm__ volatile("" : "+v"(r0), "+v"(r1), "+v"(r2), "+v"(r3), "+v"(r4), "+v"(r5), "+v"(r6), "+v"(r7), "+v"(r8),
                     "+v"(r9), "+v"(r10), "+v"(r11));
  }
  alignas(64) int32_t lanes[16];
  int64_t sink = 0;
#define OCTET_SUM(i)                 \
  _mm512_store_si512(lanes, r##i); \
  sink += lanes[0];
  OCTET_REPEAT12(OCTET_SUM)
#undef OCTET_SUM
  return sink;
}
#undef OCTET_REPEAT12

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Seconds {
  double wall = 0, cpu = 0;  // cpu: the slowest thread's CPU time
};

// Runs `loop(iters)` on `threads` threads at once.
Seconds run_on_threads(int64_t (*loop)(int64_t), int64_t iters, int threads) {
  std::vector<std::thread> pool;
  std::vector<double> cpu(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([=, &cpu] {
      const double c0 = thread_cpu_seconds();
      benchmark::DoNotOptimize(loop(iters));
      cpu[t] = thread_cpu_seconds() - c0;
    });
  for (auto& th : pool) th.join();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          *std::max_element(cpu.begin(), cpu.end())};
}

constexpr int64_t kPeakIters = 1'000'000;  // 12M instructions per thread, ~2 ms
constexpr double kOpsPerMaddubs = 64;      // 32 u8 x s8 multiplies, 2 ops each
constexpr double kOpsPerDpbusd = 128;      // 64 multiplies (zmm)

// The best vpmaddubsw rate on `threads` threads (GOP/s) over 200 runs, measured
// once per thread count; `cpu` for the CPU-time rate.
double maddubs_peak_gops(int threads, bool cpu = false) {
  static const auto peaks = [] {
    std::array<Seconds, 3> best{};
    for (int t = 1; t <= 2; ++t) {
      best[t] = {1e30, 1e30};
      for (int rep = 0; rep < 200; ++rep) {
        const Seconds s = run_on_threads(maddubs_loop, kPeakIters, t);
        best[t].wall = std::min(best[t].wall, s.wall);
        best[t].cpu = std::min(best[t].cpu, s.cpu);
      }
    }
    return best;
  }();
  const Seconds& s = peaks[std::clamp(threads, 1, 2)];
  return kPeakIters * 12.0 * kOpsPerMaddubs * threads / (cpu ? s.cpu : s.wall) / 1e9;
}

void report_peak(benchmark::State& state, int64_t (*loop)(int64_t), double ops_per_inst) {
  const int threads = static_cast<int>(state.range(0));
  const double ops = kPeakIters * 12.0 * ops_per_inst * threads;
  double total = 0, best = 1e30, best_cpu = 1e30;
  for (auto _ : state) {
    const Seconds s = run_on_threads(loop, kPeakIters, threads);
    total += s.wall;
    best = std::min(best, s.wall);
    best_cpu = std::min(best_cpu, s.cpu);
  }
  state.counters["GOP/s"] = ops * state.iterations() / total / 1e9;
  state.counters["GOP/s_best"] = ops / best / 1e9;
  if (threads == 1) state.counters["GOP/s_best_cpu"] = ops / best_cpu / 1e9;
}

void BM_PeakVpmaddubsw(benchmark::State& state) { report_peak(state, maddubs_loop, kOpsPerMaddubs); }
BENCHMARK(BM_PeakVpmaddubsw)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PeakVpdpbusdZmm(benchmark::State& state) {
  if (!octet::cpu_features().avx512_vnni) {
    state.SkipWithError("no AVX-512 VNNI on this CPU");
    return;
  }
  report_peak(state, dpbusd_loop, kOpsPerDpbusd);
}
BENCHMARK(BM_PeakVpdpbusdZmm)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- shared inputs ----------------------------------------------------------------

// Total and fastest wall seconds of the timed iterations, and the fastest
// calling-thread CPU time (meaningful for one-thread runs).
struct Timer {
  double total = 0, best = 1e30, best_cpu = 1e30;
  template <typename Fn>
  void time(Fn&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    fn();
    best_cpu = std::min(best_cpu, thread_cpu_seconds() - c0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += s;
    best = std::min(best, s);
  }
};

std::vector<int8_t> random_int8(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

std::vector<float> random_float(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// BERT-base linear layers with batch 8 x sequence 128 tokens.
constexpr int64_t kBertM = 1024;
// Args: {isa, k, n, threads}.
void bert_shapes(benchmark::internal::Benchmark* b, std::vector<int64_t> isas) {
  for (int64_t threads : {1, kBenchThreads})
    for (int64_t isa : isas)
      for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 768}, {768, 2304}, {768, 3072}, {3072, 768}})
        b->Args({isa, k, n, threads});
}

// Random activations, weights, scales and bias of one BERT-shaped product, packed for `isa`.
struct BertGemmInputs {
  std::vector<int8_t> a, w;
  std::vector<float> scales, bias;
  octet::PackedInt8Weights packed;
  BertGemmInputs(int64_t m, int64_t k, int64_t n, octet::Int8Isa isa)
      : a(random_int8(m * k, -128, 127, 1)),
        w(random_int8(n * k, -127, 127, 2)),
        scales(random_float(n, 3)),
        bias(random_float(n, 4)),
        packed(octet::pack_int8_weights(w.data(), n, k, scales.data(), isa)) {}
  octet::Int8Epilogue epilogue() const {
    octet::Int8Epilogue ep;
    ep.a_scale = 0.01f;
    ep.bias = bias.data();
    return ep;
  }
};

// ---- (b) INT8 GEMM ------------------------------------------------------------------

void BM_GemmInt8Bert(benchmark::State& state) {
  const auto isa = static_cast<octet::Int8Isa>(state.range(0));
  const int64_t m = kBertM, k = state.range(1), n = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  if (!octet::int8_isa_available(isa)) {
    state.SkipWithError("variant not available on this CPU");
    return;
  }
  octet::set_num_threads(threads);
  const BertGemmInputs in(m, k, n, isa);
  std::vector<float> c(m * n);
  const octet::Int8Epilogue ep = in.epilogue();
  Timer timer;
  for (auto _ : state) {
    timer.time([&] { octet::gemm_int8(in.a.data(), m, k, 0, in.packed, ep, c.data(), n); });
    benchmark::ClobberMemory();
  }
  const double ops = 2.0 * m * n * k;
  state.counters["GOP/s"] = ops * state.iterations() / timer.total / 1e9;
  state.counters["GOP/s_best"] = ops / timer.best / 1e9;
  state.counters["pct_peak"] = 100.0 * ops / timer.best / 1e9 / maddubs_peak_gops(threads);
  if (threads == 1) {
    state.counters["GOP/s_best_cpu"] = ops / timer.best_cpu / 1e9;
    state.counters["pct_peak_cpu"] = 100.0 * ops / timer.best_cpu / 1e9 / maddubs_peak_gops(1, true);
  }
  state.SetLabel(std::string(octet::int8_isa_name(isa)));
}
BENCHMARK(BM_GemmInt8Bert)
    ->Apply([](benchmark::internal::Benchmark* b) {
      bert_shapes(b, {static_cast<int64_t>(octet::Int8Isa::Avx2), static_cast<int64_t>(octet::Int8Isa::Avx512Vnni)});
    })
    ->MinTime(2.0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The epilogue's share: the FFN-up shape (1024 x 3072 x 768) with the raw
// int32 sums (range(0) = 0), the f32 epilogue with bias (1), and bias + GELU
// requantized to int8 (2, what BERT's FFN up runs); one thread.
void BM_GemmInt8Epilogue(benchmark::State& state) {
  const auto isa = octet::Int8Isa::Avx512Vnni;
  if (!octet::int8_isa_available(isa)) {
    state.SkipWithError("variant not available on this CPU");
    return;
  }
  octet::set_num_threads(1);
  const int64_t m = kBertM, k = 768, n = 3072;
  const BertGemmInputs in(m, k, n, isa);
  std::vector<float> c(m * n);
  std::vector<int32_t> c32(m * n);
  std::vector<int8_t> c8(m * n);
  const octet::Int8Epilogue ep = in.epilogue();
  octet::Int8OutputQuant oq;
  oq.scale = 0.05f;
  oq.qmin = -127;
  Timer timer;
  for (auto _ : state) {
    timer.time([&] {
      if (state.range(0) == 0) {
        octet::gemm_int8_s32(in.a.data(), m, k, 0, in.packed, c32.data(), n);
      } else if (state.range(0) == 1) {
        octet::gemm_int8(in.a.data(), m, k, 0, in.packed, ep, c.data(), n);
      } else {
        octet::Int8Epilogue gelu = ep;
        gelu.activation = octet::Int8Activation::GeluErf;
        octet::gemm_int8_requantize(in.a.data(), m, k, 0, in.packed, gelu, oq, c8.data(), n);
      }
    });
    benchmark::ClobberMemory();
  }
  state.counters["GOP/s_best"] = 2.0 * m * n * k / timer.best / 1e9;
  state.SetLabel(state.range(0) == 0 ? "s32" : state.range(0) == 1 ? "f32+bias" : "gelu+requantize");
}
BENCHMARK(BM_GemmInt8Epilogue)->Arg(0)->Arg(1)->Arg(2)->MinTime(1.0)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- (c) fp32 baseline ------------------------------------------------------------------

void BM_SgemmOpenBlasBert(benchmark::State& state) {
  const int64_t m = kBertM, k = state.range(1), n = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  openblas_set_num_threads(threads);
  const auto a = random_float(m * k, 1);
  const auto w = random_float(n * k, 2);
  std::vector<float> c(m * n);
  Timer timer;
  for (auto _ : state) {
    // C[M,N] = A[M,K] * W[N,K]^T, the Linear layout.
    timer.time([&] {
      cblas_sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, static_cast<int>(m), static_cast<int>(n),
                  static_cast<int>(k), 1.0f, a.data(), static_cast<int>(k), w.data(), static_cast<int>(k), 0.0f,
                  c.data(), static_cast<int>(n));
    });
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * m * n * k;
  state.counters["GFLOP/s"] = flops * state.iterations() / timer.total / 1e9;
  state.counters["GFLOP/s_best"] = flops / timer.best / 1e9;
  if (threads == 1) state.counters["GFLOP/s_best_cpu"] = flops / timer.best_cpu / 1e9;
}
BENCHMARK(BM_SgemmOpenBlasBert)
    ->Apply([](benchmark::internal::Benchmark* b) { bert_shapes(b, {0}); })
    ->MinTime(2.0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- (d) small M: weights streamed from DRAM ---------------------------------------------

void BM_GemmInt8SmallM(benchmark::State& state) {
  const auto isa = static_cast<octet::Int8Isa>(state.range(0));
  const int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  if (!octet::int8_isa_available(isa)) {
    state.SkipWithError("variant not available on this CPU");
    return;
  }
  octet::set_num_threads(kBenchThreads);
  // Enough distinct weight matrices (> 64 MB) that none is still in the 32 MB L3.
  const int64_t copies = std::max<int64_t>(2, (64 << 20) / (k * n) + 1);
  std::vector<octet::PackedInt8Weights> packed;
  for (int64_t i = 0; i < copies; ++i) {
    const auto w = random_int8(n * k, -127, 127, static_cast<uint32_t>(10 + i));
    packed.push_back(octet::pack_int8_weights(w.data(), n, k, nullptr, isa));
  }
  const auto a = random_int8(m * k, -128, 127, 1);
  std::vector<float> c(m * n);
  octet::Int8Epilogue ep;
  int64_t next = 0;
  Timer timer;
  for (auto _ : state) {
    timer.time([&] { octet::gemm_int8(a.data(), m, k, 0, packed[next], ep, c.data(), n); });
    next = (next + 1) % copies;
  }
  const double bytes = static_cast<double>(k * n);
  state.counters["GB/s"] = bytes * state.iterations() / timer.total / 1e9;
  state.counters["GB/s_best"] = bytes / timer.best / 1e9;
  state.counters["GOP/s_best"] = 2.0 * m * bytes / timer.best / 1e9;
  state.SetLabel(std::string(octet::int8_isa_name(isa)));
}
BENCHMARK(BM_GemmInt8SmallM)
    ->Apply([](benchmark::internal::Benchmark* b) {
      for (int64_t isa : {static_cast<int64_t>(octet::Int8Isa::Avx2), static_cast<int64_t>(octet::Int8Isa::Avx512Vnni)})
        for (int64_t m : {1, 2, 4, 8}) b->Args({isa, m, 768, 3072});
      for (int64_t m : {1, 8}) b->Args({static_cast<int64_t>(octet::Int8Isa::Avx512Vnni), m, 3072, 768});
    })
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---- (e) activation quantization ------------------------------------------------------------

void BM_QuantizePerToken(benchmark::State& state) {
  const auto isa = static_cast<octet::Int8Isa>(state.range(0));
  const int64_t rows = kBertM, cols = 768;
  const auto x = random_float(rows * cols, 5);
  std::vector<int8_t> q(rows * cols);
  std::vector<float> scales(rows);
  for (auto _ : state) {
    octet::quantize_int8_per_token(x.data(), rows, cols, cols, q.data(), cols, scales.data(), isa);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * rows * cols * static_cast<int64_t>(sizeof(float)));
  state.SetLabel(std::string(octet::int8_isa_name(isa)));
}
BENCHMARK(BM_QuantizePerToken)
    ->Arg(static_cast<int64_t>(octet::Int8Isa::Scalar))
    ->Arg(static_cast<int64_t>(octet::Int8Isa::Avx2))
    ->Arg(static_cast<int64_t>(octet::Int8Isa::Avx512Vnni))
    ->Unit(benchmark::kMicrosecond);

// Static per-tensor (an encoder Linear's input, attention's q, k, v and
// probabilities): AVX2 divides by the scale, AVX-512 multiplies by its
// reciprocal and divides only next to a rounding boundary (same codes).
void BM_QuantizePerTensor(benchmark::State& state) {
  const auto isa = static_cast<octet::Int8Isa>(state.range(0));
  if (!octet::int8_isa_available(isa)) {
    state.SkipWithError("variant not available on this CPU");
    return;
  }
  const int64_t rows = state.range(1), cols = 768;  // 32 rows stay in L2; kBertM rows (3 MB) do not
  const auto x = random_float(rows * cols, 6);
  std::vector<int8_t> q(rows * cols);
  for (auto _ : state) {
    octet::quantize_int8_per_tensor_clamped(x.data(), rows, cols, cols, 0.0123f, 0, -127, q.data(), cols, isa);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * rows * cols * static_cast<int64_t>(sizeof(float)));
  state.SetLabel(std::string(octet::int8_isa_name(isa)));
}
BENCHMARK(BM_QuantizePerTensor)
    ->ArgsProduct({{static_cast<int64_t>(octet::Int8Isa::Avx2), static_cast<int64_t>(octet::Int8Isa::Avx512Vnni)},
                   {32, kBertM}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
