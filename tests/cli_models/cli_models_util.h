// Runs the built `octet` binary for the model-command tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace octet::testing {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

// One shell word: single-quoted, with embedded quotes escaped.
inline std::string shell_word(const std::string& word) {
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

// Runs octet with `args` (each passed as one word). stderr goes through a file
// in `scratch` (not cleared, unlike temp_dir(), so outputs written there survive).
inline Run run_octet(const std::vector<std::string>& args, const std::filesystem::path& scratch) {
  const auto err_path = scratch / "octet-stderr.txt";
  std::string command = "env -u OCTET_LOG_LEVEL ";
  command += shell_word(OCTET_CLI_PATH);
  for (const auto& a : args) {
    command += ' ';
    command += shell_word(a);
  }
  command += " 2>";
  command += shell_word(err_path.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  Run r;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status == -1 || !WIFEXITED(status)) throw std::runtime_error("did not exit normally: " + command);
  r.exit_code = WEXITSTATUS(status);
  std::ifstream err(err_path);
  std::ostringstream text;
  text << err.rdbuf();
  r.err = text.str();
  return r;
}

}  // namespace octet::testing
