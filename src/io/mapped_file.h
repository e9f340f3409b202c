// A private memory mapping of a whole file (opened read-only), shared by every
// tensor view into it. Pages are copy-on-write: writes through a view never
// reach the file.
//
// Tensors borrowed from a safetensors or GGUF file hold a shared_ptr to the
// MappedFile, so the mapping lives exactly as long as the last view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace octet::io {

class MappedFile {
 public:
  // Maps `path` read-only. Throws Error(tag, ...) naming the file when it
  // cannot be opened, is not a regular file, or cannot be mapped.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path, std::string_view tag);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::filesystem::path path_;
};

}  // namespace octet::io
