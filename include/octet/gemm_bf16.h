// BF16 GEMM on CPU: weights converted to bf16 and packed once at load,
// activations rounded to bf16 at the GEMM input, products summed in f32.
//
//   Y[m,n] = sum_k bf16(X[m,k]) * bf16(W[n,k])  (+ bias[n])
//
// X: f32 activations [M,K] (row stride ldx); W: f32 weights [N,K] (the
// Hugging Face Linear layout [out,in]); bf16() rounds to nearest even
// (octet::float_to_bf16). Products of two bf16 values are exact in f32, so
// the only error past the input rounding is the f32 summation.
//
// Variants: the scalar reference (kernels/ref: double accumulation, the
// definition) and AVX-512 BF16 (vdpbf16ps, 12 x 32 register tiles, cache
// blocked as the fp32 GEMM). There is no emulated path: on a CPU without
// AVX-512 BF16 gemm_bf16 throws Error("gemm_bf16") naming what is missing
// (bf16_gemm_supported() tells beforehand). Each output row is computed the
// same way for any M, so results are row-invariant for any row count.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace octet {

// W in the layout the kernels read, built once. Move-only.
class PackedBf16Weights {
 public:
  PackedBf16Weights();
  PackedBf16Weights(PackedBf16Weights&&) noexcept;
  PackedBf16Weights& operator=(PackedBf16Weights&&) noexcept;
  ~PackedBf16Weights();

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  bool empty() const { return n_ == 0; }
  // Columns in panels of kPanelWidth; inside a panel, the pair (k, k+1) of
  // each column (k even) is contiguous:
  //   W[n,k] at data()[(n / 32) * (k_padded() * 32) + (k / 2) * 64 + (n % 32) * 2 + k % 2].
  // Padding (k >= K, n >= N) holds zeros.
  static constexpr int kPanelWidth = 32;
  int64_t k_padded() const { return k_padded_; }  // K rounded up to even
  int64_t n_padded() const { return n_padded_; }  // N rounded up to 32
  const uint16_t* data() const { return data_.get(); }
  size_t bytes() const { return static_cast<size_t>(n_padded_ * k_padded_) * sizeof(uint16_t); }

 private:
  friend PackedBf16Weights pack_bf16_weights(const float*, int64_t, int64_t);
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  int64_t n_ = 0, k_ = 0, n_padded_ = 0, k_padded_ = 0;
  std::unique_ptr<uint16_t[], FreeDeleter> data_;
};

// Packs W [n,k] (row-major f32). Throws Error("gemm_bf16") for n or k <= 0 or null w.
PackedBf16Weights pack_bf16_weights(const float* w, int64_t n, int64_t k);

// Whether this CPU can run gemm_bf16 (AVX-512 F/BW/VL + BF16, as
// cpu_features() reports them: OCTET_ISA=avx2 or scalar turns it off).
bool bf16_gemm_supported();
// Throws Error(tag) saying what is missing (AVX-512 BF16, or OCTET_ISA caps
// it) unless bf16_gemm_supported(): the one message every bf16 entry point gives.
void require_bf16_gemm(std::string_view tag);

// Y [m, w.n()] (row stride ldy) = bf16(X) bf16(W)^T + bias (null or w.n()
// entries). Threaded on octet's pool. Throws Error("gemm_bf16") on bad
// arguments or when !bf16_gemm_supported().
void gemm_bf16(const float* x, int64_t m, int64_t ldx, const PackedBf16Weights& w, const float* bias, float* y,
               int64_t ldy);
// The scalar reference (double accumulation of the same bf16 values, rounded once).
void gemm_bf16_ref(const float* x, int64_t m, int64_t ldx, const PackedBf16Weights& w, const float* bias, float* y,
                   int64_t ldy);

}  // namespace octet
