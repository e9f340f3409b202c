// quantize / dequantize / fake_quantize / compute_ranges over any granularity.
//
// The tensor is cut into blocks of kQuantBlock elements run in parallel; each
// block is walked as runs with one scale (or a contiguous slice of scales),
// handed to the kernels in quant_kernels.h. fp8 goes through octet's scalar
// conversions element by element.
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error_tags.h"
#include "octet/number_formats.h"
#include "octet/quant.h"
#include "octet/thread_pool.h"
#include "quant/quant_kernels.h"
#include "quant/quant_layout.h"

namespace octet {
namespace quant_detail {

RunLayout make_run_layout(const QuantSpec& spec, const Shape& shape) {
  validate_quant_spec(spec, shape);
  RunLayout l;
  l.numel = shape_numel(shape);
  const int rank = static_cast<int>(shape.size());
  if (spec.granularity == Granularity::PerTensor) {
    l.n2 = std::max<int64_t>(l.numel, 1);
    return l;
  }
  if (spec.granularity == Granularity::PerToken) {
    l.n2 = shape.back();
    l.n0 = l.n2 == 0 ? 0 : l.numel / l.n2;
    l.n2 = std::max<int64_t>(l.n2, 1);
    l.s0 = 1;
    l.slots = l.n0;
    return l;
  }
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < rank; ++d) inner *= shape[d];
  const int64_t a = shape[axis];
  if (spec.granularity == Granularity::PerChannel) {
    l.slots = a;
    if (inner == 1) {
      l = {outer, 1, a, 0, 0, 1, l.numel, a};
    } else {
      l = {outer, a, inner, 0, 1, 0, l.numel, a};
    }
  } else {  // PerGroup
    const int64_t k = spec.group_size, groups = a / k;
    if (inner == 1) {
      l = {outer * groups, 1, k, 1, 0, 0, l.numel, outer * groups};
    } else {
      l = {outer * groups, k, inner, inner, 0, 1, l.numel, outer * groups * inner};
    }
  }
  // Guard zero-sized dims: the walk divides by n1 and n2.
  l.n1 = std::max<int64_t>(l.n1, 1);
  l.n2 = std::max<int64_t>(l.n2, 1);
  return l;
}

}  // namespace quant_detail

namespace {

using quant_detail::for_each_run;
using quant_detail::kQuantBlock;
using quant_detail::QuantKernels;
using quant_detail::RunLayout;
using quant_detail::RunParams;

// Contiguous copies of the params plus 1/scale, checked against the spec.
struct PreparedParams {
  std::vector<float> scale, inv_scale;
  std::vector<int32_t> zero_point;

