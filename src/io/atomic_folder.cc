#include "io/atomic_folder.h"

#include <unistd.h>

#include <string_view>

#include <fmt/format.h>

#include "io/atomic_file.h"
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
  // Temporaries of killed runs. (Backups, ".old-", are left alone: one may hold the only copy
  // of a replaced model.)
  const fs::path dir = folder_of(out_);
  const std::string temp_prefix = fmt::format(".{}.tmp-", dir.filename().string());
  remove_stale_temporaries(dir.parent_path(), temp_prefix);
  temp_name_.emplace(temp_prefix);
  temp_ = dir.parent_path() / temp_name_->str();
  std::error_code ec;
  fs::remove_all(temp_, ec);
  fs::create_directories(temp_, ec);
  check(!ec, tag_, "cannot create {}: {}", temp_.string(), ec.message());
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
    fs::rename(out_, backup, ec);
    check(!ec, tag_, "cannot move the old '{}' aside: {}", out_.string(), ec.message());
    fs::rename(temp_, out_, ec);
    check(!ec, tag_, "cannot rename {} to '{}' (the old folder is kept as {}): {}", temp_.string(), out_.string(),
          backup.string(), ec.message());
    fs::remove_all(backup, ec);
  } else {
    std::error_code ec;
    if (out_.has_parent_path()) fs::create_directories(out_.parent_path(), ec);
    check(!ec, tag_, "cannot create {}: {}", out_.parent_path().string(), ec.message());
    fs::rename(temp_, out_, ec);
    check(!ec, tag_, "cannot rename {} to '{}': {}", temp_.string(), out_.string(), ec.message());
  }
  committed_ = true;
}

}  // namespace octet::io
