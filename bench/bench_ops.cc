// Transformer row ops and attention at BERT-base size (batch 8, seq 128,
// hidden 768, 12 heads), scalar reference vs AVX2 vs AVX-512. Run with
// OCTET_NUM_THREADS=2 for the figures in docs/kernels.md.
#include <benchmark/benchmark.h>

#include <array>
#include <random>

#include "kernels/attention_int8.h"
#include "kernels/dispatch.h"
#include "octet/kernels.h"
#include "octet/kernels_attention.h"
#include "octet/thread_pool.h"

namespace {

using namespace octet;
using namespace octet::kernels;

constexpr int64_t kBatch = 8, kSeq = 128, kHidden = 768, kHeads = 12, kHeadDim = 64, kFfn = 3072;

Tensor random(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

// Arg rows 0: the scalar reference kernels; 1: AVX2; 2: AVX-512 (reported as
// an error on CPUs without it). GEMMs stay on OpenBLAS, except in BM_Attention
// (see there).
const RowKernels* row_variant(int64_t arg) {
  return arg == 2 ? &kAvx512RowKernels : arg == 1 ? &kAvx2RowKernels : &kRefRowKernels;
}

const RowKernels* variant(benchmark::State& state) {
  const RowKernels* rows = row_variant(state.range(0));
  state.SetLabel(std::string(rows->name) + " threads " + std::to_string(num_threads()));
  return rows;
}

// Whether the CPU runs the chosen variant; if not, the benchmark reports why.
bool runnable(benchmark::State& state) {
  if (state.range(0) == 2 && !avx512_rows_supported()) {
    state.SkipWithError("this CPU lacks AVX-512 F/BW/VL");
    return false;
  }
  return true;
}

// Bytes moved per iteration (inputs read + outputs written), for GB/s.
void set_bytes(benchmark::State& state, int64_t bytes) {
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LayerNorm(benchmark::State& state) {
  if (!runnable(state)) return;
  ScopedKernels scope(variant(state), nullptr);
  const Tensor x = random({kBatch * kSeq, kHidden}, 1), g = random({kHidden}, 2), b = random({kHidden}, 3);
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  for (auto _ : state) layer_norm(x, g, b, 1e-12f, y);
  set_bytes(state, 2 * x.numel() * 4);
}

void BM_AddLayerNorm(benchmark::State& state) {
  if (!runnable(state)) return;
  ScopedKernels scope(variant(state), nullptr);
  const Tensor x = random({kBatch * kSeq, kHidden}, 1), r = random({kBatch * kSeq, kHidden}, 4);
  const Tensor g = random({kHidden}, 2), b = random({kHidden}, 3);
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  for (auto _ : state) add_layer_norm(x, r, g, b, 1e-12f, y);
  set_bytes(state, 3 * x.numel() * 4);
}

void BM_Gelu(benchmark::State& state) {
  if (!runnable(state)) return;
  ScopedKernels scope(variant(state), nullptr);
  const Tensor x = random({kBatch * kSeq, kFfn}, 5, -5.0f, 5.0f);
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  for (auto _ : state) activation(Activation::Gelu, x, y);
  set_bytes(state, 2 * x.numel() * 4);
}

void BM_GeluTanh(benchmark::State& state) {
  if (!runnable(state)) return;
  ScopedKernels scope(variant(state), nullptr);
  const Tensor x = random({kBatch * kSeq, kFfn}, 5, -5.0f, 5.0f);
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  for (auto _ : state) activation(Activation::GeluTanh, x, y);
  set_bytes(state, 2 * x.numel() * 4);
}

// Attention scores [B, H, S, S] with an HF-style padding mask [B, 1, 1, S].
void BM_Softmax(benchmark::State& state) {
  if (!runnable(state)) return;
  ScopedKernels scope(variant(state), nullptr);
  const Tensor x = random({kBatch, kHeads, kSeq, kSeq}, 6, -8.0f, 8.0f);
  const Tensor mask = random({kBatch, 1, 1, kSeq}, 7, -1.0f, 0.0f);
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  for (auto _ : state) softmax(x, y, 0.125f, mask);
  set_bytes(state, 2 * x.numel() * 4);
}

// q, k, v [8, 12, 128, 64] with padding (batch b keeps 128 - 8b keys).
struct BertAttention {
  Tensor q = random({kBatch, kHeads, kSeq, kHeadDim}, 8), k = random({kBatch, kHeads, kSeq, kHeadDim}, 9),
         v = random({kBatch, kHeads, kSeq, kHeadDim}, 10);
  AttentionParams params;
  BertAttention() {
    std::vector<int64_t> mask(kBatch * kSeq);
    for (int64_t b = 0; b < kBatch; ++b)
      for (int64_t j = 0; j < kSeq; ++j) mask[b * kSeq + j] = j < kSeq - 8 * b;
    params.key_mask = Tensor::from_vector(mask, {kBatch, kSeq});
  }
};

// Arg gemm 0: OpenBLAS forced; 1: attention_gemm_backend()'s default (octet-small).
void BM_Attention(benchmark::State& state) {
  if (!runnable(state)) return;
  const RowKernels* rows = variant(state);
  const GemmBackend* gemm = state.range(1) == 0 ? &kOpenBlasGemm : nullptr;
  ScopedKernels scope(rows, gemm);
  state.SetLabel(std::string(rows->name) + " threads " +
                 std::to_string(num_threads()) + " gemm " + attention_gemm_backend().name);
  const BertAttention in;
  Tensor out = Tensor::empty(in.q.shape(), DType::F32);
  for (auto _ : state) attention(in.q, in.k, in.v, out, in.params);
  // Two GEMMs of 2 S^2 D flops per (batch, head).
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * kBatch * kHeads * kSeq * kSeq * kHeadDim * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// The same problem with q, k, v and the probabilities on int8 grids (a recipe's attention sites):
// Q K^T and P V on the int8 GEMM. Arg isa 0: scalar, 1: AVX2, 2: AVX-512 VNNI.
void BM_AttentionInt8(benchmark::State& state) {
  const Int8Isa isa = std::array{Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::Avx512Vnni}[size_t(state.range(0))];
  if (!int8_isa_available(isa)) {
    state.SkipWithError("this CPU cannot run that int8 variant");
    return;
  }
  state.SetLabel(std::string(int8_isa_name(isa)) + " threads " + std::to_string(num_threads()));
  const BertAttention in;
  Int8AttentionQuant quant;
  quant.query = quant.key = quant.value = {1.0f / 127, 0, -127};
  quant.probabilities = {1.0f / 127, 0, -127};
  Tensor out = Tensor::empty(in.q.shape(), DType::F32);
  for (auto _ : state) attention_int8(in.q, in.k, in.v, out, in.params, quant, isa);
  state.counters["GOP/s"] = benchmark::Counter(4.0 * kBatch * kHeads * kSeq * kSeq * kHeadDim * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void variants(benchmark::internal::Benchmark* b) {
  b->ArgName("rows")->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.5);
}

BENCHMARK(BM_LayerNorm)->Apply(variants);
BENCHMARK(BM_AddLayerNorm)->Apply(variants);
BENCHMARK(BM_Gelu)->Apply(variants);
BENCHMARK(BM_GeluTanh)->Apply(variants);
BENCHMARK(BM_Softmax)->Apply(variants);
BENCHMARK(BM_Attention)
    ->ArgNames({"rows", "gemm"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({2, 0})
    ->Args({2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.5);
BENCHMARK(BM_AttentionInt8)->ArgName("isa")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
