// Writing a file so that readers see either the old file or the complete new
// one: bytes go to "<path>.tmp-<pid>-<serial>", which commit() flushes, fsyncs
// and renames over `path`. Destroying an uncommitted writer removes the
// temporary; one left by a killed process is removed by the next writer of the
// same path. Two writers of one path may be alive at once (two threads): each
// has its own temporary and the last commit wins.
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace octet::io {

// Flushes, fsyncs and closes `file` (closed in every case): 0, or the errno of the first
// step that failed. Where a full disk shows at the latest, so every writer ends with it.
int flush_sync_close(std::FILE* file);

// Writes `bytes` to `path` (created or truncated) and syncs it to disk: the small files
// (configs, tokenizers) that go into an AtomicFolderWriter's temporary folder next to
// its AtomicFileWriter-written weights. Any failure, a full disk (ENOSPC) included, is an
// octet::Error tagged `tag` naming the file and the system's reason.
void write_small_file(const std::filesystem::path& path, std::string_view bytes, std::string_view tag);

// write_small_file of `from`'s bytes. The copy gets default permissions, not the
// source's: a read-only source (a model on a read-only share) gives a writable copy.
void copy_small_file(const std::filesystem::path& from, const std::filesystem::path& to, std::string_view tag);

// A fresh temporary name for a writer, "<prefix><pid>-<serial>" (the serial counts up in
// this process), held as live (remove_stale_temporaries keeps it) while the object lives.
class TemporaryName {
 public:
  explicit TemporaryName(std::string_view prefix);
  TemporaryName(const TemporaryName&) = delete;
  TemporaryName& operator=(const TemporaryName&) = delete;
  ~TemporaryName();
  const std::string& str() const { return name_; }

 private:
  std::string name_;
};

// Removes the entries of `folder` named `prefix` + "<pid>" or "<pid>-<serial>" whose process
// is gone (or is this one, unless a writer here holds the name): the temporaries of writers
// that were killed. Errors are ignored.
void remove_stale_temporaries(const std::filesystem::path& folder, std::string_view prefix);

class AtomicFileWriter {
 public:
  // Errors are octet::Error tagged `tag`, naming `path`.
  AtomicFileWriter(std::filesystem::path path, std::string tag);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  void write(const void* data, size_t bytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Flushes and syncs the temporary file (where a full disk shows at the latest), without
  // renaming it: writers of several files sync them all before committing any.
  void sync();
  // Syncs (unless sync() did) and renames the temporary file over the destination.
  void commit();

  const std::filesystem::path& temp_path() const { return temp_path_; }

 private:
  std::filesystem::path path_;
  TemporaryName temp_name_;  // released after the destructor removed an uncommitted temporary
  std::filesystem::path temp_path_;
  std::string tag_;
  std::FILE* file_ = nullptr;
  bool synced_ = false;
  bool committed_ = false;
};

}  // namespace octet::io
