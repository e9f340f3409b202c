// Weight-only GEMV: variant choice and the threaded driver (kernels/wo_gemv.h).
#include <algorithm>
#include <cmath>
#include <tuple>
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

void prepare_wo_terms(const PackedWoWeights& w, const float* a_scales, const int32_t* a_sums, int64_t m,
                      WoTerms& terms) {
  const int64_t blocks = w.blocks();
  terms.scales.clear(), terms.starts.clear(), terms.group_bases.clear();
  if (w.grouped()) {
    const int64_t groups = w.groups(), per_group = w.group / kWoBlock;
    const float o = w.affine ? 1.0f : static_cast<float>(w.sym_offset());
    terms.group_bases.resize(size_t(m * groups));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t g = 0; g < groups; ++g) {
        float c = 0.0f;
        for (int64_t b = g * per_group; b < (g + 1) * per_group; ++b)
          c = std::fma(a_scales[i * blocks + b], static_cast<float>(a_sums[i * blocks + b]), c);
        terms.group_bases[size_t(i * groups + g)] = o * -c;  // exact for affine (1 * -c); else fl(o * -c)
      }
  } else if (!w.scale_min() && w.sum_block() == kWoBlock) {
    const int32_t o = w.affine ? 1 : w.sym_offset();
    terms.scales.resize(size_t(m * blocks));
    terms.starts.resize(size_t(m * blocks));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t b = 0; b < blocks; ++b) {
        terms.scales[size_t(b * m + i)] = a_scales[i * blocks + b];
        terms.starts[size_t(b * m + i)] = -o * a_sums[i * blocks + b];
      }
  }
}

bool same_wo_terms(const PackedWoWeights& a, const PackedWoWeights& b) {
  const auto key = [](const PackedWoWeights& w) {
    return std::tuple(w.grouped(), w.grouped() ? w.group : 0, w.scale_min(), w.sum_block(), w.affine, w.sym_offset());
  };
  return key(a) == key(b);
}

void wo_gemv(const PackedWoWeights& w, const float* x, int64_t m, const float* bias, float* y, WoIsa isa) {
  const WoGemvOutput one{&w, bias, y};
  wo_gemv_shared({&one, 1}, x, m, isa);
}

void wo_gemv_shared(std::span<const WoGemvOutput> outputs, const float* x, int64_t m, WoIsa isa) {
  check(!outputs.empty(), "wo_gemv", "no weights to multiply");
  const int64_t k = outputs.front().w->k;
  // tile_start[i]: where output i's tiles begin in the job's one index space.
  std::vector<int64_t> tile_start(outputs.size() + 1, 0);
  bool per_16 = false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const WoGemvOutput& o = outputs[i];
    check(o.w && o.y && o.w->k == k, "wo_gemv", "weights sharing an input need the same k ({}), got {}", k,
          o.w ? o.w->k : 0);
    tile_start[i + 1] = tile_start[i] + o.w->tiles();
    per_16 = per_16 || o.w->sum_block() != kWoBlock;
  }
  const WoGemvFn fn = wo_gemv_variant(isa);
  const WoQuantizeFn quantize = wo_quantize_variant(isa);
  const int64_t blocks = k / kWoBlock;
  // The activation blocks, reused across calls (one per Linear per decode step): no allocation per call.
  // Pool threads reach them through these pointers (a thread_local named inside the tasks would be theirs).
  thread_local std::vector<int8_t> codes_buffer;
  thread_local std::vector<float> scales_buffer;
  thread_local std::vector<int32_t> sums_buffer;
  codes_buffer.resize(static_cast<size_t>(m * k));
  scales_buffer.resize(static_cast<size_t>(m * blocks));
  sums_buffer.resize(scales_buffer.size());
  int8_t* const codes = codes_buffer.data();
  float* const scales = scales_buffer.data();
  int32_t* const sums = sums_buffer.data();
  const bool many_rows = m >= 16;  // prefill: quantize rows over the pool, one tile group per task
  if (many_rows) {
    parallel_for(
        m, [&](int64_t b, int64_t e) {
          quantize(x + b * k, e - b, k, codes + b * k, scales + b * blocks, sums + b * blocks);
        },
        8);
  } else {
    quantize(x, m, k, codes, scales, sums);
  }
  // Group-16 weights take the code sums per 16 inputs (one per sub-block dot).
  const int32_t* sums16 = nullptr;
  if (per_16) {
    thread_local std::vector<int32_t> sums16_buffer;
    sums16_buffer.resize(static_cast<size_t>(m * (k / 16)));
    sum_codes_per_16(codes, m, k, sums16_buffer.data());
    sums16 = sums16_buffer.data();
  }
  // The terms of each output's format, made once here rather than by every tile range (outputs of one format
  // share them: q, k, v or gate, up usually are one).
  thread_local std::vector<WoTerms> terms_buffer;
  std::vector<const WoTerms*> terms_of(outputs.size(), nullptr);
  if (terms_buffer.size() < outputs.size()) terms_buffer.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t j = 0; j < i && !terms_of[i]; ++j)
      if (same_wo_terms(*outputs[j].w, *outputs[i].w)) terms_of[i] = terms_of[j];
    if (!terms_of[i]) {
      prepare_wo_terms(*outputs[i].w, scales, sums, m, terms_buffer[i]);
      terms_of[i] = &terms_buffer[i];
    }
  }
  const auto tiles = [&](int64_t begin, int64_t end) {
    // The outputs whose tiles overlap [begin, end), each over its own part.
    size_t i = size_t(std::upper_bound(tile_start.begin(), tile_start.end(), begin) - tile_start.begin()) - 1;
    for (; i < outputs.size() && tile_start[i] < end; ++i) {
      const WoGemvOutput& o = outputs[i];
      const int64_t lo = std::max(begin, tile_start[i]) - tile_start[i];
      const int64_t hi = std::min(end, tile_start[i + 1]) - tile_start[i];
      if (lo < hi)
        fn(*o.w, codes, scales, o.w->sum_block() == kWoBlock ? sums : sums16, m, terms_of[i], o.bias, o.y, o.w->n, lo,
           hi);
    }
  };
  const int64_t total = tile_start.back();
  if (many_rows) {
    // A task of many rows is already long, and its tiles are visited in groups (wo_gemv_body.h): one
    // group per task suffices.
    parallel_for(total, tiles, 4);
  } else {
    // Decode streams the weights once, memory-bound: contiguous shares, their tails balanced over the
    // threads in pieces of two tiles (thread_pool.h).
    parallel_for_balanced(total, tiles, 2);
  }
}

}  // namespace octet::kernels
