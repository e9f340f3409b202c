// Weight-only GEMV: packing, the Q8 activation blocks, the scalar reference
// kernel and panel dequantization (see kernels/wo_gemv.h for the layout).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error_tags.h"
#include "kernels/wo_gemv.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

// Where u of output n, input k lives: its byte, and whether it is that byte's high nibble (4 bits).
struct CodeAt {
  int64_t byte;
  bool high;
};
CodeAt code_at(const PackedWoWeights& w, int64_t n, int64_t k) {
  const int64_t t = n / kWoTile, r = n % kWoTile, b = k / kWoBlock, j = k % kWoBlock;
  const int64_t base = (t * w.blocks() + b) * w.block_bytes();
  if (w.bits == 8) return {base + (j / 4) * kWoChunkBytes + r * 4 + j % 4, false};
  const int64_t c = (j % 16) / 4;
  return {base + c * kWoChunkBytes + r * 4 + j % 4, j >= 16};
}

// u of output n, input k from the packed codes.
int32_t packed_code(const PackedWoWeights& w, const uint8_t* codes, int64_t n, int64_t k) {
  const CodeAt at = code_at(w, n, k);
  const uint8_t byte = codes[at.byte];
  if (w.bits == 8) return byte;
  return at.high ? byte >> 4 : byte & 0x0F;
}

}  // namespace

namespace {

// The codes of w (n, k, group, bits set), uninitialised except a partial last tile's (zero, the padding
// lanes): place_codes writes every byte of every real lane, and the pool's threads take the first-touch
// page faults of their own tiles (zeroing the whole buffer first was a single-threaded tenth of loading).
Tensor allocate_codes(const PackedWoWeights& w) {
  Tensor codes = Tensor::empty({w.tiles() * w.blocks() * w.block_bytes()}, DType::U8);
  if (w.n % kWoTile != 0) {
    const int64_t tile_bytes = w.blocks() * w.block_bytes();
    std::memset(codes.data<uint8_t>() + (w.tiles() - 1) * tile_bytes, 0, size_t(tile_bytes));
  }
  return codes;
}

// The layout of w (n, k, group, bits set): codes as above, zero scales.
void allocate(PackedWoWeights& w) {
  w.codes = allocate_codes(w);
  w.scales = Tensor::zeros({w.tiles(), w.groups(), kWoTile}, DType::F32);
}

// Copies the per (n, group) values `from` [n, groups] into the [tiles, groups, 16] layout `to`.
template <class T>
void place_per_group(const PackedWoWeights& w, const T* from, T* to, int64_t t, int64_t r) {
  const int64_t nn = t * kWoTile + r, groups = w.groups();
  for (int64_t g = 0; g < groups; ++g) to[(t * groups + g) * kWoTile + r] = from[nn * groups + g];
}

// Packs output nn's u = code + add (checked to lie in [lo, hi] before adding) into tile t, lane r, writing
// every byte of the lane (no read of the buffer).
template <class Code>
void place_codes(PackedWoWeights& w, const Code* row, int64_t t, int64_t r, int lo, int hi, int add) {
  uint8_t* codes = w.codes.data<uint8_t>();
  const int64_t blocks = w.blocks(), bb = w.block_bytes();
  uint8_t off = 0;  // a byte, so that the pass vectorises; only a failing row is walked for the message
  for (int64_t j = 0; j < w.k; ++j) off |= uint8_t((int(row[j]) < lo) | (int(row[j]) > hi));
  if (off)
    for (int64_t j = 0; j < w.k; ++j)
      if (int(row[j]) < lo || int(row[j]) > hi) fail(kWoGemvTag, "code {} outside [{}, {}]", int(row[j]), lo, hi);
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* base = codes + (t * blocks + b) * bb + r * 4;  // code_at's layout, block by block
    const Code* v = row + b * kWoBlock;
    if (w.bits == 8) {
      for (int64_t j = 0; j < kWoBlock; ++j) base[(j / 4) * kWoChunkBytes + j % 4] = static_cast<uint8_t>(v[j] + add);
    } else {
      // Chunk c's bytes hold inputs 4c .. 4c + 3 in their low nibbles and 16 + 4c .. in their high ones.
      for (int64_t j = 0; j < kWoBlock / 2; ++j)
        base[(j / 4) * kWoChunkBytes + j % 4] = static_cast<uint8_t>((v[j] + add) | (v[j + 16] + add) << 4);
    }
  }
}

}  // namespace

