#include "support/run_command.h"

#include <unistd.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace octet::testing {

namespace {

// The command's stdout and exit status (-1 when it did not exit normally or could not start).
CommandResult read_pipe(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace

CommandResult run_shell(const std::string& command, const std::filesystem::path& stderr_file) {
  CommandResult r = read_pipe(command + " 2>" + stderr_file.string());
  std::ifstream in(stderr_file, std::ios::binary);
  r.errors.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

CommandResult run_shell_combined(const std::string& command) { return read_pipe(command + " 2>&1"); }

std::string octet_cli_path() {
  const char* env = std::getenv("OCTET_CLI");
  return env && *env ? env : OCTET_CLI_PATH;
}

std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult run_octet(const std::string& args, const std::filesystem::path& dir) {
  return run_shell(octet_cli_path() + " " + args, dir / "stderr.txt");
}

CommandResult run_this_test_binary(const std::string& env_prefix, const std::string& filter,
                                   const std::filesystem::path& stderr_file) {
  return run_shell(env_prefix + " /proc/" + std::to_string(::getpid()) + "/exe --gtest_filter='" + filter + "'",
                   stderr_file);
}

}  // namespace octet::testing
