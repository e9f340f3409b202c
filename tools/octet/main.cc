// octet command-line entry point. Subcommands register themselves (command.h).
#include <malloc.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <exception>

#include "octet/cpu_features.h"
#include "octet/error.h"
#include "command.h"
#include "output.h"

namespace octet::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}
}  // namespace octet::cli

namespace {

// OpenBLAS 0.3.21 (Debian 12) does not recognise Zen 4/5 and falls back to its
// AVX2 "Haswell" kernels, about half the fp32 GEMM speed of its AVX-512
// "SkylakeX" kernels on those CPUs (docs/kernels.md). It reads
// OPENBLAS_CORETYPE only when the library loads, before main(), so when the
// CPU has AVX-512 and the user set nothing, re-execute once with it set.
void select_openblas_core(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("OCTET_NO_REEXEC")) return;
  const auto& cpu = octet::cpu_features_detected();
  if (!(cpu.avx512f && cpu.avx512bw && cpu.avx512vl)) return;
  ::setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
  ::setenv("OCTET_NO_REEXEC", "1", 1);
  ::execv("/proc/self/exe", argv);
  // exec failed: carry on with the kernels OpenBLAS picked.
}

// A forward pass allocates and frees the same activation buffers (up to tens
// of MB) every time. By default glibc hands large freed blocks back to the
// kernel (munmap, heap trim), so the next pass faults every page in again:
// 2-4 % of a BERT-base fp32 pass here (perf: exc_page_fault under the GEMM's
// first stores; 3 % of a batch 32 x 256 pass, whose FFN activations are
// 100 MB each). Keep blocks up to 512 MB in the heap, and up to 1 GB free
// between passes (memory the passes needed at their peak anyway).
void keep_freed_buffers() {
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  select_openblas_core(argv);
  keep_freed_buffers();
  // A write past RLIMIT_FSIZE (ulimit -f) raises SIGXFSZ, whose default action kills the process
  // and leaves temporaries behind. Ignored, the write fails with EFBIG instead: the writers turn that
  // into an Error, clean up their temporary file or folder, and octet exits 1 with one line
  // (docs/reliability.md; tests/cli/fault_injection_test.cc).
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"octet: quantize transformer models and run them fast on CPUs and GPUs"};
  app.set_version_flag("--version", std::string("octet ") + OCTET_VERSION);
  app.require_subcommand(1);
  app.failure_message(octet::cli::format_parse_failure);
  auto& registry = octet::cli::command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& spec : registry) spec.setup(*app.add_subcommand(spec.name, spec.description));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const octet::Error& e) {
    std::fprintf(stderr, "octet: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "octet: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
