// GgufValue conversions and type names.
#include <array>
#include <cmath>
#include <limits>

#include "core/error_tags.h"
#include "io/ggml_quants.h"
#include "octet/gguf.h"

namespace octet {
namespace {

constexpr std::array<std::string_view, 13> kTypeNames = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                         "bool", "string", "array", "u64", "i64", "f64"};

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  const auto i = static_cast<size_t>(type);
  return i < kTypeNames.size() ? kTypeNames[i] : std::string_view("unknown");
}

std::string ggml_type_name(uint32_t type) {
  if (const auto* traits = io::ggml_type_traits(type)) return std::string(traits->name);
  return fmt::format("type {}", type);
}

bool GgufValue::is_integer() const {
  switch (type()) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}

bool GgufValue::is_float() const { return type() == GgufType::F32 || type() == GgufType::F64; }

int64_t GgufValue::as_i64(std::string_view what) const {
  if (!is_integer()) fail(kGgufTag, "{} must be an integer, got {}", what, gguf_type_name(type()));
  if (const auto* u = std::get_if<uint64_t>(&value_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(kGgufTag, "{} = {} does not fit in int64", what, *u);
    return static_cast<int64_t>(*u);
  }
  return std::visit(
      [](const auto& v) -> int64_t {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) return static_cast<int64_t>(v);
        return 0;  // unreachable: is_integer() checked above
      },
      value_);
}

uint64_t GgufValue::as_u64(std::string_view what) const {
  if (!is_integer()) fail(kGgufTag, "{} must be an integer, got {}", what, gguf_type_name(type()));
  if (const auto* u = std::get_if<uint64_t>(&value_)) return *u;
  const int64_t v = as_i64(what);
  if (v < 0) fail(kGgufTag, "{} = {} is negative", what, v);
  return static_cast<uint64_t>(v);
}

double GgufValue::as_f64(std::string_view what) const {
  if (const auto* f = std::get_if<float>(&value_)) return *f;
  if (const auto* d = std::get_if<double>(&value_)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&value_)) return static_cast<double>(*u);
  if (is_integer()) return static_cast<double>(as_i64(what));
  fail(kGgufTag, "{} must be a number, got {}", what, gguf_type_name(type()));
}

bool GgufValue::as_bool(std::string_view what) const {
  if (const auto* b = std::get_if<bool>(&value_)) return *b;
  fail(kGgufTag, "{} must be a bool, got {}", what, gguf_type_name(type()));
}

const std::string& GgufValue::as_string(std::string_view what) const {
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  fail(kGgufTag, "{} must be a string, got {}", what, gguf_type_name(type()));
}

const GgufArray& GgufValue::as_array(std::string_view what) const {
  if (const auto* a = std::get_if<GgufArray>(&value_)) return *a;
  fail(kGgufTag, "{} must be an array, got {}", what, gguf_type_name(type()));
}

std::vector<std::string> GgufValue::as_string_list(std::string_view what) const {
  const GgufArray& a = as_array(what);
  if (a.element_type != GgufType::String)
    fail(kGgufTag, "{} must be an array of strings, got an array of {}", what, gguf_type_name(a.element_type));
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (const GgufValue& v : a.items) out.push_back(v.as_string(what));
  return out;
}

std::vector<int64_t> GgufValue::as_int_list(std::string_view what) const {
  const GgufArray& a = as_array(what);
  std::vector<int64_t> out;
  out.reserve(a.items.size());
  for (const GgufValue& v : a.items) out.push_back(v.as_i64(what));
  return out;
}

std::vector<float> GgufValue::as_float_list(std::string_view what) const {
  const GgufArray& a = as_array(what);
  std::vector<float> out;
  out.reserve(a.items.size());
  for (const GgufValue& v : a.items) out.push_back(static_cast<float>(v.as_f64(what)));
  return out;
}

}  // namespace octet
