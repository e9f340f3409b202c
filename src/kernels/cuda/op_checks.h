// Internal: argument checks and GEMM planning decisions for the CUDA ops.
// Header-only and free of CUDA types, so the tests run every rule here on
// machines without a GPU (and in builds without CUDA).
#pragma once

#include <cstdint>
#include <string_view>

#include "octet/cuda_ops.h"
#include "octet/error.h"
#include "octet/tensor.h"

namespace octet::cuda::detail {

// What the checks need to know about a device tensor.
struct TensorInfo {
  bool defined = false;
  DType dtype = DType::F32;
  Shape shape;
  uintptr_t address = 0;

  int64_t numel() const { return shape_numel(shape); }
  static TensorInfo of(const DeviceTensor& t) {
    if (!t.defined()) return {};
    return {true, t.dtype(), t.shape(), reinterpret_cast<uintptr_t>(t.raw_data())};
  }
};

inline bool is_float_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }
inline bool is_quantized_output(DType t) { return t == DType::I8 || t == DType::F8_E4M3; }

// Largest power of two dividing the address, capped at 256 (cudaMalloc's alignment).
inline uint32_t pointer_alignment(uintptr_t address) {
  uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

inline void check_float_operand(const TensorInfo& t, std::string_view op, std::string_view name) {
  check(t.defined, "cuda", "{}: {} is undefined", op, name);
  check(is_float_dtype(t.dtype), "cuda", "{}: {} must be f32, f16 or bf16, got {}", op, name, dtype_name(t.dtype));
}

// The output of a row op writing `rows` rows: a float type, or I8 / F8_E4M3
// with a scale tensor matching the quant mode.
inline void check_row_output(const TensorInfo& y, int64_t rows, const OutputQuant& quant, const TensorInfo& scale,
                             std::string_view op, bool allow_dynamic_per_tensor) {
  check(y.defined, "cuda", "{}: output is undefined (allocate it with DeviceTensor::empty)", op);
  if (is_float_dtype(y.dtype)) return;
  check(is_quantized_output(y.dtype), "cuda", "{}: output dtype {} is not f32, f16, bf16, int8 or fp8_e4m3", op,
        dtype_name(y.dtype));
  check(scale.defined && scale.dtype == DType::F32, "cuda", "{}: a {} output needs an f32 scale tensor", op,
        dtype_name(y.dtype));
  switch (quant.mode) {
    case QuantMode::Static:
      check(scale.numel() == 1, "cuda", "{}: a static scale has one element, got {}", op, shape_str(scale.shape));
      return;
    case QuantMode::DynamicPerToken:
      check(scale.numel() == rows, "cuda", "{}: per-token scales need {} elements (one per row), got {}", op, rows,
            shape_str(scale.shape));
      return;
    case QuantMode::DynamicPerTensor:
      check(allow_dynamic_per_tensor, "cuda",
            "{}: dynamic per-tensor quantization needs the whole tensor's range before the first store; "
            "write a float output and call quantize(), or use a static or per-token scale",
            op);
      check(scale.numel() == 1, "cuda", "{}: a per-tensor scale has one element, got {}", op, shape_str(scale.shape));
      return;
  }
}

// Whether two byte ranges overlap without being the very same tensor (same
// start, same dtype), which the row kernels allow (in place).
inline void check_no_partial_alias(const TensorInfo& in, const TensorInfo& out, std::string_view op,
                                   std::string_view name) {
  if (!in.defined || !out.defined) return;
  const uintptr_t in_end = in.address + storage_bytes(in.dtype, in.numel());
  const uintptr_t out_end = out.address + storage_bytes(out.dtype, out.numel());
  const bool overlap = in.address < out_end && out.address < in_end;
  if (!overlap) return;
  check(in.address == out.address && in.dtype == out.dtype && in.numel() == out.numel(), "cuda",
        "{}: output overlaps {} but is not the same tensor (in place needs the same dtype and shape)", op, name);
}

// ---- GEMM ---------------------------------------------------------------------------

enum class GemmKind { F16, BF16, I8, F8 };

// cuBLASLt's layout rules for the weight (A, transposed) and activation (B):
// IMMA needs K and N (its m) multiples of 4; FP8 needs them multiples of 16.
inline void check_weight_shape(DType w, int64_t n, int64_t k) {
  if (w == DType::I8) {
    check(k % 4 == 0 && n % 4 == 0, "cuda",
          "int8 GEMM (cuBLASLt IMMA) needs in_features and out_features to be multiples of 4, got [{}, {}]", n, k);
  } else if (w == DType::F8_E4M3) {
    check(k % 16 == 0 && n % 16 == 0, "cuda",
          "fp8 GEMM (cuBLASLt) needs in_features and out_features to be multiples of 16, got [{}, {}]", n, k);
  }
}

struct GemmDecision {
  GemmKind kind = GemmKind::F16;
  int64_t m = 0, n = 0, k = 0;
  DType d_dtype = DType::F32;   // the matmul's output D (I32 for int8)
  bool d_is_y = false;          // D is written straight into y
  bool bias_in_matmul = false;  // cuBLASLt's BIAS epilogue adds the bias
  bool post_kernel = false;     // a bias_activation / dequant kernel finishes y
  int activation = 0;           // 0 none, 1 gelu erf, 2 gelu tanh (for the post kernel)
  bool x_scale_per_row = false;
};

inline GemmDecision decide_gemm(const TensorInfo& x, const TensorInfo& x_scale, const TensorInfo& w,
                                const TensorInfo& w_scale, const TensorInfo& bias, GemmEpilogue epilogue,
                                const TensorInfo& y, const OutputQuant& quant, const TensorInfo& quant_scale) {
  constexpr std::string_view op = "linear";
  check(x.defined && w.defined, "cuda", "linear: x and the weight must be defined");
  check(w.shape.size() == 2, "cuda", "linear: weight must be [out, in], got {}", shape_str(w.shape));
  check(!x.shape.empty(), "cuda", "linear: x must have at least one dimension");
  GemmDecision d;
  d.n = w.shape[0];
  d.k = w.shape[1];
  check(x.shape.back() == d.k, "cuda", "linear: x {} does not end in in_features {}", shape_str(x.shape), d.k);
  d.m = d.k == 0 ? 0 : x.numel() / d.k;
  check(d.m > 0 && d.n > 0 && d.k > 0, "cuda", "linear: empty GEMM ({} x {} x {})", d.m, d.n, d.k);
  check(d.m <= INT32_MAX && d.n <= INT32_MAX && d.k <= INT32_MAX, "cuda", "linear: dimensions exceed 2^31");
  check(x.dtype == w.dtype, "cuda", "linear: x is {} but the weight is {} (they must match)", dtype_name(x.dtype),
        dtype_name(w.dtype));
  switch (w.dtype) {
    case DType::F16: d.kind = GemmKind::F16; break;
    case DType::BF16: d.kind = GemmKind::BF16; break;
    case DType::I8: d.kind = GemmKind::I8; break;
    case DType::F8_E4M3: d.kind = GemmKind::F8; break;
    default: fail("cuda", "linear: weights of dtype {} are not supported (f16, bf16, int8, fp8_e4m3)", dtype_name(w.dtype));
  }
  check_weight_shape(w.dtype, d.n, d.k);

  // Scales.
  if (d.kind == GemmKind::I8) {
    check(x_scale.defined && x_scale.dtype == DType::F32 && (x_scale.numel() == 1 || x_scale.numel() == d.m), "cuda",
          "linear: int8 x needs an f32 scale with 1 (per tensor) or {} (per token) elements", d.m);
    d.x_scale_per_row = x_scale.numel() == d.m && d.m != 1;
    check(w_scale.defined && w_scale.dtype == DType::F32 && w_scale.numel() == d.n, "cuda",
          "linear: an int8 weight needs f32 per-channel scales with {} elements", d.n);
    check(x.address % 4 == 0 && w.address % 4 == 0, "cuda", "linear: int8 operands must be 4-byte aligned");
  } else if (d.kind == GemmKind::F8) {
    check(x_scale.defined && x_scale.dtype == DType::F32 && x_scale.numel() == 1, "cuda",
          "linear: fp8 x needs one f32 per-tensor scale (cuBLASLt B scale)");
    check(w_scale.defined && w_scale.dtype == DType::F32 && w_scale.numel() == 1, "cuda",
          "linear: an fp8 weight needs one f32 per-tensor scale (cuBLASLt A scale)");
    check(x.address % 16 == 0 && w.address % 16 == 0, "cuda", "linear: fp8 operands must be 16-byte aligned");
  } else {
    check(!x_scale.defined, "cuda", "linear: {} x takes no scale", dtype_name(x.dtype));
  }

  // Output.
  check(y.defined, "cuda", "linear: output is undefined (allocate it with DeviceTensor::empty)");
  check(!y.shape.empty() && y.shape.back() == d.n && y.numel() == d.m * d.n, "cuda",
        "linear: output {} must be [..., {}] with {} rows", shape_str(y.shape), d.n, d.m);
  check_row_output(y, d.m, quant, quant_scale, op, false);

  const bool uses_bias = epilogue != GemmEpilogue::None;
  if (uses_bias) {
    check(bias.defined && is_float_dtype(bias.dtype) && bias.numel() == d.n, "cuda",
          "linear: the epilogue adds a bias, which must be a float tensor of {} elements", d.n);
  }
  d.activation = epilogue == GemmEpilogue::BiasGeluErf ? 1 : epilogue == GemmEpilogue::BiasGeluTanh ? 2 : 0;

  if (d.kind == GemmKind::I8) {
    d.d_dtype = DType::I32;  // int32 accumulators, finished by the dequant kernel
    d.post_kernel = true;
    return d;
  }
  // Which D types cuBLASLt takes directly into y.
  const bool direct = d.kind == GemmKind::F8 ? is_float_dtype(y.dtype) : (y.dtype == x.dtype || y.dtype == DType::F32);
  d.d_dtype = direct ? y.dtype : DType::F32;
  d.d_is_y = direct;
  // cuBLASLt's BIAS epilogue takes a bias of D's type (fp8: only for f16 / bf16 D).
  const bool bias_type_ok = uses_bias && bias.dtype == d.d_dtype &&
                            (d.kind != GemmKind::F8 || d.d_dtype == DType::F16 || d.d_dtype == DType::BF16);
  d.bias_in_matmul = direct && epilogue == GemmEpilogue::Bias && bias_type_ok;
  d.post_kernel = !direct || d.activation != 0 || (uses_bias && !d.bias_in_matmul);
  return d;
}

}  // namespace octet::cuda::detail
