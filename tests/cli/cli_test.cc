// End-to-end tests of the `octet` binary: version, help, doctor, and how
// errors reach the user (one line, non-zero exit).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "cli/run_cli.h"
#include "octet/cpu_features.h"
#include "octet/device.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

using testing::CliResult;
using testing::run_cli;

// Subcommand names from the "Subcommands:" section of `octet --help`.
std::vector<std::string> listed_subcommands() {
  const CliResult help = run_cli("--help");
  EXPECT_EQ(help.exit_code, 0);
  std::istringstream in(help.out);
  std::vector<std::string> names;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "Subcommands:") {
      in_section = true;
    } else if (in_section && line.starts_with("  ")) {
      std::istringstream words(line);
      std::string name;
      words >> name;
      names.push_back(name);
    } else if (in_section) {
      in_section = false;
    }
  }
  return names;
}

// The one stderr line of a failed run: "octet: error: <prefix>...".
void expect_one_error_line(const CliResult& r, const std::string& prefix) {
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(lines[0].starts_with("octet: error: " + prefix)) << lines[0];
}

TEST(Cli, VersionPrintsTheLibraryVersion) {
  const CliResult r = run_cli("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, std::string("octet ") + OCTET_VERSION + "\n");
  EXPECT_EQ(r.err, "");
}

TEST(Cli, EverySubcommandHasHelp) {
  const auto names = listed_subcommands();
  ASSERT_FALSE(names.empty());
  EXPECT_NE(std::find(names.begin(), names.end(), "doctor"), names.end());
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const CliResult r = run_cli(name + " --help");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" " + name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--help"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST(Cli, UnknownSubcommandIsOneLineAndNonZero) {
  const CliResult r = run_cli("frobnicate");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  expect_one_error_line(r, "unknown command 'frobnicate'");
}

TEST(Cli, NoSubcommandIsOneLineAndNonZero) {
  const CliResult r = run_cli("");
  EXPECT_NE(r.exit_code, 0);
  expect_one_error_line(r, "");
}

TEST(Cli, UnknownOptionIsOneLineAndNonZero) {
  const CliResult r = run_cli("doctor --no-such-option");
  EXPECT_NE(r.exit_code, 0);
  expect_one_error_line(r, "");
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos);
}

TEST(Cli, LibraryErrorInsideACommandIsOneLineExitOne) {
  // parse_device throws octet::Error("device", ...) from the command's callback.
  const CliResult r = run_cli("doctor --device cuda:x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "") << "a malformed device is rejected before any output";
  expect_one_error_line(r, "[device] unknown device 'cuda:x'");
}

TEST(Cli, ErrorFromAnOptionCallbackIsOneLineExitOne) {
  const CliResult r = run_cli("doctor --log-level loud");
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(r, "[log] unknown log level 'loud'");
}

TEST(Cli, DoctorDeviceCudaSucceedsOnlyWithAVisibleGpu) {
  const CudaStatus cuda = cuda_status();
  const CliResult r = run_cli("doctor --device cuda:0");
  if (cuda.gpu_visible) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
  } else {
    EXPECT_EQ(r.exit_code, 1);
    expect_one_error_line(r, "[cuda] ");
    // The report still comes first, so the user sees why.
    EXPECT_NE(r.out.find("gpu visible"), std::string::npos) << r.out;
  }
  EXPECT_EQ(run_cli("doctor --device cpu").exit_code, 0);
}

// The flags the doctor reports under cpu.isa, as in the test process.
void expect_isa_matches(const nlohmann::json& isa, const CpuFeatures& f) {
  EXPECT_EQ(isa.at("sse4_2").get<bool>(), f.sse42);
  EXPECT_EQ(isa.at("avx").get<bool>(), f.avx);
  EXPECT_EQ(isa.at("avx2").get<bool>(), f.avx2);
  EXPECT_EQ(isa.at("fma").get<bool>(), f.fma);
  EXPECT_EQ(isa.at("f16c").get<bool>(), f.f16c);
  EXPECT_EQ(isa.at("avx512f").get<bool>(), f.avx512f);
  EXPECT_EQ(isa.at("avx512bw").get<bool>(), f.avx512bw);
  EXPECT_EQ(isa.at("avx512vl").get<bool>(), f.avx512vl);
  EXPECT_EQ(isa.at("avx512_vnni").get<bool>(), f.avx512_vnni);
  EXPECT_EQ(isa.at("avx512_bf16").get<bool>(), f.avx512_bf16);
  EXPECT_EQ(isa.at("avx512_vbmi").get<bool>(), f.avx512_vbmi);
  EXPECT_EQ(isa.at("avx_vnni").get<bool>(), f.avx_vnni);
  EXPECT_EQ(isa.at("amx_int8").get<bool>(), f.amx_int8);
  EXPECT_EQ(isa.at("amx_bf16").get<bool>(), f.amx_bf16);
}

