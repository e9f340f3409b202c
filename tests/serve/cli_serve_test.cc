// The `octet serve` process: prints its port, drains on SIGTERM (the running
// stream finishes, new requests get 503, exit status 0), refuses bad flags.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "serve/serve_test_support.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

using nlohmann::json;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `octet serve ARGS...` with stderr in `log`; returns its pid.
pid_t spawn_server(const std::vector<std::string>& args, const std::filesystem::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    std::vector<char*> argv{const_cast<char*>(OCTET_CLI_PATH), const_cast<char*>("serve")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(OCTET_CLI_PATH, argv.data());
    _exit(127);
  }
  return pid;
}

int wait_for_port(const std::filesystem::path& log, pid_t pid) {
  const std::regex re("listening on http://127\\.0\\.0\\.1:(\\d+)");
  for (int i = 0; i < 600; ++i) {
    std::smatch m;
    const std::string text = read_file(log);
    if (std::regex_search(text, m, re)) return std::stoi(m[1]);
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

TEST(ServeCli, SigtermDrainsRunningRequestsAndExitsZero) {
  const auto dir = temp_dir();
  const auto log = dir / "stderr.txt";
  // The grace is an upper bound (the server exits as soon as nothing runs): long enough for the 400-token
  // stream on a slow or sanitizer build, where 20 s could cancel it before its last event.
  const pid_t pid =
      spawn_server({(source_root() / "models" / "kjv-llama").string(), "--port", "0", "--grace", "120"}, log);
  const int port = wait_for_port(log, pid);
  ASSERT_GT(port, 0) << read_file(log);
  ASSERT_EQ(http_request(port, "GET", "/health").status, 200);

  // A long stream is running when SIGTERM arrives; it must finish whole.
  std::atomic<bool> first_chunk{false};
  std::string streamed;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{{"prompt", "And"}, {"max_tokens", 400}, {"temperature", 0}, {"stream", true}}.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      streamed.append(data, n);
      first_chunk = true;
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    c.send(req, res, err);
  });
  for (int i = 0; i < 3000 && !first_chunk; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(first_chunk);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // While draining: /health 503 and new work refused (or, once drained, no listener at all).
  const HttpReply h = http_request(port, "GET", "/health");
  if (h.status != 0) {
    EXPECT_EQ(h.status, 503) << h.body;
  }
  const HttpReply late = post_json(port, "/v1/completions", {{"prompt", "And"}, {"max_tokens", 2}});
  if (late.status != 0) {
    EXPECT_EQ(late.status, 503) << late.body;
  }
  client.join();
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << read_file(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(log);
  const std::vector<std::string> events = sse_payloads(streamed);
  ASSERT_GE(events.size(), 2u) << streamed;
  EXPECT_EQ(events.back(), "[DONE]") << streamed;
  const json last = json::parse(events[events.size() - 2]);
  EXPECT_FALSE(last["choices"][0]["finish_reason"].is_null()) << events[events.size() - 2];
  EXPECT_NE(read_file(log).find("SIGTERM"), std::string::npos);
}

TEST(ServeCli, BadFlagsAndModelsGiveOneLineErrors) {
  const auto dir = temp_dir();
  CommandResult r = run_octet("serve " + (source_root() / "models" / "kjv-llama").string() + " --kv-budget lots", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("--kv-budget"), std::string::npos) << r.errors;
  r = run_octet("serve " + (dir / "missing").string(), dir);
  EXPECT_NE(r.exit_code, 0);
  r = run_octet("serve " + (source_root() / "models" / "kjv-llama").string() + " --max-batch 0", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("--max-batch"), std::string::npos) << r.errors;
}

}  // namespace
}  // namespace octet::testing
