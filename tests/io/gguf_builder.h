// A test-side GGUF writer, written from the format description (not from the
// reader), for synthetic files that exercise every metadata type and defect.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "octet/gguf.h"

namespace octet::testing {

class GgufBuilder {
 public:
  template <typename V>
  static void put(std::string& out, V value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(V));
  }
  static void put_string(std::string& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.append(s);
  }
  // The bytes of an array value (after its type tag): element type, count, items.
  static std::string array_payload(GgufType element_type, uint64_t count, const std::string& items) {
    std::string out;
    put<uint32_t>(out, static_cast<uint32_t>(element_type));
    put<uint64_t>(out, count);
    return out + items;
  }
  template <typename V>
  static std::string items(const std::vector<V>& values) {
    std::string out;
    for (const V& v : values) put<V>(out, v);
    return out;
  }
  static std::string string_items(const std::vector<std::string>& values) {
    std::string out;
    for (const auto& v : values) put_string(out, v);
    return out;
  }

  // A key with type tag `type` (any number, to test unknown ones) and value bytes `payload`.
  GgufBuilder& raw_kv(std::string_view key, uint32_t type, const std::string& payload) {
    put_string(kvs_, key);
    put<uint32_t>(kvs_, type);
    kvs_ += payload;
    ++kv_count_;
    return *this;
  }
  template <typename V>
  GgufBuilder& scalar(std::string_view key, GgufType type, V value) {
    std::string payload;
    put<V>(payload, value);
    return raw_kv(key, static_cast<uint32_t>(type), payload);
  }
  GgufBuilder& string(std::string_view key, std::string_view value) {
    std::string payload;
    put_string(payload, value);
    return raw_kv(key, static_cast<uint32_t>(GgufType::String), payload);
  }
  template <typename V>
  GgufBuilder& array(std::string_view key, GgufType element_type, const std::vector<V>& values) {
    return raw_kv(key, static_cast<uint32_t>(GgufType::Array), array_payload(element_type, values.size(), items(values)));
  }
  GgufBuilder& string_array(std::string_view key, const std::vector<std::string>& values) {
    return raw_kv(key, static_cast<uint32_t>(GgufType::Array),
                  array_payload(GgufType::String, values.size(), string_items(values)));
  }
  // Tensor data is laid out in order, each start aligned to `alignment`.
  GgufBuilder& tensor(std::string name, std::vector<uint64_t> ne, uint32_t type, std::string data) {
    tensors_.push_back({std::move(name), std::move(ne), type, std::move(data)});
    return *this;
  }
  GgufBuilder& version(uint32_t v) {
    version_ = v;
    return *this;
  }
  // The alignment used for layout; also add a general.alignment key to change the reader's.
  GgufBuilder& alignment(uint32_t a) {
    alignment_ = a;
    return *this;
  }
  // Adds `delta` to the stored offset of tensor i (to make misaligned or out-of-range offsets).
  GgufBuilder& shift_offset(size_t i, int64_t delta) {
    tensors_.at(i).offset_delta = delta;
    return *this;
  }

  // The file bytes; *info_end (if given) receives where the tensor infos end.
  std::string build(size_t* info_end = nullptr) const {
    std::string out = "GGUF";
    put<uint32_t>(out, version_);
    put<uint64_t>(out, tensors_.size());
    put<uint64_t>(out, kv_count_);
    out += kvs_;
    std::string data;
    for (const Tensor& t : tensors_) {
      data.resize(align(data.size()), '\0');
      put_string(out, t.name);
      put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
      for (uint64_t n : t.ne) put<uint64_t>(out, n);
      put<uint32_t>(out, t.type);
      put<uint64_t>(out, static_cast<uint64_t>(static_cast<int64_t>(data.size()) + t.offset_delta));
      data += t.data;
    }
    if (info_end) *info_end = out.size();
    out.resize(align(out.size()), '\0');
    return out + data;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string data;
    int64_t offset_delta = 0;
  };
  size_t align(size_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  std::string kvs_;
  uint64_t kv_count_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace octet::testing
