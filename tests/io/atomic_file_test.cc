// io/atomic_file.h: the small-file writers used inside atomic output folders, and
// AtomicFileWriter's sync-then-commit (several files synced before any is renamed).
// /dev/full fails every write with ENOSPC, the error of a full disk, on any Linux machine;
// tests/cli/disk_full_test.cc fills real filesystems under the commands.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

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

// Two writers of one path alive at once (two threads saving the same model) each keep their
// own temporary: the second must not take the first's for a killed run's. Before serials, the
// second removed the first's temporary and reused its name, so the first commit renamed the
// second's half-written file and the second commit failed.
TEST(AtomicFileWriter, TwoWritersOfOnePathCommitInTurn) {
  const fs::path file = temp_dir() / "model.bin";
  AtomicFileWriter first(file, "test");
  first.write("first");
  AtomicFileWriter second(file, "test");
  second.write("second");
  EXPECT_NE(first.temp_path(), second.temp_path());
  first.commit();
  EXPECT_EQ(read_bytes(file), "first");
  second.commit();
  EXPECT_EQ(read_bytes(file), "second");
  int temporaries = 0;
  for (const auto& e : fs::directory_iterator(file.parent_path()))
    temporaries += e.path().filename().string().rfind("model.bin.tmp-", 0) == 0;
  EXPECT_EQ(temporaries, 0);
}

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST(RemoveStaleTemporaries, RemovesOnlyThoseOfGoneProcessesAndNotLiveOnes) {
  const fs::path dir = temp_dir();
  const std::string dead = std::to_string(dead_pid()), self = std::to_string(::getpid());
  std::optional<TemporaryName> live_name(std::in_place, "x.tmp-");
  const std::string live = live_name->str();
  const std::vector<std::string> stale = {"x.tmp-" + dead, "x.tmp-" + dead + "-7", "x.tmp-" + self,
                                          "x.tmp-" + self + "-123456789"};
  // pid 1 is alive; the others are not temporaries' names.
  const std::vector<std::string> kept = {
      live,    "x.tmp-1", "x.tmp-1-0", "x.tmp-abc", "x.tmp-" + dead + "-", "x.tmp-" + dead + "-1-2", "y.tmp-" + dead,
      "x.tmp-"};
  for (const auto& name : stale) std::ofstream(dir / name) << "stale";
  for (const auto& name : kept) std::ofstream(dir / name) << "kept";
  fs::create_directory(dir / ("x.tmp-" + dead + "-8"));  // a folder writer's
  std::ofstream(dir / ("x.tmp-" + dead + "-8") / "model.safetensors") << "half";
  remove_stale_temporaries(dir, "x.tmp-");
  for (const auto& name : stale) EXPECT_FALSE(fs::exists(dir / name)) << name;
  EXPECT_FALSE(fs::exists(dir / ("x.tmp-" + dead + "-8")));
  for (const auto& name : kept) EXPECT_TRUE(fs::exists(dir / name)) << name;
  live_name.reset();
  remove_stale_temporaries(dir, "x.tmp-");
  EXPECT_FALSE(fs::exists(dir / live)) << "released, so a killed run's";
}

}  // namespace
}  // namespace octet::io
