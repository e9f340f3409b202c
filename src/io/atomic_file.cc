#include "io/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <vector>

#include "octet/error.h"

namespace octet::io {

namespace {

// The temporary names this process's writers hold: another writer of the same output must
// not take them for a killed run's. Names are unique in the process (pid + serial), so the
// folder is not part of the key.
std::mutex live_names_mutex;
std::set<std::string, std::less<>>& live_names() {
  static std::set<std::string, std::less<>> names;
  return names;
}

// The pid of "<pid>" or "<pid>-<serial>", or -1 for any other text.
pid_t pid_of_temporary_suffix(std::string_view text) {
  const size_t dash = text.find('-');
  const std::string_view pid_text = text.substr(0, dash);
  const std::string_view serial = dash == std::string_view::npos ? std::string_view("0") : text.substr(dash + 1);
  const auto all_digits = [](std::string_view t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (pid_text.size() > 9 || serial.size() > 19 || !all_digits(pid_text) || !all_digits(serial)) return -1;
  return static_cast<pid_t>(std::stol(std::string(pid_text)));
}

}  // namespace

TemporaryName::TemporaryName(std::string_view prefix) {
  static std::atomic<uint64_t> serial{0};
  name_ = std::string(prefix) + std::to_string(::getpid()) + "-" + std::to_string(serial++);
  const std::lock_guard<std::mutex> lock(live_names_mutex);
  live_names().insert(name_);
}

TemporaryName::~TemporaryName() {
  const std::lock_guard<std::mutex> lock(live_names_mutex);
  live_names().erase(name_);
}

void remove_stale_temporaries(const std::filesystem::path& folder, std::string_view prefix) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return;
  std::vector<std::filesystem::path> stale;
  {
    const std::lock_guard<std::mutex> lock(live_names_mutex);
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(prefix)) continue;
      const pid_t pid = pid_of_temporary_suffix(std::string_view(name).substr(prefix.size()));
      if (pid < 0) continue;
      const bool gone = pid == ::getpid() ? !live_names().contains(name) : ::kill(pid, 0) != 0 && errno == ESRCH;
      if (gone) stale.push_back(entry.path());
    }
  }
  for (const std::filesystem::path& p : stale) std::filesystem::remove_all(p, ec);
}

int flush_sync_close(std::FILE* file) {
  int error = 0;
  if (std::fflush(file) != 0 || ::fsync(::fileno(file)) != 0) error = errno;
  if (std::fclose(file) != 0 && error == 0) error = errno;
  return error;
}

void write_small_file(const std::filesystem::path& path, std::string_view bytes, std::string_view tag) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) fail(tag, "cannot create {}: {}", path.string(), std::strerror(errno));
  int error = 0;
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    error = errno;
    std::fclose(file);
  } else {
    error = flush_sync_close(file);
  }
  if (error != 0) fail(tag, "writing {} failed: {}", path.string(), std::strerror(error));
}

void copy_small_file(const std::filesystem::path& from, const std::filesystem::path& to, std::string_view tag) {
  std::ifstream in(from, std::ios::binary);
  if (!in) fail(tag, "cannot open {}: {}", from.string(), std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(tag, "reading {} failed", from.string());
  write_small_file(to, bytes, tag);
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, std::string tag)
    : path_(std::move(path)),
      temp_name_(path_.filename().string() + ".tmp-"),
      temp_path_(path_.parent_path() / temp_name_.str()),
      tag_(std::move(tag)) {
  const std::filesystem::path absolute = std::filesystem::absolute(path_);
  remove_stale_temporaries(absolute.parent_path(), absolute.filename().string() + ".tmp-");
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
  check(file_ != nullptr && !committed_, tag_, "{}: write after sync or commit", path_.string());
  if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes)
    fail(tag_, "{}: writing {} failed: {}", path_.string(), temp_path_.string(), std::strerror(errno));
}

void AtomicFileWriter::sync() {
  check(file_ != nullptr && !committed_, tag_, "{}: sync after commit", path_.string());
  const int error = flush_sync_close(file_);
  file_ = nullptr;
  if (error != 0) fail(tag_, "{}: flushing {} failed: {}", path_.string(), temp_path_.string(), std::strerror(error));
  synced_ = true;
}

void AtomicFileWriter::commit() {
  check(!committed_, tag_, "{}: commit twice", path_.string());
  if (!synced_) sync();
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    fail(tag_, "{}: renaming {} into place failed: {}", path_.string(), temp_path_.string(), std::strerror(errno));
  committed_ = true;
}

}  // namespace octet::io
