#include "octet/log.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "octet/error.h"

namespace {
// Counts how often it is formatted, to show disabled levels skip formatting.
int g_format_calls = 0;
struct CountsFormatting {};
}  // namespace

template <>
struct fmt::formatter<CountsFormatting> : fmt::formatter<int> {
  template <typename FormatContext>
  auto format(CountsFormatting, FormatContext& ctx) const {
    ++g_format_calls;
    return fmt::formatter<int>::format(7, ctx);
  }
};

namespace octet {
namespace {

// Captures log output for one test and restores stderr and the level after.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_level_ = log_level();
    set_log_stream(&out_);
  }
  void TearDown() override {
    set_log_stream(nullptr);
    set_log_level(saved_level_);
  }
  std::ostringstream out_;
  LogLevel saved_level_ = LogLevel::Info;
};

TEST_F(LogTest, FormatsWithLevelPrefix) {
  set_log_level(LogLevel::Debug);
  log_error("bad {}", 1);
  log_warn("tensor '{}' has {} elements", "w", 42);
  log_info("{:.2f}", 3.14159);
  log_debug("d");
  EXPECT_EQ(out_.str(),
            "octet: error: bad 1\n"
            "octet: warn: tensor 'w' has 42 elements\n"
            "octet: info: 3.14\n"
            "octet: debug: d\n");
}

TEST_F(LogTest, LevelFiltersLessSevereMessages) {
  const LogLevel levels[] = {LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug};
  for (int threshold = 0; threshold < 4; ++threshold) {
    out_.str("");
    set_log_level(levels[threshold]);
    log_error("e");
    log_warn("w");
    log_info("i");
    log_debug("d");
    // Exactly the messages at or above the threshold's severity get through.
    std::string expected;
    const char* names[] = {"error: e", "warn: w", "info: i", "debug: d"};
    for (int i = 0; i <= threshold; ++i) expected += std::string("octet: ") + names[i] + "\n";
    EXPECT_EQ(out_.str(), expected) << "threshold " << to_string(levels[threshold]);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(log_enabled(levels[i]), i <= threshold);
  }
}

TEST_F(LogTest, DisabledMessagesAreNotFormatted) {
  g_format_calls = 0;
  set_log_level(LogLevel::Warn);
  log_debug("{}", CountsFormatting{});
  log_info("{}", CountsFormatting{});
  EXPECT_EQ(g_format_calls, 0);
  EXPECT_EQ(out_.str(), "");
  set_log_level(LogLevel::Debug);
  log_debug("{}", CountsFormatting{});
  EXPECT_EQ(g_format_calls, 1);
  EXPECT_EQ(out_.str(), "octet: debug: 7\n");
}

TEST(LogLevelParse, AcceptsNamesInAnyCase) {
  EXPECT_EQ(parse_log_level("error"), LogLevel::Error);
  EXPECT_EQ(parse_log_level("WARN"), LogLevel::Warn);
  EXPECT_EQ(parse_log_level("warning"), LogLevel::Warn);
  EXPECT_EQ(parse_log_level("Info"), LogLevel::Info);
  EXPECT_EQ(parse_log_level("debug"), LogLevel::Debug);
  for (LogLevel level : {LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug})
    EXPECT_EQ(parse_log_level(to_string(level)), level);
}

TEST(LogLevelParse, RejectsUnknownNamesWithTaggedError) {
  for (const char* bad : {"", "verbose", "inf", "3"}) {
    try {
      parse_log_level(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "log");
    }
  }
}

TEST_F(LogTest, ConcurrentLinesStayWhole) {
  set_log_level(LogLevel::Info);
  constexpr int kThreads = 8;
  constexpr int kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) log_info("thread {} line {} {}", t, i, std::string(40, 'x'));
    });
  for (auto& th : threads) th.join();
  std::istringstream lines(out_.str());
  std::set<std::string> seen;
  std::string line;
  const std::string payload(40, 'x');
  while (std::getline(lines, line)) {
    ASSERT_TRUE(line.starts_with("octet: info: thread ")) << line;
    ASSERT_TRUE(line.ends_with(payload)) << line;
    seen.insert(line);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kLines));
}

}  // namespace
}  // namespace octet
