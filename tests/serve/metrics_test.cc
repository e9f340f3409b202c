// Prometheus exposition: the rendered text is parsed line by line against the
// 0.0.4 text-format grammar, and the numbers are checked against what was
// recorded (including from several threads at once).
#include "serve/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "octet/error.h"

namespace octet::serve {
namespace {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values, in order
  double value = 0;
};

struct Family {
  std::string type, help;
  std::vector<Sample> samples;
};

// Unescapes a label value (\\, \", \n); fails on any other escape.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    EXPECT_LT(i + 1, s.size()) << s;
    const char c = s[++i];
    if (c == '\\' || c == '"') out += c;
    else if (c == 'n') out += '\n';
    else ADD_FAILURE() << "bad escape \\" << c << " in " << s;
  }
  return out;
}

double parse_value(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  size_t used = 0;
  const double v = std::stod(text, &used);
  EXPECT_EQ(used, text.size()) << text;
  return v;
}

// The family a sample belongs to: histograms' _bucket/_sum/_count suffixes
// are stripped when that family was declared.
std::string family_of(const std::string& name, const std::map<std::string, Family>& families) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.ends_with(s)) {
      const std::string base = name.substr(0, name.size() - s.size());
      auto it = families.find(base);
      if (it != families.end() && it->second.type == "histogram") return base;
    }
  }
  return name;
}

// Parses and checks the exposition grammar: every line is a "# HELP name
// text", "# TYPE name type" or "name{label="value",...} value" line; HELP
// and TYPE come once per family, before its samples; samples of a family are
// contiguous.
std::map<std::string, Family> parse_exposition(const std::string& text) {
  static const std::regex help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex type_re(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample_re(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+))");
  static const std::regex label_re(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\"(,|$))");
  std::map<std::string, Family> families;
  std::set<std::string> finished;
  std::string current;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "the exposition ends with a newline";
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    EXPECT_FALSE(line.empty()) << "blank line";
    if (std::regex_match(line, m, help_re)) {
      EXPECT_EQ(families.count(m[1]), 0u) << "HELP after TYPE or twice: " << line;
      EXPECT_FALSE(finished.count(m[1])) << line;
      families[m[1]].help = m[2];
      if (!current.empty() && current != m[1].str()) finished.insert(current);
      current = m[1];
    } else if (std::regex_match(line, m, type_re)) {
      EXPECT_EQ(current, m[1].str()) << "TYPE without its HELP first: " << line;
      EXPECT_TRUE(families[m[1]].type.empty()) << "TYPE twice: " << line;
      families[m[1]].type = m[2];
    } else if (std::regex_match(line, m, sample_re)) {
      Sample s{m[1], {}, parse_value(m[4])};
      std::string labels = m[3];
      while (!labels.empty()) {
        std::smatch l;
        if (!std::regex_search(labels, l, label_re) || l.position(0) != 0) {
          ADD_FAILURE() << "bad labels in " << line;
          break;
        }
        s.labels.emplace_back(l[1], unescape(l[2]));
        labels = l.suffix();
      }
      const std::string family = family_of(s.name, families);
      EXPECT_EQ(family, current) << "sample outside its family's block: " << line;
      EXPECT_TRUE(families.count(family) && !families[family].type.empty()) << "no TYPE for " << line;
      families[family].samples.push_back(s);
    } else {
      ADD_FAILURE() << "not a valid exposition line: '" << line << "'";
    }
  }
  for (const auto& [name, f] : families) {
    EXPECT_FALSE(f.help.empty()) << name << " has no HELP";
    EXPECT_FALSE(f.type.empty()) << name << " has no TYPE";
    if (f.type == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    }
  }
  return families;
}

