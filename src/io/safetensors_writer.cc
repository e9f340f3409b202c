// save_safetensors: header + packed data, written atomically.
#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error_tags.h"
#include "io/atomic_file.h"
#include "octet/safetensors.h"

namespace octet {

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata, TensorOrder order) {
  const std::string file = path.string();
  std::vector<const std::pair<std::string, Tensor>*> items;
  items.reserve(tensors.size());
  std::set<std::string_view> seen;
  for (const auto& item : tensors) {
    const auto& [name, tensor] = item;
    check(!name.empty(), kSafetensorsTag, "{}: a tensor has an empty name", file);
    check(name != "__metadata__", kSafetensorsTag, "{}: '__metadata__' is reserved and cannot name a tensor", file);
    check(seen.insert(name).second, kSafetensorsTag, "{}: tensor '{}' is given twice", file, name);
    check(tensor.defined(), kSafetensorsTag, "{}: tensor '{}' is undefined", file, name);
    check(!dtype_info(tensor.dtype()).safetensors_name.empty(), kSafetensorsTag,
          "{}: tensor '{}' has dtype {}, which safetensors cannot store", file, name, dtype_name(tensor.dtype()));
    items.push_back(&item);
  }
  if (order == TensorOrder::Sorted) {
    std::stable_sort(items.begin(), items.end(), [](const auto* a, const auto* b) {
      const int abits = dtype_info(a->second.dtype()).bits;
      const int bbits = dtype_info(b->second.dtype()).bits;
      return abits != bbits ? abits > bbits : a->first < b->first;
    });
  }

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto* item : items) {
    const Tensor& t = item->second;
    const uint64_t bytes = t.nbytes();
    header[item->first] = {{"dtype", dtype_info(t.dtype()).safetensors_name},
                           {"shape", t.shape()},
                           {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (as HF does).
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const uint64_t header_len = header_text.size();

  io::AtomicFileWriter out(path, std::string(kSafetensorsTag));
  out.write(&header_len, sizeof(header_len));  // little-endian on every target octet supports
  out.write(header_text);
  for (const auto* item : items) {
    const Tensor contiguous = item->second.contiguous();
    out.write(contiguous.raw_data(), contiguous.nbytes());
  }
  out.commit();
}

}  // namespace octet
