// The test helpers' own contract: every temp_dir() folder of a test process lives
// under $TMPDIR/octet-test-<pid>, which is removed when the process exits with all
// its tests passed (it used to stay: ~1,900 folders, tens of GB, per suite run).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

namespace fs = std::filesystem;

// Run only as the child of TempDir.RemovedWhenTheProcessExits (skipped otherwise).
TEST(TempDir, Probe) {
  if (!std::getenv("OCTET_TEMP_DIR_PROBE")) GTEST_SKIP() << "a child process of TempDir.RemovedWhenTheProcessExits";
  const fs::path dir = temp_dir();
  std::ofstream(dir / "file.txt") << "written by the probe";
  std::printf("probe folder: %s\n", dir.c_str());
}

fs::path run_probe(const std::string& env, const fs::path& log_dir) {
  const CommandResult r =
      run_this_test_binary("env " + env + " OCTET_TEMP_DIR_PROBE=1", "TempDir.Probe", log_dir / "probe-stderr.txt");
  EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
  const std::string marker = "probe folder: ";
  const size_t at = r.output.find(marker);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no probe folder printed:\n" << r.output;
    return {};
  }
  return fs::path(r.output.substr(at + marker.size(), r.output.find('\n', at) - at - marker.size()));
}

TEST(TempDir, RemovedWhenTheProcessExits) {
  const fs::path logs = temp_dir();
  const fs::path removed = run_probe("-u OCTET_KEEP_TEST_FILES", logs);
  ASSERT_FALSE(removed.empty());
  EXPECT_FALSE(fs::exists(removed)) << removed;
  EXPECT_FALSE(fs::exists(removed.parent_path())) << removed.parent_path();

  const fs::path kept = run_probe("OCTET_KEEP_TEST_FILES=1", logs);
  ASSERT_FALSE(kept.empty());
  EXPECT_TRUE(fs::exists(kept / "file.txt")) << kept;
  fs::remove_all(kept.parent_path());
}

}  // namespace
}  // namespace octet::testing
