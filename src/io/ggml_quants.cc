#include "io/ggml_quants.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "octet/number_formats.h"

namespace octet::io {
namespace {

// Blocks in a mapped file need not be aligned for their uint16_t fields:
// copy each one out instead of casting the pointer.
template <typename Block>
Block load_block(const uint8_t* blocks, int64_t i) {
  Block b;
  std::memcpy(&b, blocks + static_cast<size_t>(i) * sizeof(Block), sizeof(Block));
  return b;
}

template <typename Block>
void store_block(uint8_t* blocks, int64_t i, const Block& b) {
  std::memcpy(blocks + static_cast<size_t>(i) * sizeof(Block), &b, sizeof(Block));
}

}  // namespace

void quantize_q4_0(const float* x, uint8_t* blocks, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i, x += kQK4_0) {
    // The signed value of largest magnitude (the first one on ties) maps to -8.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 b;
    b.d = float_to_f16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      // x * id + 8.5 lies in [0.5, 16.5]; truncating rounds half up, and 16 is clamped.
      const float x0 = x[j] * id;
      const float x1 = x[kQK4_0 / 2 + j] * id;
      const auto q0 = static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(x0 + 8.5f)));
      const auto q1 = static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(x1 + 8.5f)));
      b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
    store_block(blocks, i, b);
  }
}

void quantize_q8_0(const float* x, uint8_t* blocks, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i, x += kQK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 b;
    b.d = float_to_f16(d);
    for (int j = 0; j < kQK8_0; ++j) b.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    store_block(blocks, i, b);
  }
}

void get_scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  // Scales 0..3 sit in the low 6 bits of bytes 0..3 (mins: 4..7); scales 4..7
  // keep their low 4 bits in bytes 8..11 and their top 2 bits in the spare
  // top bits of bytes 0..3 (mins: bytes 4..7).
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dequantize_q4_0(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const auto b = load_block<BlockQ4_0>(blocks, i);
    const float d = f16_to_float(b.d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int lo = (b.qs[j] & 0x0F) - 8;
      const int hi = (b.qs[j] >> 4) - 8;
      y[j] = static_cast<float>(lo) * d;
      y[j + kQK4_0 / 2] = static_cast<float>(hi) * d;
    }
    y += kQK4_0;
  }
}

void dequantize_q8_0(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const auto b = load_block<BlockQ8_0>(blocks, i);
    const float d = f16_to_float(b.d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
    y += kQK8_0;
  }
}

void dequantize_q4_k(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ4_K>(blocks, i);
    const float d = f16_to_float(b.d);
    const float dmin = f16_to_float(b.dmin);
    const uint8_t* q = b.qs;
    // Each 32 bytes of qs hold two sub-blocks: low nibbles, then high nibbles.
    for (int sub = 0; sub < 8; sub += 2) {
      uint8_t sc, m;
      get_scale_min_k4(sub, b.scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      get_scale_min_k4(sub + 1, b.scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
      y += 64;
      q += 32;
    }
  }
}

void dequantize_q6_k(const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ6_K>(blocks, i);
    const float d = f16_to_float(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    // Each half (128 values) uses 64 bytes of ql, 32 of qh and 8 scales; value
    // l + 32k of the half takes nibble (k / 2) of ql[l + 32 (k % 2)] and bits
    // 2k..2k+1 of qh[l].
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = static_cast<int8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = static_cast<int8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

namespace {

// Block sizes from ggml-common.h; ids 4, 5, 31..33 and 36..38 were removed
// from ggml and are unknown here.
constexpr size_t kMaxTypeId = 40;

constexpr std::array<GgmlTypeTraits, kMaxTypeId> make_table() {
  std::array<GgmlTypeTraits, kMaxTypeId> t{};
  auto set = [&t](uint32_t id, std::string_view name, int64_t block, size_t bytes, DequantizeFn fn,
                  std::optional<DType> plain) { t[id] = GgmlTypeTraits{id, name, block, bytes, fn, nullptr, plain}; };
  set(0, "F32", 1, 4, nullptr, DType::F32);
  set(1, "F16", 1, 2, nullptr, DType::F16);
  set(2, "Q4_0", kQK4_0, sizeof(BlockQ4_0), dequantize_q4_0, std::nullopt);
  set(3, "Q4_1", 32, 20, nullptr, std::nullopt);
  set(6, "Q5_0", 32, 22, nullptr, std::nullopt);
  set(7, "Q5_1", 32, 24, nullptr, std::nullopt);
  set(8, "Q8_0", kQK8_0, sizeof(BlockQ8_0), dequantize_q8_0, std::nullopt);
  set(9, "Q8_1", 32, 36, nullptr, std::nullopt);
  set(10, "Q2_K", kQK_K, 84, nullptr, std::nullopt);
  set(11, "Q3_K", kQK_K, 110, nullptr, std::nullopt);
  set(12, "Q4_K", kQK_K, sizeof(BlockQ4_K), dequantize_q4_k, std::nullopt);
  set(13, "Q5_K", kQK_K, 176, nullptr, std::nullopt);
  set(14, "Q6_K", kQK_K, sizeof(BlockQ6_K), dequantize_q6_k, std::nullopt);
  set(15, "Q8_K", kQK_K, 292, nullptr, std::nullopt);
  set(16, "IQ2_XXS", kQK_K, 66, nullptr, std::nullopt);
  set(17, "IQ2_XS", kQK_K, 74, nullptr, std::nullopt);
  set(18, "IQ3_XXS", kQK_K, 98, nullptr, std::nullopt);
  set(19, "IQ1_S", kQK_K, 50, nullptr, std::nullopt);
  set(20, "IQ4_NL", 32, 18, nullptr, std::nullopt);
  set(21, "IQ3_S", kQK_K, 110, nullptr, std::nullopt);
  set(22, "IQ2_S", kQK_K, 82, nullptr, std::nullopt);
  set(23, "IQ4_XS", kQK_K, 136, nullptr, std::nullopt);
  set(24, "I8", 1, 1, nullptr, DType::I8);
  set(25, "I16", 1, 2, nullptr, DType::I16);
  set(26, "I32", 1, 4, nullptr, DType::I32);
  set(27, "I64", 1, 8, nullptr, DType::I64);
  set(28, "F64", 1, 8, nullptr, DType::F64);
  set(29, "IQ1_M", kQK_K, 56, nullptr, std::nullopt);
  set(30, "BF16", 1, 2, nullptr, DType::BF16);
  set(34, "TQ1_0", kQK_K, 54, nullptr, std::nullopt);
  set(35, "TQ2_0", kQK_K, 66, nullptr, std::nullopt);
  set(39, "MXFP4", 32, 17, nullptr, std::nullopt);
  t[2].quantize = quantize_q4_0;
  t[8].quantize = quantize_q8_0;
  t[12].quantize = quantize_q4_k;
  t[14].quantize = quantize_q6_k;
  return t;
}

constexpr std::array<GgmlTypeTraits, kMaxTypeId> kTypes = make_table();

constexpr bool table_is_indexed_by_id() {
  for (size_t i = 0; i < kTypes.size(); ++i)
    if (kTypes[i].block_size != 0 && kTypes[i].id != i) return false;
  return true;
}
static_assert(table_is_indexed_by_id(), "ggml type rows must sit at their id");

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  if (id >= kTypes.size() || kTypes[id].block_size == 0) return nullptr;
  return &kTypes[id];
}

}  // namespace octet::io
