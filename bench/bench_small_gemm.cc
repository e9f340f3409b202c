// Attention's two batched GEMMs at BERT-base size (batch 8 x 12 heads, seq
// 128, head_dim 64) on each fp32 GEMM backend: OpenBLAS, octet-small (AVX-512
// and AVX2). Run with OCTET_NUM_THREADS=1 or 2; BM_Attention in bench_ops
// measures the whole op.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/gemm_backend.h"
#include "octet/thread_pool.h"

namespace {

using namespace octet::kernels;

constexpr int64_t kItems = 8 * 12, kSeq = 128, kHeadDim = 64;

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& x : v) x = dist(rng);
  return v;
}

// Arg 0: OpenBLAS; 1: octet-small AVX2; 2: octet-small AVX-512.
const GemmBackend* backend(benchmark::State& state) {
  const GemmBackend* backends[] = {&kOpenBlasGemm, &kSmallGemmAvx2, &kSmallGemmAvx512};
  const GemmBackend* b = backends[state.range(0)];
  const bool unsupported = (b == &kSmallGemmAvx512 && !small_gemm_avx512_supported()) ||
                           (b == &kSmallGemmAvx2 && !small_gemm_avx2_supported());
  if (unsupported) {
    state.SkipWithError("this CPU lacks the ISA");
    return nullptr;
  }
  state.SetLabel(std::string(b->name) + " threads " + std::to_string(octet::num_threads()));
  return b;
}

void set_flops(benchmark::State& state, const GemmProblem& p) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * p.batch * p.m * p.n * p.k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// scores = scale * Q K^T: [128 x 64] x [128 x 64]^T per item.
void BM_AttentionScores(benchmark::State& state) {
  const GemmBackend* gemm = backend(state);
  if (!gemm) return;
  const auto q = random_floats(kItems * kSeq * kHeadDim, 1), k = random_floats(kItems * kSeq * kHeadDim, 2);
  std::vector<float> s(static_cast<size_t>(kItems * kSeq * kSeq));
  GemmProblem p;
  p.batch = kItems, p.m = kSeq, p.n = kSeq, p.k = kHeadDim, p.trans_b = true, p.alpha = 0.125f;
  p.a = q.data(), p.lda = kHeadDim, p.stride_a = kSeq * kHeadDim;
  p.b = k.data(), p.ldb = kHeadDim, p.stride_b = kSeq * kHeadDim;
  p.c = s.data(), p.ldc = kSeq, p.stride_c = kSeq * kSeq;
  for (auto _ : state) gemm->run(p);
  set_flops(state, p);
}

// out = P V: [128 x 128] x [128 x 64] per item.
void BM_AttentionValues(benchmark::State& state) {
  const GemmBackend* gemm = backend(state);
  if (!gemm) return;
  const auto pr = random_floats(kItems * kSeq * kSeq, 3), v = random_floats(kItems * kSeq * kHeadDim, 4);
  std::vector<float> out(static_cast<size_t>(kItems * kSeq * kHeadDim));
  GemmProblem p;
  p.batch = kItems, p.m = kSeq, p.n = kHeadDim, p.k = kSeq;
  p.a = pr.data(), p.lda = kSeq, p.stride_a = kSeq * kSeq;
  p.b = v.data(), p.ldb = kHeadDim, p.stride_b = kSeq * kHeadDim;
  p.c = out.data(), p.ldc = kHeadDim, p.stride_c = kSeq * kHeadDim;
  for (auto _ : state) gemm->run(p);
  set_flops(state, p);
}

void backends(benchmark::internal::Benchmark* b) {
  b->ArgName("backend")->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.5);
}

BENCHMARK(BM_AttentionScores)->Apply(backends);
BENCHMARK(BM_AttentionValues)->Apply(backends);

}  // namespace

BENCHMARK_MAIN();
