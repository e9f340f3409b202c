// GGUF writing: every metadata type and F32/F16 tensors round-trip through
// GgufFile::open; Q8_0/Q4_0 match ggml's reference quantizers (transcribed
// below from ggml-quants.c) bit for bit and stay within their error bound;
// bad input fails with an Error tagged "gguf" and leaves no file behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "io/ggml_quants.h"
#include "io/io_test_util.h"
#include "octet/gguf.h"
#include "octet/number_formats.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using ::testing::HasSubstr;
using testing::error_of;
using S = GgufValue::Storage;
using Metadata = std::vector<std::pair<std::string, GgufValue>>;

GgufValue value(S s) { return GgufValue(std::move(s)); }

GgufValue array(GgufType element_type, std::vector<GgufValue> items) {
  return value(S(GgufArray{element_type, std::move(items)}));
}

Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  for (float& x : t.span<float>()) x = normal(rng);
  return t;
}

// ---- ggml's reference quantizers, as written in ggml-quants.c ------------------

std::vector<io::BlockQ8_0> ggml_quantize_row_q8_0_ref(const std::vector<float>& x) {
  std::vector<io::BlockQ8_0> y(x.size() / 32);
  for (size_t i = 0; i < y.size(); i++) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, fabsf(x[i * 32 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = float_to_f16(d);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = static_cast<int8_t>(roundf(x[i * 32 + j] * id));
  }
  return y;
}

std::vector<io::BlockQ4_0> ggml_quantize_row_q4_0_ref(const std::vector<float>& x) {
  std::vector<io::BlockQ4_0> y(x.size() / 32);
  for (size_t i = 0; i < y.size(); i++) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      if (amax < fabsf(v)) {
        amax = fabsf(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = float_to_f16(d);
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[i * 32 + j] * id;
      const float x1 = x[i * 32 + 16 + j] * id;
      const uint8_t xi0 = std::min<uint8_t>(15, static_cast<uint8_t>(static_cast<int8_t>(x0 + 8.5f)));
      const uint8_t xi1 = std::min<uint8_t>(15, static_cast<uint8_t>(static_cast<int8_t>(x1 + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
  return y;
}

// Blocks whose rounding a different quantizer would get wrong: all zeros,
// halves (roundf rounds them away from zero, rint would not), a negative
// extreme, a tie of magnitudes (the first wins in Q4_0), tiny and huge values.
std::vector<float> tricky_blocks() {
  std::vector<float> x;
  for (int j = 0; j < 32; ++j) x.push_back(0.0f);
  for (int j = 0; j < 32; ++j) x.push_back(j == 0 ? 127.0f : float(j % 8) - 3.5f);  // d = 1: q = roundf(x)
  for (int j = 0; j < 32; ++j) x.push_back(j == 5 ? -8.0f : (j == 6 ? 8.0f : float(j % 16) / 2.0f - 4.0f));
  for (int j = 0; j < 32; ++j) x.push_back(j % 2 ? 3.0f : -3.0f);
  for (int j = 0; j < 32; ++j) x.push_back(1e-6f * float(j - 16));
  for (int j = 0; j < 32; ++j) x.push_back(6e4f * float(j - 16) / 16.0f);
  return x;
}

std::string raw_bytes(const GgufFile& f, const std::string& name) {
  const Tensor raw = f.get_raw(name);
  return std::string(static_cast<const char*>(raw.raw_data()), raw.nbytes());
}

// ---- metadata ---------------------------------------------------------------

TEST(GgufWriter, EveryMetadataTypeRoundTrips) {
  const Metadata metadata = {
      {"general.architecture", value(S(std::string("llama")))},
      {"u8", value(S(uint8_t{200}))},
      {"i8", value(S(int8_t{-100}))},
      {"u16", value(S(uint16_t{60000}))},
      {"i16", value(S(int16_t{-30000}))},
      {"u32", value(S(uint32_t{4000000000u}))},
      {"i32", value(S(int32_t{-2000000000}))},
      {"f32", value(S(1.5f))},
      {"bool.true", value(S(true))},
      {"bool.false", value(S(false))},
      {"string", value(S(std::string("h\xc3\xa9llo")))},
      {"string.empty", value(S(std::string()))},
      {"u64", value(S(uint64_t{1} << 63))},
      {"i64", value(S(-(int64_t{1} << 40)))},
      {"f64", value(S(-2.25))},
      {"a.u8", array(GgufType::U8, {value(S(uint8_t{1})), value(S(uint8_t{255}))})},
      {"a.i16", array(GgufType::I16, {value(S(int16_t{-2}))})},
      {"a.i32", array(GgufType::I32, {value(S(int32_t{-7})), value(S(int32_t{8}))})},
      {"a.f32", array(GgufType::F32, {value(S(0.5f)), value(S(-1.0f))})},
      {"a.f64", array(GgufType::F64, {value(S(3.0))})},
      {"a.bool", array(GgufType::Bool, {value(S(true)), value(S(false))})},
      {"a.string", array(GgufType::String, {value(S(std::string("a"))), value(S(std::string())),
                                            value(S(std::string("ccc")))})},
      {"a.u64", array(GgufType::U64, {value(S(uint64_t{7}))})},
      {"a.empty", array(GgufType::U32, {})},
      {"a.nested", array(GgufType::Array, {array(GgufType::U32, {value(S(uint32_t{1})), value(S(uint32_t{2}))}),
                                           array(GgufType::String, {value(S(std::string("x")))})})},
  };
  const auto path = testing::temp_dir() / "meta.gguf";
  write_gguf(path, metadata, {});
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.metadata(), metadata);  // types, values and order
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(std::filesystem::file_size(path), f.data_offset());
}

// ---- plain tensors -------------------------------------------------------------

TEST(GgufWriter, F32AndF16TensorsRoundTrip) {
  const Tensor a = random_tensor({3, 5}, 1), b = random_tensor({2, 3, 4}, 2), c = random_tensor({7}, 3),
               d = random_tensor({2, 1, 3, 2}, 4);
  Tensor special = Tensor::from_floats(std::vector<float>{0.0f, -0.0f, 65504.0f, 1e-8f, 7e5f, -1.0f / 3.0f}, {6});
  const auto path = testing::temp_dir() / "plain.gguf";
  write_gguf(path, {{"general.architecture", value(S(std::string("test")))}},
             {{"a", a, GgmlType::F32}, {"b", b, GgmlType::F16}, {"c", c, GgmlType::F32},
              {"d", d.to(DType::F16), GgmlType::F32},  // f16 values are widened exactly
              {"special", special, GgmlType::F16}});
  const GgufFile f = GgufFile::open(path);
  ASSERT_EQ(f.tensors().size(), 5u);
  EXPECT_EQ(f.tensors()[0].name, "a");
  EXPECT_EQ(f.tensor_info("a").ne, (std::vector<uint64_t>{5, 3}));
  EXPECT_EQ(f.tensor_info("b").ne, (std::vector<uint64_t>{4, 3, 2}));
  EXPECT_EQ(f.tensor_info("b").type, uint32_t(GgmlType::F16));
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % 32, 0u) << t.name;

  auto expect_same = [&](const std::string& name, const Tensor& want) {
    const Tensor got = f.get_f32(name);
    ASSERT_EQ(got.shape(), want.shape()) << name;
    EXPECT_EQ(0, std::memcmp(got.raw_data(), want.raw_data(), want.nbytes())) << name;
  };
  expect_same("a", a);
  expect_same("c", c);
  expect_same("d", d.to(DType::F16).to(DType::F32));
  // F16: the stored halves are exactly float_to_f16 (round to nearest even) of each value.
  for (const auto& [name, src] : {std::pair<std::string, Tensor>{"b", b}, {"special", special}}) {
    const Tensor stored = f.get(name);
    ASSERT_EQ(stored.dtype(), DType::F16);
    const auto* halves = static_cast<const uint16_t*>(stored.raw_data());
    for (int64_t i = 0; i < src.numel(); ++i)
      EXPECT_EQ(halves[i], float_to_f16(src.data<float>()[i])) << name << " " << i;
  }
}

TEST(GgufWriter, GeneralAlignmentIsHonoured) {
  const auto path = testing::temp_dir() / "aligned.gguf";
  write_gguf(path, {{"general.alignment", value(S(uint32_t{64}))}},
             {{"x", random_tensor({3}, 5), GgmlType::F32}, {"y", random_tensor({2, 32}, 6), GgmlType::Q8_0}});
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensor_info("y").offset, 64u);
  EXPECT_EQ(std::filesystem::file_size(path), f.data_offset() + 64 + 128);  // 68 bytes of y padded to 128
}

// A real model file copied through the writer reads back identically.
TEST(GgufWriter, Stories260KCopiesExactly) {
  const GgufFile src = GgufFile::open(testing::shared_path("models/stories260K/stories260K.gguf"));
  std::vector<GgufTensorToWrite> tensors;
  for (const GgufTensorInfo& t : src.tensors()) {
    ASSERT_EQ(t.type, uint32_t(GgmlType::F32)) << t.name;
    tensors.push_back({t.name, src.get(t.name), GgmlType::F32});
  }
  const auto path = testing::temp_dir() / "copy.gguf";
  write_gguf(path, src.metadata(), tensors);
  const GgufFile copy = GgufFile::open(path);
  EXPECT_EQ(copy.metadata(), src.metadata());
  ASSERT_EQ(copy.tensors().size(), src.tensors().size());
  for (size_t i = 0; i < src.tensors().size(); ++i) {
    const GgufTensorInfo &a = src.tensors()[i], &b = copy.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.ne, b.ne);
    EXPECT_EQ(raw_bytes(src, a.name), raw_bytes(copy, b.name)) << a.name;
  }
}

// ---- quantized tensors --------------------------------------------------------

TEST(GgufWriter, QuantizedTensorsAreBitIdenticalToGgmlReference) {
  const std::vector<float> x = tricky_blocks();  // 6 blocks: written as 3 rows of 64
  const Tensor t = Tensor::from_floats(x, {3, 64});
  const auto path = testing::temp_dir() / "quant.gguf";
  write_gguf(path, {}, {{"q8", t, GgmlType::Q8_0}, {"q4", t, GgmlType::Q4_0}});
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.tensor_info("q8").type, uint32_t(GgmlType::Q8_0));
  EXPECT_EQ(f.tensor_info("q8").shape, (Shape{3, 64}));
  EXPECT_EQ(raw_bytes(f, "q8"), testing::bytes_of_blocks(ggml_quantize_row_q8_0_ref(x)));
  EXPECT_EQ(raw_bytes(f, "q4"), testing::bytes_of_blocks(ggml_quantize_row_q4_0_ref(x)));
  // Spot checks of the rounding rules themselves, on block 1 (d = 1): roundf
  // takes -2.5 to -3 and 0.5 to 1 (half away from zero).
  const auto q8 = ggml_quantize_row_q8_0_ref(x);
  EXPECT_EQ(f16_to_float(q8[1].d), 1.0f);
  EXPECT_EQ(q8[1].qs[1], -3);  // x = -2.5 -> -3
  EXPECT_EQ(q8[1].qs[4], 1);   // x = 0.5 -> 1
  // Q4_0 block 2: max = -8 (the first of |-8| and |8|), d = 1, so 8 clamps to q = 15 (value 7).
  const auto q4 = ggml_quantize_row_q4_0_ref(x);
  EXPECT_EQ(f16_to_float(q4[2].d), 1.0f);
  EXPECT_EQ(q4[2].qs[5] & 0xF, 0);
  EXPECT_EQ(q4[2].qs[6] & 0xF, 15);
}

// |x - x^| <= |d| / 2 per block, d the stored (fp16) block scale, up to the
// scale's own rounding: q is computed with the f32 scale d, so the stored d'
// adds |q| |d - d'|, with |d - d'| <= |d'| 2^-11 (fp16 keeps 11 significant
// bits) or 2^-25 for a subnormal d', plus the final product's rounding.
// Q4_0 clamps x / d in (7.5, 8] (values of the opposite sign to the extreme)
// to 7: those elements are within |d|.
void expect_within_half_step(const std::string& name, const std::vector<float>& x, const std::vector<float>& got,
                             const std::string& raw, GgmlType type) {
  const bool q4 = type == GgmlType::Q4_0;
  const size_t block_bytes = q4 ? sizeof(io::BlockQ4_0) : sizeof(io::BlockQ8_0);
  const int qmax = q4 ? 8 : 127;
  for (size_t blk = 0; blk < x.size() / 32; ++blk) {
    uint16_t d_bits;
    std::memcpy(&d_bits, raw.data() + blk * block_bytes, 2);
    const double d = std::fabs(double(f16_to_float(d_bits)));
    for (size_t j = blk * 32; j < blk * 32 + 32; ++j) {
      const double err = std::fabs(double(x[j]) - double(got[j]));
      const double slack = qmax * std::max(d * 0x1p-11 * 1.001, 0x1p-25) + std::fabs(double(got[j])) * 0x1p-23;
      const bool clamped = q4 && double(got[j]) == 7.0 * double(f16_to_float(d_bits)) && err > 0.5 * d + slack;
      EXPECT_LE(err, (clamped ? 1.0 : 0.5) * d + slack) << name << " element " << j << " x=" << x[j];
    }
  }
}

TEST(GgufWriter, QuantizedRoundTripWithinHalfAStep) {
  for (const GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    const std::string name = ggml_type_name(uint32_t(type));
    const Tensor t = random_tensor({8, 96}, 11, 0.3f);
    const auto path = testing::temp_dir() / "q.gguf";
    write_gguf(path, {}, {{"w", t, type}});
    const GgufFile f = GgufFile::open(path);
    const Tensor back = f.get_f32("w");
    ASSERT_EQ(back.shape(), t.shape());
    const std::vector<float> x(t.span<float>().begin(), t.span<float>().end());
    const std::vector<float> got(back.span<float>().begin(), back.span<float>().end());
    expect_within_half_step(name, x, got, raw_bytes(f, "w"), type);
    // The tricky blocks too.
    const std::vector<float> tx = tricky_blocks();
    write_gguf(path, {}, {{"w", Tensor::from_floats(tx, {int64_t(tx.size())}), type}});
    const GgufFile g = GgufFile::open(path);
    const Tensor tb = g.get_f32("w");
    expect_within_half_step(name + " tricky", tx, std::vector<float>(tb.span<float>().begin(), tb.span<float>().end()),
                            raw_bytes(g, "w"), type);
  }
}

// ---- errors -----------------------------------------------------------------------

TEST(GgufWriter, BadInputFailsClearlyAndLeavesNoFile) {
  const auto dir = testing::temp_dir();
  const auto path = dir / "bad.gguf";
  const Tensor row32 = random_tensor({2, 32}, 1), row48 = random_tensor({2, 48}, 2);
  auto msg = [&](const Metadata& m, const std::vector<GgufTensorToWrite>& t) {
    return error_of([&] { write_gguf(path, m, t); });
  };
  const GgufValue one = value(S(uint32_t{1}));

  EXPECT_THAT(msg({{"k", one}, {"k", one}}, {}), HasSubstr("duplicate metadata key 'k'"));
  EXPECT_THAT(msg({}, {{"w", row32, GgmlType::F32}, {"w", row32, GgmlType::F16}}),
              HasSubstr("duplicate tensor name 'w'"));
  std::string m = msg({}, {{"w", row48, GgmlType::Q8_0}});
  EXPECT_THAT(m, HasSubstr("[gguf]"));
  EXPECT_THAT(m, HasSubstr("tensor 'w' of type Q8_0 has rows of 48 values, not a multiple of the block size 32"));
  EXPECT_THAT(msg({}, {{"w", row48, GgmlType::Q4_0}}), HasSubstr("rows of 48 values"));
  EXPECT_THAT(msg({}, {{"w", random_tensor({256}, 3), GgmlType::Q5_K}}),
              HasSubstr("writing type Q5_K is not supported (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K)"));
  EXPECT_THAT(msg({}, {{"w", row32, GgmlType::BF16}}), HasSubstr("writing type BF16 is not supported"));
  EXPECT_THAT(msg({}, {{"w", row32, GgmlType(99)}}), HasSubstr("writing type type 99 is not supported"));
  EXPECT_THAT(msg({}, {{"w", Tensor::zeros({2, 32}, DType::I32), GgmlType::F32}}),
              HasSubstr("values are int32, a float type is needed"));
  EXPECT_THAT(msg({}, {{"w", random_tensor({1, 1, 1, 1, 2}, 4), GgmlType::F32}}),
              HasSubstr("has 5 dimensions (GGUF holds 1 to 4)"));
  EXPECT_THAT(msg({}, {{std::string(64, 'n'), row32, GgmlType::F32}}), HasSubstr("has 64 bytes"));
  EXPECT_THAT(msg({}, {{"", row32, GgmlType::F32}}), HasSubstr("has 0 bytes"));
  EXPECT_THAT(msg({{"general.alignment", value(S(uint32_t{48}))}}, {}), HasSubstr("48 is not a power of two"));
  EXPECT_THAT(msg({{"general.alignment", value(S(uint64_t{64}))}}, {}),
              HasSubstr("general.alignment must be a u32, got u64"));
  EXPECT_THAT(msg({{"a", array(GgufType::U32, {one, value(S(int32_t{2}))})}}, {}),
              HasSubstr("key 'a': array item 1 is i32, the array holds u32"));
  Tensor nan = row32.contiguous();
  nan.data<float>()[40] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(msg({}, {{"w", nan, GgmlType::Q8_0}}), HasSubstr("non-finite value (nan) at element 40"));
  EXPECT_TRUE(std::filesystem::is_empty(dir));  // neither the file nor a temporary was left

  // A failure after the header (the non-finite value is found while encoding) keeps the old file.
  write_gguf(path, {{"k", one}}, {});
  EXPECT_THAT(msg({}, {{"ok", row32, GgmlType::F32}, {"w", nan, GgmlType::Q4_0}}), HasSubstr("non-finite"));
  EXPECT_EQ(GgufFile::open(path).metadata().size(), 1u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
}

}  // namespace
}  // namespace octet