PackedWoWeights pack_wo_weights(const int8_t* q, int64_t n, int64_t k, int64_t group, int bits, bool affine,
                                const float* scales, const int32_t* zero_points) {
  check(bits == 4 || bits == 8, kWoGemvTag, "bits must be 4 or 8, got {}", bits);
  check(n > 0 && k > 0 && k % kWoBlock == 0, kWoGemvTag, "k = {} must be a positive multiple of {}", k, kWoBlock);
  const bool group16 = group == 16 && bits == 8 && !affine;
  check(group > 0 && (group % kWoBlock == 0 || group16) && k % group == 0, kWoGemvTag,
        "group {} must be a multiple of {} (or 16 with 8 bits) dividing k = {}", group, kWoBlock, k);
  check(!affine || (bits == 4 && zero_points), kWoGemvTag, "affine packing needs 4 bits and zero points");
  PackedWoWeights w;
  w.n = n;
  w.k = k;
  w.group = group;
  w.bits = bits;
  w.affine = affine;
  allocate(w);
  if (affine) w.offsets = Tensor::zeros({w.tiles(), w.groups(), kWoTile}, DType::I32);
  float* ws = w.scales.data<float>();
  int32_t* wo = affine ? w.offsets.data<int32_t>() : nullptr;
  const int lo = bits == 8 ? -128 : affine ? 0 : -8, hi = bits == 8 ? 127 : affine ? 15 : 7;
  const int add = affine ? 0 : w.sym_offset();  // u = q + add
  if (affine)
    for (int64_t i = 0; i < n * w.groups(); ++i)
      check(zero_points[i] >= 0 && zero_points[i] <= 15, kWoGemvTag, "zero point {} outside [0, 15]", zero_points[i]);
  // Tiles are independent (each writes only its own bytes): packed over the pool, a 1.1 B model in ~a second.
  parallel_for(w.tiles(), [&](int64_t t_begin, int64_t t_end) {
    for (int64_t t = t_begin; t < t_end; ++t)
      for (int64_t r = 0; r < kWoTile && t * kWoTile + r < n; ++r) {
        place_per_group(w, scales, ws, t, r);
        if (affine) place_per_group(w, zero_points, wo, t, r);
        place_codes(w, q + (t * kWoTile + r) * k, t, r, lo, hi, add);
      }
  });
  return w;
}

