// F16, INT8 and FP8 KV caches in MultiHeadAttention:
//  (1) the row quantizers (nn/kv_quant.h) against a reference written here
//      (std::nearbyint for int8, a search over every e4m3 value for fp8) and
//      against octet's own per-token fake_quantize, with ties, saturation,
//      all-zero and tiny rows;
//  (2) attention over quantized K/V against fp32 attention within a bound
//      derived below from the per-element quantization error;
//  (3) cached incremental decoding (batch 2, left padding, rotary, GQA)
//      against the cache-free forward of the whole sequence;
//  (4) bytes(); (5) bad settings throw octet::Error.
//
// Per-element error of one value x with scale s (u = 2^-24; first order in u):
//   y = fl(x * fl(1/s)) = (x/s)(1 + e), |e| <= 2u.
//   int8: while |y| <= 127.5 (scales >= amax / 127 guarantee it: a dynamic
//     scale fl(amax/127) >= (amax/127)(1 - u)), |q - y| <= 1/2, so
//     |q s - x| <= s/2 + 2u|x| and fl(q s) adds u|q s|:
//       |x^ - x| <= s/2 + 4u(|x| + s).
//   e4m3 (3 mantissa bits): for |y| >= 2^-6 (normal) the half ulp is at most
//     2^-4 |y|; below, the subnormal spacing is 2^-9, so at most 2^-10; |y|
//     stays below 448 (1 + 3u) < 464, so saturation never rounds farther:
//       |x^ - x| <= 2^-4 |x| + 2^-10 s + 4u(|x| + s).
//   f16 (no scale; 11 significant bits, subnormal spacing 2^-24, |x| < 65520
//     so nothing overflows): |x^ - x| <= 2^-11 |x| + 2^-25.
// Attention (one query row, keys j, head size d, score scale c):
//   logits z_j = c q.k_j move by at most E_j = c sum_t |q_t| dk_jt; with
//   E = max_j E_j every probability moves by a factor in [e^-2E, e^2E]
//   (numerator and normaliser each by at most e^E), so |p^_j - p_j| <=
//   (e^2E - 1) p_j; and o^ - o = sum_j (p^_j - p_j) v^_j + sum_j p_j (v^_j - v_j):
//     |o^_t - o_t| <= (e^2E - 1) sum_j p_j (|v_jt| + dv_jt) + sum_j p_j dv_jt.
//   Both f32 evaluations add their own rounding (scores GEMM gamma_{d+1}
//   c sum |q k|, softmax, P.V GEMM gamma_S): the bound of attention_block_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "nn/nn_test_util.h"
#include "kernels/row_ops_bounds.h"
#include "nn/kv_quant.h"
#include "octet/generate.h"
#include "octet/kernels_attention.h"
#include "octet/nn.h"
#include "octet/number_formats.h"
#include "octet/quant.h"

namespace octet::nn {
namespace {

using testing::heads_first;

using kernels::testing::gamma_n;
using kernels::testing::kFltMin;
using kernels::testing::kSecondOrder;
using kernels::testing::kU;
using kernels::testing::random_tensor;

// ---- the reference quantizer ----------------------------------------------------

float ref_scale(const float* row, int64_t n, DType dtype) {
  double amax = 0.0;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(row[i])) amax = std::max(amax, std::fabs(double(row[i])));
  if (amax == 0.0) return 1.0f;
  return std::max(float(amax / (dtype == DType::I8 ? 127.0 : 448.0)), FLT_MIN);
}

// |value| of e4m3 code c in [0, 0x7E]: subnormal m 2^-9, else (1 + m/8) 2^(e-7).
double e4m3_magnitude(int c) {
  const int e = c >> 3, m = c & 7;
  return e == 0 ? std::ldexp(double(m), -9) : std::ldexp(double(8 + m), e - 10);
}

// Nearest e4m3 value by search, ties to the even code; saturating at 448; NaN -> 0x7F.
uint8_t ref_e4m3_code(float y) {
  const uint8_t sign = std::signbit(y) ? 0x80 : 0x00;
  if (std::isnan(y)) return sign | 0x7F;
  const double a = std::fabs(double(y));
  if (a >= 448.0) return sign | 0x7E;
  int best = 0;
  for (int c = 1; c <= 0x7E; ++c) {
    const double dc = std::fabs(e4m3_magnitude(c) - a), db = std::fabs(e4m3_magnitude(best) - a);
    if (dc < db || (dc == db && c % 2 == 0)) best = c;
  }
  return sign | uint8_t(best);
}

float ref_e4m3_value(uint8_t code) {
  if ((code & 0x7F) == 0x7F) return std::numeric_limits<float>::quiet_NaN();
  const double m = e4m3_magnitude(code & 0x7F);
  return float(code & 0x80 ? -m : m);
}

// x rounded to the nearest f16 value, ties to even, by arithmetic in double: 11 significant bits at f16's
// exponent of |x| (subnormals share 2^-14, spacing 2^-24); |x| >= 65520 (the midpoint past 65504) is Inf.
float ref_half(float x) {
  if (!std::isfinite(x)) return x;
  const double a = std::fabs(double(x));
  if (a >= 65520.0) return std::copysign(std::numeric_limits<float>::infinity(), x);
  int e = 0;
  std::frexp(a, &e);  // a = f 2^e, f in [0.5, 1)
  const double ulp = std::ldexp(1.0, std::max(e - 1, -14) - 10);
  return float(std::copysign(std::nearbyint(a / ulp) * ulp, double(x)));  // nearbyint: ties to even
}

uint8_t ref_code(float x, float s, DType dtype) {
  const float y = x * (1.0f / s);
  if (dtype == DType::F8_E4M3) return ref_e4m3_code(y);
  const float q = std::isnan(y) ? 0.0f : std::clamp(std::nearbyint(y), -127.0f, 127.0f);  // default mode: ties to even
  return uint8_t(int8_t(q));
}

float ref_value(uint8_t code, float s, DType dtype) {
  return (dtype == DType::F8_E4M3 ? ref_e4m3_value(code) : float(int8_t(code))) * s;
}

// The derived per-element bound (top of the file).
double element_bound(double x, double s, DType dtype) {
  if (dtype == DType::F16) return 0x1p-11 * std::fabs(x) + 0x1p-25;
  const double rounding = 4 * kU * (std::fabs(x) + s);
  return dtype == DType::I8 ? s / 2 + rounding : 0x1p-4 * std::fabs(x) + 0x1p-10 * s + rounding;
}

// dequantize(quantize(x)) of x [B, G, S, d] by the reference; `scales` gets one per row.
Tensor ref_round_trip(const Tensor& x, const KvCacheQuant& quant, kv_quant::Part part, std::vector<float>* scales) {
  const int64_t g_n = x.dim(1), s_n = x.dim(2), d = x.dim(3), rows = x.numel() / d;
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  if (scales) scales->resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data<float>() + r * d;
    if (quant.dtype == DType::F16) {
      if (scales) (*scales)[size_t(r)] = 1.0f;
      for (int64_t t = 0; t < d; ++t) out.data<float>()[r * d + t] = ref_half(row[t]);
      continue;
    }
    const float s = quant.dynamic
                        ? ref_scale(row, d, quant.dtype)
                        : (part == kv_quant::Part::Keys ? quant.k_scale : quant.v_scale)[size_t(r / s_n % g_n)];
    if (scales) (*scales)[size_t(r)] = s;
    for (int64_t t = 0; t < d; ++t)
      out.data<float>()[r * d + t] = ref_value(ref_code(row[t], s, quant.dtype), s, quant.dtype);
  }
  return out;
}