  RunParams at(int64_t slot, int64_t stride) const {
    return {scale.data() + slot, inv_scale.data() + slot, zero_point.data() + slot, stride};
  }
};

PreparedParams prepare_params(const QuantParams& params, const QuantSpec& spec, const Shape& data_shape,
                              const QuantLimits& lim) {
  const Shape expected = quant_param_shape(spec, data_shape);
  if (!params.scale.defined() || !params.zero_point.defined())
    fail(kQuantTag, "{}: params are undefined", to_string(spec));
  if (params.scale.dtype() != DType::F32 || params.zero_point.dtype() != DType::I32)
    fail(kQuantTag, "{}: scale must be f32 and zero_point i32, got {} and {}", to_string(spec), params.scale.describe(),
         params.zero_point.describe());
  if (params.scale.shape() != expected || params.zero_point.shape() != expected)
    fail(kQuantTag, "{}: params for {} must have shape {}, got scale {} and zero_point {}", to_string(spec),
         shape_str(data_shape), shape_str(expected), shape_str(params.scale.shape()),
         shape_str(params.zero_point.shape()));
  const Tensor s = params.scale.contiguous(), z = params.zero_point.contiguous();
  PreparedParams p;
  const auto ss = s.span<float>();
  const auto zs = z.span<int32_t>();
  p.scale.assign(ss.begin(), ss.end());
  p.zero_point.assign(zs.begin(), zs.end());
  p.inv_scale.resize(p.scale.size());
  // Plain ifs: check()'s arguments (to_string) would be built for every slot.
  const bool symmetric = lim.is_float || spec.scheme == QuantScheme::Symmetric;
  for (size_t i = 0; i < p.scale.size(); ++i) {
    const float sc = p.scale[i];
    if (!(std::isfinite(sc) && sc >= std::numeric_limits<float>::min()))
      fail(kQuantTag, "{}: scale {} at index {} must be finite and >= FLT_MIN", to_string(spec), sc, i);
    p.inv_scale[i] = 1.0f / sc;
    const int32_t zp = p.zero_point[i];
    if (symmetric && zp != lim.symmetric_zero_point)
      fail(kQuantTag, "{}: zero point must be {} for a symmetric spec, got {}", to_string(spec),
           lim.symmetric_zero_point, zp);
    if (!symmetric && (zp < lim.qmin || zp > lim.qmax))
      fail(kQuantTag, "{}: zero point {} outside [{}, {}]", to_string(spec), zp, lim.qmin, lim.qmax);
  }
  return p;
}

// Runs fn(begin, end) over [0, n) in parallel blocks of kQuantBlock elements.
template <typename Fn>
void parallel_blocks(int64_t n, Fn&& fn) {
  const int64_t blocks = (n + kQuantBlock - 1) / kQuantBlock;
  parallel_for(blocks, [&](int64_t b0, int64_t b1) { fn(b0 * kQuantBlock, std::min(n, b1 * kQuantBlock)); });
}

uint8_t fp8_encode(float v, DType dtype) {
  return dtype == DType::F8_E4M3 ? float_to_fp8_e4m3(v) : float_to_fp8_e5m2_saturate(v);
}

// int4 packing, 8 codes <-> 4 bytes at a time with 64-bit SWAR (x86 is little-endian).
static_assert(std::endian::native == std::endian::little);

// Bytes c0..c7 (low nibbles used) -> 4 bytes c0 | c1 << 4, c2 | c3 << 4, ...
inline uint32_t pack8_nibbles(uint64_t c) {
  c &= 0x0F0F0F0F0F0F0F0FULL;
  c = (c | (c >> 4)) & 0x00FF00FF00FF00FFULL;  // byte 2k = c_2k | c_2k+1 << 4
  c = (c | (c >> 8)) & 0x0000FFFF0000FFFFULL;
  return static_cast<uint32_t>(c | (c >> 16));
}

// 4 packed bytes -> 8 code bytes (sign-extended to int8 when is_signed).
inline uint64_t unpack8_nibbles(uint32_t packed, bool is_signed) {
  auto spread = [](uint64_t x) {  // byte k -> byte 2k
    x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
    return (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  };
  uint64_t c = spread(packed & 0x0F0F0F0FU) | (spread((packed >> 4) & 0x0F0F0F0FU) << 8);
  // Bit 3 set -> OR 0xF0 into that byte (8 * 30 = 0xF0: no carry between bytes).
  if (is_signed) c |= (c & 0x0808080808080808ULL) * 30;
  return c;
}

// Writes int4 codes (low nibbles of `codes`) for elements [pos, pos + n) of a
// packed buffer; odd boundaries update half a byte.
void store_nibbles(uint8_t* packed, int64_t pos, const uint8_t* codes, int64_t n) {
  int64_t i = 0;
  if (n > 0 && (pos & 1)) {
    uint8_t& b = packed[pos / 2];
    b = static_cast<uint8_t>((b & 0x0F) | ((codes[0] & 0x0F) << 4));
    i = 1;
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t c;
    std::memcpy(&c, codes + i, 8);
    const uint32_t out = pack8_nibbles(c);
    std::memcpy(packed + (pos + i) / 2, &out, 4);
  }
  for (; i + 1 < n; i += 2) packed[(pos + i) / 2] = pack_int4(codes[i], codes[i + 1]);
  if (i < n) {
    uint8_t& b = packed[(pos + i) / 2];
    b = static_cast<uint8_t>((b & 0xF0) | (codes[i] & 0x0F));
  }
}

// Reads int4 elements [pos, pos + n) as byte codes (sign-extended when signed).
void load_nibbles(const uint8_t* packed, int64_t pos, bool is_signed, uint8_t* codes, int64_t n) {
  auto lo = [is_signed](uint8_t b) { return static_cast<uint8_t>(is_signed ? unpack_int4_lo(b) : unpack_uint4_lo(b)); };
  auto hi = [is_signed](uint8_t b) { return static_cast<uint8_t>(is_signed ? unpack_int4_hi(b) : unpack_uint4_hi(b)); };
  int64_t i = 0;
  if (n > 0 && (pos & 1)) codes[i++] = hi(packed[pos / 2]);
  for (; i + 8 <= n; i += 8) {
    uint32_t b;
    std::memcpy(&b, packed + (pos + i) / 2, 4);
    const uint64_t c = unpack8_nibbles(b, is_signed);
    std::memcpy(codes + i, &c, 8);
  }
  for (; i + 1 < n; i += 2) {
    const uint8_t b = packed[(pos + i) / 2];
    codes[i] = lo(b);
    codes[i + 1] = hi(b);
  }
  if (i < n) codes[i] = lo(packed[(pos + i) / 2]);
}

// fp8 code -> float, decoded once (256 entries per format).
const float* fp8_decode_table(DType dtype) {
  static const auto tables = [] {
    std::array<std::array<float, 256>, 2> t{};
    for (int c = 0; c < 256; ++c) {
      t[0][c] = fp8_e4m3_to_float(static_cast<uint8_t>(c));
      t[1][c] = fp8_e5m2_to_float(static_cast<uint8_t>(c));
    }
    return t;
  }();
  return tables[dtype == DType::F8_E4M3 ? 0 : 1].data();
}

constexpr int64_t kNibbleChunk = 512;  // stack buffer for int4 codes

Tensor require_f32(const Tensor& x, const char* op) {
  check(x.defined(), kQuantTag, "{}: undefined tensor", op);
  check(x.dtype() == DType::F32, kQuantTag, "{}: expected an f32 tensor, got {}", op, x);
  return x.contiguous();
}

}  // namespace

QuantRanges compute_ranges(const Tensor& x_in, const QuantSpec& spec) {
  const Tensor x = require_f32(x_in, "compute_ranges");
  check(x.numel() > 0, kQuantTag, "compute_ranges: empty tensor {} has no range", x);
  const RunLayout layout = quant_detail::make_run_layout(spec, x.shape());
  const float* data = x.data<float>();
  const QuantKernels& k = quant_detail::best_quant_kernels();
  const int64_t blocks = (layout.numel + kQuantBlock - 1) / kQuantBlock;
  const int64_t parts = std::min<int64_t>(num_threads(), blocks);
  const auto slots = static_cast<size_t>(layout.slots);
  // One partial min/max array per part; merged afterwards (exact, so the result
  // does not depend on the thread count).
  std::vector<std::vector<float>> lo(parts, std::vector<float>(slots, std::numeric_limits<float>::infinity()));
  std::vector<std::vector<float>> hi(parts, std::vector<float>(slots, -std::numeric_limits<float>::infinity()));
  std::vector<char> finite(parts, 1);
  parallel_for(parts, [&](int64_t p0, int64_t p1) {
    for (int64_t part = p0; part < p1; ++part) {
      const int64_t begin = blocks * part / parts * kQuantBlock;
      const int64_t end = std::min(layout.numel, blocks * (part + 1) / parts * kQuantBlock);
      float* plo = lo[part].data();
      float* phi = hi[part].data();
      bool ok = true;
      for_each_run(layout, begin, end, [&](int64_t pos, int64_t len, int64_t slot, int64_t stride) {
        if (stride == 0) {
          ok = k.min_max(data + pos, len, plo + slot, phi + slot) && ok;
        } else {
          for (int64_t i = 0; i < len; ++i) {
            const float v = data[pos + i];
            ok = ok && std::isfinite(v);
            plo[slot + i] = v < plo[slot + i] ? v : plo[slot + i];
            phi[slot + i] = v > phi[slot + i] ? v : phi[slot + i];
          }
        }
      });
      finite[part] = ok;
    }
  });
  for (int64_t part = 0; part < parts; ++part)
    check(finite[part] != 0, kQuantTag, "compute_ranges: tensor {} contains NaN or Inf", x);
  QuantRanges r{Tensor::empty(quant_param_shape(spec, x.shape()), DType::F32),
                Tensor::empty(quant_param_shape(spec, x.shape()), DType::F32)};
  float* rlo = r.min.data<float>();
  float* rhi = r.max.data<float>();
  for (size_t s = 0; s < slots; ++s) {
    rlo[s] = lo[0][s];
    rhi[s] = hi[0][s];
    for (int64_t part = 1; part < parts; ++part) {
      rlo[s] = std::min(rlo[s], lo[part][s]);
      rhi[s] = std::max(rhi[s], hi[part][s]);
    }
  }
  return r;
}

QuantParams compute_qparams(const Tensor& x, const QuantSpec& spec) {
  return qparams_from_ranges(compute_ranges(x, spec), spec);
}

Tensor quantize(const Tensor& x_in, const QuantSpec& spec, const QuantParams& params) {
  const Tensor x = require_f32(x_in, "quantize");
  const RunLayout layout = quant_detail::make_run_layout(spec, x.shape());
  const QuantLimits lim = quant_limits(spec);
  const PreparedParams pp = prepare_params(params, spec, x.shape(), lim);
  const bool packed = dtype_info(spec.dtype).is_packed;
  // Packed outputs start zeroed: odd run boundaries update half bytes.
  Tensor out = packed ? Tensor::zeros(x.shape(), spec.dtype) : Tensor::empty(x.shape(), spec.dtype);
  const float* src = x.data<float>();
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  const QuantKernels& k = quant_detail::best_quant_kernels();
  parallel_blocks(layout.numel, [&](int64_t begin, int64_t end) {
    for_each_run(layout, begin, end, [&](int64_t pos, int64_t len, int64_t slot, int64_t stride) {
      const RunParams rp = pp.at(slot, stride);
      if (lim.is_float) {
        for (int64_t i = 0; i < len; ++i) {
          dst[pos + i] = fp8_encode(src[pos + i] * rp.inv_scale[i * stride], spec.dtype);
        }
      } else if (!packed) {
        k.quantize(src + pos, len, rp, lim.qmin, lim.qmax, spec.rounding, dst + pos);
      } else {
        uint8_t codes[kNibbleChunk];
        for (int64_t c = 0; c < len; c += kNibbleChunk) {
          const int64_t n = std::min(kNibbleChunk, len - c);
          k.quantize(src + pos + c, n, pp.at(slot + c * stride, stride), lim.qmin, lim.qmax, spec.rounding, codes);
          store_nibbles(dst, pos + c, codes, n);
        }
      }
    });
  });
  return out;
}

Tensor dequantize(const Tensor& q_in, const QuantSpec& spec, const QuantParams& params) {
  check(q_in.defined(), kQuantTag, "dequantize: undefined tensor");
  check(q_in.dtype() == spec.dtype, kQuantTag, "dequantize: tensor is {} but the spec {} says {}", q_in,
        to_string(spec), dtype_name(spec.dtype));
  const Tensor q = q_in.contiguous();
  const RunLayout layout = quant_detail::make_run_layout(spec, q.shape());
  const QuantLimits lim = quant_limits(spec);
  const PreparedParams pp = prepare_params(params, spec, q.shape(), lim);
  Tensor out = Tensor::empty(q.shape(), DType::F32);
  const auto* src = static_cast<const uint8_t*>(q.raw_data());
  float* dst = out.data<float>();
  const float* decode = lim.is_float ? fp8_decode_table(spec.dtype) : nullptr;
  const QuantKernels& k = quant_detail::best_quant_kernels();
  const bool packed = dtype_info(spec.dtype).is_packed;
  const bool is_signed = dtype_info(spec.dtype).is_signed;
  parallel_blocks(layout.numel, [&](int64_t begin, int64_t end) {
    for_each_run(layout, begin, end, [&](int64_t pos, int64_t len, int64_t slot, int64_t stride) {
      const RunParams rp = pp.at(slot, stride);
      if (lim.is_float) {
        for (int64_t i = 0; i < len; ++i) dst[pos + i] = decode[src[pos + i]] * rp.scale[i * stride];
      } else if (!packed) {
        k.dequantize(src + pos, is_signed, len, rp, dst + pos);
      } else {
        uint8_t codes[kNibbleChunk];
        for (int64_t c = 0; c < len; c += kNibbleChunk) {
          const int64_t n = std::min(kNibbleChunk, len - c);
          load_nibbles(src, pos + c, is_signed, codes, n);
          k.dequantize(codes, is_signed, n, pp.at(slot + c * stride, stride), dst + pos + c);
        }
      }
    });
  });
  return out;
}

Tensor fake_quantize(const Tensor& x_in, const QuantSpec& spec, const QuantParams& params) {
  const Tensor x = require_f32(x_in, "fake_quantize");
  const RunLayout layout = quant_detail::make_run_layout(spec, x.shape());
  const QuantLimits lim = quant_limits(spec);
  const PreparedParams pp = prepare_params(params, spec, x.shape(), lim);
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const float* decode = lim.is_float ? fp8_decode_table(spec.dtype) : nullptr;
  const QuantKernels& k = quant_detail::best_quant_kernels();
  parallel_blocks(layout.numel, [&](int64_t begin, int64_t end) {
    for_each_run(layout, begin, end, [&](int64_t pos, int64_t len, int64_t slot, int64_t stride) {
      const RunParams rp = pp.at(slot, stride);
      if (lim.is_float) {
        for (int64_t i = 0; i < len; ++i)
          dst[pos + i] =
              decode[fp8_encode(src[pos + i] * rp.inv_scale[i * stride], spec.dtype)] * rp.scale[i * stride];
      } else {
        k.fake_quantize(src + pos, len, rp, lim.qmin, lim.qmax, spec.rounding, dst + pos);
      }
    });
  });
  return out;
}

Tensor fake_quantize(const Tensor& x, const QuantSpec& spec) { return fake_quantize(x, spec, compute_qparams(x, spec)); }

}  // namespace octet
