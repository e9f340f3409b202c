// Element types and their trait table.
//
// One table (dtype_info) answers every per-type question (size, float or not,
// the name used by safetensors); code indexes it instead of switching on DType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace octet {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F8_E4M3,  // OCP fp8: 4 exponent bits, max 448, no infinities
  F8_E5M2,  // OCP fp8: 5 exponent bits, max 57344, with infinities
  F64,
  I8,
  U8,
  I4,  // signed 4-bit, two per byte, element 2i in the low nibble
  U4,  // unsigned 4-bit, two per byte, element 2i in the low nibble
  I16,
  I32,
  I64,
  Bool,
};
inline constexpr int kDTypeCount = static_cast<int>(DType::Bool) + 1;

struct DTypeInfo {
  DType dtype;
  std::string_view name;              // octet's name: "f32", "int8", "fp8_e4m3", ...
  std::string_view safetensors_name;  // "F32", "F8_E4M3", ... ("" when safetensors has none)
  int bits;                           // storage bits per element
  bool is_float;
  bool is_signed;
  bool is_packed;  // sub-byte: several elements per byte
};

// The trait table entry for a dtype.
const DTypeInfo& dtype_info(DType dtype);
inline std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }

// Parses octet's or safetensors' name ("f16", "F16", "float16", "int8", "I8", ...).
// Throws Error("dtype", ...) for an unknown name.
DType parse_dtype(std::string_view name);

// Bytes needed to store n elements (packed types round up to whole bytes).
size_t storage_bytes(DType dtype, int64_t n);

// Storage-only types for the 16- and 8-bit floats: conversions live in
// octet/number_formats.h. They exist so Tensor::data<T>() can check its type.
struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };
struct fp8_e4m3 { uint8_t bits; };
struct fp8_e5m2 { uint8_t bits; };
static_assert(sizeof(f16) == 2 && sizeof(bf16) == 2 && sizeof(fp8_e4m3) == 1 && sizeof(fp8_e5m2) == 1);

// Maps a C++ element type to its DType (for Tensor::data<T>()).
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<f16> { static constexpr DType value = DType::F16; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::BF16; };
template <> struct DTypeOf<fp8_e4m3> { static constexpr DType value = DType::F8_E4M3; };
template <> struct DTypeOf<fp8_e5m2> { static constexpr DType value = DType::F8_E5M2; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::I8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::I16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

}  // namespace octet
