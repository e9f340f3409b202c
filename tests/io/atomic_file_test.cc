// io/atomic_file.h: the small-file writers used inside atomic output folders, and
// AtomicFileWriter's sync-then-commit (several files synced before any is renamed).
// /dev/full fails every write with ENOSPC, the error of a full disk, on any Linux machine;
// tests/cli/disk_full_test.cc fills real filesystems under the commands.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "io/atomic_file.h"
#include "io/io_test_util.h"
#include "octet/error.h"
#include "support/shared_data.h"

namespace octet::io {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::read_bytes;
using testing::temp_dir;

TEST(WriteSmallFile, WritesAndTruncates) {
  const fs::path file = temp_dir() / "config.json";
  write_small_file(file, "{\"a\": 1, \"long\": true}\n", "test");
  write_small_file(file, "{}\n", "test");
  EXPECT_EQ(read_bytes(file), "{}\n");
  write_small_file(file, "", "test");
  EXPECT_EQ(fs::file_size(file), 0u);
}

TEST(WriteSmallFile, FullDiskIsAnErrorNamingFileAndReason) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string message = error_of([] { write_small_file("/dev/full", std::string(100, 'x'), "test"); });
  EXPECT_NE(message.find("[test]"), std::string::npos) << message;
  EXPECT_NE(message.find("/dev/full"), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
}

TEST(WriteSmallFile, MissingFolderIsAnError) {
  const fs::path file = temp_dir() / "no-such-folder" / "config.json";
  const std::string message = error_of([&] { write_small_file(file, "{}", "test"); });
  EXPECT_NE(message.find("cannot create " + file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

TEST(CopySmallFile, CopiesBytesIntoAWritableFile) {
  const fs::path dir = temp_dir();
  const std::string bytes = std::string("binary\0bytes\xff", 13) + std::string(70000, 'z');
  std::ofstream(dir / "source", std::ios::binary) << bytes;
  fs::permissions(dir / "source", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  copy_small_file(dir / "source", dir / "copy", "test");
  EXPECT_EQ(read_bytes(dir / "copy"), bytes);
  EXPECT_NE(fs::status(dir / "copy").permissions() & fs::perms::owner_write, fs::perms::none)
      << "a read-only source gave a read-only copy";
}

TEST(CopySmallFile, MissingSourceAndFullDiskAreErrors) {
  const fs::path dir = temp_dir();
  EXPECT_NE(error_of([&] { copy_small_file(dir / "absent", dir / "copy", "test"); }).find("cannot open"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "copy"));
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  std::ofstream(dir / "source") << "some bytes";
  EXPECT_NE(error_of([&] { copy_small_file(dir / "source", "/dev/full", "test"); }).find("No space left on device"),
            std::string::npos);
}

TEST(AtomicFileWriter, SyncedFilesAreRenamedOnlyByCommit) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "a") << "old a";
  std::ofstream(dir / "b") << "old b";
  {
    AtomicFileWriter a(dir / "a", "test"), b(dir / "b", "test");
    a.write("new a");
    b.write("new b");
    a.sync();
    b.sync();
    EXPECT_EQ(read_bytes(dir / "a"), "old a");  // synced, not yet in place
    EXPECT_EQ(read_bytes(a.temp_path()), "new a");
    EXPECT_NE(error_of([&] { a.write("more"); }).find("write after sync or commit"), std::string::npos);
    a.commit();
    // b is destroyed synced but uncommitted: the old file stays and the temporary goes.
  }
  EXPECT_EQ(read_bytes(dir / "a"), "new a");
  EXPECT_EQ(read_bytes(dir / "b"), "old b");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename().string().rfind("b.tmp-", 0) == 0;
  EXPECT_EQ(entries, 0) << "temporary left behind";
}

TEST(AtomicFileWriter, CommitWithoutSyncStillSyncs) {
  const fs::path file = temp_dir() / "f";
  AtomicFileWriter w(file, "test");
  w.write("bytes");
  w.commit();
  EXPECT_EQ(read_bytes(file), "bytes");
  EXPECT_NE(error_of([&] { w.commit(); }).find("commit twice"), std::string::npos);
}

}  // namespace
}  // namespace octet::io
