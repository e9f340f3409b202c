// A child process octet talks to in lines: requests on its stdin, replies on
// its stdout (one Unix socket for both, so a dead child gives an error, not
// SIGPIPE). Its stderr goes to a log file whose tail errors quote.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace octet::bench_detail {

class Subprocess {
 public:
  // Starts argv[0] (searched in PATH) with the environment plus `env`.
  // Throws Error("bench") when it cannot be started.
  Subprocess(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
             std::filesystem::path stderr_log);
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // Closes stdin (the peers exit on EOF), waits a few seconds, then SIGKILLs this child.
  ~Subprocess();

  void write_line(const std::string& line);
  // The next line of stdout (without '\n'); throws Error("bench") with the
  // stderr tail when the child exits or `timeout` passes first.
  std::string read_line(std::chrono::seconds timeout);
  // The last `max_bytes` of the child's stderr.
  std::string stderr_tail(size_t max_bytes = 2000) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  std::filesystem::path stderr_log_;
};

}  // namespace octet::bench_detail
