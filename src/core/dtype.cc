#include "octet/dtype.h"

#include <array>
#include <cstdint>
#include <string>

#include "octet/error.h"

namespace octet {
namespace {

constexpr std::array<DTypeInfo, kDTypeCount> kTable{{
    {DType::F32, "f32", "F32", 32, true, true, false},
    {DType::F16, "f16", "F16", 16, true, true, false},
    {DType::BF16, "bf16", "BF16", 16, true, true, false},
    {DType::F8_E4M3, "fp8_e4m3", "F8_E4M3", 8, true, true, false},
    {DType::F8_E5M2, "fp8_e5m2", "F8_E5M2", 8, true, true, false},
    {DType::F64, "f64", "F64", 64, true, true, false},
    {DType::I8, "int8", "I8", 8, false, true, false},
    {DType::U8, "uint8", "U8", 8, false, false, false},
    {DType::I4, "int4", "", 4, false, true, true},
    {DType::U4, "uint4", "", 4, false, false, true},
    {DType::I16, "int16", "I16", 16, false, true, false},
    {DType::I32, "int32", "I32", 32, false, true, false},
    {DType::I64, "int64", "I64", 64, false, true, false},
    {DType::Bool, "bool", "BOOL", 8, false, false, false},
}};

constexpr bool table_is_indexed_by_dtype() {
  for (int i = 0; i < kDTypeCount; ++i)
    if (static_cast<int>(kTable[i].dtype) != i) return false;
  return true;
}
static_assert(table_is_indexed_by_dtype(), "kTable rows must follow the DType enum order");

struct Alias {
  std::string_view name;
  DType dtype;
};
constexpr Alias kAliases[] = {
    {"float32", DType::F32}, {"float", DType::F32},     {"fp32", DType::F32},   {"float16", DType::F16},
    {"fp16", DType::F16},    {"half", DType::F16},      {"bfloat16", DType::BF16}, {"e4m3", DType::F8_E4M3},
    {"e5m2", DType::F8_E5M2}, {"float64", DType::F64},  {"i8", DType::I8},      {"u8", DType::U8},
    {"i4", DType::I4},       {"u4", DType::U4},         {"i32", DType::I32},    {"i64", DType::I64},
};

}  // namespace

const DTypeInfo& dtype_info(DType dtype) {
  auto i = static_cast<size_t>(dtype);
  if (i >= kTable.size()) fail("dtype", "invalid dtype code {}", i);
  return kTable[i];
}

DType parse_dtype(std::string_view name) {
  for (const auto& row : kTable)
    if (row.name == name || (!row.safetensors_name.empty() && row.safetensors_name == name)) return row.dtype;
  for (const auto& a : kAliases)
    if (a.name == name) return a.dtype;
  fail("dtype", "unknown dtype '{}'", name);
}

size_t storage_bytes(DType dtype, int64_t n) {
  if (n < 0) fail("dtype", "negative element count {}", n);
  const auto bits = static_cast<size_t>(dtype_info(dtype).bits);
  // n * bits wrapped for n past 2^58 (f64): a tiny allocation for a huge tensor.
  if (static_cast<size_t>(n) > (SIZE_MAX - 7) / bits)
    fail("dtype", "{} elements of {} are more bytes than a 64-bit size holds", n, dtype_name(dtype));
  return (static_cast<size_t>(n) * bits + 7) / 8;
}

}  // namespace octet
