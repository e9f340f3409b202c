// SafetensorsFile: mmap, validate the header, hand out zero-copy views.
#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error_tags.h"
#include "io/mapped_file.h"
#include "octet/safetensors.h"

namespace octet {
namespace {
// Hugging Face's reader refuses headers of 100 MB or more; so do we, which also
// bounds what a corrupt length field can make us parse.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

using nlohmann::json;

const char* json_type(const json& j) { return j.type_name(); }

// Parses a safetensors dtype name; octet's own names ("f32") are not valid here.
DType parse_safetensors_dtype(const std::string& file, const std::string& tensor, const std::string& name) {
  for (int i = 0; i < kDTypeCount; ++i) {
    const DTypeInfo& row = dtype_info(static_cast<DType>(i));
    if (!row.safetensors_name.empty() && row.safetensors_name == name) return row.dtype;
  }
  fail(kSafetensorsTag, "{}: tensor '{}' has unknown dtype '{}'", file, tensor, name);
}

int64_t parse_dimension(const std::string& file, const std::string& tensor, const json& d) {
  if (!d.is_number_integer())
    fail(kSafetensorsTag, "{}: tensor '{}' shape entries must be integers, got {}", file, tensor, json_type(d));
  if (d.is_number_unsigned()) {
    const auto u = d.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(kSafetensorsTag, "{}: tensor '{}' dimension {} is too large", file, tensor, u);
    return static_cast<int64_t>(u);
  }
  const auto v = d.get<int64_t>();
  if (v < 0) fail(kSafetensorsTag, "{}: tensor '{}' has negative dimension {}", file, tensor, v);
  return v;
}

uint64_t parse_offset(const std::string& file, const std::string& tensor, const json& o) {
  if (!o.is_number_unsigned())
    fail(kSafetensorsTag, "{}: tensor '{}' data_offsets must be non-negative integers, got {}", file, tensor,
         o.is_number_integer() ? "a negative integer" : json_type(o));
  return o.get<uint64_t>();
}

TensorInfo parse_entry(const std::string& file, const std::string& name, const json& entry, uint64_t data_size) {
  if (!entry.is_object())
    fail(kSafetensorsTag, "{}: tensor '{}' entry must be an object, got {}", file, name, json_type(entry));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) fail(kSafetensorsTag, "{}: tensor '{}' is missing '{}'", file, name, key);
  const json& dtype = entry["dtype"];
  const json& shape = entry["shape"];
  const json& offsets = entry["data_offsets"];
  if (!dtype.is_string())
    fail(kSafetensorsTag, "{}: tensor '{}' dtype must be a string, got {}", file, name, json_type(dtype));
  if (!shape.is_array())
    fail(kSafetensorsTag, "{}: tensor '{}' shape must be an array, got {}", file, name, json_type(shape));
  if (!offsets.is_array() || offsets.size() != 2)
    fail(kSafetensorsTag, "{}: tensor '{}' data_offsets must be an array of 2 integers, got {}", file, name,
         offsets.is_array() ? fmt::format("{} entries", offsets.size()) : json_type(offsets));

  TensorInfo info;
  info.name = name;
  info.file = file;
  info.dtype = parse_safetensors_dtype(file, name, dtype.get<std::string>());
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& d : shape) {
    const int64_t dim = parse_dimension(file, name, d);
    info.shape.push_back(dim);
    overflow = overflow || __builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel);
  }
  const auto element_bytes = static_cast<uint64_t>(dtype_info(info.dtype).bits / 8);
  uint64_t expected_bytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, element_bytes, &expected_bytes) ||
             numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (overflow) fail(kSafetensorsTag, "{}: tensor '{}' shape {} overflows", file, name, shape_str(info.shape));

  info.data_begin = parse_offset(file, name, offsets[0]);
  info.data_end = parse_offset(file, name, offsets[1]);
  if (info.data_end < info.data_begin)
    fail(kSafetensorsTag, "{}: tensor '{}' data_offsets [{}, {}] end before they begin", file, name, info.data_begin,
         info.data_end);
  if (info.data_end > data_size)
    fail(kSafetensorsTag,
         "{}: tensor '{}' data_offsets [{}, {}] run past the end of the file (data section is {} bytes)", file, name,
         info.data_begin, info.data_end, data_size);
  if (info.nbytes() != expected_bytes)
    fail(kSafetensorsTag, "{}: tensor '{}' of dtype {} and shape {} needs {} bytes but data_offsets [{}, {}] span {}",
         file, name, dtype_info(info.dtype).safetensors_name, shape_str(info.shape), expected_bytes, info.data_begin,
         info.data_end, info.nbytes());
  return info;
}

