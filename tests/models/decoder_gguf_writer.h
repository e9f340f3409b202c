// A minimal GGUF v3 writer for tests: metadata (strings, u32, f32, bool,
// arrays of strings / f32 / i32) and f32 tensors, laid out as llama.cpp's
// gguf writer does (tensor data aligned to 32 bytes). Options corrupt the
// output for error tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "octet/tensor.h"

namespace octet::testing {

class GgufWriter {
 public:
  void str(const std::string& key, const std::string& v) { kv(key, 8, string_bytes(v)); }
  void u32(const std::string& key, uint32_t v) { kv(key, 4, pod(v)); }
  void f32(const std::string& key, float v) { kv(key, 6, pod(v)); }
  void boolean(const std::string& key, bool v) { kv(key, 7, std::string(1, char(v))); }
  void str_array(const std::string& key, const std::vector<std::string>& v) {
    std::string b = pod(uint32_t{8}) + pod(uint64_t(v.size()));
    for (const auto& s : v) b += string_bytes(s);
    kv(key, 9, b);
  }
  void f32_array(const std::string& key, const std::vector<float>& v) {
    std::string b = pod(uint32_t{6}) + pod(uint64_t(v.size()));
    for (float x : v) b += pod(x);
    kv(key, 9, b);
  }
  void i32_array(const std::string& key, const std::vector<int32_t>& v) {
    std::string b = pod(uint32_t{5}) + pod(uint64_t(v.size()));
    for (int32_t x : v) b += pod(x);
    kv(key, 9, b);
  }
  // An f32 tensor; `type_override` writes another ggml type id into its info.
  void tensor(const std::string& name, const Tensor& t, uint32_t type_override = 0) {
    tensors_.push_back({name, t.contiguous(), type_override});
  }

  // Writes the file; `drop_tail` bytes are cut off its end (truncation tests).
  void write(const std::filesystem::path& path, size_t drop_tail = 0) const {
    std::string out = "GGUF" + pod(uint32_t{3}) + pod(uint64_t(tensors_.size())) + pod(uint64_t(kv_count_)) + kv_;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      out += string_bytes(t.name) + pod(uint32_t(t.data.rank()));
      for (int i = t.data.rank() - 1; i >= 0; --i) out += pod(uint64_t(t.data.dim(i)));  // ne: fastest first
      out += pod(t.type_override ? t.type_override : uint32_t{0}) + pod(offset);
      offsets.push_back(offset);
      offset += align(t.data.nbytes());
    }
    out.resize(align(out.size()), '\0');
    for (size_t i = 0; i < tensors_.size(); ++i) {
      std::string data(static_cast<const char*>(tensors_[i].data.raw_data()), tensors_[i].data.nbytes());
      data.resize(align(data.size()), '\0');
      out += data;
    }
    out.resize(out.size() - std::min(drop_tail, out.size()));
    std::ofstream(path, std::ios::binary).write(out.data(), std::streamsize(out.size()));
  }

 private:
  struct Entry {
    std::string name;
    Tensor data;
    uint32_t type_override;
  };
  static size_t align(size_t n) { return (n + 31) / 32 * 32; }
  template <typename T>
  static std::string pod(T v) {
    std::string s(sizeof(T), '\0');
    std::memcpy(s.data(), &v, sizeof(T));
    return s;
  }
  static std::string string_bytes(const std::string& s) { return pod(uint64_t(s.size())) + s; }
  void kv(const std::string& key, uint32_t type, const std::string& value) {
    kv_ += string_bytes(key) + pod(type) + value;
    ++kv_count_;
  }
  std::string kv_;
  size_t kv_count_ = 0;
  std::vector<Entry> tensors_;
};

// convert_hf_to_gguf.py's LlamaModel.permute of q/k rows (and biases) for llama.cpp's rotary.
inline Tensor llama_cpp_permute(const Tensor& w, int64_t n_head) {
  const int64_t rows = w.dim(0), in = w.rank() == 2 ? w.dim(1) : 1, half = rows / n_head / 2;
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t b = 0; b < half; ++b)
        std::memcpy(out.data<float>() + ((h * half + b) * 2 + a) * in, w.data<float>() + ((h * 2 + a) * half + b) * in,
                    sizeof(float) * in);
  return out;
}

}  // namespace octet::testing