// ---- (1) row quantizers ------------------------------------------------------------

void expect_row_matches_reference(const std::vector<float>& row, float scale, DType dtype, const std::string& what) {
  const int64_t n = int64_t(row.size());
  std::vector<uint8_t> codes(row.size());
  std::vector<float> back(row.size());
  kv_quant::quantize_row(row.data(), n, scale, dtype, codes.data());
  kv_quant::dequantize_row(codes.data(), n, scale, dtype, back.data());
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t want = ref_code(row[size_t(i)], scale, dtype);
    ASSERT_EQ(int(codes[size_t(i)]), int(want)) << what << " element " << i << " x = " << row[size_t(i)];
    const float v = ref_value(want, scale, dtype);
    if (std::isnan(v))
      EXPECT_TRUE(std::isnan(back[size_t(i)])) << what << " element " << i;
    else
      EXPECT_EQ(back[size_t(i)], v) << what << " element " << i;
  }
}

TEST(KvQuantRows, Int8TiesClampAndSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> row = {0.5f,    1.5f,   2.5f,   -0.5f, -1.5f, -2.5f, 126.5f, 127.5f,
                                  -127.5f, 200.0f, -1e30f, inf,   -inf,  nan,   0.0f,   -0.0f};
  const std::vector<int> want = {0, 2, 2, 0, -2, -2, 126, 127, -127, 127, -127, 127, -127, 0, 0, 0};
  std::vector<uint8_t> codes(row.size());
  kv_quant::quantize_row(row.data(), int64_t(row.size()), 1.0f, DType::I8, codes.data());
  for (size_t i = 0; i < row.size(); ++i) EXPECT_EQ(int(int8_t(codes[i])), want[i]) << "element " << i;
  expect_row_matches_reference(row, 1.0f, DType::I8, "int8 specials");
  // Ties after scaling: scale 0.5 doubles the values.
  expect_row_matches_reference({0.25f, 0.75f, 1.25f, -0.75f, 63.25f, 63.75f}, 0.5f, DType::I8, "int8 scaled ties");
}