std::map<std::string, std::string> parse_metadata(const std::string& file, const json& meta) {
  if (!meta.is_object()) fail(kSafetensorsTag, "{}: __metadata__ must be an object, got {}", file, json_type(meta));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string())
      fail(kSafetensorsTag, "{}: __metadata__ value '{}' must be a string, got {}", file, key, json_type(value));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// Rejects overlapping tensors; reports gaps and trailing bytes as warnings
// (Hugging Face's reader rejects gaps, but they harm nothing here).
void check_layout(const std::string& file, std::vector<const TensorInfo*> sorted, uint64_t data_size,
                  std::vector<std::string>& warnings) {
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->data_begin != b->data_begin ? a->data_begin < b->data_begin : a->data_end < b->data_end;
  });
  uint64_t covered = 0;  // end of the bytes claimed so far
  const TensorInfo* last = nullptr;
  for (const TensorInfo* t : sorted) {
    if (t->nbytes() == 0) continue;  // an empty tensor claims no bytes
    if (last && t->data_begin < covered)
      fail(kSafetensorsTag, "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", file, last->name, last->data_begin,
           last->data_end, t->name, t->data_begin, t->data_end);
    if (t->data_begin > covered)
      warnings.push_back(fmt::format("{}: {} unused bytes before tensor '{}'", file, t->data_begin - covered, t->name));
    covered = t->data_end;
    last = t;
  }
  if (covered < data_size)
    warnings.push_back(fmt::format("{}: {} unused bytes after the last tensor", file, data_size - covered));
}

}  // namespace

struct SafetensorsFile::State {
  std::shared_ptr<const io::MappedFile> mapping;
  std::filesystem::path path;
  const uint8_t* data_section = nullptr;
  std::map<std::string, TensorInfo, std::less<>> tensors;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> warnings;
};

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto state = std::make_shared<State>();
  state->path = path;
  state->mapping = io::MappedFile::open(path, kSafetensorsTag);
  const std::string file = path.string();
  const size_t file_size = state->mapping->size();
  if (file_size < 8)
    fail(kSafetensorsTag, "{}: file is {} bytes, shorter than the 8-byte header length", file, file_size);

  uint64_t header_len = 0;
  std::memcpy(&header_len, state->mapping->data(), 8);  // little-endian on every target octet supports
  if (header_len >= kMaxHeaderBytes)
    fail(kSafetensorsTag, "{}: header length {} exceeds the 100 MB limit (corrupt or not a safetensors file)", file,
         header_len);
  if (header_len > file_size - 8)
    fail(kSafetensorsTag, "{}: header length {} runs past the end of the file ({} bytes)", file, header_len, file_size);

  const auto* header_begin = reinterpret_cast<const char*>(state->mapping->data() + 8);
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_len);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double (1e400)
    fail(kSafetensorsTag, "{}: header is not valid JSON: {}", file, e.what());
  }
  if (!header.is_object()) fail(kSafetensorsTag, "{}: header must be a JSON object, got {}", file, json_type(header));

  const uint64_t data_size = file_size - 8 - header_len;
  state->data_section = state->mapping->data() + 8 + header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      state->metadata = parse_metadata(file, entry);
      continue;
    }
    state->tensors.emplace(name, parse_entry(file, name, entry, data_size));
  }
  std::vector<const TensorInfo*> infos;
  infos.reserve(state->tensors.size());
  for (const auto& [name, info] : state->tensors) infos.push_back(&info);
  check_layout(file, std::move(infos), data_size, state->warnings);

  SafetensorsFile out;
  out.state_ = std::move(state);
  return out;
}

const std::filesystem::path& SafetensorsFile::path() const { return state_->path; }

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(state_->tensors.size());
  for (const auto& [name, info] : state_->tensors) out.push_back(name);
  return out;
}

size_t SafetensorsFile::size() const { return state_->tensors.size(); }

bool SafetensorsFile::contains(std::string_view name) const { return state_->tensors.find(name) != state_->tensors.end(); }

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  const auto it = state_->tensors.find(name);
  if (it == state_->tensors.end()) fail(kSafetensorsTag, "{}: no tensor named '{}'", state_->path.string(), name);
  return it->second;
}

Tensor SafetensorsFile::get(std::string_view name) const {
  const TensorInfo& t = info(name);
  const uint8_t* p = state_->data_section + t.data_begin;
  const auto element_bytes = static_cast<uintptr_t>(dtype_info(t.dtype).bits / 8);
  if (reinterpret_cast<uintptr_t>(p) % element_bytes == 0)
    return Tensor::borrow(static_cast<const void*>(p), t.shape, t.dtype, state_->mapping);
  // Typed access through a misaligned pointer is undefined behaviour: copy.
  Tensor copy = Tensor::empty(t.shape, t.dtype);
  std::memcpy(copy.raw_data(), p, t.nbytes());
  return copy;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return state_->metadata; }

const std::vector<std::string>& SafetensorsFile::warnings() const { return state_->warnings; }

}  // namespace octet
