// Disk full on a real filesystem (docs/reliability.md). Each writer runs with its output on a
// tmpfs of N KiB, N from a few KiB to past what the output needs, mounted in a private mount
// namespace (`unshare -rm`: no root needed where user namespaces are allowed; the tests skip
// where they are not). At every size the command either succeeds with the complete output
// (byte for byte the output of an unconstrained run) or exits 1 with one error line naming
// ENOSPC and leaves nothing behind: no partial output, no temporary. With a complete older
// output in place (--force), a failure leaves that output as it was.
//
// fault_injection_test.cc fails the same writers through RLIMIT_FSIZE, which works everywhere
// but stops each file at a fixed size (EFBIG); a full filesystem also fails the small files
// written after the weights and the renames' neighbours, which is where these tests found
// std::filesystem errors escaping and a report folder left with report.json but no index.html.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/io_test_util.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::full_disk {
namespace {

namespace fs = std::filesystem;
using testing::octet_cli_path;
using testing::read_bytes;
using testing::run_shell;
using testing::shared_path;
using testing::shell_quote;
using testing::temp_dir;

// Whether this machine lets an unprivileged process mount a tmpfs in its own mount namespace.
bool private_tmpfs_available(const fs::path& dir) {
  const fs::path mnt = dir / "probe";
  fs::create_directories(mnt);
  const auto r = run_shell("unshare -rm sh -c " + shell_quote("mount -t tmpfs -o size=4k tmpfs " + mnt.string()),
                           dir / "probe-stderr.txt");
  return r.exit_code == 0;
}

// KiB of tmpfs the files under `path` take (whole 4 KiB pages).
int64_t tmpfs_kib(const fs::path& path) {
  const auto pages = [](uint64_t bytes) { return int64_t((bytes + 4095) / 4096) * 4; };
  if (fs::is_regular_file(path)) return pages(fs::file_size(path));
  int64_t kib = 0;
  for (const auto& e : fs::recursive_directory_iterator(path))
    if (e.is_regular_file()) kib += pages(e.file_size());
  return kib;
}

// Sizes from `lo` to past `hi` KiB: a few coarse steps, then every page over the last 24 KiB,
// where the small files written after the weights fail.
std::vector<int64_t> sweep_sizes(int64_t lo, int64_t hi) {
  std::vector<int64_t> sizes;
  const int64_t coarse = std::max<int64_t>(4, (hi - lo) / 6 / 4 * 4);
  for (int64_t s = lo; s < hi - 24; s += coarse) sizes.push_back(s);
  for (int64_t s = std::max(lo, hi - 24); s <= hi + 8; s += 4) sizes.push_back(s);
  return sizes;
}

// Files (relative path -> bytes) of an output file or folder.
std::map<std::string, std::string> contents(const fs::path& path) {
  std::map<std::string, std::string> files;
  if (fs::is_regular_file(path)) {
    files[""] = read_bytes(path);
    return files;
  }
  for (const auto& e : fs::recursive_directory_iterator(path))
    if (e.is_regular_file()) files[fs::relative(e.path(), path).string()] = read_bytes(e.path());
  return files;
}

void same_files(const fs::path& out, const fs::path& reference) {
  EXPECT_TRUE(contents(out) == contents(reference)) << out << " differs from " << reference;
}

struct Writer {
  std::string what;     // the octet command
  std::string command;  // its arguments; OUT is replaced by the output path
  std::string out_name;
  // Checks an output that is complete; by default: the same files, byte for byte, as `reference`.
  std::function<void(const fs::path& out, const fs::path& reference)> expect_complete = same_files;
};

std::string with_output(std::string command, const std::string& out) {
  for (size_t at; (at = command.find("OUT")) != std::string::npos;) command.replace(at, 3, out);
  return command;
}

struct SizeResult {
  int exit_code = -1;
  std::vector<std::string> left;  // what the filesystem holds afterwards (ls -A)
};

// Runs the writer once per size, each on a fresh tmpfs of that size inside one private mount
// namespace. With `replace`, the tmpfs first gets a copy of `reference` under the output's name
// and the writer runs with --force (sizes too small for the copy are skipped). Each run's stderr
// and what the output held afterwards are copied out to `dir`/err-N.txt and `dir`/out-N.
std::map<int64_t, SizeResult> run_at_sizes(const Writer& w, const std::vector<int64_t>& sizes,
                                           const fs::path& reference, bool replace, const fs::path& dir) {
  const fs::path mnt = dir / "mnt";
  fs::create_directories(mnt);
  const std::string out = (mnt / w.out_name).string();
  std::ostringstream script;
  script << "set -u\n";
  for (const int64_t kib : sizes) {
    const std::string n = std::to_string(kib);
    script << "mount -t tmpfs -o size=" << n << "k tmpfs " << shell_quote(mnt.string()) << " || exit 3\n";
    std::string run = octet_cli_path() + " " + w.what + " " + with_output(w.command, out) +
                      " --log-level error > /dev/null 2> " + shell_quote((dir / ("err-" + n + ".txt")).string());
    if (replace)
      run = "if cp -r " + shell_quote(reference.string()) + " " + shell_quote(out) + " 2> /dev/null; then " + run +
            " --force; else rm -rf " + shell_quote(out) + "; echo skip " + n + "; umount " + shell_quote(mnt.string()) +
            "; continue; fi";
    script << "for once in 1; do " << run << "\n"
           << "  echo \"" << n << " $? $(ls -A " << shell_quote(mnt.string()) << " | tr '\\n' ' ')\"\n"
           << "  [ -e " << shell_quote(out) << " ] && cp -r " << shell_quote(out) << " "
           << shell_quote((dir / ("out-" + n)).string()) << "\n  umount " << shell_quote(mnt.string()) << "\ndone\n";
  }
  std::ofstream(dir / "sweep.sh") << script.str();
  const auto r = run_shell("unshare -rm bash " + shell_quote((dir / "sweep.sh").string()), dir / "sweep-stderr.txt");
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  std::map<int64_t, SizeResult> results;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "skip") continue;
    SizeResult& s = results[std::stoll(first)];
    words >> s.exit_code;
    for (std::string name; words >> name;) s.left.push_back(name);
  }
  return results;
}