// Histogram invariants: buckets in increasing le, cumulative counts monotone,
// the last bucket is +Inf and equals _count; returns (le, count) pairs.
std::vector<std::pair<double, double>> check_histogram(const Family& f, const std::string& name, double* sum = nullptr,
                                                       double* count = nullptr) {
  std::vector<std::pair<double, double>> buckets;
  double c = -1, s = NAN;
  for (const Sample& sample : f.samples) {
    if (sample.name == name + "_bucket") {
      EXPECT_EQ(sample.labels.size(), 1u);
      EXPECT_EQ(sample.labels[0].first, "le");
      buckets.emplace_back(parse_value(sample.labels[0].second), sample.value);
    } else if (sample.name == name + "_sum") {
      s = sample.value;
    } else if (sample.name == name + "_count") {
      c = sample.value;
    } else {
      ADD_FAILURE() << "unexpected sample " << sample.name << " in histogram " << name;
    }
  }
  EXPECT_FALSE(buckets.empty()) << name;
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LT(buckets[i - 1].first, buckets[i].first) << name << ": le not increasing";
    EXPECT_LE(buckets[i - 1].second, buckets[i].second) << name << ": counts not cumulative";
  }
  if (!buckets.empty()) {
    EXPECT_TRUE(std::isinf(buckets.back().first)) << name << ": last bucket is not +Inf";
    EXPECT_EQ(buckets.back().second, c) << name << ": +Inf bucket != _count";
  }
  EXPECT_GE(c, 0) << name << ": no _count";
  EXPECT_FALSE(std::isnan(s)) << name << ": no _sum";
  if (sum) *sum = s;
  if (count) *count = c;
  return buckets;
}

double value_of(const Family& f) {
  EXPECT_EQ(f.samples.size(), 1u);
  return f.samples.empty() ? NAN : f.samples[0].value;
}

TEST(Histogram, CumulativeBucketsSumAndCount) {
  Histogram h({0.1, 1, 10});
  for (const double v : {0.05, 0.1, 0.5, 2.0, 100.0}) h.observe(v);
  h.observe(NAN);  // dropped
  EXPECT_EQ(h.count(), 5);
  EXPECT_DOUBLE_EQ(h.sum(), 102.65);
  EXPECT_EQ(h.render("x"),
            "x_bucket{le=\"0.1\"} 2\n"  // le is inclusive: 0.1 falls in the 0.1 bucket
            "x_bucket{le=\"1\"} 3\n"
            "x_bucket{le=\"10\"} 4\n"
            "x_bucket{le=\"+Inf\"} 5\n"
            "x_sum 102.65\n"
            "x_count 5\n");
  EXPECT_EQ(Histogram({1}).render("e"), "e_bucket{le=\"1\"} 0\ne_bucket{le=\"+Inf\"} 0\ne_sum 0\ne_count 0\n");
}

TEST(Histogram, RefusesBadBounds) {
  EXPECT_THROW(Histogram({1, 1}), Error);
  EXPECT_THROW(Histogram({2, 1}), Error);
  EXPECT_THROW(Histogram({1, INFINITY}), Error);
  EXPECT_THROW(Histogram({NAN}), Error);
  EXPECT_NO_THROW(Histogram({}));
}

TEST(Metrics, EmptyExpositionIsWellFormed) {
  const Metrics m;
  const auto families = parse_exposition(m.render());
  EXPECT_EQ(families.size(), 10u);
  for (const char* name : {"octet_requests_total", "octet_prompt_tokens_total", "octet_generated_tokens_total"})
    EXPECT_EQ(families.at(name).type, "counter");
  for (const char* name : {"octet_queue_length", "octet_active_sequences", "octet_kv_cache_bytes"})
    EXPECT_EQ(families.at(name).type, "gauge");
  EXPECT_TRUE(families.at("octet_requests_total").samples.empty());
  for (const char* name : {"octet_time_to_first_token_seconds", "octet_time_per_output_token_seconds",
                           "octet_request_duration_seconds", "octet_batch_size"}) {
    EXPECT_EQ(families.at(name).type, "histogram");
    check_histogram(families.at(name), name);
  }
}

