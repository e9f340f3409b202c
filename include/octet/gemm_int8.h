// Exact INT8 GEMM on CPU with weights packed once, a fused epilogue, and the
// activation quantizers that feed it.
//
//   Y[m,n] = epilogue( sum_k (A[m,k] - a_zero_point) * W[n,k] )
//
// A: int8 activations [M,K], row-major with leading dimension lda.
// W: int8 weights [N,K] (Hugging Face Linear layout [out,in]), symmetric in
//    [-127,127] with one f32 scale per output channel.
// The int32 accumulation is exact on every variant (no vpmaddubsw saturation;
// see docs/int8_gemm.md): int32 outputs are bit-identical across variants.
//
// Variants: a scalar reference (the definition), AVX2 (sign trick +
// vpmaddubsw), AVX-512 VNNI (vpdpbusd). The default comes from
// octet::cpu_features(), so OCTET_ISA=scalar|avx2 forces a lower one.
// Errors are octet::Error with tag "gemm_int8" (or "quantize_int8").
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace octet {

enum class Int8Isa : uint8_t { Scalar, Avx2, Avx512Vnni };

std::string_view int8_isa_name(Int8Isa isa);
// Whether this CPU (as capped by OCTET_ISA) can run the variant.
bool int8_isa_available(Int8Isa isa);
// The fastest available variant.
Int8Isa int8_default_isa();

// Weights in the layout one variant's microkernel reads, built once at load
// time. Move-only; owns its memory.
class PackedInt8Weights {
 public:
  PackedInt8Weights();
  PackedInt8Weights(PackedInt8Weights&&) noexcept;
  PackedInt8Weights& operator=(PackedInt8Weights&&) noexcept;
  ~PackedInt8Weights();

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  Int8Isa isa() const { return isa_; }
  bool empty() const { return n_ == 0; }

  // Layout (for kernels): columns are grouped in panels of panel_width();
  // inside a panel, groups of 4 consecutive k for each column are contiguous:
  // W[n,k] lives at data()[(n / pw) * (k_padded() * pw) + (k / 4) * (4 * pw) + (n % pw) * 4 + k % 4].
  // Padding (k >= K or n >= N) holds zeros.
  int panel_width() const { return panel_width_; }
  int64_t k_padded() const { return k_padded_; }
  int64_t n_padded() const { return n_padded_; }
  const int8_t* data() const { return data_.get(); }
  // Per output channel (n_padded() entries, zero in the padding).
  std::span<const float> scales() const { return {scales_.get(), static_cast<size_t>(n_padded_)}; }
  std::span<const int32_t> row_sums() const { return {row_sums_.get(), static_cast<size_t>(n_padded_)}; }

 private:
  friend PackedInt8Weights pack_int8_weights(const int8_t*, int64_t, int64_t, const float*, Int8Isa);
  friend PackedInt8Weights pack_int8_weights_transposed(const int8_t*, int64_t, int64_t, int64_t, const float*,
                                                        Int8Isa);
  // Checked shape, zeroed codes and sums, the scales set.
  static PackedInt8Weights allocate(int64_t n, int64_t k, const float* w_scales, Int8Isa isa);
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  int64_t n_ = 0, k_ = 0, n_padded_ = 0, k_padded_ = 0;
  int panel_width_ = 1;
  Int8Isa isa_ = Int8Isa::Scalar;
  std::unique_ptr<int8_t[], FreeDeleter> data_;
  std::unique_ptr<float[], FreeDeleter> scales_;
  std::unique_ptr<int32_t[], FreeDeleter> row_sums_;
};

// Packs W [n,k] (row-major, values in [-127,127]) and its per-channel scales
// (n entries; nullptr means all 1) for `isa` (default: int8_default_isa()).
// Throws Error("gemm_int8") for -128 in W, n or k <= 0, null w, non-finite
// scales, or an ISA this CPU cannot run.
PackedInt8Weights pack_int8_weights(const int8_t* w, int64_t n, int64_t k, const float* w_scales);
PackedInt8Weights pack_int8_weights(const int8_t* w, int64_t n, int64_t k, const float* w_scales, Int8Isa isa);
// The same packing of W [n,k] given as its transpose: W[c, i] = wt[i * ldwt + c]
// (wt is [k, n] with leading dimension ldwt >= n), e.g. attention's values,
// whose rows are keys, as the weights of P V.
PackedInt8Weights pack_int8_weights_transposed(const int8_t* wt, int64_t k, int64_t n, int64_t ldwt,
                                               const float* w_scales, Int8Isa isa);

enum class Int8Activation : uint8_t { None, Relu, GeluErf, GeluTanh };

// The f32 epilogue, applied in this order (no fused multiply-add, so the
// scale/bias part is bit-identical across variants):
//   y = float(acc) * a_scale[m] * w_scale[n] + bias[n];  y = activation(y)
struct Int8Epilogue {
  float a_scale = 1.0f;                 // per-tensor activation scale
  const float* a_row_scales = nullptr;  // [M] per-token scales; replaces a_scale when set
  const float* bias = nullptr;          // [N], or nullptr for none
  Int8Activation activation = Int8Activation::None;
};

// Requantization of the epilogue's f32 output to int8:
//   q = clamp(round_half_even(y / scale) + zero_point, qmin, 127), NaN -> zero_point.
// qmin = -127 gives octet's symmetric activation grid (the next Linear's input).
struct Int8OutputQuant {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t qmin = -128;
};

// C[m,n] (f32, leading dimension ldc) = epilogue(exact int32 accumulation).
// Requires lda >= k, ldc >= n, and K * 127 * (128 + |a_zero_point|) < 2^31 so
// the int32 result cannot overflow. M = 0 is a no-op. Multithreaded with
// octet::parallel_for; M = 1..8 streams each weight once (decode).
void gemm_int8(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
               const Int8Epilogue& ep, float* c, int64_t ldc);
// Raw exact accumulators: C[m,n] = sum_k (A[m,k] - a_zero_point) * W[n,k].
void gemm_int8_s32(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
                   int32_t* c, int64_t ldc);
// The f32 epilogue followed by requantization to int8.
void gemm_int8_requantize(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
                          const Int8Epilogue& ep, const Int8OutputQuant& out, int8_t* c, int64_t ldc);

// ---- activation quantization (f32 rows -> int8) ------------------------------
// All variants are bit-identical (division and round-half-even are exact IEEE
// operations). `isa` defaults to int8_default_isa(); Avx512Vnni quantizes 16 lanes at a time
// (its per-token absmax runs the AVX2 code).

// Static per-tensor: q = clamp(round_half_even(x / scale) + zero_point, -128, 127);
// NaN -> zero_point. Requires scale > 0 and finite, zero_point in [-128,127].
void quantize_int8_per_tensor(const float* x, int64_t rows, int64_t cols, int64_t ldx, float scale,
                              int32_t zero_point, int8_t* q, int64_t ldq);
void quantize_int8_per_tensor(const float* x, int64_t rows, int64_t cols, int64_t ldx, float scale,
                              int32_t zero_point, int8_t* q, int64_t ldq, Int8Isa isa);
// The same with the codes clamped to [qmin, 127] (qmin in [-128, 127]):
// octet's symmetric activation grid stops at -127 (octet/quant.h).
void quantize_int8_per_tensor_clamped(const float* x, int64_t rows, int64_t cols, int64_t ldx, float scale,
                                      int32_t zero_point, int32_t qmin, int8_t* q, int64_t ldq,
                                      Int8Isa isa = int8_default_isa());

// Dynamic per-token, symmetric: scales[r] = absmax(row r) / 127 (NaN ignored;
// 1 for an all-zero row), q = clamp(round_half_even(x / scales[r]), -127, 127).
void quantize_int8_per_token(const float* x, int64_t rows, int64_t cols, int64_t ldx, int8_t* q, int64_t ldq,
                             float* scales);
void quantize_int8_per_token(const float* x, int64_t rows, int64_t cols, int64_t ldx, int8_t* q, int64_t ldq,
                             float* scales, Int8Isa isa);

}  // namespace octet
