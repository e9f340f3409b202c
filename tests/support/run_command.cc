#include "support/run_command.h"

#include <unistd.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace octet::testing {

CommandResult run_shell(const std::string& command, const std::filesystem::path& stderr_file) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>" + stderr_file.string()).c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(stderr_file, std::ios::binary);
  r.errors.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

// $OCTET_CLI overrides the build's path: test binaries copied to another
// machine (scripts/gpu_check.sh --prebuilt) run the octet copied beside them.
CommandResult run_octet(const std::string& args, const std::filesystem::path& dir) {
  const char* env = std::getenv("OCTET_CLI");
  const std::string cli = env && *env ? env : OCTET_CLI_PATH;
  return run_shell(cli + " " + args, dir / "stderr.txt");
}

CommandResult run_this_test_binary(const std::string& env_prefix, const std::string& filter,
                                   const std::filesystem::path& stderr_file) {
  return run_shell(env_prefix + " /proc/" + std::to_string(::getpid()) + "/exe --gtest_filter='" + filter + "'",
                   stderr_file);
}

}  // namespace octet::testing
