// Writing a whole folder so that readers see either no folder, the old one or
// the complete new one: files go into a hidden sibling ".OUT.tmp-<pid>-<serial>" that
// commit() renames to OUT. An existing OUT is replaced only when `overwrite`,
// and only after the new folder is complete (old -> ".OUT.old-<pid>", new ->
// OUT, old removed). Destroying an uncommitted writer removes the temporary;
// a run killed mid-write leaves its temporary behind, removed by the next
// writer of the same OUT once that process is gone.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "io/atomic_file.h"

namespace octet::io {

class AtomicFolderWriter {
 public:
  // Errors are octet::Error tagged `tag`: OUT is a file, OUT is `protect`
  // (e.g. the source model's folder), OUT exists without `overwrite`.
  AtomicFolderWriter(std::filesystem::path out, bool overwrite, std::string tag,
                     const std::filesystem::path& protect = {});
  AtomicFolderWriter(const AtomicFolderWriter&) = delete;
  AtomicFolderWriter& operator=(const AtomicFolderWriter&) = delete;
  ~AtomicFolderWriter();

  // The temporary folder to write into.
  const std::filesystem::path& path() const { return temp_; }
  // Renames the temporary folder to OUT (replacing an old OUT).
  void commit();

 private:
  std::optional<TemporaryName> temp_name_;  // released after the destructor removed the temporary
  std::filesystem::path out_, temp_;
  std::string tag_;
  bool committed_ = false;
};

}  // namespace octet::io