TEST(CliDoctor, JsonMatchesWhatTheLibrarySeesInThisProcess) {
  const CliResult r = run_cli("doctor --json --threads 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc.at("version"), OCTET_VERSION);
  EXPECT_EQ(doc.at("threads"), 3);
  const auto& cpu = doc.at("cpu");
  EXPECT_EQ(cpu.at("vendor"), cpu_features_detected().vendor);
  EXPECT_EQ(cpu.at("brand"), cpu_features_detected().brand);
  expect_isa_matches(cpu.at("isa"), cpu_features());
  expect_isa_matches(cpu.at("isa_detected"), cpu_features_detected());
  EXPECT_EQ(cpu.at("kernel_variant"), std::string(cpu_kernel_variant()));
  const CudaStatus cuda = cuda_status();
  EXPECT_EQ(doc.at("cuda").at("built"), cuda.built);
  EXPECT_EQ(doc.at("cuda").at("gpu_visible"), cuda.gpu_visible);
  EXPECT_EQ(doc.at("cuda").at("device_count"), cuda.device_count);
  if (!cuda.gpu_visible) {
    EXPECT_FALSE(doc.at("cuda").at("detail").get<std::string>().empty());
  }
  EXPECT_EQ(doc.at("blas").at("library"), "OpenBLAS");
  EXPECT_FALSE(doc.at("blas").at("config").get<std::string>().empty());
}

TEST(CliDoctor, IsaCapTurnsOffAvx512) {
  const CliResult r = run_cli("doctor --json", "OCTET_ISA=avx2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto cpu = nlohmann::json::parse(r.out).at("cpu");
  const CpuFeatures& hw = cpu_features_detected();
  EXPECT_EQ(cpu.at("isa_cap"), "avx2");
  EXPECT_EQ(cpu.at("isa").at("avx2"), hw.avx2);
  EXPECT_EQ(cpu.at("isa").at("avx512f"), false);
  EXPECT_EQ(cpu.at("isa").at("avx512_vnni"), false);
  EXPECT_EQ(cpu.at("isa").at("avx512_bf16"), false);
  EXPECT_EQ(cpu.at("isa").at("avx512_vbmi"), false);
  EXPECT_EQ(cpu.at("isa_detected").at("avx512f"), hw.avx512f);
  EXPECT_EQ(cpu.at("kernel_variant"), hw.avx2 && hw.fma && hw.f16c ? "avx2" : "scalar");
}

// The value cell of the table row labelled `label`.
std::string table_value(const std::string& table, const std::string& label) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(label + " ")) continue;
    const size_t value = line.find_first_not_of(' ', label.size());
    return value == std::string::npos ? "" : line.substr(value);
  }
  return "<missing>";
}

TEST(CliDoctor, TableShowsIsaThreadsAndCuda) {
  const CliResult r = run_cli("doctor --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(table_value(r.out, "AVX2"), f.avx2 ? "yes" : "no");
  EXPECT_EQ(table_value(r.out, "FMA"), f.fma ? "yes" : "no");
  const std::string avx512 = table_value(r.out, "AVX-512F");
  EXPECT_TRUE(avx512.starts_with(f.avx512f ? "yes" : "no")) << avx512;
  EXPECT_EQ(table_value(r.out, "kernel variant"), std::string(cpu_kernel_variant()));
  EXPECT_EQ(table_value(r.out, "threads"), "2");
  EXPECT_EQ(table_value(r.out, "cuda built"), cuda_status().built ? "yes" : "no");
  EXPECT_TRUE(table_value(r.out, "gpu visible").starts_with(cuda_status().gpu_visible ? "yes" : "no"));
  // Aligned: every value starts in the same column as the header's second one.
  std::istringstream in(r.out);
  std::string header;
  std::getline(in, header);
  const size_t column = header.find("result");
  ASSERT_NE(column, std::string::npos);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("--")) continue;
    ASSERT_GT(line.size(), column) << line;
    EXPECT_EQ(line[column - 1], ' ') << line;
    EXPECT_NE(line[column], ' ') << line;
  }
}

TEST(CliDoctor, LogLevelFromEnvironmentAndFlag) {
  const CliResult debug = run_cli("doctor --json", "OCTET_LOG_LEVEL=debug");
  EXPECT_EQ(debug.exit_code, 0);
  ASSERT_FALSE(debug.err_lines().empty());
  EXPECT_TRUE(debug.err_lines()[0].starts_with("octet: debug: ")) << debug.err;
  EXPECT_TRUE(nlohmann::json::accept(debug.out)) << "stdout stays pure JSON";
  const CliResult flag = run_cli("doctor --json --log-level debug");
  EXPECT_TRUE(flag.err.starts_with("octet: debug: ")) << flag.err;
  // A bad variable warns once and does not stop the command.
  const CliResult bad = run_cli("doctor --json", "OCTET_LOG_LEVEL=loud");
  EXPECT_EQ(bad.exit_code, 0);
  ASSERT_EQ(bad.err_lines().size(), 1u) << bad.err;
  EXPECT_TRUE(bad.err_lines()[0].starts_with("octet: warn: unknown log level 'loud'")) << bad.err;
}

}  // namespace
}  // namespace octet
