#include "cli/run_cli.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/shared_data.h"

namespace octet::testing {

std::vector<std::string> CliResult::err_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

CliResult run_cli(const std::string& args, const std::string& env) {
  const auto err_path = temp_dir() / "stderr.txt";
  const std::string command = "env -u OCTET_LOG_LEVEL " + env + " '" + std::string(OCTET_CLI_PATH) + "' " + args +
                              " 2>'" + err_path.string() + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  CliResult result;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status == -1 || !WIFEXITED(status)) throw std::runtime_error("did not exit normally: " + command);
  result.exit_code = WEXITSTATUS(status);
  std::ifstream err_file(err_path);
  std::ostringstream err;
  err << err_file.rdbuf();
  result.err = err.str();
  return result;
}

}  // namespace octet::testing
