#include "io/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "octet/error.h"

namespace octet::io {

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, std::string tag)
    : path_(std::move(path)), tag_(std::move(tag)) {
  temp_path_ = path_;
  temp_path_ += ".tmp-" + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) fail(tag_, "{}: cannot create {}: {}", path_.string(), temp_path_.string(), std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ignored;
    std::filesystem::remove(temp_path_, ignored);
  }
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  check(file_ != nullptr && !committed_, tag_, "{}: write after commit", path_.string());
  if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes)
    fail(tag_, "{}: writing {} failed: {}", path_.string(), temp_path_.string(), std::strerror(errno));
}

void AtomicFileWriter::commit() {
  check(file_ != nullptr && !committed_, tag_, "{}: commit twice", path_.string());
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const int saved_errno = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed)
    fail(tag_, "{}: flushing {} failed: {}", path_.string(), temp_path_.string(), std::strerror(saved_errno));
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    fail(tag_, "{}: renaming {} into place failed: {}", path_.string(), temp_path_.string(), std::strerror(errno));
  committed_ = true;
}

}  // namespace octet::io