// The sweep's verdicts: every size succeeded completely or failed cleanly, and both happened.
void expect_complete_or_nothing(const Writer& w, bool replace, const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path reference = dir / ("reference-" + w.out_name);
  const auto made = run_shell(octet_cli_path() + " " + w.what + " " + with_output(w.command, reference.string()) +
                                  " --log-level error > /dev/null",
                              dir / "reference-stderr.txt");
  ASSERT_EQ(made.exit_code, 0) << made.errors;
  const int64_t need = tmpfs_kib(reference);
  const std::vector<int64_t> sizes = replace ? sweep_sizes(need + 4, 2 * need) : sweep_sizes(4, need);
  const auto results = run_at_sizes(w, sizes, reference, replace, dir);
  int succeeded = 0, failed = 0;
  for (const auto& [kib, r] : results) {
    SCOPED_TRACE(w.what + (replace ? " replacing its output" : "") + " on a " + std::to_string(kib) + " KiB tmpfs");
    const fs::path out = dir / ("out-" + std::to_string(kib));
    const std::string errors = read_bytes(dir / ("err-" + std::to_string(kib) + ".txt"));
    if (r.exit_code == 0) {
      ++succeeded;
      EXPECT_TRUE(errors.empty()) << errors;
    } else {
      ++failed;
      EXPECT_EQ(r.exit_code, 1) << errors;
      EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
      EXPECT_NE(errors.find("No space left on device"), std::string::npos) << errors;
      EXPECT_EQ(errors.find("filesystem error"), std::string::npos) << "a std::filesystem error escaped: " << errors;
    }
    // Nothing but the output (new or old); no temporary, no backup.
    if (r.exit_code == 0 || replace) {
      EXPECT_EQ(r.left, std::vector<std::string>{w.out_name});
      if (fs::exists(out))
        w.expect_complete(out, reference);
      else
        ADD_FAILURE() << "no output";
    } else {
      EXPECT_TRUE(r.left.empty()) << "left behind: " << ::testing::PrintToString(r.left);
    }
  }
  std::printf("%s%s: %zu tmpfs sizes: %d runs complete, %d failed (the output needs %lld KiB)\n", w.what.c_str(),
              replace ? " (replacing)" : "", results.size(), succeeded, failed, static_cast<long long>(need));
  EXPECT_GT(succeeded, 0) << "no size was large enough: the sweep tested nothing";
  EXPECT_GT(failed, 0) << "no size was too small: the sweep tested nothing";
}

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!private_tmpfs_available(temp_dir()))
      GTEST_SKIP() << "cannot mount a tmpfs in a private mount namespace here (unshare -rm); "
                      "FaultInjection.DiskFull* cover the writers through RLIMIT_FSIZE";
  }
};

