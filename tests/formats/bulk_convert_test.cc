// Bulk conversions: every SIMD variant equals the scalar loop bit for bit,
// on every code of each format, on random floats (NaN, Inf, subnormals
// included), on lengths that are not a multiple of any vector width and on
// unaligned pointers; the public API checks lengths and honours OCTET_ISA.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "formats/bulk_kernels.h"
#include "formats/format_reference.h"
#include "formats/random_floats.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet::testing {
namespace {

using formats::BulkKernels;

// The SIMD variants this machine can run (hardware support, ignoring
// OCTET_ISA, so the AVX2 kernels are compared even in a scalar-forced run).
std::vector<const BulkKernels*> simd_variants() {
  std::vector<const BulkKernels*> v;
  const CpuFeatures& hw = cpu_features_detected();
  if (hw.avx2 && hw.f16c) v.push_back(&formats::avx2_bulk_kernels());
  return v;
}

#define REQUIRE_SIMD_VARIANTS()                                                                   \
  if (simd_variants().empty()) GTEST_SKIP() << "this CPU has no AVX2+F16C: no SIMD variant to compare"

// Lengths around every block size the kernels use (8, 16, 32) and a long one.
const size_t kLengths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 1023, 4099};

template <typename Src, typename Dst>
using Kernel = void (*)(const Src*, Dst*, size_t);

// Runs `kernel` on src[offset, offset+n) and returns the output. The output
// buffer has guard elements on both sides, checked to be untouched.
template <typename Src, typename Dst>
std::vector<Dst> run_guarded(Kernel<Src, Dst> kernel, const std::vector<Src>& src, size_t offset, size_t n) {
  constexpr size_t kGuard = 64;
  std::vector<Dst> out(n + 2 * kGuard);
  std::memset(out.data(), 0xA5, out.size() * sizeof(Dst));
  const std::vector<Dst> pristine = out;
  kernel(src.data() + offset, out.data() + kGuard, n);
  EXPECT_EQ(std::memcmp(out.data(), pristine.data(), kGuard * sizeof(Dst)), 0) << "wrote before the output";
  EXPECT_EQ(std::memcmp(out.data() + kGuard + n, pristine.data(), kGuard * sizeof(Dst)), 0) << "wrote past the output";
  return std::vector<Dst>(out.begin() + kGuard, out.begin() + kGuard + n);
}

template <typename T>
uint32_t bits_of(T v) {
  if constexpr (sizeof(T) == 4) return std::bit_cast<uint32_t>(v);
  else return static_cast<uint32_t>(v);
}

// Compares `variant` with the scalar kernel on the whole input, then on many
// lengths and start offsets (unaligned starts, tails of every size).
template <typename Src, typename Dst>
void expect_same_as_scalar(Kernel<Src, Dst> scalar, Kernel<Src, Dst> variant, const std::vector<Src>& src,
                           const std::string& what) {
  SCOPED_TRACE(what);
  auto compare = [&](size_t offset, size_t n) {
    const std::vector<Dst> want = run_guarded(scalar, src, offset, n);
    const std::vector<Dst> got = run_guarded(variant, src, offset, n);
    for (size_t i = 0; i < n; ++i) {
      if (bits_of(got[i]) != bits_of(want[i])) {
        ADD_FAILURE() << "element " << i << " of " << n << " (offset " << offset << "): input 0x" << std::hex
                      << bits_of(src[offset + i]) << " -> 0x" << bits_of(got[i]) << ", scalar gives 0x"
                      << bits_of(want[i]);
        return;
      }
    }
  };
  compare(0, src.size());
  for (size_t n : kLengths) {
    for (size_t offset : {size_t{0}, size_t{1}, size_t{3}}) {
      if (offset + n <= src.size()) compare(offset, n);
    }
  }
}

// Inputs for an encoder: every code's decoded value (so every representable
// value and every NaN/Inf), special floats, then random floats for the format.
std::vector<float> encoder_inputs(const FormatSpec& f, float (*decode)(uint32_t), size_t random_count) {
  std::vector<float> v;
  for (uint32_t c = 0; c < f.code_count(); ++c) v.push_back(decode(c));
  for (uint32_t bits : {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                        0x7FA00000u, 0xFFFFFFFFu, 0x7FC0FFFFu, 0x00000001u, 0x807FFFFFu, 0x7F7FFFFFu, 0xFF7FFFFFu}) {
    v.push_back(std::bit_cast<float>(bits));
  }
  RandomFloats gen(f, 0xB01Cu + f.bits());
  for (size_t i = 0; i < random_count; ++i) v.push_back(gen.next());
  return v;
}

template <typename Code>
std::vector<Code> every_code(uint32_t count) {
  std::vector<Code> v(count);
  for (uint32_t c = 0; c < count; ++c) v[c] = static_cast<Code>(c);
  return v;
}

