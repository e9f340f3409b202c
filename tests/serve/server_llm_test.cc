// `octet serve` with a decoder LLM (kjv-llama): completions, streaming,
// continuous batching equivalence, limits and error bodies, cancellation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "octet/generate.h"
#include "serve/serve_test_support.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

using nlohmann::json;

std::string kjv() { return (source_root() / "models" / "kjv-llama").string(); }

class ServeLlm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServeOptions o;
    o.model = kjv();
    o.max_batch = 8;
    o.max_queue = 32;
    o.max_body_bytes = 64 * 1024;
    server_ = new RunningServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static void expect_healthy() {
    const HttpReply h = http_request(port(), "GET", "/health");
    EXPECT_EQ(h.status, 200) << h.body;
  }
  // The error body OpenAI clients parse: {"error": {"message", "type", "param", "code"}}.
  static void expect_error(const HttpReply& r, int status, const std::string& param = "") {
    EXPECT_EQ(r.status, status) << r.body;
    const json j = r.json();
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << r.body;
    }
    expect_healthy();
  }
  static RunningServer* server_;
};
RunningServer* ServeLlm::server_ = nullptr;

json greedy(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

TEST_F(ServeLlm, HealthAndModels) {
  expect_healthy();
  const HttpReply m = http_request(port(), "GET", "/v1/models");
  ASSERT_EQ(m.status, 200);
  const json j = m.json();
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "kjv-llama");
  EXPECT_EQ(j["data"][0]["context_length"], 512);
}

TEST_F(ServeLlm, GreedyCompletionEqualsGenerate) {
  const auto model = load_causal_lm(kjv());
  use_decode_kernels(*model);
  const Tokenizer tok = load_model_tokenizer(kjv());
  const std::string prompt = "In the beginning God created";
  const std::vector<int64_t> ids = tok.encode(prompt).ids;
  GenerationOptions g;
  g.max_new_tokens = 20;
  g.eos_ids = std::vector<int64_t>{};  // run the full length, as the server does unless EOS comes
  const GenerationResult want = generate(*model, {ids}, g);
  std::vector<int64_t> all = ids;
  all.insert(all.end(), want.new_tokens[0].begin(), want.new_tokens[0].end());
  const std::string full = tok.decode(all), head = tok.decode(ids);
  ASSERT_EQ(full.compare(0, head.size(), head), 0);

  const HttpReply r = post_json(port(), "/v1/completions", greedy(prompt, 20));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "kjv-llama");
  const int64_t eos = model->info().eos_token_id;
  const auto& w = want.new_tokens[0];
  const bool hit_eos = std::find(w.begin(), w.end(), eos) != w.end();
  if (!hit_eos) {
    EXPECT_EQ(j["choices"][0]["text"], full.substr(head.size()));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["completion_tokens"], 20);
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], int64_t(ids.size()));
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int64_t>() + j["usage"]["completion_tokens"].get<int64_t>());
}

