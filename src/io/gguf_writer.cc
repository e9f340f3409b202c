// write_gguf: validate everything first, then stream the header and the
// tensors (encoded one at a time) through an AtomicFileWriter.
#include <bit>
#include <cmath>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/error_tags.h"
#include "io/atomic_file.h"
#include "io/ggml_quants.h"
#include "io/gguf_format.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "octet/number_formats.h"

namespace octet {
namespace {

static_assert(std::endian::native == std::endian::little, "GGUF is written little-endian by plain copies");
constexpr uint32_t kVersion = 3;
constexpr size_t kMaxNameBytes = 63;   // GGML_MAX_NAME - 1: llama.cpp refuses longer tensor names

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

// The value's bytes without its type tag (arrays: element type, count, items).
void put_value(std::string& out, const GgufValue& value) {
  std::visit(
      [&out](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string>) {
          put_string(out, v);
        } else if constexpr (std::is_same_v<V, GgufArray>) {
          put<uint32_t>(out, static_cast<uint32_t>(v.element_type));
          put<uint64_t>(out, v.items.size());
          for (const GgufValue& item : v.items) put_value(out, item);
        } else if constexpr (std::is_same_v<V, bool>) {
          put<uint8_t>(out, v ? 1 : 0);
        } else {
          put<V>(out, v);
        }
      },
      value.storage());
}

void check_array_items(const GgufValue& value, const std::string& file, const std::string& key) {
  const auto* array = std::get_if<GgufArray>(&value.storage());
  if (!array) return;
  for (size_t i = 0; i < array->items.size(); ++i) {
    const GgufValue& item = array->items[i];
    check(item.type() == array->element_type, kGgufTag, "{}: key '{}': array item {} is {}, the array holds {}", file,
          key, i, gguf_type_name(item.type()), gguf_type_name(array->element_type));
    check_array_items(item, file, key);
  }
}

uint32_t alignment_of(const std::vector<std::pair<std::string, GgufValue>>& metadata, const std::string& file) {
  std::set<std::string_view> keys;
  uint32_t alignment = io::kGgufDefaultAlignment;
  for (const auto& [key, value] : metadata) {
    check(keys.insert(key).second, kGgufTag, "{}: duplicate metadata key '{}'", file, key);
    check_array_items(value, file, key);
    if (key != "general.alignment") continue;
    check(value.type() == GgufType::U32, kGgufTag, "{}: general.alignment must be a u32, got {}", file,
          gguf_type_name(value.type()));
    alignment = std::get<uint32_t>(value.storage());
    check(alignment != 0 && (alignment & (alignment - 1)) == 0, kGgufTag,
          "{}: general.alignment {} is not a power of two", file, alignment);
  }
  return alignment;
}

struct Planned {
  const GgufTensorToWrite* source;
  const io::GgmlTypeTraits* traits;
  uint64_t nbytes;
};

const Shape& shape_of(const GgufTensorToWrite& t) { return t.encoded.defined() ? t.encoded_shape : t.values.shape(); }

Planned plan_encoded(const GgufTensorToWrite& t, const std::string& file) {
  const std::string& name = t.name;
  check(!t.values.defined(), kGgufTag, "{}: tensor '{}' has both values and encoded blocks", file, name);
  const io::GgmlTypeTraits* traits = io::ggml_type_traits(static_cast<uint32_t>(t.type));
  check(traits && traits->block_size > 1, kGgufTag,
        "{}: tensor '{}': encoded blocks of type {} (a block type is needed)", file, name,
        ggml_type_name(static_cast<uint32_t>(t.type)));
  const Shape& shape = t.encoded_shape;
  check(!shape.empty() && shape.size() <= io::kGgufMaxDims, kGgufTag,
        "{}: tensor '{}' has {} dimensions (GGUF holds 1 to {})", file, name, shape.size(), io::kGgufMaxDims);
  int64_t numel = 1;
  for (int64_t d : shape) {
    check(d > 0, kGgufTag, "{}: tensor '{}' has shape {}", file, name, shape_str(shape));
    numel *= d;
  }
  check(shape.back() % traits->block_size == 0, kGgufTag,
        "{}: tensor '{}' of type {} has rows of {} values, not a multiple of the block size {}", file, name,
        traits->name, shape.back(), traits->block_size);
  const uint64_t nbytes = uint64_t(numel / traits->block_size) * traits->block_bytes;
  check(t.encoded.dtype() == DType::U8 && uint64_t(t.encoded.numel()) == nbytes, kGgufTag,
        "{}: tensor '{}': {} encoded {} bytes for shape {} of type {}, expected {} u8", file, name, t.encoded.numel(),
        dtype_name(t.encoded.dtype()), shape_str(shape), traits->name, nbytes);
  return {&t, traits, nbytes};
}

Planned plan_tensor(const GgufTensorToWrite& t, const std::string& file) {
  const std::string& name = t.name;
  check(!name.empty() && name.size() <= kMaxNameBytes, kGgufTag,
        "{}: tensor name '{}' has {} bytes (llama.cpp reads names of 1 to {} bytes)", file, name, name.size(),
        kMaxNameBytes);
  if (t.encoded.defined()) return plan_encoded(t, file);
  check(t.values.defined(), kGgufTag, "{}: tensor '{}' has no values", file, name);
  check(t.values.rank() >= 1 && size_t(t.values.rank()) <= io::kGgufMaxDims, kGgufTag,
        "{}: tensor '{}' has {} dimensions (GGUF holds 1 to {})", file, name, t.values.rank(), io::kGgufMaxDims);
  check(dtype_info(t.values.dtype()).is_float, kGgufTag, "{}: tensor '{}' values are {}, a float type is needed", file,
        name, dtype_name(t.values.dtype()));
  const GgmlType type = t.type;
  const io::GgmlTypeTraits* traits = io::ggml_type_traits(static_cast<uint32_t>(type));
  const bool supported = type == GgmlType::F32 || type == GgmlType::F16 || (traits && traits->quantize);
  check(supported, kGgufTag, "{}: tensor '{}': writing type {} is not supported (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K)",
        file, name, ggml_type_name(static_cast<uint32_t>(type)));
  const int64_t row = t.values.shape().back();
  check(row % traits->block_size == 0, kGgufTag,
        "{}: tensor '{}' of type {} has rows of {} values, not a multiple of the block size {}", file, name,
        traits->name, row, traits->block_size);
  return {&t, traits, uint64_t(t.values.numel() / traits->block_size) * traits->block_bytes};
}

uint64_t align_up(uint64_t n, uint32_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// The stored bytes of one tensor.
std::string encode(const Planned& p, const std::string& file) {
  if (p.source->encoded.defined()) {
    const Tensor bytes = p.source->encoded.contiguous();
    return std::string(reinterpret_cast<const char*>(bytes.data<uint8_t>()), p.nbytes);
  }
  const Tensor values = p.source->values.dtype() == DType::F32 ? p.source->values.contiguous()
                                                               : p.source->values.to(DType::F32).contiguous();
  const std::span<const float> x = values.span<float>();
  std::string out(p.nbytes, '\0');
  const GgmlType type = p.source->type;
  if (type == GgmlType::F32) {
    std::memcpy(out.data(), x.data(), p.nbytes);
  } else if (type == GgmlType::F16) {
    convert_f32_to_f16(x, {reinterpret_cast<uint16_t*>(out.data()), x.size()});
  } else {
    // ggml's quantizers turn NaN or infinity into undefined integer conversions.
    for (size_t i = 0; i < x.size(); ++i)
      check(std::isfinite(x[i]), kGgufTag,
            "{}: tensor '{}' holds a non-finite value ({}) at element {}; {} needs finite values", file, p.source->name,
            x[i], i, p.traits->name);
    p.traits->quantize(x.data(), reinterpret_cast<uint8_t*>(out.data()), int64_t(x.size()));
  }
  return out;
}

}  // namespace

void write_gguf(const std::filesystem::path& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorToWrite>& tensors) {
  const std::string file = path.string();
  const uint32_t alignment = alignment_of(metadata, file);
  std::vector<Planned> planned;
  std::set<std::string_view> names;
  for (const GgufTensorToWrite& t : tensors) {
    check(names.insert(t.name).second, kGgufTag, "{}: duplicate tensor name '{}'", file, t.name);
    planned.push_back(plan_tensor(t, file));
  }

  std::string header = "GGUF";
  put<uint32_t>(header, kVersion);
  put<uint64_t>(header, tensors.size());
  put<uint64_t>(header, metadata.size());
  for (const auto& [key, value] : metadata) {
    put_string(header, key);
    put<uint32_t>(header, static_cast<uint32_t>(value.type()));
    put_value(header, value);
  }
  uint64_t offset = 0;
  for (const Planned& p : planned) {
    put_string(header, p.source->name);
    const Shape& shape = shape_of(*p.source);
    put<uint32_t>(header, static_cast<uint32_t>(shape.size()));
    for (auto d = shape.rbegin(); d != shape.rend(); ++d) put<uint64_t>(header, uint64_t(*d));  // ne: fastest first
    put<uint32_t>(header, static_cast<uint32_t>(p.source->type));
    put<uint64_t>(header, offset);
    offset = align_up(offset + p.nbytes, alignment);
  }
  header.resize(align_up(header.size(), alignment), '\0');

  io::AtomicFileWriter out(path, std::string(kGgufTag));
  out.write(header);
  for (const Planned& p : planned) {
    std::string bytes = encode(p, file);
    bytes.resize(align_up(bytes.size(), alignment), '\0');  // ggml pads every tensor, the last one too
    out.write(bytes);
  }
  out.commit();
}

}  // namespace octet
