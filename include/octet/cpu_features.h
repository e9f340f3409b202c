// x86 CPU features detected once from CPUID (and XGETBV for OS support of
// AVX/AVX-512 state). Kernels pick their variant from this at run time.
#pragma once

#include <string>

namespace octet {

struct CpuFeatures {
  std::string vendor;  // "AuthenticAMD", "GenuineIntel", ...
  std::string brand;   // "AMD EPYC 7B13 64-Core Processor"
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512_vnni = false;
  bool avx512_vbmi = false;  // vpermb, vpermi2b (byte tables)
  bool avx512_bf16 = false;  // vdpbf16ps, vcvtne2ps2bf16
  bool avx_vnni = false;
  bool amx_int8 = false;
  bool amx_bf16 = false;
};

// Detected features of the running CPU. OCTET_ISA=scalar|avx2|avx512 caps
// what is reported, so tests and benchmarks can force a lower kernel variant.
const CpuFeatures& cpu_features();

// Features as the hardware reports them, ignoring OCTET_ISA.
const CpuFeatures& cpu_features_detected();

}  // namespace octet
