// Weight-only GEMV: variant choice and the threaded driver (kernels/wo_gemv.h).
#include <algorithm>
#include <vector>

#include "kernels/wo_gemv.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::kernels {

bool wo_isa_supported(WoIsa isa) {
  const CpuFeatures& f = cpu_features_detected();
  switch (isa) {
    case WoIsa::Reference: return true;
    case WoIsa::Avx2: return f.avx2 && f.fma;
    case WoIsa::Avx512: return f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
  }
  return false;
}

WoGemvFn wo_gemv_variant(WoIsa isa) {
  check(wo_isa_supported(isa), "wo_gemv", "this CPU cannot run the requested weight-only GEMV variant");
  switch (isa) {
    case WoIsa::Avx512: return &wo_gemv_avx512;
    case WoIsa::Avx2: return &wo_gemv_avx2;
    case WoIsa::Reference: break;
  }
  return &wo_gemv_ref;
}

WoQuantizeFn wo_quantize_variant(WoIsa isa) {
  check(wo_isa_supported(isa), "wo_gemv", "this CPU cannot run the requested activation quantizer");
  switch (isa) {
    case WoIsa::Avx512: return &quantize_q8_blocks_avx512;
    case WoIsa::Avx2: return &quantize_q8_blocks_avx2;
    case WoIsa::Reference: break;
  }
  return &quantize_q8_blocks;
}

WoIsa wo_gemv_default_isa() {
  static const WoIsa isa = [] {
    const CpuFeatures& f = cpu_features();  // OCTET_ISA caps it
    if (f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni) return WoIsa::Avx512;
    if (f.avx2 && f.fma) return WoIsa::Avx2;
    return WoIsa::Reference;
  }();
  return isa;
}

void wo_gemv(const PackedWoWeights& w, const float* x, int64_t m, const float* bias, float* y, WoIsa isa) {
  const WoGemvFn fn = wo_gemv_variant(isa);
  const WoQuantizeFn quantize = wo_quantize_variant(isa);
  const int64_t blocks = w.blocks();
  // The activation blocks, reused across calls (one per Linear per decode step): no allocation per call.
  // Pool threads reach them through these pointers (a thread_local named inside the tasks would be theirs).
  thread_local std::vector<int8_t> codes_buffer;
  thread_local std::vector<float> scales_buffer;
  thread_local std::vector<int32_t> sums_buffer;
  codes_buffer.resize(static_cast<size_t>(m * w.k));
  scales_buffer.resize(static_cast<size_t>(m * blocks));
  sums_buffer.resize(scales_buffer.size());
  int8_t* const codes = codes_buffer.data();
  float* const scales = scales_buffer.data();
  int32_t* const sums = sums_buffer.data();
  const bool many_rows = m >= 16;  // prefill: quantize rows over the pool, one tile group per task
  if (many_rows) {
    parallel_for(
        m, [&](int64_t b, int64_t e) {
          quantize(x + b * w.k, e - b, w.k, codes + b * w.k, scales + b * blocks, sums + b * blocks);
        },
        8);
  } else {
    quantize(x, m, w.k, codes, scales, sums);
  }
  // Group-16 weights take the code sums per 16 inputs (one per sub-block dot).
  const int32_t* sub_sums = sums;
  if (w.sum_block() != kWoBlock) {
    thread_local std::vector<int32_t> sums16_buffer;
    sums16_buffer.resize(static_cast<size_t>(m * (w.k / 16)));
    sum_codes_per_16(codes, m, w.k, sums16_buffer.data());
    sub_sums = sums16_buffer.data();
  }
  const auto tiles = [&](int64_t begin, int64_t end) { fn(w, codes, scales, sub_sums, m, bias, y, w.n, begin, end); };
  if (many_rows) {
    // A task of many rows is already long, and its tiles are visited in groups (wo_gemv_body.h): one
    // group per task suffices.
    parallel_for(w.tiles(), tiles, 4);
  } else {
    // Decode streams the weights once, memory-bound: contiguous shares, their tails balanced over the
    // threads in pieces of two tiles (thread_pool.h).
    parallel_for_balanced(w.tiles(), tiles, 2);
  }
}

}  // namespace octet::kernels
