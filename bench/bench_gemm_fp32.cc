// fp32 GEMM on BERT-base shapes (batch 8 x seq 128 tokens): octet's Linear path
// (OpenBLAS) against oneDNN's sgemm, to decide which library octet keeps.
//
// oneDNN is not a dependency of octet: when its header is installed
// (libdnnl-dev), the library is opened with dlopen at run time, so nothing in
// the build links it. Run with OCTET_NUM_THREADS=2 OMP_NUM_THREADS=2 for the
// figures in docs/kernels.md (oneDNN's Debian build threads with OpenMP).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>

#include "octet/kernels.h"
#include "octet/thread_pool.h"

#if __has_include(<dnnl.h>)
#include <dlfcn.h>
#include <dnnl.h>
#define OCTET_BENCH_ONEDNN 1
#endif

namespace {

using octet::DType;
using octet::Tensor;

constexpr int64_t kTokens = 8 * 128;

Tensor random(octet::Shape shape, uint32_t seed) {
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

void set_flops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + " threads " +
                 std::to_string(octet::num_threads()));
}

// y[M, N] = x[M, K] W[N, K]^T + b: the Linear layout, as BERT runs it.
void BM_OctetLinearOpenBlas(benchmark::State& state) {
  const int64_t m = kTokens, k = state.range(0), n = state.range(1);
  const Tensor x = random({m, k}, 1), w = random({n, k}, 2), b = random({n}, 3);
  Tensor y = Tensor::empty({m, n}, DType::F32);
  for (auto _ : state) {
    octet::kernels::linear(x, w, b, y);
    benchmark::DoNotOptimize(y.data<float>());
  }
  set_flops(state, m, n, k);
}

#ifdef OCTET_BENCH_ONEDNN
using SgemmFn = decltype(&dnnl_sgemm);

SgemmFn onednn_sgemm() {
  static SgemmFn fn = [] {
    void* lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    return lib ? reinterpret_cast<SgemmFn>(dlsym(lib, "dnnl_sgemm")) : nullptr;
  }();
  return fn;
}

// The same product through dnnl_sgemm (row-major, B transposed), bias added by a
// pre-filled C with beta = 1, as octet does for OpenBLAS.
void BM_OneDnnSgemm(benchmark::State& state) {
  const SgemmFn sgemm = onednn_sgemm();
  if (!sgemm) {
    state.SkipWithError("libdnnl.so.2 not loadable");
    return;
  }
  const int64_t m = kTokens, k = state.range(0), n = state.range(1);
  const Tensor x = random({m, k}, 1), w = random({n, k}, 2), b = random({n}, 3);
  Tensor y = Tensor::empty({m, n}, DType::F32);
  for (auto _ : state) {
    float* c = y.data<float>();
    for (int64_t r = 0; r < m; ++r) std::copy_n(b.data<float>(), n, c + r * n);
    sgemm('N', 'T', m, n, k, 1.0f, x.data<float>(), k, w.data<float>(), k, 1.0f, c, n);
    benchmark::DoNotOptimize(c);
  }
  set_flops(state, m, n, k);
}
#endif

void bert_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"K", "N"});
  b->Args({768, 768});    // attention projections
  b->Args({768, 3072});   // FFN up
  b->Args({3072, 768});   // FFN down
  b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
}

BENCHMARK(BM_OctetLinearOpenBlas)->Apply(bert_shapes);
#ifdef OCTET_BENCH_ONEDNN
BENCHMARK(BM_OneDnnSgemm)->Apply(bert_shapes);
#endif

}  // namespace

BENCHMARK_MAIN();