float decode_f16(uint32_t c) { return f16_to_float(static_cast<uint16_t>(c)); }
float decode_bf16(uint32_t c) { return bf16_to_float(static_cast<uint16_t>(c)); }
float decode_e4m3(uint32_t c) { return fp8_e4m3_to_float(static_cast<uint8_t>(c)); }
float decode_e5m2(uint32_t c) { return fp8_e5m2_to_float(static_cast<uint8_t>(c)); }

constexpr size_t kRandomPerFormat = 300'000;

TEST(BulkEncode, F16SameAsScalar) {
  REQUIRE_SIMD_VARIANTS();
  const auto src = encoder_inputs(kF16Spec, decode_f16, kRandomPerFormat);
  for (const BulkKernels* k : simd_variants()) {
    expect_same_as_scalar(formats::scalar_bulk_kernels().f32_to_f16, k->f32_to_f16, src, k->isa);
  }
}

TEST(BulkEncode, BF16SameAsScalar) {
  REQUIRE_SIMD_VARIANTS();
  const auto src = encoder_inputs(kBF16Spec, decode_bf16, kRandomPerFormat);
  for (const BulkKernels* k : simd_variants()) {
    expect_same_as_scalar(formats::scalar_bulk_kernels().f32_to_bf16, k->f32_to_bf16, src, k->isa);
  }
}

TEST(BulkEncode, Fp8SameAsScalar) {
  REQUIRE_SIMD_VARIANTS();
  const auto& s = formats::scalar_bulk_kernels();
  const auto e4m3 = encoder_inputs(kE4M3Spec, decode_e4m3, kRandomPerFormat);
  const auto e5m2 = encoder_inputs(kE5M2Spec, decode_e5m2, kRandomPerFormat);
  for (const BulkKernels* k : simd_variants()) {
    expect_same_as_scalar(s.f32_to_e4m3, k->f32_to_e4m3, e4m3, fmt::format("{} e4m3", k->isa));
    expect_same_as_scalar(s.f32_to_e5m2, k->f32_to_e5m2, e5m2, fmt::format("{} e5m2", k->isa));
    expect_same_as_scalar(s.f32_to_e5m2_saturate, k->f32_to_e5m2_saturate, e5m2,
                          fmt::format("{} e5m2 saturate", k->isa));
    // e4m3 inputs reach far past e5m2's subnormals and e5m2's past e4m3's max: swap them too.
    expect_same_as_scalar(s.f32_to_e4m3, k->f32_to_e4m3, e5m2, fmt::format("{} e4m3 on e5m2 inputs", k->isa));
    expect_same_as_scalar(s.f32_to_e5m2, k->f32_to_e5m2, e4m3, fmt::format("{} e5m2 on e4m3 inputs", k->isa));
  }
}

TEST(BulkDecode, EveryCodeSameAsScalar) {
  REQUIRE_SIMD_VARIANTS();
  const auto& s = formats::scalar_bulk_kernels();
  const auto codes16 = every_code<uint16_t>(0x10000);
  const auto codes8 = every_code<uint8_t>(0x100);
  for (const BulkKernels* k : simd_variants()) {
    expect_same_as_scalar(s.f16_to_f32, k->f16_to_f32, codes16, fmt::format("{} f16", k->isa));
    expect_same_as_scalar(s.bf16_to_f32, k->bf16_to_f32, codes16, fmt::format("{} bf16", k->isa));
    expect_same_as_scalar(s.e4m3_to_f32, k->e4m3_to_f32, codes8, fmt::format("{} e4m3", k->isa));
    expect_same_as_scalar(s.e5m2_to_f32, k->e5m2_to_f32, codes8, fmt::format("{} e5m2", k->isa));
  }
}

