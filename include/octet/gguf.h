// Reading and writing GGUF files (llama.cpp's model format): versions 2 and 3
// are read, version 3 is written; little-endian.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata
// key/value pairs, tensor infos (name, n_dims, ne[], ggml type, offset), padding
// to general.alignment (default 32), then the data section; tensor offsets are
// relative to its start and multiples of the alignment.
//
// Shapes: ggml lists dimensions fastest-varying first (ne[0] is the length of
// a row). GgufTensorInfo::ne keeps that order; GgufTensorInfo::shape and every
// Tensor returned here use octet's row-major order, i.e. ne reversed. A ggml
// tensor with ne = {64, 512} is shape [512, 64]: 512 rows of 64.
//
// The file is mmapped privately (copy-on-write: writing through a view never
// changes the file); views keep the mapping alive.
// The whole file is validated when opened; every failure is an Error tagged
// "gguf" naming the file and, where there is one, the key or tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "octet/tensor.h"

namespace octet {

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t { U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };
std::string_view gguf_type_name(GgufType type);  // "u32", "string", "array", ...

class GgufValue;
struct GgufArray {
  GgufType element_type = GgufType::U8;
  std::vector<GgufValue> items;

  bool operator==(const GgufArray& other) const;
};

class GgufValue {
 public:
  // Alternative i holds GgufType i.
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                               GgufArray, uint64_t, int64_t, double>;

  GgufValue() = default;
  explicit GgufValue(Storage value) : value_(std::move(value)) {}

  GgufType type() const { return static_cast<GgufType>(value_.index()); }
  const Storage& storage() const { return value_; }
  bool is_integer() const;  // any of the 8 integer types
  bool is_float() const;    // f32 or f64

  // Checked conversions; `what` names the value in errors ("file: key 'x'").
  // Integers convert to any integer type they fit; as_f64 takes any number.
  int64_t as_i64(std::string_view what = "value") const;
  uint64_t as_u64(std::string_view what = "value") const;
  double as_f64(std::string_view what = "value") const;
  bool as_bool(std::string_view what = "value") const;
  const std::string& as_string(std::string_view what = "value") const;
  const GgufArray& as_array(std::string_view what = "value") const;
  std::vector<std::string> as_string_list(std::string_view what = "value") const;
  std::vector<int64_t> as_int_list(std::string_view what = "value") const;
  std::vector<float> as_float_list(std::string_view what = "value") const;

  bool operator==(const GgufValue& other) const { return value_ == other.value_; }

 private:
  Storage value_;
};

inline bool GgufArray::operator==(const GgufArray& other) const {
  return element_type == other.element_type && items == other.items;
}

// GGML tensor type ids (ggml.h); the block formats group elements along ne[0].
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
};
// "Q4_K"; "type 99" for an id octet does not know.
std::string ggml_type_name(uint32_t type);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] varies fastest
  Shape shape;               // row-major: ne reversed
  uint32_t type = 0;         // GgmlType id
  uint64_t offset = 0;       // from the start of the data section
  uint64_t nbytes = 0;
};

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  uint32_t version() const;
  uint32_t alignment() const;
  uint64_t data_offset() const;  // file offset of the data section

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const;
  // nullptr when absent.
  const GgufValue* find(std::string_view key) const;
  const GgufValue& require(std::string_view key) const;
  // T: bool, uint32_t, int32_t, uint64_t, int64_t, float, double, std::string.
  template <typename T>
  T get(std::string_view key) const;
  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    return find(key) ? get<T>(key) : fallback;
  }
  std::string get_string(std::string_view key) const { return get<std::string>(key); }
  uint32_t get_u32(std::string_view key) const { return get<uint32_t>(key); }
  uint64_t get_u64(std::string_view key) const { return get<uint64_t>(key); }
  float get_float(std::string_view key) const { return get<float>(key); }
  const GgufArray& get_array(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;

  // Tensor infos in file order.
  const std::vector<GgufTensorInfo>& tensors() const;
  bool contains(std::string_view name) const;
  const GgufTensorInfo& tensor_info(std::string_view name) const;
  // A typed zero-copy view of a plain tensor (F32, F16, BF16, F64, I8..I64);
  // throws for block formats (use get_f32).
  Tensor get(std::string_view name) const;
  // As f32: a view for F32, converted for other plain types, dequantized for
  // Q8_0, Q4_0, Q4_K and Q6_K (bit-exact with ggml); other block types throw.
  Tensor get_f32(std::string_view name) const;
  // The stored bytes, zero-copy: u8 tensor of shape [nbytes].
  Tensor get_raw(std::string_view name) const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

// Whether `path` is a regular file starting with the GGUF magic (how loaders tell a .gguf from
// other inputs before parsing it).
bool is_gguf_file(const std::filesystem::path& path);

// ---- writing ---------------------------------------------------------------

// One tensor for write_gguf: `values` in octet's row-major shape (1 to 4
// dimensions, any float dtype; taken as f32), stored as `type`.
struct GgufTensorToWrite {
  GgufTensorToWrite() = default;
  GgufTensorToWrite(std::string name_, Tensor values_, GgmlType type_ = GgmlType::F32)
      : name(std::move(name_)), values(std::move(values_)), type(type_) {}

  std::string name;
  Tensor values;
  GgmlType type = GgmlType::F32;
  // Already-encoded blocks instead of `values` (which must then be
  // undefined): u8 bytes of `type` (a block type) for a tensor of
  // `encoded_shape`, written as they are (e.g. int4 codes that are Q4_0 exactly).
  Tensor encoded;
  Shape encoded_shape;
};

// Writes a GGUF v3 file: `metadata` in the order given (any GgufType, arrays
// of any element type; every item must have the array's element type), then
// the tensor infos (ne = shape reversed) and the data, each tensor at a
// multiple of general.alignment (a u32 power of two when present, else 32)
// and padded to it. Types: F32, F16 (rounded to nearest even), Q8_0, Q4_0,
// Q4_K and Q6_K (quantized as ggml's quantize_row_*_ref do; rows must be a
// multiple of the block size, 32 or 256 values, all finite), or any block
// type with `encoded` bytes of the exact size. The file goes to
// a temporary name and is renamed into place. Errors are tagged "gguf":
// duplicate keys or tensor names, names llama.cpp rejects (empty, over 63
// bytes), unsupported types, bad shapes or alignment.
void write_gguf(const std::filesystem::path& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorToWrite>& tensors);

extern template bool GgufFile::get<bool>(std::string_view) const;
extern template uint32_t GgufFile::get<uint32_t>(std::string_view) const;
extern template int32_t GgufFile::get<int32_t>(std::string_view) const;
extern template uint64_t GgufFile::get<uint64_t>(std::string_view) const;
extern template int64_t GgufFile::get<int64_t>(std::string_view) const;
extern template float GgufFile::get<float>(std::string_view) const;
extern template double GgufFile::get<double>(std::string_view) const;
extern template std::string GgufFile::get<std::string>(std::string_view) const;

}  // namespace octet
