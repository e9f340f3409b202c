// GgufFile: parse and validate the header, hand out views and dequantized tensors.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

#include "core/error_tags.h"
#include "io/ggml_quants.h"
#include "io/gguf_format.h"
#include "io/mapped_file.h"
#include "octet/gguf.h"

namespace octet {
namespace {
// Nested arrays recurse; bound the depth so a hostile file cannot exhaust the stack.
constexpr int kMaxArrayDepth = 16;

// Bounds-checked little-endian reads over the mapped bytes.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, std::string file) : data_(data), size_(size), file_(std::move(file)) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }

  void need(uint64_t bytes, std::string_view what) const {
    if (bytes > remaining())
      fail(kGgufTag, "{}: truncated {}: needs {} bytes at offset {}, but the file ends at {}", file_, what, bytes, pos_,
           size_);
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    const auto len = read<uint64_t>(what);
    need(len, what);  // guards the allocation: a string cannot be longer than the rest of the file
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string file_;
};

// The fewest bytes a value of `type` can occupy (used to reject impossible counts).
uint64_t min_value_bytes(GgufType type) {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: case GgufType::String: return 8;
    case GgufType::Array: return 12;
  }
  return 1;
}

GgufType read_type(Cursor& in, const std::string& key) {
  const auto raw = in.read<uint32_t>("metadata");
  if (raw > static_cast<uint32_t>(GgufType::F64))
    fail(kGgufTag, "{}: key '{}' has unknown value type {}", in.file(), key, raw);
  return static_cast<GgufType>(raw);
}

GgufValue read_value(Cursor& in, GgufType type, const std::string& key, int depth) {
  using S = GgufValue::Storage;
  switch (type) {
    case GgufType::U8: return GgufValue(S(in.read<uint8_t>("metadata")));
    case GgufType::I8: return GgufValue(S(in.read<int8_t>("metadata")));
    case GgufType::U16: return GgufValue(S(in.read<uint16_t>("metadata")));
    case GgufType::I16: return GgufValue(S(in.read<int16_t>("metadata")));
    case GgufType::U32: return GgufValue(S(in.read<uint32_t>("metadata")));
    case GgufType::I32: return GgufValue(S(in.read<int32_t>("metadata")));
    case GgufType::F32: return GgufValue(S(in.read<float>("metadata")));
    case GgufType::U64: return GgufValue(S(in.read<uint64_t>("metadata")));
    case GgufType::I64: return GgufValue(S(in.read<int64_t>("metadata")));
    case GgufType::F64: return GgufValue(S(in.read<double>("metadata")));
    case GgufType::Bool: {
      const auto b = in.read<uint8_t>("metadata");
      if (b > 1) fail(kGgufTag, "{}: key '{}' has bool value {} (must be 0 or 1)", in.file(), key, b);
      return GgufValue(S(b == 1));
    }
    case GgufType::String: return GgufValue(S(in.read_string("metadata")));
    case GgufType::Array: {
      if (depth >= kMaxArrayDepth)
        fail(kGgufTag, "{}: key '{}' nests arrays deeper than {}", in.file(), key, kMaxArrayDepth);
      GgufArray array;
      array.element_type = read_type(in, key);
      const auto count = in.read<uint64_t>("metadata");
      const uint64_t min_bytes = min_value_bytes(array.element_type);
      if (count > in.remaining() / min_bytes)
        fail(kGgufTag, "{}: key '{}' claims {} array elements of type {}, more than the {} bytes left in the file hold",
             in.file(), key, count, gguf_type_name(array.element_type), in.remaining());
      array.items.reserve(static_cast<size_t>(count));
      for (uint64_t i = 0; i < count; ++i) array.items.push_back(read_value(in, array.element_type, key, depth + 1));
      return GgufValue(S(std::move(array)));
    }
  }
  fail(kGgufTag, "{}: key '{}' has unknown value type {}", in.file(), key, static_cast<uint32_t>(type));
}

void check_magic_and_version(Cursor& in, uint32_t& version) {
  in.need(4, "header");
  char magic[4];
  for (char& c : magic) c = static_cast<char>(in.read<uint8_t>("header"));
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    std::string shown;
    for (char c : magic)
      shown += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", static_cast<uint8_t>(c));
    fail(kGgufTag, "{}: bad magic '{}' (expected 'GGUF'): not a GGUF file", in.file(), shown);
  }
  version = in.read<uint32_t>("header");
  if (version == 1) fail(kGgufTag, "{}: GGUF version 1 is not supported (only versions 2 and 3)", in.file());
  if (version != 2 && version != 3) {
    if ((version & 0xFFFF) == 0)
      fail(kGgufTag, "{}: version field 0x{:08x} looks big-endian; only little-endian GGUF is supported", in.file(),
           version);
    fail(kGgufTag, "{}: unsupported GGUF version {} (only versions 2 and 3)", in.file(), version);
  }
}

