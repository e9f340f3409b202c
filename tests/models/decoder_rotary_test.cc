// Rotary embeddings against reference formulas written here in double:
//   theta_i = base^(-2i/d) (default), theta_i / factor after linear position
//   scaling, base' = base (f L / M - (f - 1))^(d / (d - 2)) for dynamic NTK
//   once L = max position + 1 exceeds M, and Llama 3's piecewise frequencies.
// Bound: octet forms the angle as transformers does, in f32: the exponent
// 2i/d (rel. error u) moves base^e by ln(base) * e * u, pow, the division and
// the product with the position add u each, linear scaling one more: so
// |angle_f32 - angle| <= (ln(base) + 5) u |angle|, and cos/sin of it are
// rounded once more (u). |cos a - cos b| <= |a - b|.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "octet/json_config.h"
#include "octet/rotary.h"

namespace octet::nn {
namespace {

constexpr double kU = 0x1p-24;

double reference_theta(const RotaryConfig& c, int64_t i, int64_t seq_len) {
  const double d = double(c.dim);
  double base = c.base;
  if (c.scaling == RopeScaling::Dynamic && seq_len > c.max_position_embeddings)
    base *= std::pow(c.factor * double(seq_len) / double(c.max_position_embeddings) - (c.factor - 1.0), d / (d - 2.0));
  double theta = std::pow(base, -2.0 * double(i) / d);
  if (c.scaling == RopeScaling::Llama3) {
    const double wavelen = 2.0 * std::numbers::pi / theta;
    const double low = double(c.original_max_position_embeddings) / c.low_freq_factor;
    const double high = double(c.original_max_position_embeddings) / c.high_freq_factor;
    if (wavelen > low) {
      theta /= c.factor;
    } else if (wavelen >= high) {
      const double s = (double(c.original_max_position_embeddings) / wavelen - c.low_freq_factor) /
                       (c.high_freq_factor - c.low_freq_factor);
      theta = (1.0 - s) * theta / c.factor + s * theta;
    }
  }
  return theta;
}

void check_tables(const RotaryConfig& c, const std::vector<int64_t>& positions) {
  const RotaryEmbedding rope(c);
  const Tensor ids = Tensor::from_vector(positions, {1, int64_t(positions.size())});
  const RotaryTables t = rope.tables(ids);
  const int64_t half = c.dim / 2;
  int64_t max_pos = 0;
  for (int64_t p : positions) max_pos = std::max(max_pos, p);
  for (size_t s = 0; s < positions.size(); ++s)
    for (int64_t i = 0; i < half; ++i) {
      double pos = double(positions[s]);
      if (c.scaling == RopeScaling::Linear) pos /= c.factor;
      const double angle = pos * reference_theta(c, i, max_pos + 1);
      const double bound = (std::log(c.base) + 10.0) * kU * std::fabs(angle) + kU;
      const int64_t k = int64_t(s) * half + i;
      EXPECT_NEAR(t.cos.data<float>()[k], std::cos(angle), bound) << "pos " << positions[s] << " i " << i;
      EXPECT_NEAR(t.sin.data<float>()[k], std::sin(angle), bound) << "pos " << positions[s] << " i " << i;
    }
}

const std::vector<int64_t> kPositions = {0, 1, 2, 7, 100, 511, 2047, 4095};

TEST(Rotary, DefaultFrequencies) { check_tables({.dim = 64, .base = 10000.0}, kPositions); }

TEST(Rotary, LinearScaling) {
  auto cfg = JsonConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": {"type": "linear", "factor": 4.0}})"), "c");
  RotaryConfig c{.dim = 32, .base = 10000.0};
  read_rope_scaling(cfg, c);
  EXPECT_EQ(c.scaling, RopeScaling::Linear);
  check_tables(c, kPositions);
}

TEST(Rotary, DynamicNtkScalingGrowsBaseBeyondContext) {
  auto cfg = JsonConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": {"type": "dynamic", "factor": 2.0}})"), "c");
  RotaryConfig c{.dim = 32, .base = 10000.0, .max_position_embeddings = 512};
  read_rope_scaling(cfg, c);
  EXPECT_EQ(c.scaling, RopeScaling::Dynamic);
  check_tables(c, {0, 5, 300});          // within the context: default frequencies
  check_tables(c, {0, 5, 300, 2047});    // beyond: the larger base applies to all positions of the call
  const RotaryEmbedding rope(c);
  EXPECT_LT(rope.inverse_frequencies(2048)[5], rope.inverse_frequencies(512)[5]);
}

