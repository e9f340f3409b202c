// Host side of the W4A16 weights (octet/cuda_llm_ops.h): packing int4 codes
// into the GEMV's lane layout, the reference dequantization, the upload.
// Compiled in every build (it needs no CUDA until upload_w4).
#include <cmath>
#include <cstring>

#include "octet/cuda_llm_ops.h"
#include "octet/error.h"

namespace octet::cuda {
namespace {

int64_t padded_k(int64_t k) { return (k + 255) / 256 * 256; }

int zero_at(const Tensor& zeros, int64_t i) {
  if (!zeros.defined()) return 8;
  if (zeros.dtype() == DType::U8) return zeros.data<uint8_t>()[i];
  return static_cast<int>(zeros.data<int32_t>()[i]);
}

}  // namespace

int64_t W4Weight::bytes() const {
  const int64_t kp = padded_k(k);
  return n * kp / 2 + n * (kp / 128) * 3;  // codes, f16 scales, u8 zero points
}

W4Host pack_w4(const Tensor& codes_in, const Tensor& scales_in, const Tensor& zeros_in) {
  check(codes_in.defined() && codes_in.rank() == 2, "cuda", "pack_w4: codes must be [N, K]");
  const int64_t n = codes_in.dim(0), k = codes_in.dim(1);
  check(n > 0 && k > 0 && k % 128 == 0, "cuda", "pack_w4: K = {} must be a positive multiple of 128", k);
  const int64_t groups = k / 128, kp = padded_k(k), gp = kp / 128;
  const Tensor codes = codes_in.to(DType::U8).contiguous();
  const Tensor scales = scales_in.to(DType::F32).contiguous();
  check(scales.numel() == n * groups, "cuda", "pack_w4: scales must be [{}, {}]", n, groups);
  Tensor zeros;
  if (zeros_in.defined()) {
    check(zeros_in.numel() == n * groups && (zeros_in.dtype() == DType::U8 || zeros_in.dtype() == DType::I32), "cuda",
          "pack_w4: zero points must be U8 or I32 [{}, {}]", n, groups);
    zeros = zeros_in.contiguous();
  }
  W4Host out;
  out.n = n, out.k = k;
  out.packed = Tensor::zeros({n, kp / 2}, DType::U8);
  Tensor scales_padded = Tensor::zeros({n, gp}, DType::F32);
  out.zeros = Tensor::zeros({n, gp}, DType::U8);
  const uint8_t* c = codes.data<uint8_t>();
  const float* s = scales.data<float>();
  uint8_t* packed = out.packed.data<uint8_t>();
  float* sc = scales_padded.data<float>();
  uint8_t* zp = out.zeros.data<uint8_t>();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t g = 0; g < gp; ++g) {
      const int z = g < groups ? zero_at(zeros, r * groups + g) : 8;
      check(z >= 0 && z <= 15, "cuda", "pack_w4: zero point {} outside 0..15", z);
      zp[r * gp + g] = static_cast<uint8_t>(z);
      sc[r * gp + g] = g < groups ? s[r * groups + g] : 0.0f;
      check(std::isfinite(sc[r * gp + g]), "cuda", "pack_w4: scale of row {} group {} is not finite", r, g);
    }
    for (int64_t col = 0; col < kp; ++col) {
      int u = 0;
      if (col < k) {
        u = c[r * k + col];
        check(u <= 15, "cuda", "pack_w4: code {} outside 0..15", u);
      } else {
        u = zp[r * gp + col / 128];  // padding: u = zero, scale 0
      }
      // Column col = 256 c + 64 t + 8 s + e lives in lane s's word t, nibble e.
      const int64_t chunk = col / 256, within = col % 256, t = within / 64, sl = (within % 64) / 8, e = within % 8;
      const int64_t byte = r * (kp / 2) + chunk * 128 + sl * 16 + t * 4 + e / 2;
      packed[byte] = static_cast<uint8_t>(packed[byte] | (u << (4 * (e % 2))));
    }
  }
  out.scales = scales_padded.to(DType::F16);
  return out;
}

Tensor dequantize_w4(const W4Host& w) {
  const int64_t kp = padded_k(w.k), gp = kp / 128;
  Tensor out = Tensor::zeros({w.n, w.k}, DType::F32);
  float* o = out.data<float>();
  const uint8_t* packed = w.packed.data<uint8_t>();
  const Tensor scales = w.scales.to(DType::F32);
  const float* sc = scales.data<float>();
  const uint8_t* zp = w.zeros.data<uint8_t>();
  for (int64_t r = 0; r < w.n; ++r) {
    for (int64_t col = 0; col < w.k; ++col) {
      const int64_t chunk = col / 256, within = col % 256, t = within / 64, sl = (within % 64) / 8, e = within % 8;
      const int64_t byte = r * (kp / 2) + chunk * 128 + sl * 16 + t * 4 + e / 2;
      const int u = (packed[byte] >> (4 * (e % 2))) & 0xF;
      const int64_t g = r * gp + col / 128;
      o[r * w.k + col] = static_cast<float>(u - zp[g]) * sc[g];
    }
  }
  return out;
}

W4Weight upload_w4(const W4Host& w, const Stream& stream) {
  W4Weight d;
  d.packed = DeviceTensor::upload(w.packed, stream);
  d.scales = DeviceTensor::upload(w.scales, stream);
  d.zeros = DeviceTensor::upload(w.zeros, stream);
  d.n = w.n, d.k = w.k;
  return d;
}

}  // namespace octet::cuda
