// Decode speed against its memory-bandwidth bound.
//
// Decoding one token reads every weight once (M = 1 GEMVs), so tokens/s is
// bounded by bandwidth / bytes-of-weights-per-token. This measures:
//   BM_ReadBandwidth   STREAM-like read of a 1 GiB array (>> L3) on the pool's threads
//   BM_Gemv            octet's GEMV on 12 TinyLlama MLP matrices (553 MB): bytes/s
//   BM_SgemmM1         the same through kernels::linear: OpenBLAS sgemm with M = 1
//   BM_DecodeAttention the decode attention kernel over a whole step's KV
//                      cache (TinyLlama: 22 layers x 4 kv heads, 8 query heads
//                      each, head_dim 64, 576 cached tokens) stored as f32,
//                      INT8 or FP8 codes (arg 0 / 1 / 2): bytes of cache/s
//   BM_Decode          decode steps of a synth llama (default: the 1b model,
//                      TinyLlama-1.1B shapes, f32 = 4.4 GB), with counters for
//                      the weight bytes per token, the bound from the measured
//                      bandwidth and the fraction of it reached.
// The decode model is $OCTET_DECODE_MODEL, else /tmp/octet-synth-1b (written
// by `octet synth --arch llama --size 1b` on first use; delete it afterwards).
// Threads: octet's pool (OCTET_NUM_THREADS or all hardware threads).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <vector>

#include "kernels/decode_attention.h"
#include "octet/generate.h"
#include "octet/memory_bandwidth.h"
#include "octet/kernels.h"
#include "octet/synth.h"
#include "octet/thread_pool.h"
#include "runtime/gemv.h"

namespace {

using octet::Tensor;

std::atomic<double> g_bandwidth{0.0};  // bytes/s from BM_ReadBandwidth

void BM_ReadBandwidth(benchmark::State& state) {
  const int64_t words = int64_t{1} << 27;  // 1 GiB of uint64
  std::vector<uint64_t> data(static_cast<size_t>(words));
  octet::parallel_for(words, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) data[size_t(i)] = uint64_t(i) * 0x9E3779B97F4A7C15ull;
  });
  // The same reads as `octet bench-llm`'s probe (octet/memory_bandwidth.h).
  const std::span<const std::byte> region = std::as_bytes(std::span(data));
  uint64_t sink = 0;
  for (auto _ : state) sink += octet::measure_read_bandwidth({&region, 1}, 1).checksum;
  benchmark::DoNotOptimize(sink);
  const double bytes = double(words) * 8.0 * double(state.iterations());
  state.SetBytesProcessed(int64_t(bytes));
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["threads"] = octet::num_threads();
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// 12 matrices of [5632, 2048] (TinyLlama's gate_proj): 553 MB, far beyond L3.
const std::vector<Tensor>& mlp_matrices() {
  static const std::vector<Tensor> m = [] {
    std::vector<Tensor> out;
    for (int i = 0; i < 12; ++i) out.push_back(Tensor::full({5632, 2048}, 0.01f * float(i + 1)));
    return out;
  }();
  return m;
}

void matrix_counters(benchmark::State& state) {
  const double bytes = 12.0 * 5632 * 2048 * 4 * double(state.iterations());
  state.SetBytesProcessed(int64_t(bytes));
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
}

