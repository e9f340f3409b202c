// Q4_K and Q6_K writing (write_gguf): the stored blocks read back through
// octet's GGUF reader give exactly the writer's dequantization, and the
// quantization error stays within the bounds these formats reach.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "io/ggml_quants.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

namespace fs = std::filesystem;

std::vector<float> gaussian(size_t n, uint32_t seed, float scale = 0.02f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.push_back(dist(rng));
  return v;
}

double rel_rmse(const std::vector<float>& x, const float* y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(x[i]) * x[i];
  }
  return std::sqrt(num / den);
}

struct RoundTrip {
  std::vector<float> read;      // through GgufFile::get_f32
  std::vector<float> expected;  // the writer's blocks dequantized directly
  std::vector<uint8_t> blocks;  // io::quantize_*
};

RoundTrip round_trip(const fs::path& dir, const std::vector<float>& x, int64_t rows, GgmlType type) {
  const fs::path file = dir / "t.gguf";
  const int64_t cols = int64_t(x.size()) / rows;
  write_gguf(file, {}, {{"w", Tensor::from_vector(x, {rows, cols}), type}});
  const GgufFile f = GgufFile::open(file);
  const io::GgmlTypeTraits* traits = io::ggml_type_traits(uint32_t(type));
  EXPECT_EQ(f.tensor_info("w").type, uint32_t(type));
  EXPECT_EQ(f.tensor_info("w").nbytes, uint64_t(x.size()) / uint64_t(traits->block_size) * traits->block_bytes);
  RoundTrip r;
  const Tensor y = f.get_f32("w").contiguous();
  r.read.assign(y.data<float>(), y.data<float>() + y.numel());
  r.blocks.resize(f.tensor_info("w").nbytes);
  traits->quantize(x.data(), r.blocks.data(), int64_t(x.size()));
  r.expected.resize(x.size());
  traits->dequantize(r.blocks.data(), r.expected.data(), int64_t(x.size()));
  const Tensor raw = f.get_raw("w");
  EXPECT_EQ(0, std::memcmp(raw.data<uint8_t>(), r.blocks.data(), r.blocks.size()));
  return r;
}

TEST(GgufKQuants, ReaderGivesTheWritersDequantization) {
  const fs::path dir = temp_dir();
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K}) {
    const std::vector<float> x = gaussian(8 * 512, 7);
    const RoundTrip r = round_trip(dir, x, 8, type);
    ASSERT_EQ(r.read.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(r.read[i], r.expected[i]) << ggml_type_name(uint32_t(type)) << " element " << i;
    }
  }
}

TEST(GgufKQuants, ErrorBounds) {
  const fs::path dir = temp_dir();
  const std::vector<float> x = gaussian(16 * 1024, 11);
  const double q4_0 = rel_rmse(x, round_trip(dir, x, 16, GgmlType::Q4_0).read.data());
  const double q4_k = rel_rmse(x, round_trip(dir, x, 16, GgmlType::Q4_K).read.data());
  const double q6_k = rel_rmse(x, round_trip(dir, x, 16, GgmlType::Q6_K).read.data());
  const double q8_0 = rel_rmse(x, round_trip(dir, x, 16, GgmlType::Q8_0).read.data());
  // 16 levels over a 32-value sub-block of a gaussian: ~9 % relative RMS error
  // for the symmetric Q4_0; Q4_K's fitted scale and min do better; 64 levels
  // (Q6_K) about 4x better again; Q8_0 better still.
  EXPECT_LT(q4_k, 0.095) << q4_k;
  EXPECT_LT(q4_k, q4_0) << q4_k << " vs " << q4_0;
  EXPECT_LT(q6_k, 0.025) << q6_k;
  EXPECT_LT(q6_k, q4_k / 3) << q6_k;
  EXPECT_LT(q8_0, q6_k) << q8_0;

  // Per element: no value is off by more than a third of its sub-block's range
  // (a coarse bound that a broken scale/min packing breaks at once).
  const RoundTrip k = round_trip(dir, x, 16, GgmlType::Q4_K);
  for (size_t b = 0; b < x.size(); b += 32) {
    const auto [lo, hi] = std::minmax_element(x.begin() + long(b), x.begin() + long(b + 32));
    for (size_t i = b; i < b + 32; ++i) {
      ASSERT_LE(std::fabs(x[i] - k.read[i]), (*hi - *lo) / 3) << "element " << i;
    }
  }
}

TEST(GgufKQuants, ZeroConstantAndOffsetBlocks) {
  const fs::path dir = temp_dir();
  std::vector<float> x(1024, 0.0f);
  for (size_t i = 256; i < 512; ++i) x[i] = 0.5f;                              // constant positive
  for (size_t i = 512; i < 768; ++i) x[i] = -0.25f;                            // constant negative
  for (size_t i = 768; i < 1024; ++i) x[i] = 3.0f + 0.01f * float(i % 32);     // all positive, offset
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K}) {
    const RoundTrip r = round_trip(dir, x, 4, type);
    for (size_t i = 0; i < 256; ++i) {
      ASSERT_EQ(r.read[i], 0.0f) << i;
    }
    for (size_t i = 256; i < 1024; ++i) {
      // Half a step of a grid from 0 to the block's largest magnitude (Q4_K keeps the
      // min at 0 for all-positive blocks), with 10 % for the 6-bit / 8-bit scales.
      const double levels = type == GgmlType::Q4_K ? 15 : 31;
      ASSERT_NEAR(r.read[i], x[i], 0.55 * 3.31 / levels + 1e-3) << ggml_type_name(uint32_t(type)) << " " << i;
    }
  }
}

TEST(GgufKQuants, RowsMustHoldWholeSuperBlocks) {
  const fs::path dir = temp_dir();
  const std::vector<float> x = gaussian(2 * 96, 3);
  try {
    write_gguf(dir / "bad.gguf", {}, {{"w", Tensor::from_vector(x, {2, 96}), GgmlType::Q4_K}});
    FAIL() << "rows of 96 accepted for Q4_K";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block size 256"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "bad.gguf"));
}

TEST(GgufKQuants, EncodedBlocksAreWrittenAsGiven) {
  const fs::path dir = temp_dir();
  const std::vector<float> x = gaussian(2 * 64, 5);
  std::vector<uint8_t> blocks(4 * sizeof(io::BlockQ4_0));
  io::quantize_q4_0(x.data(), blocks.data(), int64_t(x.size()));
  GgufTensorToWrite t;
  t.name = "w";
  t.type = GgmlType::Q4_0;
  t.encoded = Tensor::from_vector(blocks, {int64_t(blocks.size())});
  t.encoded_shape = {2, 64};
  write_gguf(dir / "enc.gguf", {}, {t});
  const GgufFile f = GgufFile::open(dir / "enc.gguf");
  EXPECT_EQ(f.tensor_info("w").shape, (Shape{2, 64}));
  EXPECT_EQ(0, std::memcmp(f.get_raw("w").data<uint8_t>(), blocks.data(), blocks.size()));
  t.encoded = Tensor::from_vector(std::vector<uint8_t>(10, 0), {10});
  EXPECT_THROW(write_gguf(dir / "bad.gguf", {}, {t}), Error);
}

}  // namespace
}  // namespace octet::testing
