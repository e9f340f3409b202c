// Throughput of the bulk number-format conversions, scalar loop vs AVX2, on
// 1M-element arrays. Items = elements converted; bytes = bytes read + written.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "formats/bulk_kernels.h"
#include "octet/cpu_features.h"
#include "octet/number_formats.h"

namespace {

using octet::formats::BulkKernels;

constexpr size_t kElements = 1 << 20;

// Activation-like values: normal(0, 1) scaled over a few decades, so every
// format sees normals, subnormals (for fp8) and some overflow.
const std::vector<float>& inputs() {
  static const std::vector<float> v = [] {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> decade(-4, 4);
    std::vector<float> out(kElements);
    for (float& x : out) x = normal(rng) * std::pow(10.0f, static_cast<float>(decade(rng)));
    return out;
  }();
  return v;
}

template <typename Code>
std::vector<Code> encoded(void (*encode)(const float*, Code*, size_t)) {
  std::vector<Code> out(kElements);
  encode(inputs().data(), out.data(), kElements);
  return out;
}

template <typename Src, typename Dst>
void run(benchmark::State& state, void (*kernel)(const Src*, Dst*, size_t), const std::vector<Src>& src) {
  std::vector<Dst> dst(src.size());
  for (auto _ : state) {
    kernel(src.data(), dst.data(), src.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(src.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(src.size()) *
                          static_cast<int64_t>(sizeof(Src) + sizeof(Dst)));
}

void register_variant(const BulkKernels& k) {
  const std::string isa = k.isa;
  const auto& s = octet::formats::scalar_bulk_kernels();
  // Decoders read codes made by the (reference) scalar encoder.
  static const std::vector<uint16_t> f16 = encoded<uint16_t>(s.f32_to_f16);
  static const std::vector<uint16_t> bf16 = encoded<uint16_t>(s.f32_to_bf16);
  static const std::vector<uint8_t> e4m3 = encoded<uint8_t>(s.f32_to_e4m3);
  static const std::vector<uint8_t> e5m2 = encoded<uint8_t>(s.f32_to_e5m2);
  const std::vector<float>& f32 = inputs();
  const BulkKernels* kp = &k;
  auto reg = [&](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark((name + "/" + isa).c_str(), fn)->Unit(benchmark::kMicrosecond);
  };
  reg("f32_to_f16", [kp, &f32](benchmark::State& st) { run(st, kp->f32_to_f16, f32); });
  reg("f16_to_f32", [kp](benchmark::State& st) { run(st, kp->f16_to_f32, f16); });
  reg("f32_to_bf16", [kp, &f32](benchmark::State& st) { run(st, kp->f32_to_bf16, f32); });
  reg("bf16_to_f32", [kp](benchmark::State& st) { run(st, kp->bf16_to_f32, bf16); });
  reg("f32_to_e4m3", [kp, &f32](benchmark::State& st) { run(st, kp->f32_to_e4m3, f32); });
  reg("e4m3_to_f32", [kp](benchmark::State& st) { run(st, kp->e4m3_to_f32, e4m3); });
  reg("f32_to_e5m2", [kp, &f32](benchmark::State& st) { run(st, kp->f32_to_e5m2, f32); });
  reg("e5m2_to_f32", [kp](benchmark::State& st) { run(st, kp->e5m2_to_f32, e5m2); });
}

}  // namespace

int main(int argc, char** argv) {
  register_variant(octet::formats::scalar_bulk_kernels());
  const octet::CpuFeatures& hw = octet::cpu_features();
  if (hw.avx2 && hw.f16c) register_variant(octet::formats::avx2_bulk_kernels());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
