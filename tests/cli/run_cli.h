// Runs the built `octet` binary (OCTET_CLI_PATH) through the shell and
// captures its exit code, stdout and stderr separately.
#pragma once

#include <string>
#include <vector>

namespace octet::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::vector<std::string> err_lines() const;
};

// `args` is appended to the command line as is (shell syntax). `env` holds
// VAR=value assignments for the child. OCTET_LOG_LEVEL is cleared first so a
// caller's setting cannot add lines to stderr.
CliResult run_cli(const std::string& args, const std::string& env = "");

}  // namespace octet::testing
