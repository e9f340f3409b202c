// Fault injection against the real `octet` binary (docs/reliability.md):
//   disk full   writes past RLIMIT_FSIZE (bash's ulimit -f) fail with EFBIG, since main()
//               ignores SIGXFSZ: one error line, exit 1, no output and no temporary left;
//   kill -9     during `octet quantize`, `export-gguf` and `export-hf` at seeded random
//               moments: the output is absent or complete and loadable, and a rerun
//               succeeds and removes the killed run's temporary;
//   hostile     files claiming absurd sizes are rejected before any large allocation
//   sizes       (peak RSS of the octet process under 100 MB).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "octet/gguf.h"
#include "octet/hf_checkpoint.h"
#include "octet/model.h"
#include "octet/quantized_model.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::octet_cli_path;
using testing::run_shell;
using testing::shared_path;
using testing::shell_quote;
using testing::temp_dir;

// Names in `dir` starting with `prefix` (leftover temporaries).
std::vector<std::string> entries_starting_with(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (const char c : s) n += c == '\n';
  return n;
}

// ---- disk full ----------------------------------------------------------------------------

TEST(FaultInjection, DiskFullDuringQuantizeLeavesNothing) {
  const fs::path dir = temp_dir();
  const fs::path out = dir / "q";
  // 64 KiB of file size; the w8a16 folder of the tiny LLaMA needs about 150 KiB.
  const auto r = run_shell("bash -c " + shell_quote("ulimit -f 64; exec " + octet_cli_path() + " quantize " +
                                                    shared_path("fixtures/hf/llama").string() + " -o " + out.string() +
                                                    " --recipe w8a16 --log-level error"),
                           dir / "stderr.txt");
  EXPECT_EQ(r.exit_code, 1) << r.errors;
  EXPECT_EQ(count_lines(r.errors), 1) << r.errors;
  EXPECT_NE(r.errors.find("File too large"), std::string::npos) << r.errors;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(entries_starting_with(dir, ".q.").empty()) << "temporary folder left behind";
}

TEST(FaultInjection, DiskFullDuringExportGgufLeavesNothing) {
  const fs::path dir = temp_dir();
  const fs::path out = dir / "x.gguf";
  const auto r = run_shell("bash -c " + shell_quote("ulimit -f 64; exec " + octet_cli_path() + " export-gguf " +
                                                    shared_path("models/stories260K/stories260K.gguf").string() +
                                                    " -o " + out.string() + " --type q8_0 --log-level error"),
                           dir / "stderr.txt");
  EXPECT_EQ(r.exit_code, 1) << r.errors;
  EXPECT_EQ(count_lines(r.errors), 1) << r.errors;
  EXPECT_NE(r.errors.find("File too large"), std::string::npos) << r.errors;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(entries_starting_with(dir, "x.gguf.").empty()) << "temporary file left behind";
}

// ---- kill -9 during quantize and export-* -----------------------------------------------------