TEST(KvQuantRows, Fp8TiesSaturationAndSubnormals) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // 1.0625 lies between 1 (0x38) and 1.125 (0x39): even -> 0x38; 1.1875 between
  // 0x39 and 1.25 (0x3A): even -> 0x3A; 2^-10 between 0 and 2^-9: -> 0; 3 * 2^-10
  // between 2^-9 (0x01) and 2^-8 (0x02) -> 0x02; 448 and beyond saturate to 0x7E.
  const std::vector<float> row = {1.0625f, 1.1875f, 0x1p-10f, 3 * 0x1p-10f, 448.0f, 464.0f, 1e6f,     -1e6f,
                                  inf,     -inf,    0.0f,     -0.0f,        nan,    -2.5f,  0x1p-20f, 240.0f};
  const std::vector<int> want = {0x38, 0x3A, 0x00, 0x02, 0x7E, 0x7E, 0x7E, 0xFE, 0x7E, 0xFE, 0x00, 0x80};
  std::vector<uint8_t> codes(row.size());
  kv_quant::quantize_row(row.data(), int64_t(row.size()), 1.0f, DType::F8_E4M3, codes.data());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(int(codes[i]), want[i]) << "element " << i;
  EXPECT_EQ(codes[12] & 0x7F, 0x7F) << "NaN keeps a NaN code";
  expect_row_matches_reference(row, 1.0f, DType::F8_E4M3, "fp8 specials");
  // After scaling by 1/4: 112 and 120 are e4m3 values, 500 and -464 saturate to +-448.
  expect_row_matches_reference({448.0f, 480.0f, 2000.0f, -1856.0f, 3.0f}, 4.0f, DType::F8_E4M3,
                               "fp8 scaled saturation");
}

TEST(KvQuantRows, DynamicScalesZeroAndTinyRows) {
  for (DType dtype : {DType::I8, DType::F8_E4M3}) {
    const std::vector<float> zeros(16, 0.0f);
    EXPECT_EQ(kv_quant::dynamic_scale(zeros.data(), 16, dtype), 1.0f);
    std::vector<uint8_t> codes(16, 0xAA);
    kv_quant::quantize_row(zeros.data(), 16, 1.0f, dtype, codes.data());
    for (uint8_t c : codes) EXPECT_EQ(c, 0);
    // max |x| / levels is subnormal here: the scale stops at FLT_MIN.
    const std::vector<float> tiny = {1e-42f, -3e-42f, 0.0f, 2e-43f};
    EXPECT_EQ(kv_quant::dynamic_scale(tiny.data(), 4, dtype), FLT_MIN);
    expect_row_matches_reference(tiny, FLT_MIN, dtype, std::string(dtype_name(dtype)) + " tiny");
    // NaN and Inf do not enter max |x|.
    const std::vector<float> special = {1.0f, -std::numeric_limits<float>::infinity(), std::nanf(""), -2.0f};
    EXPECT_EQ(kv_quant::dynamic_scale(special.data(), 4, dtype), ref_scale(special.data(), 4, dtype));
    EXPECT_EQ(kv_quant::dynamic_scale(special.data(), 4, dtype), float(2.0 / (dtype == DType::I8 ? 127.0 : 448.0)));
  }
}

// Random rows over many magnitudes: codes equal the reference, values equal
// octet's per-token fake_quantize (the library's own convention), and every
// element is within the derived bound.
TEST(KvQuantRows, RandomRowsMatchReferenceOctetQuantAndBound) {
  const int64_t rows = 64, d = 32;
  Tensor x = random_tensor({1, 4, rows / 4, d}, 11, -1.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < d; ++t) x.data<float>()[r * d + t] *= std::ldexp(1.0f, int(r % 9) * 3 - 12);
  for (DType dtype : {DType::I8, DType::F8_E4M3})
    for (bool dynamic : {false, true}) {
      KvCacheQuant quant{dtype, dynamic, {}, {}};
      if (!dynamic)
        for (int64_t g = 0; g < 4; ++g) {  // per kv head: max |x| / levels, as calibration would give
          const float s = ref_scale(x.data<float>() + g * (rows / 4) * d, (rows / 4) * d, dtype);
          quant.k_scale.push_back(s), quant.v_scale.push_back(2 * s);
        }
      const std::string what = std::string(dtype_name(dtype)) + (dynamic ? " dynamic" : " static");
      for (kv_quant::Part part : {kv_quant::Part::Keys, kv_quant::Part::Values}) {
        std::vector<float> scales;
        const Tensor want = ref_round_trip(x, quant, part, &scales);
        const Tensor got = kv_quant::round_trip(x, quant, part);
        double worst = 0.0;
        for (int64_t i = 0; i < x.numel(); ++i) {
          ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << what << " element " << i;
          const double err = std::fabs(double(got.data<float>()[i]) - x.data<float>()[i]);
          const double bound = element_bound(x.data<float>()[i], scales[size_t(i / d)], dtype);
          ASSERT_LE(err, bound) << what << " element " << i;
          worst = std::max(worst, err / bound);
        }
        std::printf("  row quantizer %s %s: worst |x^ - x| / bound = %.3f\n", what.c_str(),
                    part == kv_quant::Part::Keys ? "keys" : "values", worst);
      }
      if (dynamic) {
        const QuantSpec spec = parse_quant_spec(dtype == DType::I8 ? "int8:sym:per_token" : "fp8_e4m3:sym:per_token");
        const Tensor octet_fq = fake_quantize(x, spec);
        const Tensor got = kv_quant::round_trip(x, quant, kv_quant::Part::Keys);
        for (int64_t i = 0; i < x.numel(); ++i)
          ASSERT_EQ(got.data<float>()[i], octet_fq.data<float>()[i]) << what << " vs fake_quantize, element " << i;
      }
    }
}

