// Running the real `octet` binary (or any shell command) from a test:
// stdout captured, stderr written to a file and read back, the exit status.
#pragma once

#include <filesystem>
#include <string>

namespace octet::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally
  std::string output;  // stdout
  std::string errors;  // stderr
};

// The octet binary: $OCTET_CLI, else the one the build made (OCTET_CLI_PATH). $OCTET_CLI lets
// test binaries copied to another machine (scripts/gpu_check.sh --prebuilt) run the octet beside them.
std::string octet_cli_path();
// `word` quoted for the shell (single quotes; a ' inside becomes '\'').
std::string shell_quote(const std::string& word);

// Runs `command` through the shell with its stderr in `stderr_file`.
CommandResult run_shell(const std::string& command, const std::filesystem::path& stderr_file);
// Runs `command` through the shell with stdout and stderr together in `output` (`errors` stays empty).
CommandResult run_shell_combined(const std::string& command);
// `octet ARGS` (the binary the build made, OCTET_CLI_PATH, or $OCTET_CLI); its stderr goes to `dir`/stderr.txt.
CommandResult run_octet(const std::string& args, const std::filesystem::path& dir);

// This test binary again (/proc/<pid>/exe), running only the tests matching `filter`, after
// `env_prefix` (e.g. "TMPDIR=/x" or "env -u VAR X=1"); its stderr goes to `stderr_file`.
CommandResult run_this_test_binary(const std::string& env_prefix, const std::string& filter,
                                   const std::filesystem::path& stderr_file);

}  // namespace octet::testing
