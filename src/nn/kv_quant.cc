// KV-cache quantization loops (see kv_quant.h). Scalar on purpose (F16 rows
// take the bulk conversions, octet/number_formats.h): they run once per new
// token and once per cached token per step, next to GEMMs of the same size;
// SIMD can come later, matching these bit for bit.
#include "nn/kv_quant.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>

#include "octet/dtype.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"

namespace octet::nn {

size_t AttentionCache::bytes() const {
  size_t total = 0;
  for (const Tensor* t : {&k, &v, &k_codes, &v_codes, &k_scales, &v_scales})
    if (t->defined()) total += t->nbytes();
  return total;
}

namespace kv_quant {
namespace {

constexpr float kInt8Max = 127.0f;

// Every e4m3 code decoded once.
const std::array<float, 256>& fp8_e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[size_t(c)] = fp8_e4m3_to_float(static_cast<uint8_t>(c));
    return t;
  }();
  return table;
}

float static_scale(const KvCacheQuant& quant, Part part, int64_t kv_head) {
  if (quant.dtype == DType::F16) return 1.0f;  // halves take no scale
  return (part == Part::Keys ? quant.k_scale : quant.v_scale)[size_t(kv_head)];
}

uint8_t* bytes_of(Tensor& codes) { return static_cast<uint8_t*>(codes.raw_data()); }
const uint8_t* bytes_of(const Tensor& codes) { return static_cast<const uint8_t*>(codes.raw_data()); }

}  // namespace

float dynamic_scale(const float* row, int64_t n, DType dtype) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(row[i]);
    if (std::isfinite(a)) amax = std::max(amax, a);
  }
  if (amax == 0.0f) return 1.0f;
  const double levels = dtype == DType::I8 ? double(kInt8Max) : double(kFp8E4M3Max);
  return std::max(static_cast<float>(double(amax) / levels), FLT_MIN);
}

void quantize_row(const float* row, int64_t n, float scale, DType dtype, uint8_t* codes) {
  if (dtype == DType::F16) {  // float_to_f16 (nearest even), no scale; the bulk conversion's SIMD variant equals it
    convert_f32_to_f16({row, size_t(n)}, {reinterpret_cast<uint16_t*>(codes), size_t(n)});
    return;
  }
  const float inv = 1.0f / scale;
  if (dtype == DType::I8) {
    for (int64_t i = 0; i < n; ++i) {
      float v = row[i] * inv;
      if (std::isnan(v)) v = 0.0f;  // NaN quantizes to the code of 0, as in octet/quant.h
      const float level = std::clamp(round_half_even(v), -kInt8Max, kInt8Max);
      codes[i] = static_cast<uint8_t>(static_cast<int8_t>(level));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) codes[i] = float_to_fp8_e4m3(row[i] * inv);
  }
}

void dequantize_row(const uint8_t* codes, int64_t n, float scale, DType dtype, float* out) {
  if (dtype == DType::F16) {
    convert_f16_to_f32({reinterpret_cast<const uint16_t*>(codes), size_t(n)}, {out, size_t(n)});
  } else if (dtype == DType::I8) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int8_t>(codes[i])) * scale;
  } else {
    const std::array<float, 256>& table = fp8_e4m3_table();
    for (int64_t i = 0; i < n; ++i) out[i] = table[codes[i]] * scale;
  }
}

void store(const Tensor& x_in, const KvCacheQuant& quant, Part part, Tensor& codes, Tensor& scales, int64_t at) {
  const Tensor x = x_in.contiguous();
  const int64_t kvh = x.dim(1), seq = x.dim(2), d = x.dim(3), cap = codes.dim(2);
  check(codes.dim(0) == x.dim(0) && codes.dim(1) == kvh && codes.dim(3) == d && at >= 0 && at + seq <= cap,
        "multi_head_attention", "cannot store {} at token {} of KV codes {}", x, at, codes);
  const float* src = x.data<float>();
  uint8_t* dst = bytes_of(codes);
  const int64_t row_bytes = int64_t(storage_bytes(quant.dtype, d));
  float* dst_scales = quant.dynamic ? scales.data<float>() : nullptr;
  parallel_for(
      x.dim(0) * kvh * seq,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t bg = r / seq, slot = bg * cap + at + r % seq;
          const float* row = src + r * d;
          float scale;
          if (quant.dynamic) {
            scale = dynamic_scale(row, d, quant.dtype);
            dst_scales[slot] = scale;
          } else {
            scale = static_scale(quant, part, bg % kvh);
          }
          quantize_row(row, d, scale, quant.dtype, dst + slot * row_bytes);
        }
      },
      64);
}

kernels::CachedRows rows_of_block(const Tensor& codes, const Tensor& scales, const KvCacheQuant& quant, Part part,
                                  int64_t bg) {
  const int64_t kvh = codes.dim(1), cap = codes.dim(2), d = codes.dim(3);
  kernels::CachedRows rows;
  rows.data = bytes_of(codes) + bg * cap * int64_t(storage_bytes(quant.dtype, d));
  rows.element = quant.dtype == DType::F16  ? kernels::CachedElement::F16
                 : quant.dtype == DType::I8 ? kernels::CachedElement::I8
                                            : kernels::CachedElement::F8E4M3;
  if (quant.dynamic)
    rows.row_scales = scales.data<float>() + bg * cap;
  else
    rows.scale = static_scale(quant, part, bg % kvh);
  return rows;
}

void load_block(const Tensor& codes, const Tensor& scales, const KvCacheQuant& quant, Part part, int64_t bg, int64_t n,
                float* out) {
  const kernels::CachedRows rows = rows_of_block(codes, scales, quant, part, bg);
  const uint8_t* src = static_cast<const uint8_t*>(rows.data);
  const int64_t d = codes.dim(3), row_bytes = int64_t(storage_bytes(quant.dtype, d));
  for (int64_t t = 0; t < n; ++t)
    dequantize_row(src + t * row_bytes, d, rows.row_scales ? rows.row_scales[t] : rows.scale, quant.dtype, out + t * d);
}

Tensor load(const Tensor& codes, const Tensor& scales, const KvCacheQuant& quant, Part part, int64_t n) {
  const int64_t blocks = codes.dim(0) * codes.dim(1), d = codes.dim(3);
  Tensor out = Tensor::empty({codes.dim(0), codes.dim(1), n, d}, DType::F32);
  float* dst = out.data<float>();
  parallel_for(blocks, [&](int64_t begin, int64_t end) {
    for (int64_t bg = begin; bg < end; ++bg) load_block(codes, scales, quant, part, bg, n, dst + bg * n * d);
  });
  return out;
}

Tensor round_trip(const Tensor& x, const KvCacheQuant& quant, Part part) {
  Tensor codes, scales;
  allocate(quant, x.dim(0), x.dim(1), x.dim(2), x.dim(3), codes, scales);
  store(x, quant, part, codes, scales, 0);
  return load(codes, scales, quant, part, x.dim(2));
}

void allocate(const KvCacheQuant& quant, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
              Tensor& codes, Tensor& scales) {
  codes = Tensor::zeros({batch, kv_heads, capacity, head_dim}, quant.dtype);
  scales = quant.dynamic ? Tensor::zeros({batch, kv_heads, capacity}, DType::F32) : Tensor();
}

}  // namespace kv_quant
}  // namespace octet::nn