// F16 rows: every value rounded to nearest even as ref_half says (ties in normal and subnormal range, the
// largest finite value, overflow, NaN, signed zero), and random rows over many magnitudes within the bound.
TEST(KvQuantRows, HalvesRoundToNearestEvenAndOverflowToInf) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> special = {1.0f + 0x1p-11f,
                                      1.0f + 3 * 0x1p-11f,
                                      -(2.0f + 0x1p-10f),
                                      0x1p-25f,
                                      3 * 0x1p-25f,
                                      0x1p-26f,
                                      65504.0f,
                                      65519.0f,
                                      65520.0f,
                                      -1e6f,
                                      inf,
                                      -0.0f,
                                      6.1e-5f,
                                      1e-8f};
  const std::vector<float> want = {1.0f, 1.0f + 0x1p-9f, -2.0f, 0.0f,  0x1p-23f,          0.0f, 65504.0f, 65504.0f,
                                   inf,  -inf,           inf,   -0.0f, ref_half(6.1e-5f), 0.0f};
  std::vector<uint8_t> codes(2 * special.size());
  std::vector<float> back(special.size());
  kv_quant::quantize_row(special.data(), int64_t(special.size()), 1.0f, DType::F16, codes.data());
  kv_quant::dequantize_row(codes.data(), int64_t(special.size()), 1.0f, DType::F16, back.data());
  for (size_t i = 0; i < special.size(); ++i) {
    EXPECT_EQ(ref_half(special[i]), want[i]) << "reference, element " << i;
    EXPECT_EQ(back[i], want[i]) << "element " << i << " x = " << special[i];
    EXPECT_EQ(std::signbit(back[i]), std::signbit(want[i])) << "element " << i;
  }
  const float nan = std::nanf("");
  kv_quant::quantize_row(&nan, 1, 1.0f, DType::F16, codes.data());
  kv_quant::dequantize_row(codes.data(), 1, 1.0f, DType::F16, back.data());
  EXPECT_TRUE(std::isnan(back[0]));

  const int64_t rows = 64, d = 32;
  Tensor x = random_tensor({1, 4, rows / 4, d}, 12, -1.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < d; ++t) x.data<float>()[r * d + t] *= std::ldexp(1.0f, int(r % 9) * 3 - 24);
  const KvCacheQuant quant{DType::F16, false, {}, {}};
  const Tensor want_rows = ref_round_trip(x, quant, kv_quant::Part::Keys, nullptr);
  const Tensor got = kv_quant::round_trip(x, quant, kv_quant::Part::Values);
  double worst = 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(got.data<float>()[i], want_rows.data<float>()[i]) << "element " << i;
    const double err = std::fabs(double(got.data<float>()[i]) - x.data<float>()[i]);
    const double bound = element_bound(x.data<float>()[i], 1.0, DType::F16);
    ASSERT_LE(err, bound) << "element " << i;
    worst = std::max(worst, err / bound);
  }
  std::printf("  f16 rows: worst |x^ - x| / bound = %.3f\n", worst);
}

// ---- blocks ---------------------------------------------------------------------------

Linear random_linear(int64_t out, int64_t in, uint32_t seed) {
  return Linear(random_tensor({out, in}, seed, -0.3f, 0.3f), random_tensor({out}, seed + 500, -0.2f, 0.2f));
}

Linear identity_linear(int64_t n) {
  Tensor w = Tensor::zeros({n, n}, DType::F32);
  for (int64_t i = 0; i < n; ++i) w.data<float>()[i * n + i] = 1.0f;
  return Linear(w);
}

struct QuantCase {
  const char* name;
  DType dtype;
  bool dynamic;
};

const QuantCase kQuantCases[] = {{"f16", DType::F16, false},
                                 {"int8_static", DType::I8, false},
                                 {"int8_dynamic", DType::I8, true},
                                 {"fp8_static", DType::F8_E4M3, false},
                                 {"fp8_dynamic", DType::F8_E4M3, true}};

// Static scales for `block` from a calibration pass: the key/value sites'
// observers see the raw keys and values, max |x| per kv head / levels.
KvCacheQuant calibrated(MultiHeadAttention& block, const QuantCase& qc, const Tensor& x, const AttentionInputs& in) {
  KvCacheQuant quant{qc.dtype, qc.dynamic, {}, {}};
  if (qc.dynamic || qc.dtype == DType::F16) return quant;  // (halves take no scales)
  const int64_t kvh = block.config().num_kv_heads;
  std::vector<double> kmax(size_t(kvh), 0.0), vmax(size_t(kvh), 0.0);
  block.visit_sites([&](ActivationSite& site) {
    if (site.kind() != SiteKind::AttentionKey && site.kind() != SiteKind::AttentionValue) return;
    std::vector<double>& m = site.kind() == SiteKind::AttentionKey ? kmax : vmax;
    site.set_observer([&m, kvh](const ActivationSite&, const Tensor& t) {
      const int64_t per_head = t.dim(2) * t.dim(3);
      for (int64_t i = 0; i < t.numel(); ++i)
        m[size_t(i / per_head % kvh)] = std::max(m[size_t(i / per_head % kvh)], std::fabs(double(t.data<float>()[i])));
    });
  });
  block.forward(x, in);
  block.visit_sites([](ActivationSite& site) { site.clear(); });
  const double levels = qc.dtype == DType::I8 ? 127.0 : 448.0;
  for (int64_t g = 0; g < kvh; ++g) {
    quant.k_scale.push_back(float(kmax[size_t(g)] / levels));
    quant.v_scale.push_back(float(vmax[size_t(g)] / levels));
  }
  return quant;
}