// The scalar bulk loop is the scalar function, element by element (this is
// what makes "variant == scalar loop" mean "variant == reference").
TEST(BulkScalar, LoopsOverTheScalarFunctions) {
  const auto& s = formats::scalar_bulk_kernels();
  const auto src = encoder_inputs(kE5M2Spec, decode_e5m2, 1000);
  std::vector<uint16_t> h(src.size()), b(src.size());
  std::vector<uint8_t> e4(src.size()), e5(src.size()), e5s(src.size());
  s.f32_to_f16(src.data(), h.data(), src.size());
  s.f32_to_bf16(src.data(), b.data(), src.size());
  s.f32_to_e4m3(src.data(), e4.data(), src.size());
  s.f32_to_e5m2(src.data(), e5.data(), src.size());
  s.f32_to_e5m2_saturate(src.data(), e5s.data(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    ASSERT_EQ(h[i], float_to_f16(src[i]));
    ASSERT_EQ(b[i], float_to_bf16(src[i]));
    ASSERT_EQ(e4[i], float_to_fp8_e4m3(src[i]));
    ASSERT_EQ(e5[i], float_to_fp8_e5m2(src[i]));
    ASSERT_EQ(e5s[i], float_to_fp8_e5m2_saturate(src[i]));
  }
}

// The public span API gives the scalar answer whichever variant it picked.
TEST(BulkPublicApi, MatchesScalarFunctions) {
  const auto src = encoder_inputs(kF16Spec, decode_f16, 10'000);
  const size_t n = src.size();
  std::vector<uint16_t> h(n), b(n);
  std::vector<uint8_t> e4(n), e5(n), e5s(n);
  convert_f32_to_f16(src, h);
  convert_f32_to_bf16(src, b);
  convert_f32_to_fp8_e4m3(src, e4);
  convert_f32_to_fp8_e5m2(src, e5);
  convert_f32_to_fp8_e5m2_saturate(src, e5s);
  std::vector<float> hf(n), bf(n), e4f(n), e5f(n);
  convert_f16_to_f32(h, hf);
  convert_bf16_to_f32(b, bf);
  convert_fp8_e4m3_to_f32(e4, e4f);
  convert_fp8_e5m2_to_f32(e5, e5f);
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE(::testing::Message() << "input 0x" << std::hex << std::bit_cast<uint32_t>(src[i]));
    ASSERT_EQ(h[i], float_to_f16(src[i]));
    ASSERT_EQ(b[i], float_to_bf16(src[i]));
    ASSERT_EQ(e4[i], float_to_fp8_e4m3(src[i]));
    ASSERT_EQ(e5[i], float_to_fp8_e5m2(src[i]));
    ASSERT_EQ(e5s[i], float_to_fp8_e5m2_saturate(src[i]));
    ASSERT_EQ(std::bit_cast<uint32_t>(hf[i]), std::bit_cast<uint32_t>(f16_to_float(h[i])));
    ASSERT_EQ(std::bit_cast<uint32_t>(bf[i]), std::bit_cast<uint32_t>(bf16_to_float(b[i])));
    ASSERT_EQ(std::bit_cast<uint32_t>(e4f[i]), std::bit_cast<uint32_t>(fp8_e4m3_to_float(e4[i])));
    ASSERT_EQ(std::bit_cast<uint32_t>(e5f[i]), std::bit_cast<uint32_t>(fp8_e5m2_to_float(e5[i])));
  }
}

// The old bulk functions silently converted min(src, dst) elements.
TEST(BulkPublicApi, LengthMismatchThrows) {
  std::vector<float> f(10);
  std::vector<uint16_t> h(9);
  std::vector<uint8_t> b(11);
  EXPECT_THROW(convert_f32_to_f16(f, h), Error);
  EXPECT_THROW(convert_f16_to_f32(h, f), Error);
  EXPECT_THROW(convert_f32_to_bf16(f, h), Error);
  EXPECT_THROW(convert_bf16_to_f32(h, f), Error);
  EXPECT_THROW(convert_f32_to_fp8_e4m3(f, b), Error);
  EXPECT_THROW(convert_fp8_e4m3_to_f32(b, f), Error);
  EXPECT_THROW(convert_f32_to_fp8_e5m2(f, b), Error);
  EXPECT_THROW(convert_f32_to_fp8_e5m2_saturate(f, b), Error);
  EXPECT_THROW(convert_fp8_e5m2_to_f32(b, f), Error);
  try {
    convert_f32_to_f16(f, h);
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "formats");
  }
  // Empty spans are fine.
  EXPECT_NO_THROW(convert_f32_to_f16(std::span<const float>{}, std::span<uint16_t>{}));
}

// Which variant the public API uses: scalar when OCTET_ISA=scalar, else AVX2
// when the CPU has it.
TEST(BulkDispatch, ReportsChosenIsa) {
  const char* env = std::getenv("OCTET_ISA");
  const bool forced_scalar = env && std::string(env) == "scalar";
  const CpuFeatures& hw = cpu_features_detected();
  const bool expect_avx2 = !forced_scalar && hw.avx2 && hw.f16c;
  EXPECT_STREQ(bulk_conversion_isa(), expect_avx2 ? "avx2" : "scalar");
}

// cpu_features() is read once per process, so OCTET_ISA=scalar is checked
// by re-running this binary with it set.
TEST(BulkDispatch, OctetIsaScalarIsHonoured) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cmd = fmt::format(
      "OCTET_ISA=scalar '{}' --gtest_filter=BulkDispatch.ReportsChosenIsa:BulkPublicApi.MatchesScalarFunctions "
      ">/dev/null 2>&1",
      self);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace octet::testing