PackedWoWeights pack_wo_weights_scale_min(const uint8_t* u, int64_t n, int64_t k, const uint8_t* sc, const uint8_t* m,
                                          const float* d, const float* dmin) {
  check(n > 0 && k > 0 && k % kWoSuperBlock == 0, kWoGemvTag, "k = {} must be a positive multiple of {}", k,
        kWoSuperBlock);
  for (int64_t i = 0; i < n * (k / kWoBlock); ++i)
    check(sc[i] < 64 && m[i] < 64, kWoGemvTag, "scale / min code {} / {} outside [0, 63]", sc[i], m[i]);
  PackedWoWeights w;
  w.n = n;
  w.k = k;
  w.group = kWoBlock;
  w.bits = 4;
  w.codes = allocate_codes(w);
  const int64_t groups = w.groups(), supers = k / kWoSuperBlock;
  w.scale_min_codes = Tensor::zeros({w.tiles(), groups, 2, kWoTile}, DType::U8);
  w.super_scales = Tensor::zeros({w.tiles(), supers, 2, kWoTile}, DType::F32);
  uint8_t* codes2 = w.scale_min_codes.data<uint8_t>();
  float* supers2 = w.super_scales.data<float>();
  parallel_for(w.tiles(), [&](int64_t t_begin, int64_t t_end) {
    for (int64_t t = t_begin; t < t_end; ++t)
      for (int64_t r = 0; r < kWoTile && t * kWoTile + r < n; ++r) {
        const int64_t nn = t * kWoTile + r;
        for (int64_t g = 0; g < groups; ++g) {
          codes2[((t * groups + g) * 2 + 0) * kWoTile + r] = sc[nn * groups + g];
          codes2[((t * groups + g) * 2 + 1) * kWoTile + r] = m[nn * groups + g];
        }
        for (int64_t s = 0; s < supers; ++s) {
          supers2[((t * supers + s) * 2 + 0) * kWoTile + r] = d[nn * supers + s];
          supers2[((t * supers + s) * 2 + 1) * kWoTile + r] = dmin[nn * supers + s];
        }
        place_codes(w, u + nn * k, t, r, 0, 15, 0);
      }
  });
  return w;
}

float PackedWoWeights::group_scale(int64_t t, int64_t g, int64_t r) const {
  const int64_t supers = k / kWoSuperBlock, s = g * kWoBlock / kWoSuperBlock;
  return super_scales.data<float>()[((t * supers + s) * 2 + 0) * kWoTile + r] *
         static_cast<float>(scale_min_codes.data<uint8_t>()[((t * groups() + g) * 2 + 0) * kWoTile + r]);
}

float PackedWoWeights::group_min(int64_t t, int64_t g, int64_t r) const {
  const int64_t supers = k / kWoSuperBlock, s = g * kWoBlock / kWoSuperBlock;
  return super_scales.data<float>()[((t * supers + s) * 2 + 1) * kWoTile + r] *
         static_cast<float>(scale_min_codes.data<uint8_t>()[((t * groups() + g) * 2 + 1) * kWoTile + r]);
}

void sum_codes_per_16(const int8_t* codes, int64_t m, int64_t k, int32_t* sums) {
  for (int64_t i = 0; i < m * k / 16; ++i) {
    int32_t s = 0;
    for (int64_t j = 0; j < 16; ++j) s += codes[i * 16 + j];
    sums[i] = s;
  }
}

void quantize_q8_blocks(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums) {
  const int64_t blocks = k / kWoBlock;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b = 0; b < blocks; ++b) {
      const float* xs = x + i * k + b * kWoBlock;
      int8_t* qs = codes + i * k + b * kWoBlock;
      float amax = 0.0f;
      for (int64_t j = 0; j < kWoBlock; ++j) amax = std::max(amax, std::fabs(xs[j]));  // NaN ignored
      const float scale = amax / 127.0f;
      const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
      int32_t sum = 0;
      for (int64_t j = 0; j < kWoBlock; ++j) {
        const float v = xs[j] * inv;
        const float r = v == v ? std::clamp(round_half_even(v), -127.0f, 127.0f) : 0.0f;
        qs[j] = static_cast<int8_t>(r);
        sum += qs[j];
      }
      scales[i * blocks + b] = std::isfinite(scale) ? scale : 0.0f;
      sums[i * blocks + b] = sum;
    }
}