// ---- (2) quantized vs fp32 attention -------------------------------------------------

// Per output element [B, S, H * D]: the quantization bound (top of the file)
// plus the f32 rounding bound of each evaluation, all in double.
std::vector<double> attention_bound(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& kh,
                                    const Tensor& vh, const std::vector<float>& k_scales,
                                    const std::vector<float>& v_scales, const Tensor& mask, DType dtype) {
  const int64_t batch = q.dim(0), heads = q.dim(1), seq = q.dim(2), d = q.dim(3), kvh = k.dim(1);
  const double c = 1.0 / std::sqrt(double(d));
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> bound(size_t(batch * seq * heads * d), 0.0);
  auto at = [&](const Tensor& t, int64_t b, int64_t h, int64_t s, int64_t i) {
    return double(t.data<float>()[((b * t.dim(1) + h) * seq + s) * d + i]);
  };
  // f32 rounding of attention over (k, v), as in attention_block_test: per output t.
  auto rounding = [&](const Tensor& kk, const Tensor& vv, int64_t b, int64_t h, int64_t g, int64_t i,
                      std::vector<double>& out) {
    std::vector<double> z(size_t(seq), ninf);
    double e_logit = 0.0, mx = ninf;
    for (int64_t j = 0; j < seq; ++j) {
      if (mask.data<int64_t>()[b * seq + j] == 0) continue;
      double dot = 0, abs = 0;
      for (int64_t t = 0; t < d; ++t)
        dot += at(q, b, h, i, t) * at(kk, b, g, j, t), abs += std::fabs(at(q, b, h, i, t) * at(kk, b, g, j, t));
      z[size_t(j)] = c * dot;
      e_logit = std::max(e_logit, gamma_n(double(d + 1)) * abs * c + kU * std::fabs(c * dot));
      mx = std::max(mx, z[size_t(j)]);
    }
    double sum = 0;
    for (double zj : z) sum += std::isinf(zj) ? 0.0 : std::exp(zj - mx);
    std::vector<float> p(static_cast<size_t>(seq));
    for (int64_t j = 0; j < seq; ++j)
      p[size_t(j)] = std::isinf(z[size_t(j)]) ? 0.0f : float(std::exp(z[size_t(j)] - mx) / sum);
    const std::vector<double> rho = kernels::testing::softmax_relative_bound(z, p.data(), e_logit);
    for (int64_t t = 0; t < d; ++t) {
      double acc = 0, err = 0;
      for (int64_t j = 0; j < seq; ++j) {
        if (std::isinf(z[size_t(j)])) continue;
        const double pj = std::exp(z[size_t(j)] - mx) / sum, vj = at(vv, b, g, j, t);
        acc += pj * vj;
        err += pj * std::fabs(vj) * (rho[size_t(j)] + gamma_n(double(seq)) * (1 + rho[size_t(j)])) +
               kFltMin * std::fabs(vj);
      }
      out[size_t(t)] = err + kU * std::fabs(acc);
    }
  };
  std::vector<double> r_f(static_cast<size_t>(d)), r_q(static_cast<size_t>(d));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / (heads / kvh);
      for (int64_t i = 0; i < seq; ++i) {
        // Quantization: E = max_j c sum_t |q_t| dk_jt, exact probabilities p_j.
        std::vector<double> z(size_t(seq), ninf);
        double e = 0.0, mx = ninf;
        for (int64_t j = 0; j < seq; ++j) {
          if (mask.data<int64_t>()[b * seq + j] == 0) continue;
          const double sk = k_scales[size_t((b * kvh + g) * seq + j)];
          double dot = 0, ej = 0;
          for (int64_t t = 0; t < d; ++t) {
            dot += at(q, b, h, i, t) * at(k, b, g, j, t);
            ej += std::fabs(at(q, b, h, i, t)) * element_bound(at(k, b, g, j, t), sk, dtype);
          }
          z[size_t(j)] = c * dot, e = std::max(e, c * ej), mx = std::max(mx, c * dot);
        }
        double sum = 0;
        for (double zj : z) sum += std::isinf(zj) ? 0.0 : std::exp(zj - mx);
        rounding(k, v, b, h, g, i, r_f);
        rounding(kh, vh, b, h, g, i, r_q);
        for (int64_t t = 0; t < d; ++t) {
          double moved = 0, dv_sum = 0;
          for (int64_t j = 0; j < seq; ++j) {
            if (std::isinf(z[size_t(j)])) continue;
            const double pj = std::exp(z[size_t(j)] - mx) / sum, vj = at(v, b, g, j, t);
            const double dv = element_bound(vj, v_scales[size_t((b * kvh + g) * seq + j)], dtype);
            moved += pj * (std::fabs(vj) + dv), dv_sum += pj * dv;
          }
          bound[size_t(((b * seq + i) * heads + h) * d + t)] =
              kSecondOrder * (std::expm1(2 * e) * moved + dv_sum + r_f[size_t(t)] + r_q[size_t(t)]);
        }
      }
    }
  return bound;
}