// Starts `octet ARGS -o OUT --force --threads 1` with its output discarded.
pid_t spawn_octet(const std::vector<std::string>& args, const fs::path& out) {
  std::vector<std::string> all = {octet_cli_path()};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"-o", out.string(), "--force", "--threads", "1", "--log-level", "error"});
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1), ::dup2(null_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_status(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// One command whose output is killed at random moments.
struct KillCase {
  std::vector<std::string> args;  // without -o OUT
  std::string out_name;           // "q" (a folder) or "x.gguf" (a file)
  std::string temp_prefix;        // the writer's temporaries: ".q.tmp-", "x.gguf.tmp-"
  std::string backup_prefix;      // a folder replacement's backup, ".q.old-"; empty for files (one rename)
  std::function<void(const fs::path&)> expect_complete;
};

// Ten runs killed with SIGKILL after a seeded random delay in [0, 1.5 x one full run). Even attempts
// write a new output; odd ones replace the complete output of the last rerun (--force). After each
// kill the output is absent or complete; a rerun succeeds and leaves no temporary behind.
void kill_at_random_moments(const KillCase& c, const char* what, const fs::path& dir) {
  const fs::path out = dir / c.out_name;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_status(spawn_octet(c.args, dir / ("reference-" + c.out_name))), 0);
  const auto full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  std::mt19937 rng(16);
  std::uniform_int_distribution<int64_t> when(0, full.count() * 3 / 2);
  int absent = 0, complete = 0, backup_only = 0, killed_with_temporary = 0;
  for (int attempt = 0; attempt < 10; ++attempt) {
    SCOPED_TRACE(std::string(what) + " attempt " + std::to_string(attempt));
    const bool replacing = attempt % 2 == 1;
    if (!replacing) fs::remove_all(out);
    if (!c.backup_prefix.empty())
      for (const auto& name : entries_starting_with(dir, c.backup_prefix)) fs::remove_all(dir / name);
    const pid_t pid = spawn_octet(c.args, out);
    std::this_thread::sleep_for(std::chrono::microseconds(when(rng)));
    ::kill(pid, SIGKILL);
    wait_status(pid);
    killed_with_temporary += !entries_starting_with(dir, c.temp_prefix).empty();
    if (fs::exists(out)) {
      ++complete;
      c.expect_complete(out);
    } else if (replacing) {
      // Killed between the two renames of a folder replacement: the old folder is the backup (never
      // deleted by a later run, docs/reliability.md). A file is replaced by one rename: never absent.
      ASSERT_FALSE(c.backup_prefix.empty()) << "replaced file lost";
      ++backup_only;
      const auto backups = entries_starting_with(dir, c.backup_prefix);
      ASSERT_EQ(backups.size(), 1u) << "replaced folder lost";
      c.expect_complete(dir / backups.front());
    } else {
      ++absent;
    }
    // A rerun succeeds despite the killed run's temporary, and removes it.
    ASSERT_EQ(wait_status(spawn_octet(c.args, out)), 0);
    c.expect_complete(out);
    EXPECT_TRUE(entries_starting_with(dir, c.temp_prefix).empty()) << "stale temporary not cleaned up";
  }
  std::printf("kill -9 during %s (full run %.2f s): %d absent, %d complete, %d only the backup, 0 partial; "
              "%d kills left a temporary, all removed by the rerun\n",
              what, full.count() / 1e6, absent, complete, backup_only, killed_with_temporary);
}

// The folder is a complete quantized model: its config reads and the model loads.
void expect_complete_quantized(const fs::path& out) {
  ASSERT_TRUE(is_quantized_model(out)) << out;
  EXPECT_NO_THROW({
    (void)read_quantization_config(out);
    (void)load_model(out);
  });
}

TEST(FaultInjection, KillDuringQuantizeLeavesNoHalfFolder) {
  kill_at_random_moments({{"quantize", shared_path("models/kjv-llama").string(), "--recipe", "w8a16"},
                          "q",
                          ".q.tmp-",
                          ".q.old-",
                          expect_complete_quantized},
                         "quantize", temp_dir());
}

TEST(FaultInjection, KillDuringExportGgufLeavesNoHalfFile) {
  kill_at_random_moments({{"export-gguf", shared_path("models/kjv-llama").string(), "--type", "q4_k"},
                          "x.gguf",
                          "x.gguf.tmp-",
                          "",
                          [](const fs::path& out) {
                            EXPECT_NO_THROW({
                              const GgufFile file = GgufFile::open(out);
                              (void)file.get_f32("blk.0.attn_q.weight");
                              (void)load_model(out);
                            });
                          }},
                         "export-gguf", temp_dir());
}

// ONNX export is deterministic (byte-identical to onnx.helper's, tests/onnx), so a complete file
// is the reference run's bytes. Before the ONNX writer used AtomicFileWriter, a kill left
// "m.onnx.tmp-<pid>-0" that no later run removed.
TEST(FaultInjection, KillDuringExportOnnxLeavesNoHalfFile) {
  const fs::path dir = temp_dir();
  kill_at_random_moments({{"export-onnx", shared_path("models/sst2-bert-mini").string()},
                          "m.onnx",
                          "m.onnx.tmp-",
                          "",
                          [dir](const fs::path& out) {
                            const auto bytes = [](const fs::path& p) {
                              std::ifstream in(p, std::ios::binary);
                              return std::string(std::istreambuf_iterator<char>(in), {});
                            };
                            EXPECT_TRUE(bytes(out) == bytes(dir / "reference-m.onnx")) << "not the reference's bytes";
                          }},
                         "export-onnx", dir);
}

TEST(FaultInjection, KillDuringExportHfLeavesNoHalfFolder) {
  const fs::path dir = temp_dir(), quantized = dir / "w4";
  ASSERT_EQ(wait_status(spawn_octet({"quantize", shared_path("models/kjv-llama").string(), "--recipe", "w4a16-rtn",
                                     "--group", "64", "--asym"},
                                    quantized)),
            0);
  kill_at_random_moments({{"export-hf", quantized.string(), "--format", "awq"},
                          "h",
                          ".h.tmp-",
                          ".h.old-",
                          [](const fs::path& out) {
                            EXPECT_NO_THROW({
                              (void)read_hf_checkpoint(out);
                              (void)load_model(out);
                            });
                          }},
                         "export-hf", dir);
}

// ---- hostile sizes ---------------------------------------------------------------------------

// Runs `command` (a shell command line) in a forked child and returns the peak RSS of the
// largest process it waited for (getrusage(RUSAGE_CHILDREN) of that child), in MiB; `exit_code` gets the command's.
double peak_rss_mib(const std::string& command, int& exit_code) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const int status = std::system((command + " >/dev/null 2>&1").c_str());
    rusage usage{};
    ::getrusage(RUSAGE_CHILDREN, &usage);
    const long values[2] = {usage.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
    [[maybe_unused]] const auto written = ::write(fds[1], values, sizeof values);
    ::_exit(0);
  }
  ::close(fds[1]);
  long values[2] = {-1, -1};
  [[maybe_unused]] const auto got = ::read(fds[0], values, sizeof values);
  ::close(fds[0]);
  wait_status(pid);
  exit_code = static_cast<int>(values[1]);
  return static_cast<double>(values[0]) / 1024.0;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string gguf_header(uint64_t tensors, uint64_t kvs) {
  std::string s = "GGUF";
  put<uint32_t>(s, 3);
  put<uint64_t>(s, tensors);
  put<uint64_t>(s, kvs);
  return s;
}

// Peak RSS of a process that reads nothing (`octet --version`): the shared
// libraries alone (a CUDA build maps cuBLAS, ~200 MiB touched at load).
double startup_rss_mib() {
  static const double rss = [] {
    int code = 0;
    return peak_rss_mib(octet_cli_path() + " --version", code);
  }();
  return rss;
}
// A rejected hostile file may cost at most this much above startup.
constexpr double kRssAboveStartupMib = 100;

void expect_rejected_small(const std::string& what, const std::string& args) {
  int code = 0;
  const double rss = peak_rss_mib(octet_cli_path() + " " + args, code);
  std::printf("%s: exit %d, peak RSS %.1f MiB\n", what.c_str(), code, rss);
  EXPECT_EQ(code, 1) << what;
  EXPECT_GT(rss, 0) << what;
  EXPECT_LT(rss, startup_rss_mib() + kRssAboveStartupMib) << what << " (startup " << startup_rss_mib() << " MiB)";
}

TEST(FaultInjection, HostileSafetensorsSizes) {
  const fs::path dir = temp_dir();
  const auto safetensors = [&](const std::string& name, const std::string& header, uint64_t claimed_len) {
    std::string bytes;
    put<uint64_t>(bytes, claimed_len);
    bytes += header;
    bytes += std::string(64, '\0');
    const fs::path folder = dir / name;
    fs::create_directories(folder);
    fs::copy_file(shared_path("fixtures/hf/bert/config.json"), folder / "config.json");
    write_file(folder / "model.safetensors", bytes);
    return folder;
  };
  // 10^12 f32 elements whose offsets claim 4 TB.
  const std::string huge =
      R"({"bert.embeddings.word_embeddings.weight":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})";
  expect_rejected_small("safetensors 10^12-element tensor", "inspect " + safetensors("huge", huge, huge.size()).string());
  // The same tensor with offsets that match the 64 bytes present.
  const std::string lying =
      R"({"bert.embeddings.word_embeddings.weight":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,64]}})";
  expect_rejected_small("safetensors shape/offsets mismatch", "inspect " + safetensors("lying", lying, lying.size()).string());
  // A header length of 99 MB in a 200-byte file.
  expect_rejected_small("safetensors header length past the end",
                        "inspect " + safetensors("header", huge, 99'000'000).string());
}

TEST(FaultInjection, HostileGgufSizes) {
  const fs::path dir = temp_dir();
  // 2^40 metadata entries.
  write_file(dir / "kvs.gguf", gguf_header(0, uint64_t{1} << 40) + std::string(64, '\0'));
  expect_rejected_small("gguf 2^40 metadata entries", "inspect " + (dir / "kvs.gguf").string());
  // 2^40 tensors.
  write_file(dir / "tensors.gguf", gguf_header(uint64_t{1} << 40, 0) + std::string(64, '\0'));
  expect_rejected_small("gguf 2^40 tensors", "inspect " + (dir / "tensors.gguf").string());
  // A key string 2^50 bytes long in a small file.
  std::string s = gguf_header(0, 1);
  put<uint64_t>(s, uint64_t{1} << 50);
  s += "general.architecture";
  write_file(dir / "string.gguf", s);
  expect_rejected_small("gguf string length past the end", "inspect " + (dir / "string.gguf").string());
  // An array claiming 2^60 u64 items.
  s = gguf_header(0, 1);
  put<uint64_t>(s, 4);
  s += "x.xs";
  put<uint32_t>(s, 9);  // array
  put<uint32_t>(s, 10);  // of u64
  put<uint64_t>(s, uint64_t{1} << 60);
  write_file(dir / "array.gguf", s + std::string(64, '\0'));
  expect_rejected_small("gguf array of 2^60 items", "inspect " + (dir / "array.gguf").string());
}

TEST(FaultInjection, HostileTokenizerSizes) {
  const fs::path dir = temp_dir();
  const fs::path folder = dir / "bert";
  fs::create_directories(folder);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(shared_path(std::string("fixtures/hf/bert/") + f), folder / f);
  const std::string base = R"({"version":"1.0","normalizer":{"type":"BertNormalizer","lowercase":true},
    "pre_tokenizer":{"type":"BertPreTokenizer"},
    "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
             "max_input_chars_per_word":@MAXCHARS@,"vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"hello":4,"ZZZ":@ID@}},
    "added_tokens":[{"id":@ADDED@,"content":"<big>","special":true}],
    "truncation":@TRUNC@, "padding":@PAD@})";
  struct Case {
    std::string name, maxchars = "100", id = "5", added = "6", trunc = "null", pad = "null";
    bool rejected = true;
  };
  const std::vector<Case> cases = {
      {.name = "vocab id 10^12", .id = "1000000000000"},
      // Within int32: the table by id made a slot for each id below it (fuzz_tokenizer, 2026-12-06).
      {.name = "vocab id 10^9", .id = "1000000000", .rejected = false},
      {.name = "added token id 2^40", .added = "1099511627776"},
      {.name = "max_input_chars_per_word 10^15", .maxchars = "1000000000000000", .rejected = false},
      {.name = "truncation max_length 10^12",
       .trunc = R"({"max_length":1000000000000,"strategy":"LongestFirst","direction":"Right","stride":0})",
       .rejected = false},
      {.name = "padding to 10^12",
       .pad =
           R"({"strategy":{"Fixed":1000000000000},"direction":"Right","pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"})",
       .rejected = false},
  };
  for (const Case& c : cases) {
    std::string json = base;
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"@MAXCHARS@", c.maxchars},
                                     {"@ADDED@", c.added}, {"@TRUNC@", c.trunc}, {"@PAD@", c.pad}, {"@ID@", c.id}})
      json.replace(json.find(key), key.size(), value);
    write_file(folder / "tokenizer.json", json);
    int code = 0;
    const double rss = peak_rss_mib(octet_cli_path() + " run " + folder.string() + " --text 'hello <big> ZZZ'", code);
    std::printf("tokenizer.json %s: exit %d, peak RSS %.1f MiB\n", c.name.c_str(), code, rss);
    if (c.rejected) {
      EXPECT_EQ(code, 1) << c.name;
    }
    EXPECT_TRUE(code == 0 || code == 1) << c.name;
    EXPECT_LT(rss, startup_rss_mib() + kRssAboveStartupMib) << c.name << " (startup " << startup_rss_mib() << " MiB)";
  }
}

}  // namespace
}  // namespace octet