TEST(Rotary, Llama3Scaling) {
  auto cfg = JsonConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": {"rope_type": "llama3", "factor": 8.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})"), "c");
  RotaryConfig c{.dim = 128, .base = 500000.0};
  read_rope_scaling(cfg, c);
  EXPECT_EQ(c.scaling, RopeScaling::Llama3);
  check_tables(c, kPositions);
  // High frequencies unchanged, low ones divided by the factor.
  const auto inv = RotaryEmbedding(c).inverse_frequencies(1);
  const auto plain = RotaryEmbedding({.dim = 128, .base = 500000.0}).inverse_frequencies(1);
  EXPECT_EQ(inv[0], plain[0]);
  EXPECT_NEAR(inv[63], plain[63] / 8.0, 1e-6 * plain[63]);
}

TEST(Rotary, UnknownScalingIsAnError) {
  auto cfg = JsonConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": {"type": "yarn", "factor": 4.0}})"), "cfg.json");
  RotaryConfig c{.dim = 32};
  try {
    read_rope_scaling(cfg, c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("yarn"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos);
  }
}

// Both pairings, partial rotation: x rotated by the formula pairwise; the
// untouched tail passes through; q.k after rotation depends only on m - n.
TEST(Rotary, ApplyRotatesPairsAndKeepsTheTail) {
  for (RotaryStyle style : {RotaryStyle::HalfSplit, RotaryStyle::Interleaved}) {
    const RotaryConfig c{.dim = 8, .base = 10000.0, .style = style};
    const RotaryEmbedding rope(c);
    const int64_t d = 12;
    Tensor x = Tensor::empty({1, 1, 2, d}, DType::F32);
    for (int64_t i = 0; i < 2 * d; ++i) x.data<float>()[i] = float(std::sin(0.7 * double(i) + 0.3));
    const Tensor before = x.clone();
    const std::vector<int64_t> pos = {3, 17};
    rope.apply(x, rope.tables(Tensor::from_vector(pos, {1, 2})));
    for (int64_t s = 0; s < 2; ++s) {
      const float* in = before.data<float>() + s * d;
      const float* out = x.data<float>() + s * d;
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t a = style == RotaryStyle::Interleaved ? 2 * i : i, b = style == RotaryStyle::Interleaved ? 2 * i + 1 : i + 4;
        const double ang = double(pos[size_t(s)]) * std::pow(10000.0, -2.0 * double(i) / 8.0);
        const double bound = 4 * kU * (std::fabs(in[a]) + std::fabs(in[b])) + 20 * kU * std::fabs(ang);
        EXPECT_NEAR(out[a], in[a] * std::cos(ang) - in[b] * std::sin(ang), bound);
        EXPECT_NEAR(out[b], in[b] * std::cos(ang) + in[a] * std::sin(ang), bound);
      }
      for (int64_t i = 8; i < d; ++i) EXPECT_EQ(out[i], in[i]);
    }
  }
}

TEST(Rotary, DotProductDependsOnRelativePosition) {
  const RotaryEmbedding rope({.dim = 16, .base = 10000.0});
  auto rotated_dot = [&](int64_t m, int64_t n) {
    Tensor q = Tensor::empty({1, 1, 1, 16}, DType::F32), k = Tensor::empty({1, 1, 1, 16}, DType::F32);
    for (int i = 0; i < 16; ++i) q.data<float>()[i] = float(std::cos(i * 1.3)), k.data<float>()[i] = float(std::sin(i * 0.9 + 1));
    rope.apply(q, rope.tables(Tensor::from_vector<int64_t>({m}, {1, 1})));
    rope.apply(k, rope.tables(Tensor::from_vector<int64_t>({n}, {1, 1})));
    double s = 0;
    for (int i = 0; i < 16; ++i) s += double(q.data<float>()[i]) * k.data<float>()[i];
    return s;
  };
  // Angles up to 40 rad: each rotated value (|x| <= 1, two products) is off by
  // <= 2 (ln(1e4) + 10) u * 40; a 16-term dot of values <= sqrt(2) by 16 * 2 * sqrt(2) times that.
  const double per_value = 2.0 * (std::log(1e4) + 10.0) * kU * 40.0;
  EXPECT_NEAR(rotated_dot(5, 2), rotated_dot(40, 37), 2.0 * 16.0 * 2.0 * std::sqrt(2.0) * per_value);
  EXPECT_GT(std::fabs(rotated_dot(5, 2) - rotated_dot(5, 4)), 1e-2);
}

}  // namespace
}  // namespace octet::nn