class QuantizedAttention : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedAttention, WithinDerivedBoundOfFp32AndExactlyOnDequantizedKv) {
  const QuantCase& qc = GetParam();
  const int64_t batch = 2, seq = 12, heads = 8, kvh = 4, d = 16, hidden = heads * d;
  const AttentionConfig config{hidden, heads, kvh, d, false, std::nullopt};
  // Identity output projection: the block's output is the attention context itself, exactly.
  MultiHeadAttention fp32(config, random_linear(heads * d, hidden, 21), random_linear(kvh * d, hidden, 22),
                          random_linear(kvh * d, hidden, 23), identity_linear(hidden));
  MultiHeadAttention quantized = fp32;
  const Tensor x = random_tensor({batch, seq, hidden}, 24, -1.0f, 1.0f);
  AttentionInputs in;
  std::vector<int64_t> mask(size_t(batch * seq), 1);
  for (int64_t j = 9; j < seq; ++j) mask[size_t(seq + j)] = 0;  // sequence 1: 3 padding tokens at the end
  in.attention_mask = Tensor::from_vector(mask, {batch, seq});
  quantized.set_kv_quant(calibrated(quantized, qc, x, in));
  EXPECT_FALSE(fp32.kv_quant().enabled());  // copies share sites, not settings

  const Tensor y_f = fp32.forward(x, in), y_q = quantized.forward(x, in);
  // The q, k, v the block sees (the same Linears, bit for bit).
  const Tensor q = heads_first(fp32.q_proj()->forward(x), heads, d);
  const Tensor k = heads_first(fp32.k_proj()->forward(x), kvh, d);
  const Tensor v = heads_first(fp32.v_proj()->forward(x), kvh, d);
  std::vector<float> k_scales, v_scales;
  const Tensor kh = ref_round_trip(k, quantized.kv_quant(), kv_quant::Part::Keys, &k_scales);
  const Tensor vh = ref_round_trip(v, quantized.kv_quant(), kv_quant::Part::Values, &v_scales);

  // Exactly attention over dequantize(quantize(k)), dequantize(quantize(v)).
  kernels::AttentionParams params;
  params.key_mask = in.attention_mask;
  const Tensor ctx = kernels::attention(q, kh, vh, params);
  const Tensor manual = identity_linear(hidden).forward(ctx.transpose(1, 2).contiguous().reshape({batch, seq, hidden}));
  for (int64_t i = 0; i < y_q.numel(); ++i) ASSERT_EQ(y_q.data<float>()[i], manual.data<float>()[i]) << i;

  const std::vector<double> bound = attention_bound(q, k, v, kh, vh, k_scales, v_scales, in.attention_mask, qc.dtype);
  double worst = 0.0, max_err = 0.0;
  for (int64_t i = 0; i < y_q.numel(); ++i) {
    const double err = std::fabs(double(y_q.data<float>()[i]) - y_f.data<float>()[i]);
    ASSERT_LE(err, bound[size_t(i)]) << qc.name << " element " << i;
    worst = std::max(worst, err / bound[size_t(i)]);
    max_err = std::max(max_err, err);
  }
  EXPECT_GT(max_err, 0.0) << "quantization changed nothing: the test could not fail";
  std::printf("  attention %s: max |y_q - y_f| = %.3g, worst error / bound = %.3f\n", qc.name, max_err, worst);
}

