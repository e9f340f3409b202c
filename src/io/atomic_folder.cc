#include "io/atomic_folder.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "octet/error.h"

namespace octet::io {
namespace {

namespace fs = std::filesystem;

// OUT itself, without a trailing separator.
fs::path folder_of(const fs::path& out) {
  const fs::path abs = fs::absolute(out).lexically_normal();
  return abs.filename().empty() ? abs.parent_path() : abs;
}

fs::path sibling(const fs::path& out, std::string_view what) {
  const fs::path dir = folder_of(out);
  return dir.parent_path() / fmt::format(".{}.{}-{}", dir.filename().string(), what, ::getpid());
}

// Temporaries of earlier runs whose process is gone. (Backups, ".old-", are
// left alone: one may hold the only copy of a replaced model.)
void remove_stale_temporaries(const fs::path& out) {
  const fs::path dir = folder_of(out);
  const fs::path parent = dir.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) return;
  const std::string prefix = fmt::format(".{}.tmp-", dir.filename().string());
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH)) stale.push_back(entry.path());
  }
  for (const fs::path& p : stale) fs::remove_all(p, ec);
}

}  // namespace

AtomicFolderWriter::AtomicFolderWriter(fs::path out, bool overwrite, std::string tag, const fs::path& protect)
    : out_(std::move(out)), tag_(std::move(tag)) {
  check(!out_.empty(), tag_, "no output folder given");
  if (fs::exists(out_)) {
    check(fs::is_directory(out_), tag_, "'{}' exists and is not a folder", out_.string());
    check(protect.empty() || !fs::exists(protect) || !fs::equivalent(out_, protect), tag_,
          "the output folder '{}' is the source model's folder", out_.string());
    check(overwrite, tag_, "'{}' already exists (pass --force to replace it)", out_.string());
  }
  remove_stale_temporaries(out_);
  temp_ = sibling(out_, "tmp");
  std::error_code ec;
  fs::remove_all(temp_, ec);
  fs::create_directories(temp_);
}

AtomicFolderWriter::~AtomicFolderWriter() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_, ec);
}

void AtomicFolderWriter::commit() {
  check(!committed_, tag_, "'{}' was already written", out_.string());
  if (fs::exists(out_)) {
    const fs::path backup = sibling(out_, "old");
    std::error_code ec;
    fs::remove_all(backup, ec);
    fs::rename(out_, backup);
    fs::rename(temp_, out_);
    fs::remove_all(backup, ec);
  } else {
    if (out_.has_parent_path()) fs::create_directories(out_.parent_path());
    fs::rename(temp_, out_);
  }
  committed_ = true;
}

}  // namespace octet::io