void BM_Gemv(benchmark::State& state) {
  const auto& ws = mlp_matrices();
  const Tensor x = Tensor::full({1, 2048}, 1.0f);
  Tensor y;
  for (auto _ : state)
    for (const Tensor& w : ws) octet::runtime::gemv(x, w, {}, y);
  matrix_counters(state);
}
BENCHMARK(BM_Gemv)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SgemmM1(benchmark::State& state) {
  const auto& ws = mlp_matrices();
  const Tensor x = Tensor::full({1, 2048}, 1.0f);
  Tensor y = Tensor::empty({1, 5632}, octet::DType::F32);
  for (auto _ : state)
    for (const Tensor& w : ws) octet::kernels::linear(x, w, {}, y);
  matrix_counters(state);
}
BENCHMARK(BM_SgemmM1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeAttention(benchmark::State& state) {
  using octet::kernels::CachedElement;
  const int64_t groups = 22 * 4, heads = 8, d = 64, total = 576;
  const auto element = static_cast<CachedElement>(state.range(0));
  const int64_t element_bytes = element == CachedElement::F32 ? 4 : 1;
  // Codes and floats alike are filled with small bytes (finite, non-NaN either way).
  std::vector<uint8_t> k(size_t(groups * total * d * element_bytes)), v(k.size());
  for (size_t i = 0; i < k.size(); ++i) k[i] = v[i] = uint8_t(i * 37 % 61);
  std::vector<float> row_scales(size_t(groups * total), 0.01f);
  std::vector<float> q(size_t(groups * heads * d), 0.1f), out(q.size());
  const auto kernel = octet::kernels::decode_attention_kernel(d);
  if (!kernel) {
    state.SkipWithError("no decode attention kernel on this CPU");
    return;
  }
  for (auto _ : state) {
    octet::parallel_for(groups, [&](int64_t begin, int64_t end) {
      thread_local std::vector<float> scores;
      scores.resize(size_t(heads * total));
      for (int64_t gi = begin; gi < end; ++gi) {
        octet::kernels::DecodeAttentionGroup g;
        g.q = q.data() + gi * heads * d, g.heads = heads, g.d = d, g.ld = d, g.total = total;
        for (auto [rows, data] : {std::pair{&g.k, k.data()}, std::pair{&g.v, v.data()}}) {
          rows->data = data + gi * total * d * element_bytes;
          rows->element = element;
          if (element != CachedElement::F32) rows->row_scales = row_scales.data() + gi * total;
        }
        g.scale = 0.125f, g.first = 0, g.last = total - 1;
        g.scores = scores.data(), g.out = out.data() + gi * heads * d;
        kernel(g);
      }
    });
  }
  state.SetLabel(element == CachedElement::F32 ? "f32" : element == CachedElement::I8 ? "int8" : "fp8");
  state.SetBytesProcessed(int64_t(2 * k.size()) * state.iterations());
}
BENCHMARK(BM_DecodeAttention)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

std::filesystem::path decode_model() {
  if (const char* p = std::getenv("OCTET_DECODE_MODEL"); p && *p) return p;
  const std::filesystem::path dir = "/tmp/octet-synth-1b";
  if (!std::filesystem::exists(dir / "model.safetensors")) octet::synthesize({.arch = "llama", .size = "1b"}, dir, /*overwrite=*/true);
  return dir;
}

void BM_Decode(benchmark::State& state) {
  const auto model = octet::load_causal_lm(decode_model());
  octet::use_decode_kernels(*model);
  // Bytes read per token: every Linear weight (+ bias), one embedding row, the norms.
  double bytes = 0;
  model->visit_linears([&](octet::nn::Linear& l) { bytes += double(l.weight().nbytes() + l.bias().nbytes()); });
  const auto& info = model->info();
  bytes += double(info.hidden_size) * 4.0 * double(2 * info.num_layers + 2);
  const int64_t prompt_len = 16, steps = 32;
  octet::Generator gen(*model, 1, prompt_len + steps + 1);
  std::vector<int64_t> prompt(prompt_len);
  for (int64_t i = 0; i < prompt_len; ++i) prompt[size_t(i)] = 1 + (i * 7919) % (info.vocab_size - 1);
  gen.prefill({prompt});
  int64_t token = 42;
  for (auto _ : state) {
    const Tensor logits = gen.decode_step(std::span<const int64_t>(&token, 1));
    benchmark::DoNotOptimize(logits.data<float>());
  }
  const double bandwidth = g_bandwidth.load();
  state.counters["tokens/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["GB/token"] = bytes / 1e9;
  if (bandwidth > 0) state.counters["bound_tokens/s"] = bandwidth / bytes;
  state.SetBytesProcessed(int64_t(bytes * double(state.iterations())));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(32);

}  // namespace

// Runs the bandwidth benchmark first and keeps its result for BM_Decode's bound.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  class Capture : public benchmark::ConsoleReporter {
   public:
    void ReportRuns(const std::vector<Run>& runs) override {
      for (const Run& r : runs)
        if (r.benchmark_name().starts_with("BM_ReadBandwidth") && r.run_type == Run::RT_Iteration) {
          const auto it = r.counters.find("GB/s");
          if (it != r.counters.end()) g_bandwidth = double(it->second) * 1e9;
        }
      ConsoleReporter::ReportRuns(runs);
    }
  } reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