Writer quantize_writer() {
  return {"quantize", shared_path("fixtures/hf/llama").string() + " --recipe w8a16 -o OUT", "q"};
}

Writer export_gguf_writer() {
  return {"export-gguf", shared_path("models/stories260K/stories260K.gguf").string() + " --type q8_0 -o OUT", "x.gguf"};
}

TEST_F(DiskFull, QuantizeIsCompleteOrLeavesNothing) {
  expect_complete_or_nothing(quantize_writer(), false, temp_dir());
}

TEST_F(DiskFull, QuantizeReplacingAFolderKeepsTheOldOne) {
  expect_complete_or_nothing(quantize_writer(), true, temp_dir());
}

TEST_F(DiskFull, ExportGgufIsCompleteOrLeavesNothing) {
  expect_complete_or_nothing(export_gguf_writer(), false, temp_dir());
}

TEST_F(DiskFull, ExportGgufReplacingAFileKeepsTheOldOne) {
  expect_complete_or_nothing(export_gguf_writer(), true, temp_dir());
}

// synth wrote into the folder in place: a full disk left a partial model.safetensors behind.
Writer synth_writer() { return {"synth", "--arch llama --size tiny --seed 3 -o OUT", "m"}; }

TEST_F(DiskFull, SynthIsCompleteOrLeavesNothing) { expect_complete_or_nothing(synth_writer(), false, temp_dir()); }

TEST_F(DiskFull, SynthReplacingAFolderKeepsTheOldOne) {
  expect_complete_or_nothing(synth_writer(), true, temp_dir());
}

TEST_F(DiskFull, ExportHfIsCompleteOrLeavesNothing) {
  const fs::path dir = temp_dir();
  const auto q = run_shell(octet_cli_path() + " quantize " + shared_path("fixtures/hf/llama").string() + " -o " +
                               (dir / "q4").string() + " --recipe w4a16-rtn --group 32 --log-level error > /dev/null",
                           dir / "stderr.txt");
  ASSERT_EQ(q.exit_code, 0) << q.errors;
  expect_complete_or_nothing({"export-hf", (dir / "q4").string() + " --format awq -o OUT", "hf"}, false, dir / "sweep");
}

TEST_F(DiskFull, ExportOnnxIsCompleteOrLeavesNothing) {
  expect_complete_or_nothing({"export-onnx", shared_path("fixtures/hf/bert").string() + " -o OUT", "m.onnx"}, false,
                             temp_dir());
}

// The report holds timestamps and timings, so completeness is its two files, the JSON's one section.
TEST_F(DiskFull, ReportIsCompleteOrLeavesNothing) {
  const fs::path dir = temp_dir();
  {
    std::ifstream dev(shared_path("data/sst2/dev.tsv"));
    std::ofstream small(dir / "dev.tsv");
    std::string line;
    for (int i = 0; i < 21 && std::getline(dev, line); ++i) small << line << "\n";
  }
  Writer w{"report",
           shared_path("models/sst2-bert-mini").string() + " --task glue --data " + (dir / "dev.tsv").string() +
               " --recipes int8-dynamic --iters 1 --warmup 0 --batch 1 --seq 16 -o OUT",
           "report"};
  w.expect_complete = [](const fs::path& out, const fs::path&) {
    EXPECT_TRUE(fs::exists(out / "index.html"));
    const auto doc = nlohmann::json::parse(read_bytes(out / "report.json"), nullptr, false);
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc["sections"].size(), 1u);
  };
  expect_complete_or_nothing(w, false, dir / "sweep");
}

}  // namespace
}  // namespace octet::full_disk
