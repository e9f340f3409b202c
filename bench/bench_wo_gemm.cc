// The weight-only kernels (kernels/wo_gemv.h) by row count: int4 group-128 and
// int8 per-channel weights of TinyLlama-1.1B's MLP shapes (int4 groups of 32 or 128), each ISA variant,
// rows 1 (decode), 8, 16 (where the GEMM takes over), 64 and 512 (prefill).
// BM_Fp8Kernel: the FP8 e4m3 kernel (kernels/fp8_gemm.h, bf16 dot products) on
// the same shapes, activations already e4m3 values in bf16.
// Counters: GMAC/s, and the weight bytes read per second.
// Threads: octet's pool (OCTET_NUM_THREADS or all hardware threads).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/fp8_gemm.h"
#include "kernels/wo_gemv.h"
#include "octet/number_formats.h"

namespace {

using namespace octet::kernels;

struct Weights {
  PackedWoWeights packed;
  Weights(int64_t n, int64_t k, int bits, int64_t group) {
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> code(bits == 4 ? -8 : -128, bits == 4 ? 7 : 127);
    std::vector<int8_t> q(size_t(n * k));
    for (auto& v : q) v = static_cast<int8_t>(code(rng));
    if (bits == 8 || group == 0) group = k;
    std::vector<float> scales(size_t(n * (k / group)), 0.01f);
    packed = pack_wo_weights(q.data(), n, k, group, bits, false, scales.data(), nullptr);
  }
};

// args: rows, bits, isa (0 ref, 1 avx2, 2 avx512), shape (0: gate/up 5632x2048, 1: down 2048x5632),
// group (int4 only: inputs per scale; 8 bits are per channel)
void BM_WoKernel(benchmark::State& state) {
  const int64_t m = state.range(0);
  const int bits = int(state.range(1));
  const auto isa = static_cast<WoIsa>(state.range(2));
  const int64_t n = state.range(3) == 0 ? 5632 : 2048, k = state.range(3) == 0 ? 2048 : 5632;
  if (!wo_isa_supported(isa)) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  const Weights w(n, k, bits, state.range(4));
  std::vector<float> x(size_t(m * k)), y(size_t(m * n));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> xv(-2.0f, 2.0f);
  for (auto& v : x) v = xv(rng);
  for (auto _ : state) {
    wo_gemv(w.packed, x.data(), m, nullptr, y.data(), isa);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = double(state.iterations());
  state.counters["GMAC/s"] = benchmark::Counter(double(m) * double(n) * double(k) * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["weight GB/s"] = benchmark::Counter(double(w.packed.bytes()) * iters / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WoKernel)
    ->ArgNames({"rows", "bits", "isa", "shape", "group"})
    ->ArgsProduct({{1, 8, 16, 64, 512}, {4, 8}, {1, 2}, {0, 1}, {32, 128}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// args: rows, isa (1 avx2, 2 avx512 bf16), shape (as above)
void BM_Fp8Kernel(benchmark::State& state) {
  const int64_t m = state.range(0);
  const auto isa = static_cast<Fp8Isa>(state.range(1));
  const int64_t n = state.range(2) == 0 ? 5632 : 2048, k = state.range(2) == 0 ? 2048 : 5632;
  if (!fp8_isa_supported(isa)) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> code(0, 0x7E);
  std::vector<uint8_t> w(size_t(n * k));
  for (auto& v : w) v = static_cast<uint8_t>(code(rng) | (rng() & 0x80));
  const PackedFp8Weights packed = pack_fp8_weights(w.data(), n, k);
  std::vector<uint16_t> a(size_t(m * k));
  for (auto& v : a) v = fp8_e4m3_to_bf16(static_cast<uint8_t>(code(rng)));
  std::vector<float> scale(size_t(n), 0.01f), y(size_t(m * n));
  for (auto _ : state) {
    fp8_gemm(packed, a.data(), k, m, scale.data(), nullptr, y.data(), isa);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = double(state.iterations());
  state.counters["GMAC/s"] = benchmark::Counter(double(m) * double(n) * double(k) * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["weight GB/s"] = benchmark::Counter(double(packed.bytes()) * iters / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Fp8Kernel)
    ->ArgNames({"rows", "isa", "shape"})
    ->ArgsProduct({{1, 8, 16, 64, 512}, {1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