GgufTensorInfo read_tensor_info(Cursor& in, uint32_t alignment) {
  GgufTensorInfo t;
  t.name = in.read_string("tensor info");
  const std::string& file = in.file();
  const auto n_dims = in.read<uint32_t>("tensor info");
  if (n_dims > io::kGgufMaxDims)
    fail(kGgufTag, "{}: tensor '{}' has {} dimensions (at most {})", file, t.name, n_dims, io::kGgufMaxDims);
  // The product of the non-zero dimensions must fit in int64 even when a zero dimension makes the
  // tensor empty (shape_numel's rule: the strides are those products).
  uint64_t nonzero = 1;
  bool empty = false;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const auto ne = in.read<uint64_t>("tensor info");
    if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(kGgufTag, "{}: tensor '{}' dimension {} is negative or too large ({})", file, t.name, d, ne);
    empty = empty || ne == 0;
    if (ne != 0 && (__builtin_mul_overflow(nonzero, ne, &nonzero) ||
                    nonzero > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
      fail(kGgufTag, "{}: tensor '{}' element count overflows", file, t.name);
    t.ne.push_back(ne);
  }
  const uint64_t numel = empty ? 0 : nonzero;
  t.shape.assign(t.ne.rbegin(), t.ne.rend());
  t.type = in.read<uint32_t>("tensor info");
  const io::GgmlTypeTraits* traits = io::ggml_type_traits(t.type);
  if (!traits) fail(kGgufTag, "{}: tensor '{}' has unknown tensor type {}", file, t.name, t.type);
  const uint64_t row = t.ne.empty() ? 1 : t.ne[0];
  if (row % static_cast<uint64_t>(traits->block_size) != 0)
    fail(kGgufTag, "{}: tensor '{}' of type {} has rows of {} elements, not a multiple of the block size {}", file,
         t.name, traits->name, row, traits->block_size);
  if (__builtin_mul_overflow(numel / static_cast<uint64_t>(traits->block_size), traits->block_bytes, &t.nbytes))
    fail(kGgufTag, "{}: tensor '{}' byte size overflows", file, t.name);
  t.offset = in.read<uint64_t>("tensor info");
  if (t.offset % alignment != 0)
    fail(kGgufTag, "{}: tensor '{}' offset {} is not a multiple of the alignment {}", file, t.name, t.offset,
         alignment);
  return t;
}

}  // namespace

struct GgufFile::State {
  std::shared_ptr<const io::MappedFile> mapping;
  std::filesystem::path path;
  uint32_t version = 0;
  uint32_t alignment = io::kGgufDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::map<std::string, size_t, std::less<>> key_index;
  std::vector<GgufTensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;
};

GgufFile GgufFile::open(const std::filesystem::path& path) {
  auto state = std::make_shared<State>();
  state->path = path;
  state->mapping = io::MappedFile::open(path, kGgufTag);
  const std::string file = path.string();
  Cursor in(state->mapping->data(), state->mapping->size(), file);

  check_magic_and_version(in, state->version);
  const auto tensor_count = in.read<uint64_t>("header");
  const auto kv_count = in.read<uint64_t>("header");
  // Each key/value takes at least 13 bytes and each tensor info 24: reject
  // counts no file of this size could hold before reserving anything.
  if (kv_count > in.remaining() / 13)
    fail(kGgufTag, "{}: truncated metadata: the header claims {} key/value pairs but only {} bytes follow", file,
         kv_count, in.remaining());
  if (tensor_count > in.remaining() / 24)
    fail(kGgufTag, "{}: truncated tensor info: the header claims {} tensors but only {} bytes follow", file,
         tensor_count, in.remaining());

  state->metadata.reserve(static_cast<size_t>(kv_count));
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = in.read_string("metadata");
    const GgufType type = read_type(in, key);
    GgufValue value = read_value(in, type, key, 0);
    if (!state->key_index.emplace(key, state->metadata.size()).second)
      fail(kGgufTag, "{}: duplicate metadata key '{}'", file, key);
    state->metadata.emplace_back(std::move(key), std::move(value));
  }
  if (auto it = state->key_index.find("general.alignment"); it != state->key_index.end()) {
    const GgufValue& v = state->metadata[it->second].second;
    if (v.type() != GgufType::U32)
      fail(kGgufTag, "{}: general.alignment must be a u32, got {}", file, gguf_type_name(v.type()));
    const auto a = std::get<uint32_t>(v.storage());
    if (a == 0 || (a & (a - 1)) != 0) fail(kGgufTag, "{}: general.alignment {} is not a power of two", file, a);
    state->alignment = a;
  }

  state->tensors.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t = read_tensor_info(in, state->alignment);
    if (!state->tensor_index.emplace(t.name, state->tensors.size()).second)
      fail(kGgufTag, "{}: duplicate tensor name '{}'", file, t.name);
    state->tensors.push_back(std::move(t));
  }

  const uint64_t file_size = state->mapping->size();
  state->data_offset = (in.pos() + state->alignment - 1) / state->alignment * state->alignment;
  const uint64_t data_size = state->data_offset <= file_size ? file_size - state->data_offset : 0;
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& t : state->tensors) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(kGgufTag,
           "{}: tensor '{}' data [{}, {}) runs past the end of the file (data section has {} bytes): truncated", file,
           t.name, t.offset, t.offset + t.nbytes, data_size);
    if (t.nbytes > 0) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->offset < by_offset[i - 1]->offset + by_offset[i - 1]->nbytes)
      fail(kGgufTag, "{}: tensors '{}' and '{}' overlap", file, by_offset[i - 1]->name, by_offset[i]->name);

  GgufFile out;
  out.state_ = std::move(state);
  return out;
}

