#include "support/run_command.h"

#include <sys/wait.h>

#include <cstdio>
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

CommandResult run_octet(const std::string& args, const std::filesystem::path& dir) {
  return run_shell(std::string(OCTET_CLI_PATH) + " " + args, dir / "stderr.txt");
}

}  // namespace octet::testing
