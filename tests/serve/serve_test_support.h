// An in-process `octet serve` on an ephemeral loopback port, and a small
// HTTP client for the tests (plain and server-sent-event requests).
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/serve.h"

namespace octet::testing {

class RunningServer {
 public:
  explicit RunningServer(ServeOptions options) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<Server>(std::move(options));
    thread_ = std::thread([this] { server_->run(); });
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return server_->port(); }
  Server& server() { return *server_; }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

struct HttpReply {
  int status = 0;  // 0: no response
  std::string body;
  httplib::Headers headers;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline HttpReply http_request(int port, const std::string& method, const std::string& path,
                              const std::string& body = "", const httplib::Headers& headers = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(120, 0);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  if (!body.empty() || method == "POST") {
    req.body = body;
    req.set_header("Content-Type", "application/json");
  }
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  HttpReply out;
  if (!client.send(req, res, err)) return out;
  out.status = res.status;
  out.body = res.body;
  out.headers = res.headers;
  return out;
}

inline HttpReply post_json(int port, const std::string& path, const nlohmann::json& body,
                           const httplib::Headers& headers = {}) {
  return http_request(port, "POST", path, body.dump(), headers);
}

// The "data: ..." payloads of a server-sent event stream, in order.
inline std::vector<std::string> sse_payloads(const std::string& stream) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = stream.find("data: ", at)) != std::string::npos) {
    const size_t end = stream.find("\n\n", at);
    out.push_back(stream.substr(at + 6, (end == std::string::npos ? stream.size() : end) - at - 6));
    at = end == std::string::npos ? stream.size() : end + 2;
  }
  return out;
}

// A metric's value from /metrics text ("name" or "name{labels}" exactly); -1 if absent.
inline double metric_value(const std::string& text, const std::string& sample) {
  size_t at = 0;
  while ((at = text.find(sample + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + sample.size() + 1));
    at += sample.size();
  }
  return -1;
}

}  // namespace octet::testing
