// Throughput of quantize / dequantize / fake_quantize on 1M-element tensors
// ([1024, 1024] f32) for the common layouts: int8 per tensor, int8 per channel
// (axis 0, weights), int4 group(128) (W4 weights), fp8 e4m3 per tensor, plus the
// dynamic per-token range computation.
//
// The argument is the thread count (1, or 0 for every hardware thread).
// OCTET_ISA=scalar runs the scalar reference kernels for comparison.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "octet/cpu_features.h"
#include "octet/quant.h"
#include "octet/thread_pool.h"

namespace {

using octet::QuantParams;
using octet::QuantSpec;
using octet::Tensor;

constexpr int64_t kRows = 1024, kCols = 1024;

const Tensor& input() {
  static const Tensor x = [] {
    std::mt19937 gen(1);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(kRows * kCols));
    for (float& f : v) f = dist(gen);
    return Tensor::from_floats(v, {kRows, kCols});
  }();
  return x;
}

struct Setup {
  QuantSpec spec;
  QuantParams params;
  Tensor q;
};

Setup make_setup(const char* spec_text) {
  Setup s;
  s.spec = octet::parse_quant_spec(spec_text);
  s.params = octet::compute_qparams(input(), s.spec);
  s.q = octet::quantize(input(), s.spec, s.params);
  return s;
}

void set_threads(benchmark::State& state) {
  octet::set_num_threads(static_cast<int>(state.range(0)));
  state.counters["threads"] = octet::num_threads();
}

// Bytes moved: f32 in + narrow out (or the reverse); fake-quant: f32 in + f32 out.
void report(benchmark::State& state, const Setup& s, bool f32_out) {
  const auto n = static_cast<int64_t>(state.iterations()) * input().numel();
  state.SetItemsProcessed(n);
  const double bytes_per = 4.0 + (f32_out ? 4.0 : static_cast<double>(s.q.nbytes()) / double(input().numel()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes_per * static_cast<double>(n)));
}

void BM_Quantize(benchmark::State& state, const char* spec) {
  set_threads(state);
  const Setup s = make_setup(spec);
  for (auto _ : state) benchmark::DoNotOptimize(octet::quantize(input(), s.spec, s.params));
  report(state, s, false);
}

void BM_Dequantize(benchmark::State& state, const char* spec) {
  set_threads(state);
  const Setup s = make_setup(spec);
  for (auto _ : state) benchmark::DoNotOptimize(octet::dequantize(s.q, s.spec, s.params));
  report(state, s, false);
}

void BM_FakeQuantize(benchmark::State& state, const char* spec) {
  set_threads(state);
  const Setup s = make_setup(spec);
  for (auto _ : state) benchmark::DoNotOptimize(octet::fake_quantize(input(), s.spec, s.params));
  report(state, s, true);
}

void BM_DynamicQParams(benchmark::State& state, const char* spec) {
  set_threads(state);
  const QuantSpec s = octet::parse_quant_spec(spec);
  for (auto _ : state) benchmark::DoNotOptimize(octet::compute_qparams(input(), s));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * input().numel());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * input().numel() * 4);
}

#define OCTET_QUANT_BENCH(fn, label, spec) \
  BENCHMARK_CAPTURE(fn, label, spec)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond)->UseRealTime()

OCTET_QUANT_BENCH(BM_Quantize, int8_per_tensor, "int8:sym:per_tensor");
OCTET_QUANT_BENCH(BM_Quantize, int8_per_channel, "int8:sym:per_channel(0)");
OCTET_QUANT_BENCH(BM_Quantize, int4_group128, "int4:affine:group(128)");
OCTET_QUANT_BENCH(BM_Quantize, fp8_e4m3_per_tensor, "fp8_e4m3:sym:per_tensor");
OCTET_QUANT_BENCH(BM_Dequantize, int8_per_tensor, "int8:sym:per_tensor");
OCTET_QUANT_BENCH(BM_Dequantize, int8_per_channel, "int8:sym:per_channel(0)");
OCTET_QUANT_BENCH(BM_Dequantize, int4_group128, "int4:affine:group(128)");
OCTET_QUANT_BENCH(BM_Dequantize, fp8_e4m3_per_tensor, "fp8_e4m3:sym:per_tensor");
OCTET_QUANT_BENCH(BM_FakeQuantize, int8_per_tensor, "int8:sym:per_tensor");
OCTET_QUANT_BENCH(BM_FakeQuantize, int8_per_channel, "int8:sym:per_channel(0)");
OCTET_QUANT_BENCH(BM_FakeQuantize, int4_group128, "int4:affine:group(128)");
OCTET_QUANT_BENCH(BM_DynamicQParams, int8_per_token, "int8:affine:per_token");

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("octet_cpu", octet::cpu_features().brand);
  benchmark::AddCustomContext("octet_avx2", octet::cpu_features().avx2 ? "yes" : "no");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
