// Replays every seed (tests/fuzz/corpus/<target>/) and every checked-in fuzz
// finding (tests/fuzz/regressions/<target>/) through the same entry functions
// the libFuzzer targets call (tests/fuzz/fuzz_entries.h), here built with the
// normal compiler: each input must be accepted or rejected with octet::Error.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_entries.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const std::string& kind, std::string_view target) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(OCTET_SOURCE_DIR) / "tests" / "fuzz" / kind / std::string(target);
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class FuzzReplay : public ::testing::TestWithParam<std::string_view> {};

void replay(const std::string& kind, std::string_view target, size_t& accepted, size_t& rejected) {
  const fuzz::Entry entry = fuzz::entry(target);
  ASSERT_NE(entry, nullptr);
  for (const fs::path& p : inputs(kind, target)) {
    SCOPED_TRACE(p.string());
    const std::string bytes = read_file(p);
    try {
      entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++accepted;
    } catch (const Error& e) {
      ++rejected;
      // A rejected seed is either meant to be (say which) or a seed that no longer tests the parser past its start.
      if (kind == "corpus") std::printf("  seed %s rejected: %s\n", p.filename().c_str(), e.what());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an octet::Error: " << e.what();
    }
  }
}

TEST_P(FuzzReplay, SeedsAreAccepted) {
  size_t accepted = 0, rejected = 0;
  replay("corpus", GetParam(), accepted, rejected);
  std::printf("%s: %zu seeds (%zu accepted, %zu rejected with octet::Error)\n", std::string(GetParam()).c_str(),
              accepted + rejected, accepted, rejected);
  EXPECT_GT(accepted + rejected, 0u) << "no seeds in tests/fuzz/corpus/" << GetParam();
  // The seeds are valid files: a rejected one stops at the parser's first check and no longer
  // leads the fuzzer past it (the reason is printed above).
  EXPECT_EQ(rejected, 0u) << accepted << " accepted, " << rejected << " rejected";
}

TEST_P(FuzzReplay, RegressionsAreRejectedOrAccepted) {
  size_t accepted = 0, rejected = 0;
  replay("regressions", GetParam(), accepted, rejected);
  std::printf("%s: %zu regression inputs (%zu accepted, %zu rejected with octet::Error)\n",
              std::string(GetParam()).c_str(), accepted + rejected, accepted, rejected);
}

// The entries' scratch folder ($TMPDIR/octet-fuzz-<pid>) is removed at exit. Its atexit handler
// used to read a function-local static path that was already destroyed, so every replay and
// fuzzing process left its folder behind.
TEST(FuzzScratch, RemovedWhenTheProcessExits) {
  const fs::path dir = testing::temp_dir(), tmp = dir / "tmp";
  fs::create_directories(tmp);
  const testing::CommandResult r =
      testing::run_this_test_binary("TMPDIR=" + tmp.string(), "Targets/FuzzReplay.SeedsAreAccepted/safetensors",
                                    dir / "stderr.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output << r.errors;
  ASSERT_NE(r.output.find("[  PASSED  ] 1 test"), std::string::npos) << r.output;
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(tmp)) left.push_back(e.path().filename().string());
  EXPECT_TRUE(left.empty()) << ::testing::PrintToString(left);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(fuzz::kTargets),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace octet