// (The definition itself: terms, a SIMD variant's precomputation, are not used.)
void wo_gemv_ref(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                 const WoTerms* /*terms*/, const float* bias, float* y, int64_t ldy, int64_t tile_begin,
                 int64_t tile_end) {
  const uint8_t* codes = w.codes.data<uint8_t>();
  const bool scale_min = w.scale_min();
  const float* ws = scale_min ? nullptr : w.scales.data<float>();
  const int32_t* wo = w.affine ? w.offsets.data<int32_t>() : nullptr;
  const int64_t blocks = w.blocks(), groups = w.groups(), sub = w.sum_block(), sums_per_row = w.k / sub;
  const int64_t n_end = std::min(w.n, tile_end * kWoTile);
  for (int64_t n = tile_begin * kWoTile; n < n_end; ++n) {
    const int64_t t = n / kWoTile, r = n % kWoTile;
    for (int64_t i = 0; i < m; ++i) {
      float acc = 0.0f;
      if (w.grouped()) {
        const int64_t per_group = w.group / kWoBlock;
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t slot = (t * groups + g) * kWoTile + r, b0 = g * per_group;
          float c = 0.0f;
          for (int64_t b = b0; b < b0 + per_group; ++b)
            c = std::fma(a_scales[i * blocks + b], static_cast<float>(a_sums[i * sums_per_row + b]), c);
          float gacc = static_cast<float>(wo ? wo[slot] : w.sym_offset()) * -c;
          for (int64_t b = b0; b < b0 + per_group; ++b) {
            int32_t dot = 0;
            for (int64_t j = b * kWoBlock; j < (b + 1) * kWoBlock; ++j)
              dot += packed_code(w, codes, n, j) * int32_t(a[i * w.k + j]);
            gacc = std::fma(a_scales[i * blocks + b], static_cast<float>(dot), gacc);
          }
          acc = std::fma(ws[slot], gacc, acc);
        }
        y[i * ldy + n] = bias ? acc + bias[n] : acc;
        continue;
      }
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t s0 = b * kWoBlock; s0 < (b + 1) * kWoBlock; s0 += sub) {
          const int64_t slot = (t * groups + s0 / w.group) * kWoTile + r;
          const float as = a_scales[i * blocks + b];
          const int32_t sum = a_sums[i * sums_per_row + s0 / sub];
          int32_t dot = 0;
          for (int64_t j = s0; j < s0 + sub; ++j) dot += packed_code(w, codes, n, j) * int32_t(a[i * w.k + j]);
          if (scale_min) {
            const int64_t g = s0 / w.group;
            acc = std::fma(w.group_scale(t, g, r) * as, static_cast<float>(dot), acc);
            acc = std::fma(w.group_min(t, g, r), -(as * static_cast<float>(sum)), acc);
          } else {
            const int32_t d = dot - (wo ? wo[slot] : w.sym_offset()) * sum;
            acc = std::fma(ws[slot] * as, static_cast<float>(d), acc);
          }
        }
      y[i * ldy + n] = bias ? acc + bias[n] : acc;
    }
  }
}

void dequantize_wo_panel(const PackedWoWeights& w, int64_t n0, int64_t n1, float* out) {
  const uint8_t* codes = w.codes.data<uint8_t>();
  const bool scale_min = w.scale_min();
  const float* ws = scale_min ? nullptr : w.scales.data<float>();
  const int32_t* wo = w.affine ? w.offsets.data<int32_t>() : nullptr;
  const int64_t groups = w.groups();
  for (int64_t n = n0; n < n1; ++n) {
    const int64_t t = n / kWoTile, r = n % kWoTile;
    float* row = out + (n - n0) * w.k;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t slot = (t * groups + g) * kWoTile + r;
      if (scale_min) {
        const float s = w.group_scale(t, g, r), mn = w.group_min(t, g, r);
        for (int64_t kk = g * w.group; kk < (g + 1) * w.group; ++kk)
          row[kk] = static_cast<float>(packed_code(w, codes, n, kk)) * s - mn;
        continue;
      }
      const float s = ws[slot];
      const int32_t o = wo ? wo[slot] : w.sym_offset();
      for (int64_t kk = g * w.group; kk < (g + 1) * w.group; ++kk)
        row[kk] = static_cast<float>(packed_code(w, codes, n, kk) - o) * s;
    }
  }
}

}  // namespace octet::kernels