TEST(Metrics, RecordedValuesAndBuckets) {
  Metrics m;
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 400);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("we\"ird\\path\nx", 404);  // escaped, not broken
  m.add_prompt_tokens(12);
  m.add_prompt_tokens(30);
  m.add_generated_tokens(7);
  m.set_queue_length(3);
  m.set_queue_length(2);
  m.set_active_sequences(5);
  m.set_kv_cache_bytes(int64_t{3} << 33);
  for (const double s : {0.004, 0.2, 0.2, 75.0}) m.observe_time_to_first_token(s);
  m.observe_time_per_token(0.03);
  m.observe_request_latency(1.5);
  for (const int64_t rows : {1, 3, 8, 200}) m.observe_batch_size(rows);

  const auto families = parse_exposition(m.render());
  std::map<std::pair<std::string, std::string>, double> requests;
  for (const Sample& s : families.at("octet_requests_total").samples) {
    ASSERT_EQ(s.labels.size(), 2u);
    EXPECT_EQ(s.labels[0].first, "endpoint");
    EXPECT_EQ(s.labels[1].first, "status");
    requests[{s.labels[0].second, s.labels[1].second}] = s.value;
  }
  EXPECT_EQ(requests, (std::map<std::pair<std::string, std::string>, double>{
                          {{"/v1/completions", "200"}, 2},
                          {{"/v1/completions", "400"}, 1},
                          {{"/v1/chat/completions", "200"}, 1},
                          {{"we\"ird\\path\nx", "404"}, 1}}));
  EXPECT_EQ(value_of(families.at("octet_prompt_tokens_total")), 42);
  EXPECT_EQ(value_of(families.at("octet_generated_tokens_total")), 7);
  EXPECT_EQ(value_of(families.at("octet_queue_length")), 2);
  EXPECT_EQ(value_of(families.at("octet_active_sequences")), 5);
  EXPECT_EQ(value_of(families.at("octet_kv_cache_bytes")), double(int64_t{3} << 33));

  double sum = 0, count = 0;
  const auto ttft = check_histogram(families.at("octet_time_to_first_token_seconds"),
                                    "octet_time_to_first_token_seconds", &sum, &count);
  EXPECT_EQ(count, 4);
  EXPECT_DOUBLE_EQ(sum, 75.404);
  // Bounds 0.005 .. 60 s, then +Inf.
  ASSERT_GE(ttft.size(), 3u);
  EXPECT_EQ(ttft.front(), (std::pair<double, double>{0.005, 1}));
  EXPECT_EQ(ttft[ttft.size() - 2], (std::pair<double, double>{60, 3}));  // 75 s only in +Inf
  const auto per_token = check_histogram(families.at("octet_time_per_output_token_seconds"),
                                         "octet_time_per_output_token_seconds");
  EXPECT_EQ(per_token.front().first, 0.001);
  EXPECT_EQ(per_token[per_token.size() - 2].first, 5);
  const auto latency = check_histogram(families.at("octet_request_duration_seconds"), "octet_request_duration_seconds");
  EXPECT_EQ(latency.front().first, 0.005);
  const auto batch = check_histogram(families.at("octet_batch_size"), "octet_batch_size", &sum, &count);
  std::vector<double> bounds;
  for (const auto& [le, n] : batch) bounds.push_back(le);
  EXPECT_EQ(bounds, (std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128, INFINITY}));
  EXPECT_EQ(batch[0].second, 1);  // rows=1
  EXPECT_EQ(batch[2].second, 2);  // rows=3 in le=4
  EXPECT_EQ(batch[3].second, 3);  // rows=8 in le=8
  EXPECT_EQ(batch[7].second, 3);  // rows=200 only in +Inf
  EXPECT_EQ(sum, 212);
}

TEST(Metrics, ThreadSafe) {
  Metrics m;
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kEach; ++i) {
        m.count_request(t % 2 ? "/v1/completions" : "/v1/embeddings", 200);
        m.add_generated_tokens(1);
        m.observe_time_per_token(0.01 * (i % 7));
        m.observe_batch_size(i % 130);
        m.set_queue_length(i);
        if (i % 500 == 0) (void)parse_exposition(m.render());  // rendering concurrently with updates
      }
    });
  for (auto& t : threads) t.join();
  const auto families = parse_exposition(m.render());
  EXPECT_EQ(value_of(families.at("octet_generated_tokens_total")), kThreads * kEach);
  double total = 0;
  for (const Sample& s : families.at("octet_requests_total").samples) total += s.value;
  EXPECT_EQ(total, kThreads * kEach);
  double count = 0;
  check_histogram(families.at("octet_batch_size"), "octet_batch_size", nullptr, &count);
  EXPECT_EQ(count, kThreads * kEach);
}

}  // namespace
}  // namespace octet::serve
