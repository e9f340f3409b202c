#include "octet/cpu_features.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "octet/error.h"

namespace octet {
namespace {

struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  __cpuid_count(leaf, subleaf, r.a, r.b, r.c, r.d);
  return r;
}

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(unsigned reg, int i) { return (reg >> i) & 1u; }

CpuFeatures detect() {
  CpuFeatures f;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf == 0) return f;
  Regs v = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &v.b, 4);
  std::memcpy(vendor + 4, &v.d, 4);
  std::memcpy(vendor + 8, &v.c, 4);
  f.vendor = vendor;

  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r.a, 4);
      std::memcpy(brand + 16 * i + 4, &r.b, 4);
      std::memcpy(brand + 16 * i + 8, &r.c, 4);
      std::memcpy(brand + 16 * i + 12, &r.d, 4);
    }
    std::string_view s(brand);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
    f.brand = std::string(s);
  }

  const Regs l1 = cpuid(1);
  f.sse42 = bit(l1.c, 20);
  const bool osxsave = bit(l1.c, 27);
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;            // XMM and YMM state
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;       // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;    // XTILECFG, XTILEDATA
  f.avx = bit(l1.c, 28) && os_avx;
  f.fma = bit(l1.c, 12) && os_avx;
  f.f16c = bit(l1.c, 29) && os_avx;
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.avx2 = bit(l7.b, 5) && os_avx;
    f.avx512f = bit(l7.b, 16) && os_avx512;
    f.avx512bw = bit(l7.b, 30) && os_avx512;
    f.avx512vl = bit(l7.b, 31) && os_avx512;
    f.avx512_vnni = bit(l7.c, 11) && os_avx512;
    f.avx512_vbmi = bit(l7.c, 1) && os_avx512;
    f.amx_bf16 = bit(l7.d, 22) && os_amx;
    f.amx_int8 = bit(l7.d, 25) && os_amx;
    const Regs l71 = cpuid(7, 1);
    f.avx_vnni = bit(l71.a, 4) && os_avx;
    f.avx512_bf16 = bit(l71.a, 5) && os_avx512;
  }
  return f;
}

CpuFeatures capped(CpuFeatures f) {
  const char* env = std::getenv("OCTET_ISA");
  if (!env || !*env) return f;
  const std::string_view isa(env);
  const bool keep_avx2 = isa == "avx2" || isa == "avx512";
  const bool keep_avx512 = isa == "avx512";
  if (isa != "scalar" && !keep_avx2) fail("cpu", "OCTET_ISA='{}': expected scalar, avx2 or avx512", isa);
  if (!keep_avx2) f.avx = f.avx2 = f.fma = f.f16c = f.avx_vnni = false;
  if (!keep_avx512)
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_vbmi = f.avx512_bf16 = f.amx_int8 = f.amx_bf16 = false;
  return f;
}

}  // namespace

const CpuFeatures& cpu_features_detected() {
  static const CpuFeatures f = detect();
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = capped(cpu_features_detected());
  return f;
}

}  // namespace octet
