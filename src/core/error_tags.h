// The tags of octet::Error that library code throws (Error::tag(), the first word of
// its message: "quantize: ..."), one constant per tag so that every file throwing with a
// tag names the same constant (and unity builds see one definition).
#pragma once

#include <string_view>

namespace octet {

inline constexpr std::string_view kAttentionInt8Tag = "attention_int8";
inline constexpr std::string_view kBenchTag = "bench";
inline constexpr std::string_view kCalibrateTag = "calibrate";
inline constexpr std::string_view kConfigTag = "config";
inline constexpr std::string_view kCudaTag = "cuda";
inline constexpr std::string_view kEvalTag = "eval";
inline constexpr std::string_view kExportTag = "export";
inline constexpr std::string_view kFp8GemmTag = "fp8_gemm";
inline constexpr std::string_view kGemmBf16Tag = "gemm_bf16";
inline constexpr std::string_view kGemmInt8Tag = "gemm_int8";
inline constexpr std::string_view kGgufTag = "gguf";
inline constexpr std::string_view kHfCheckpointTag = "hf_checkpoint";
inline constexpr std::string_view kOnnxTag = "onnx";
inline constexpr std::string_view kPrecisionTag = "precision";
inline constexpr std::string_view kQuantTag = "quant";
inline constexpr std::string_view kQuantizeTag = "quantize";
inline constexpr std::string_view kQuantizeInt8Tag = "quantize_int8";
inline constexpr std::string_view kQuantizedTag = "quantized";
inline constexpr std::string_view kSafetensorsTag = "safetensors";
inline constexpr std::string_view kServeTag = "serve";
inline constexpr std::string_view kWoGemvTag = "wo_gemv";

}  // namespace octet
