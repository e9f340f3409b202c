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
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/gemm_backend.h"
#include "octet/gemm_bf16.h"
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

// The same Linear with octet's own blocked fp32 GEMM (kernels/cpu/small_gemm.cc)
// forced: range(2) 0 = AVX-512, 1 = AVX2, 2 = OpenBLAS (the same driver code
// around it, for the small-M rows).
void BM_OctetLinearOwn(benchmark::State& state) {
  const auto& backend = state.range(2) == 0   ? octet::kernels::kSmallGemmAvx512
                        : state.range(2) == 1 ? octet::kernels::kSmallGemmAvx2
                                              : octet::kernels::kOpenBlasGemm;
  if (state.range(2) == 0   ? !octet::kernels::small_gemm_avx512_supported()
      : state.range(2) == 1 ? !octet::kernels::small_gemm_avx2_supported()
                            : false) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  octet::kernels::ScopedKernels scoped(nullptr, &backend);
  const int64_t m = state.range(3), k = state.range(0), n = state.range(1);
  const Tensor x = random({m, k}, 1), w = random({n, k}, 2), b = random({n}, 3);
  Tensor y = Tensor::empty({m, n}, DType::F32);
  for (auto _ : state) {
    octet::kernels::linear(x, w, b, y);
    benchmark::DoNotOptimize(y.data<float>());
  }
  set_flops(state, m, n, k);
  state.SetLabel(std::string(backend.name) + " " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k));
}

// The bf16 GEMM (weights packed once, activations converted per call).
void BM_Bf16Linear(benchmark::State& state) {
  if (!octet::bf16_gemm_supported()) {
    state.SkipWithError("no AVX-512 BF16 here");
    return;
  }
  const int64_t m = state.range(3), k = state.range(0), n = state.range(1);
  const Tensor x = random({m, k}, 1), w = random({n, k}, 2), b = random({n}, 3);
  const octet::PackedBf16Weights packed = octet::pack_bf16_weights(w.data<float>(), n, k);
  Tensor y = Tensor::empty({m, n}, DType::F32);
  for (auto _ : state) {
    octet::gemm_bf16(x.data<float>(), m, k, packed, b.data<float>(), y.data<float>(), n);
    benchmark::DoNotOptimize(y.data<float>());
  }
  set_flops(state, m, n, k);
}

// BERT-base's 48 Linears (12 layers: QKV 768 -> 2304, output 768 -> 768, FFN
// 768 -> 3072 -> 768), weights packed as the model packs them at load, run
// one after another on M tokens: at small M the weights (340 MB fp32, 170 MB
// bf16) stream from DRAM on every pass, as in the model, which the one-shape
// benchmarks above (weights in cache) do not show. range(0): 0 fp32
// (linear_prepacked), 1 bf16; range(1): M. Reports weight GB/s beside GFLOP/s.
void BM_LinearStackCold(benchmark::State& state) {
  const bool bf16 = state.range(0) == 1;
  if (bf16 ? !octet::bf16_gemm_supported() : !octet::kernels::small_gemm_avx512_supported()) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  const int64_t m = state.range(1);
  struct Shape {
    int64_t k, n;
  };
  const Shape layer[] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
  std::vector<octet::kernels::PackedLinearB> f32;
  std::vector<octet::PackedBf16Weights> b16;
  int64_t macs = 0, weight_bytes = 0;
  for (int l = 0; l < 12; ++l)
    for (const Shape& s : layer) {
      const Tensor w = random({s.n, s.k}, static_cast<uint32_t>(f32.size() + b16.size() + 7));
      if (bf16)
        b16.push_back(octet::pack_bf16_weights(w.data<float>(), s.n, s.k));
      else
        f32.push_back(octet::kernels::pack_linear_b(w.data<float>(), s.n, s.k));
      macs += m * s.n * s.k;
      weight_bytes += s.n * s.k * (bf16 ? 2 : 4);
    }
  const Tensor x = random({m, 3072}, 1), b = random({3072}, 3);
  Tensor y = Tensor::empty({m, 3072}, DType::F32);
  for (auto _ : state) {
    size_t i = 0;
    for (int l = 0; l < 12; ++l)
      for (const Shape& s : layer) {
        if (bf16)
          octet::gemm_bf16(x.data<float>(), m, s.k, b16[i], b.data<float>(), y.data<float>(), s.n);
        else
          octet::kernels::linear_prepacked(x.data<float>(), m, s.k, f32[i], b.data<float>(), y.data<float>(), s.n);
        ++i;
      }
    benchmark::DoNotOptimize(y.data<float>());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] =
      benchmark::Counter(weight_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(bf16 ? "bf16" : "fp32") + " M=" + std::to_string(m) + " threads " +
                 std::to_string(octet::num_threads()));
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

void own_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"K", "N", "isa", "M"});
  for (int64_t isa : {0, 1, 2})
    for (int64_t m : {int64_t{8192}, kTokens, int64_t{128}, int64_t{16}, int64_t{8}, int64_t{1}}) {
      b->Args({768, 768, isa, m});
      b->Args({768, 3072, isa, m});
      b->Args({3072, 768, isa, m});
    }
  b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
}

BENCHMARK(BM_OctetLinearOpenBlas)->Apply(bert_shapes);
BENCHMARK(BM_OctetLinearOwn)->Apply(own_shapes);
BENCHMARK(BM_Bf16Linear)->Apply(own_shapes);
BENCHMARK(BM_LinearStackCold)
    ->ArgNames({"bf16", "M"})
    ->ArgsProduct({{0, 1}, {1, 16, 64, 128}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
#ifdef OCTET_BENCH_ONEDNN
BENCHMARK(BM_OneDnnSgemm)->Apply(bert_shapes);
#endif

}  // namespace

BENCHMARK_MAIN();