TEST_F(ServeLlm, TokenIdPromptAndEcho) {
  const HttpReply a = post_json(port(), "/v1/completions", {{"prompt", {1, 450, 3186}}, {"max_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["usage"]["prompt_tokens"], 3);
  const HttpReply e = post_json(port(), "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 4}, {"temperature", 0}, {"echo", true}});
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.json()["choices"][0]["text"].get<std::string>().rfind("And God said", 0), 0u);
}

TEST_F(ServeLlm, StreamConcatenatesToTheSameText) {
  const HttpReply plain = post_json(port(), "/v1/completions", greedy("And the earth was", 24));
  ASSERT_EQ(plain.status, 200);
  json body = greedy("And the earth was", 24);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const HttpReply s = post_json(port(), "/v1/completions", body);
  ASSERT_EQ(s.status, 200);
  EXPECT_NE(std::string(httplib::detail::get_header_value(s.headers, "Content-Type", 0, "")).find("text/event-stream"), std::string::npos);
  const std::vector<std::string> events = sse_payloads(s.body);
  ASSERT_GE(events.size(), 3u) << s.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  int64_t completion_tokens = -1;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json c = json::parse(events[i]);
    if (c["choices"].empty()) {  // the usage chunk
      completion_tokens = c["usage"]["completion_tokens"];
      continue;
    }
    EXPECT_EQ(c["object"], "text_completion");
    text += c["choices"][0]["text"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, plain.json()["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(finish, plain.json()["choices"][0]["finish_reason"].get<std::string>());
  EXPECT_EQ(completion_tokens, plain.json()["usage"]["completion_tokens"].get<int64_t>());
}

// Continuous batching: each request's greedy text is the same when 8 run
// together as when it ran alone, and the scheduler really batched them.
TEST_F(ServeLlm, BatchedGreedyEqualsAlone) {
  const std::vector<std::string> prompts = {
      "In the beginning",  "And God said, Let there be", "The LORD is my shepherd", "Blessed are the",
      "And it came to pass", "For God so loved",         "Then Jesus said unto",    "And Moses spake unto the"};
  std::vector<std::string> alone;
  for (const auto& p : prompts) {
    const HttpReply r = post_json(port(), "/v1/completions", greedy(p, 40));
    ASSERT_EQ(r.status, 200) << r.body;
    alone.push_back(r.json()["choices"][0]["text"]);
  }
  const double before_steps = metric_value(http_request(port(), "GET", "/metrics").body, "octet_batch_size_count");
  const double before_single = metric_value(http_request(port(), "GET", "/metrics").body, "octet_batch_size_bucket{le=\"1\"}");
  std::vector<std::string> together(prompts.size());
  std::vector<int> status(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i)
    threads.emplace_back([&, i] {
      const HttpReply r = post_json(port(), "/v1/completions", greedy(prompts[i], 40));
      status[i] = r.status;
      if (r.status == 200) together[i] = r.json()["choices"][0]["text"];
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(status[i], 200);
    EXPECT_EQ(together[i], alone[i]) << "prompt " << i;
  }
  const std::string m = http_request(port(), "GET", "/metrics").body;
  const double steps = metric_value(m, "octet_batch_size_count") - before_steps;
  const double single = metric_value(m, "octet_batch_size_bucket{le=\"1\"}") - before_single;
  EXPECT_GT(steps - single, 0) << "no model step ran more than one sequence";
}

TEST_F(ServeLlm, SampledCompletionWithSeedIsReproducible) {
  json body = {{"prompt", "And the"}, {"max_tokens", 12}, {"temperature", 0.9}, {"top_p", 0.9}, {"seed", 42}};
  const HttpReply a = post_json(port(), "/v1/completions", body);
  const HttpReply b = post_json(port(), "/v1/completions", body);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.json()["choices"][0]["text"], b.json()["choices"][0]["text"]);
}

TEST_F(ServeLlm, StopStringEndsTheText) {
  const HttpReply plain = post_json(port(), "/v1/completions", greedy("In the beginning", 30));
  const std::string text = plain.json()["choices"][0]["text"];
  ASSERT_GT(text.size(), 6u);
  const std::string stop = text.substr(3, 2);  // occurs in the text
  json body = greedy("In the beginning", 30);
  body["stop"] = stop;
  const HttpReply r = post_json(port(), "/v1/completions", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(r.json()["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServeLlm, BadRequestsGetTheirStatusAndAJsonError) {
  expect_error(http_request(port(), "POST", "/v1/completions", "{not json"), 400);
  expect_error(http_request(port(), "POST", "/v1/completions", "[1,2]"), 400);
  expect_error(post_json(port(), "/v1/completions", {{"prompt", "x"}, {"max_tokens", "ten"}}), 400, "max_tokens");
  expect_error(post_json(port(), "/v1/completions", {{"prompt", "x"}, {"temperature", -1}}), 400, "temperature");
  expect_error(post_json(port(), "/v1/completions", {{"prompt", "x"}, {"n", 2}}), 400, "n");
  expect_error(post_json(port(), "/v1/completions", {{"max_tokens", 3}}), 400, "prompt");
  expect_error(post_json(port(), "/v1/completions", {{"prompt", {1, 99999}}}), 400, "prompt");
  // The context is 512 tokens: the numbers are in the message.
  const HttpReply over = post_json(port(), "/v1/completions", {{"prompt", "In the beginning"}, {"max_tokens", 600}});
  expect_error(over, 400, "max_tokens");
  EXPECT_NE(over.json()["error"]["message"].get<std::string>().find("512"), std::string::npos) << over.body;
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "and the LORD said ";
  const HttpReply too_long = post_json(port(), "/v1/completions", {{"prompt", long_prompt}, {"max_tokens", 1}});
  expect_error(too_long, 400, "prompt");
  // Body over --max-body (64 KiB).
  expect_error(post_json(port(), "/v1/completions", {{"prompt", std::string(100 * 1024, 'a')}}), 413);
  expect_error(http_request(port(), "GET", "/v1/nothing"), 404);
  const HttpReply wrong = http_request(port(), "GET", "/v1/completions");
  expect_error(wrong, 405);
  EXPECT_EQ(std::string(httplib::detail::get_header_value(wrong.headers, "Allow", 0, "")), "POST");
  expect_error(http_request(port(), "DELETE", "/health"), 405);
  // An LLM has no embeddings; kjv-llama has no chat template.
  expect_error(post_json(port(), "/v1/embeddings", {{"input", "x"}}), 400, "model");
  expect_error(post_json(port(), "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}), 400,
               "messages");
}

// A client that leaves mid-stream: its sequence is dropped at the next step.
TEST_F(ServeLlm, DisconnectCancelsTheSequence) {
  const std::string m0 = http_request(port(), "GET", "/metrics").body;
  const double generated0 = metric_value(m0, "octet_generated_tokens_total");
  httplib::Client client("127.0.0.1", port());
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"prompt", "And"}, {"max_tokens", 500}, {"temperature", 0}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  int chunks = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  // The receiver's false cancels the request and closes the connection (httplib::Error::Canceled).
  EXPECT_FALSE(client.send(req, res, err));
  EXPECT_EQ(err, httplib::Error::Canceled) << httplib::to_string(err);
  // Active sequences return to 0 long before 500 tokens would have been generated.
  double active = -1;
  for (int i = 0; i < 100 && active != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    active = metric_value(http_request(port(), "GET", "/metrics").body, "octet_active_sequences");
  }
  EXPECT_EQ(active, 0);
  const double generated = metric_value(http_request(port(), "GET", "/metrics").body, "octet_generated_tokens_total");
  EXPECT_LT(generated - generated0, 500);
}

TEST_F(ServeLlm, MetricsCountRequestsAndLatencies) {
  post_json(port(), "/v1/completions", greedy("And", 3));
  http_request(port(), "GET", "/v1/nothing");
  // Requests are counted by httplib's logger, which runs after the response is
  // written: the client may ask for /metrics before the last ones are counted.
  std::string m;
  for (int i = 0; i < 100; ++i) {
    m = http_request(port(), "GET", "/metrics").body;
    if (metric_value(m, "octet_requests_total{endpoint=\"other\",status=\"404\"}") >= 1 &&
        metric_value(m, "octet_requests_total{endpoint=\"/v1/completions\",status=\"200\"}") >= 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(metric_value(m, "octet_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"), 1) << m;
  EXPECT_GE(metric_value(m, "octet_requests_total{endpoint=\"other\",status=\"404\"}"), 1) << m;
  EXPECT_GE(metric_value(m, "octet_time_to_first_token_seconds_count"), 1) << m;
  EXPECT_GE(metric_value(m, "octet_time_per_output_token_seconds_count"), 1) << m;
  EXPECT_GE(metric_value(m, "octet_generated_tokens_total"), 3) << m;
}

TEST(ServeLlmLimits, FullQueueAnswers429WithRetryAfter) {
  ServeOptions o;
  o.model = kjv();
  o.max_batch = 1;
  o.max_queue = 1;
  RunningServer s(o);
  // One long request runs, one waits, the third finds the queue full. Each step waits for the server's
  // gauges rather than a fixed time (under ThreadSanitizer on a loaded machine 100 ms was not enough).
  const auto wait_for = [&](const char* gauge, double value) {
    double now = -1;
    for (int i = 0; i < 1000 && now != value; ++i) {
      now = metric_value(http_request(s.port(), "GET", "/metrics").body, gauge);
      if (now != value) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(now, value) << gauge;
  };
  const json long_body = {{"prompt", "And"}, {"max_tokens", 500}, {"temperature", 0}};
  std::thread a([&] { post_json(s.port(), "/v1/completions", long_body); });
  wait_for("octet_active_sequences", 1);
  std::thread b([&] { post_json(s.port(), "/v1/completions", long_body); });
  wait_for("octet_queue_length", 1);
  const HttpReply c = post_json(s.port(), "/v1/completions", greedy("And", 2));
  EXPECT_EQ(c.status, 429) << c.body;
  EXPECT_EQ(std::string(httplib::detail::get_header_value(c.headers, "Retry-After", 0, "")), "1");
  a.join();
  b.join();
  EXPECT_EQ(post_json(s.port(), "/v1/completions", greedy("And", 2)).status, 200);
}

TEST(ServeLlmLimits, ApiKeyIsRequiredExceptForHealth) {
  ServeOptions o;
  o.model = kjv();
  o.api_key = "sekret";
  RunningServer s(o);
  EXPECT_EQ(http_request(s.port(), "GET", "/health").status, 200);
  const HttpReply missing = post_json(s.port(), "/v1/completions", greedy("And", 2));
  EXPECT_EQ(missing.status, 401);
  EXPECT_TRUE(missing.json().contains("error"));
  EXPECT_EQ(post_json(s.port(), "/v1/completions", greedy("And", 2), {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(http_request(s.port(), "GET", "/metrics").status, 401);
  EXPECT_EQ(post_json(s.port(), "/v1/completions", greedy("And", 2), {{"Authorization", "Bearer sekret"}}).status, 200);
}

TEST(ServeLlmLimits, KvBudgetSmallerThanARequestIs400) {
  ServeOptions o;
  o.model = kjv();
  o.kv_budget_bytes = 64 * 1024;  // a few dozen tokens of kjv-llama's f32 cache
  RunningServer s(o);
  const HttpReply r = post_json(s.port(), "/v1/completions", greedy("And", 400));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["error"]["param"], "max_tokens");
  EXPECT_EQ(post_json(s.port(), "/v1/completions", greedy("And", 4)).status, 200);
}

TEST(ServeLlmLimits, ChatTemplateOverrideServesChat) {
  ServeOptions o;
  o.model = kjv();
  o.chat_template = "chatml";
  RunningServer s(o);
  const json body = {{"messages", {{{"role", "system"}, {"content", "Answer."}}, {{"role", "user"}, {"content", "Who?"}}}},
                     {"max_tokens", 6},
                     {"temperature", 0}};
  const HttpReply r = post_json(s.port(), "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
}

TEST(ServeLlmLimits, UnknownChatTemplateNameFailsAtStart) {
  ServeOptions o;
  o.model = kjv();
  o.chat_template = "nonsense";
  EXPECT_THROW(Server{o}, Error);
}

}  // namespace
}  // namespace octet::testing

namespace octet::testing {
namespace {

// --timeout: a request still running then is cancelled with 408 (streaming:
// an error event), and the server goes on serving.
TEST(ServeLlmLimits, RequestPastTheTimeoutIs408) {
  ServeOptions o;
  o.model = kjv();
  o.timeout_seconds = 0.05;
  RunningServer s(o);
  const json long_body = {{"prompt", "And"}, {"max_tokens", 500}, {"temperature", 0}, {"ignore_eos", true}};
  const HttpReply r = post_json(s.port(), "/v1/completions", long_body);
  EXPECT_EQ(r.status, 408) << r.body;
  EXPECT_EQ(r.json()["error"]["type"], "timeout") << r.body;
  json streamed = long_body;
  streamed["stream"] = true;
  const HttpReply st = post_json(s.port(), "/v1/completions", streamed);
  EXPECT_EQ(st.status, 200);
  const std::vector<std::string> events = sse_payloads(st.body);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(json::parse(events.back()).contains("error")) << events.back();
  EXPECT_EQ(http_request(s.port(), "GET", "/health").status, 200);
  // The cancelled sequences leave: nothing is left running.
  double active = -1;
  for (int i = 0; i < 100 && active != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    active = metric_value(http_request(s.port(), "GET", "/metrics").body, "octet_active_sequences");
  }
  EXPECT_EQ(active, 0);
}

}  // namespace
}  // namespace octet::testing