const std::filesystem::path& GgufFile::path() const { return state_->path; }
uint32_t GgufFile::version() const { return state_->version; }
uint32_t GgufFile::alignment() const { return state_->alignment; }
uint64_t GgufFile::data_offset() const { return state_->data_offset; }
const std::vector<std::pair<std::string, GgufValue>>& GgufFile::metadata() const { return state_->metadata; }
const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return state_->tensors; }

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = state_->key_index.find(key);
  return it == state_->key_index.end() ? nullptr : &state_->metadata[it->second].second;
}

const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail(kGgufTag, "{}: metadata key '{}' missing", state_->path.string(), key);
  return *v;
}

template <typename T>
T GgufFile::get(std::string_view key) const {
  const GgufValue& v = require(key);
  const std::string what = fmt::format("{}: key '{}'", state_->path.string(), key);
  if constexpr (std::is_same_v<T, bool>) {
    return v.as_bool(what);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v.as_string(what);
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v.as_f64(what));
  } else if constexpr (std::is_signed_v<T>) {
    const int64_t i = v.as_i64(what);
    if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max())
      fail(kGgufTag, "{} = {} does not fit in {} bits", what, i, sizeof(T) * 8);
    return static_cast<T>(i);
  } else {
    const uint64_t u = v.as_u64(what);
    if (u > std::numeric_limits<T>::max()) fail(kGgufTag, "{} = {} does not fit in {} bits", what, u, sizeof(T) * 8);
    return static_cast<T>(u);
  }
}

template bool GgufFile::get<bool>(std::string_view) const;
template uint32_t GgufFile::get<uint32_t>(std::string_view) const;
template int32_t GgufFile::get<int32_t>(std::string_view) const;
template uint64_t GgufFile::get<uint64_t>(std::string_view) const;
template int64_t GgufFile::get<int64_t>(std::string_view) const;
template float GgufFile::get<float>(std::string_view) const;
template double GgufFile::get<double>(std::string_view) const;
template std::string GgufFile::get<std::string>(std::string_view) const;

const GgufArray& GgufFile::get_array(std::string_view key) const {
  return require(key).as_array(fmt::format("{}: key '{}'", state_->path.string(), key));
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  return require(key).as_string_list(fmt::format("{}: key '{}'", state_->path.string(), key));
}

bool GgufFile::contains(std::string_view name) const {
  return state_->tensor_index.find(name) != state_->tensor_index.end();
}

const GgufTensorInfo& GgufFile::tensor_info(std::string_view name) const {
  const auto it = state_->tensor_index.find(name);
  if (it == state_->tensor_index.end()) fail(kGgufTag, "{}: no tensor named '{}'", state_->path.string(), name);
  return state_->tensors[it->second];
}

Tensor GgufFile::get_raw(std::string_view name) const {
  const GgufTensorInfo& t = tensor_info(name);
  const uint8_t* p = state_->mapping->data() + state_->data_offset + t.offset;
  return Tensor::borrow(static_cast<const void*>(p), {static_cast<int64_t>(t.nbytes)}, DType::U8, state_->mapping);
}

Tensor GgufFile::get(std::string_view name) const {
  const GgufTensorInfo& t = tensor_info(name);
  const io::GgmlTypeTraits& traits = *io::ggml_type_traits(t.type);
  if (!traits.plain_dtype)
    fail(kGgufTag, "{}: tensor '{}' is block-quantized {}; use get_f32 to dequantize it", state_->path.string(), name,
         traits.name);
  const uint8_t* p = state_->mapping->data() + state_->data_offset + t.offset;
  if (reinterpret_cast<uintptr_t>(p) % traits.block_bytes == 0)
    return Tensor::borrow(static_cast<const void*>(p), t.shape, *traits.plain_dtype, state_->mapping);
  // Only a file with general.alignment below the element size gets here.
  Tensor copy = Tensor::empty(t.shape, *traits.plain_dtype);
  std::memcpy(copy.raw_data(), p, t.nbytes);
  return copy;
}

Tensor GgufFile::get_f32(std::string_view name) const {
  const GgufTensorInfo& t = tensor_info(name);
  const io::GgmlTypeTraits& traits = *io::ggml_type_traits(t.type);
  if (traits.plain_dtype) {
    Tensor view = get(name);
    return view.dtype() == DType::F32 ? view : view.to(DType::F32);
  }
  if (!traits.dequantize)
    fail(kGgufTag, "{}: tensor '{}' has type {}, which octet cannot dequantize (supported: Q8_0, Q4_0, Q4_K, Q6_K)",
         state_->path.string(), name, traits.name);
  Tensor out = Tensor::empty(t.shape, DType::F32);
  traits.dequantize(state_->mapping->data() + state_->data_offset + t.offset, out.data<float>(), out.numel());
  return out;
}

bool is_gguf_file(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

}  // namespace octet