INSTANTIATE_TEST_SUITE_P(Cases, QuantizedAttention, ::testing::ValuesIn(kQuantCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- (3) cached decoding equals the cache-free forward ----------------------------------

class QuantizedCachedDecode : public ::testing::TestWithParam<QuantCase> {};

void expect_cached_decode_equals_full_forward(const QuantCase& qc, int64_t d) {
  const int64_t batch = 2, total = 11, prefill = 5, heads = 8, kvh = 4, hidden = 64, pad = 3;
  const AttentionConfig config{hidden, heads, kvh, d, true, std::nullopt};
  MultiHeadAttention block(config, random_linear(heads * d, hidden, 31), random_linear(kvh * d, hidden, 32),
                           random_linear(kvh * d, hidden, 33), random_linear(hidden, heads * d, 34));
  RotaryConfig rc;
  rc.dim = d;
  block.set_rotary(RotaryEmbedding(rc));
  // Sequence 1 is left-padded by `pad` tokens; positions are cumsum(mask) - 1 (padding at 1).
  std::vector<int64_t> mask(size_t(batch * total), 1), pos(size_t(batch * total));
  for (int64_t s = 0; s < total; ++s) {
    pos[size_t(s)] = s;
    mask[size_t(total + s)] = s >= pad;
    pos[size_t(total + s)] = s >= pad ? s - pad : 1;
  }
  const Tensor mask_t = Tensor::from_vector(mask, {batch, total}), pos_t = Tensor::from_vector(pos, {batch, total});
  const Tensor x = random_tensor({batch, total, hidden}, 35, -1.0f, 1.0f);
  AttentionInputs full_in;
  full_in.attention_mask = mask_t;
  full_in.position_ids = pos_t;
  block.set_kv_quant(calibrated(block, qc, x, full_in));
  const Tensor want = block.forward(x, full_in);
  // The raw keys and values (after rotary) each cached call appends, from the sites.
  Tensor raw_k = Tensor::empty({batch, kvh, total, d}, DType::F32), raw_v = Tensor::empty(raw_k.shape(), DType::F32);
  int64_t at = 0;
  block.visit_sites([&](ActivationSite& site) {
    Tensor* into = site.kind() == SiteKind::AttentionKey     ? &raw_k
                   : site.kind() == SiteKind::AttentionValue ? &raw_v
                                                             : nullptr;
    if (!into) return;
    site.set_observer([into, &at, total, d](const ActivationSite&, const Tensor& t) {
      const int64_t n = t.dim(2);
      for (int64_t bg = 0; bg < t.dim(0) * t.dim(1); ++bg)
        std::copy_n(t.data<float>() + bg * n * d, n * d, into->data<float>() + (bg * total + at) * d);
    });
  });

  AttentionCache cache = block.make_cache(batch, total);
  EXPECT_EQ(cache.capacity(), total);
  EXPECT_EQ(cache.batch(), batch);
  EXPECT_FALSE(cache.k.defined());
  EXPECT_EQ(cache.k_scales.defined(), qc.dynamic);
  double worst = 0.0;
  for (int64_t begin = 0; begin < total;) {
    const int64_t end = begin == 0 ? prefill : begin + 1;
    AttentionInputs in;
    in.cache = &cache;
    in.attention_mask = mask_t.slice(1, 0, end).contiguous();
    in.position_ids = pos_t.slice(1, begin, end).contiguous();
    at = begin;
    const Tensor got = block.forward(x.slice(1, begin, end).contiguous(), in);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t s = begin; s < end; ++s) {
        if (mask[size_t(b * total + s)] == 0) continue;  // padding rows attend to nothing
        for (int64_t i = 0; i < hidden; ++i) {
          const float g = got.data<float>()[(b * (end - begin) + s - begin) * hidden + i];
          const float w = want.data<float>()[(b * total + s) * hidden + i];
          ASSERT_NEAR(g, w, 1e-5) << qc.name << " sequence " << b << " token " << s << " element " << i;
          worst = std::max(worst, double(std::fabs(g - w)));
        }
      }
    begin = end;
  }
  EXPECT_EQ(cache.length, total);
  std::printf("  cached decode %s: max |cached - full| = %.3g\n", qc.name, worst);
  block.visit_sites([](ActivationSite& site) { site.clear(); });
  // The cache gives back exactly dequantize(quantize(raw)) of what was appended:
  // the values a cache-free forward attends to for the same raw keys (the raw
  // keys themselves may differ from the full forward's in the last bit: a
  // one-row projection sums in another order than a many-row GEMM).
  const Tensor k_hat = ref_round_trip(raw_k, block.kv_quant(), kv_quant::Part::Keys, nullptr);
  const Tensor v_hat = ref_round_trip(raw_v, block.kv_quant(), kv_quant::Part::Values, nullptr);
  const Tensor k_back = kv_quant::load(cache.k_codes, cache.k_scales, cache.quant, kv_quant::Part::Keys, total);
  const Tensor v_back = kv_quant::load(cache.v_codes, cache.v_scales, cache.quant, kv_quant::Part::Values, total);
  for (int64_t i = 0; i < k_hat.numel(); ++i) {
    ASSERT_EQ(k_back.data<float>()[i], k_hat.data<float>()[i]) << qc.name << " key " << i;
    ASSERT_EQ(v_back.data<float>()[i], v_hat.data<float>()[i]) << qc.name << " value " << i;
  }
  // Quantization is really on: the fp32 block computes something else.
  MultiHeadAttention plain = block;
  plain.set_kv_quant({});
  const Tensor fp32 = plain.forward(x, full_in);
  double moved = 0.0;
  for (int64_t i = 0; i < fp32.numel(); ++i)
    moved = std::max(moved, double(std::fabs(fp32.data<float>()[i] - want.data<float>()[i])));
  EXPECT_GT(moved, 1e-5);
}

// head_dim 16: the one-token steps run the decode attention kernel on the codes (kernels/decode_attention.h)
// where the CPU has it; head_dim 8: the GEMM path on the dequantized rows.
TEST_P(QuantizedCachedDecode, PrefillThenStepsEqualFullForward) {
  for (const int64_t d : {int64_t{8}, int64_t{16}}) {
    SCOPED_TRACE("head_dim " + std::to_string(d));
    expect_cached_decode_equals_full_forward(GetParam(), d);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, QuantizedCachedDecode, ::testing::ValuesIn(kQuantCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- sites, names, bytes, errors ----------------------------------------------------------

MultiHeadAttention small_block(int64_t kvh = 4) {
  const AttentionConfig config{64, 8, kvh, 8, true, std::nullopt};
  return MultiHeadAttention(config, random_linear(64, 64, 41), random_linear(kvh * 8, 64, 42),
                            random_linear(kvh * 8, 64, 43), random_linear(64, 64, 44));
}

TEST(KvCacheQuant, SitesSeeRawKeysAndValues) {
  MultiHeadAttention block = small_block();
  block.set_kv_quant({DType::I8, true, {}, {}});
  const Tensor x = random_tensor({1, 5, 64}, 45);
  const Tensor k_raw = heads_first(block.k_proj()->forward(x), 4, 8);
  int calls = 0;
  block.visit_sites([&](ActivationSite& site) {
    if (site.kind() == SiteKind::AttentionKey)
      site.set_observer([&](const ActivationSite&, const Tensor& seen) {
        ++calls;
        for (int64_t i = 0; i < seen.numel(); ++i) ASSERT_EQ(seen.data<float>()[i], k_raw.data<float>()[i]) << i;
      });
  });
  block.forward(x);
  EXPECT_EQ(calls, 1);
  block.visit_sites([](ActivationSite& site) { site.clear(); });
}

TEST(KvCacheQuant, NameIsTheSetNamePrefix) {
  MultiHeadAttention block = small_block();
  EXPECT_EQ(block.name(), "");
  block.set_name("model.layers.3.self_attn");
  EXPECT_EQ(block.name(), "model.layers.3.self_attn");
  std::vector<std::string> names;
  block.visit_sites([&](ActivationSite& s) { names.push_back(s.name()); });
  EXPECT_EQ(names.front(), "model.layers.3.self_attn:query");
}

TEST(KvCacheQuant, BytesCountWhatIsAllocated) {
  const int64_t batch = 2, cap = 16, kvh = 4, d = 8;
  MultiHeadAttention block = small_block(kvh);
  const size_t f32_bytes = 2 * size_t(batch * kvh * cap * d) * 4;
  const size_t scale_bytes = 2 * size_t(batch * kvh * cap) * 4;
  EXPECT_EQ(block.make_cache(batch, cap).bytes(), f32_bytes);
  for (const QuantCase& qc : kQuantCases) {
    KvCacheQuant quant{qc.dtype, qc.dynamic, {}, {}};
    if (!qc.dynamic && qc.dtype != DType::F16) quant.k_scale = quant.v_scale = std::vector<float>(size_t(kvh), 0.1f);
    block.set_kv_quant(quant);
    std::vector<AttentionCache> layers;
    for (int i = 0; i < 3; ++i) layers.push_back(block.make_cache(batch, cap));
    const size_t value_bytes = f32_bytes / 4 * (qc.dtype == DType::F16 ? 2 : 1);
    EXPECT_EQ(layers[0].bytes(), value_bytes + (qc.dynamic ? scale_bytes : 0)) << qc.name;
    EXPECT_EQ(layers[0].k_codes.dtype(), qc.dtype);
    EXPECT_EQ(layers[0].quant, quant);
    const KVCache cache(std::move(layers));
    EXPECT_EQ(cache.bytes(), 3 * (value_bytes + (qc.dynamic ? scale_bytes : 0))) << qc.name;
    EXPECT_EQ(cache.capacity(), cap);
    EXPECT_EQ(cache.batch(), batch);
  }
}

TEST(KvCacheQuant, BadSettingsThrow) {
  MultiHeadAttention block = small_block(4);
  const std::vector<float> good(4, 0.1f);
  auto with = [](DType dtype, bool dynamic, std::vector<float> k, std::vector<float> v) {
    return KvCacheQuant{dtype, dynamic, std::move(k), std::move(v)};
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_THROW(block.set_kv_quant(with(DType::I8, false, {0.1f, 0.1f, 0.1f}, good)), Error);  // 3 scales, 4 kv heads
  EXPECT_THROW(block.set_kv_quant(with(DType::I8, false, good, {})), Error);
  EXPECT_THROW(block.set_kv_quant(with(DType::I8, false, {0.1f, 0.0f, 0.1f, 0.1f}, good)), Error);
  EXPECT_THROW(block.set_kv_quant(with(DType::F8_E4M3, false, good, {0.1f, -0.1f, 0.1f, 0.1f})), Error);
  EXPECT_THROW(block.set_kv_quant(with(DType::I8, false, {0.1f, nan, 0.1f, 0.1f}, good)), Error);
  EXPECT_THROW(block.set_kv_quant(with(DType::I8, false, good, {inf, 0.1f, 0.1f, 0.1f})), Error);
  EXPECT_THROW(block.set_kv_quant(with(DType::I8, true, good, good)), Error);  // dynamic takes no scales
  EXPECT_THROW(block.set_kv_quant(with(DType::F32, true, {}, {})), Error);
  EXPECT_THROW(block.set_kv_quant(with(DType::F16, false, good, good)), Error);  // halves take no scales
  for (DType dtype : {DType::F16, DType::BF16, DType::U8, DType::I4, DType::F8_E5M2, DType::I32})
    EXPECT_THROW(block.set_kv_quant(with(dtype, true, {}, {})), Error) << dtype_name(dtype);
  EXPECT_FALSE(block.kv_quant().enabled());  // a refused setting changes nothing
  EXPECT_NO_THROW(block.set_kv_quant(with(DType::I8, false, good, good)));

  // A cache made under another setting is refused, before anything is appended.
  const Tensor x = random_tensor({1, 2, 64}, 46);
  AttentionCache old = block.make_cache(1, 4);
  block.set_kv_quant(with(DType::F8_E4M3, true, {}, {}));
  AttentionInputs in;
  in.cache = &old;
  EXPECT_THROW(block.forward(x, in), Error);
  EXPECT_EQ(old.length, 0);
  // A full quantized cache is an error too.
  AttentionCache cache = block.make_cache(1, 3);
  in.cache = &cache;
  block.forward(x, in);
  EXPECT_THROW(block.forward(x, in), Error);
  EXPECT_EQ(cache.length, 2);
}

}  // namespace
}  // namespace octet::nn
