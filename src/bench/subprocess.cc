// Subprocess: posix_spawnp with a socketpair for stdin/stdout.
#include "bench/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error_tags.h"
#include "octet/error.h"

extern char** environ;

namespace octet::bench_detail {

Subprocess::Subprocess(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                       std::filesystem::path stderr_log)
    : name_(argv.empty() ? "" : std::filesystem::path(argv[0]).filename().string()),
      stderr_log_(std::move(stderr_log)) {
  check(!argv.empty(), kBenchTag, "no command to start");
  int fds[2];
  check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, kBenchTag, "socketpair: {}",
        std::strerror(errno));

  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : argv) args.push_back(s.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int rc = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    fail(kBenchTag, "cannot start {}: {}", argv[0], std::strerror(rc));
  }
  fd_ = fds[0];
}

Subprocess::~Subprocess() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);  // EOF on the child's stdin
    ::close(fd_);
  }
  if (pid_ <= 0) return;
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

void Subprocess::write_line(const std::string& line) {
  const std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, kBenchTag, "{} stopped reading its input ({}); its stderr:\n{}", name_, std::strerror(errno),
          stderr_tail());
    done += size_t(n);
  }
}

std::string Subprocess::read_line(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    check(left.count() > 0, kBenchTag, "{} gave no answer within {} s; its stderr:\n{}", name_, timeout.count(),
          stderr_tail());
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, int(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    check(r >= 0, kBenchTag, "poll: {}", std::strerror(errno));
    if (r == 0) continue;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, kBenchTag, "{} exited; its stderr:\n{}", name_, stderr_tail());
    buffer_.append(chunk, size_t(n));
  }
}

std::string Subprocess::stderr_tail(size_t max_bytes) const {
  std::ifstream in(stderr_log_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "(empty)" : s;
}

}  // namespace octet::bench_detail
