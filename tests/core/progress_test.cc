#include "octet/progress.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "octet/log.h"

namespace octet {
namespace {

using std::chrono::milliseconds;

// A bar that writes to a string stream, with a clock the test moves by hand.
class ProgressTest : public ::testing::Test {
 protected:
  ProgressOptions options(bool tty) {
    ProgressOptions o;
    o.stream = &out_;
    o.is_tty = tty;
    o.clock = [this] { return ProgressOptions::Clock::time_point(milliseconds(now_ms_.load())); };
    o.width = 80;
    return o;
  }
  void at(int64_t ms) { now_ms_ = ms; }
  static std::string drawn(const std::string& line) { return "\r" + line + "\033[K"; }

  std::ostringstream out_;
  std::atomic<int64_t> now_ms_{1000};
};

TEST(ProgressRender, KnownTotalShowsBarCountPercentRateEta) {
  // 25 of 100 in 5 s: 5 it/s, 75 left -> 15 s. The 79 usable columns leave room
  // for the full 40-column bar, a quarter of it filled.
  EXPECT_EQ(ProgressBar::render("cal", 25, 100, 5.0, 80),
            "cal [" + std::string(10, '#') + std::string(30, '-') + "] 25/100  25% 5.00 it/s ETA 0:15");
}

TEST(ProgressRender, EtaInHoursAndFloorPercent) {
  // 1 of 10000 after 1 s: 9999 s left = 2:46:39; 0.01% shows as 0%.
  const std::string line = ProgressBar::render("a", 1, 10000, 1.0, 200);
  EXPECT_TRUE(line.ends_with("1/10000   0% 1.00 it/s ETA 2:46:39")) << line;
  // 999 of 1000 is not yet 100%.
  EXPECT_NE(ProgressBar::render("a", 999, 1000, 1.0, 200).find(" 99%"), std::string::npos);
}

TEST(ProgressRender, UnknownRateAndOverrun) {
  EXPECT_TRUE(ProgressBar::render("a", 0, 10, 0.0, 80).ends_with("0/10   0% -- it/s ETA --:--"));
  const std::string over = ProgressBar::render("a", 12, 10, 2.0, 80);
  EXPECT_NE(over.find("[" + std::string(40, '#') + "]"), std::string::npos) << over;
  EXPECT_TRUE(over.ends_with("12/10 100% 6.00 it/s ETA 0:00")) << over;
}

TEST(ProgressRender, UnknownTotalShowsCountRateAndElapsed) {
  EXPECT_EQ(ProgressBar::render("tok", 1500, 0, 3.0, 80), "tok 1500 it 500 it/s 0:03");
  EXPECT_EQ(ProgressBar::render("x", 12345, -1, 1.0, 80, "tok"), "x 12345 tok 12.3k tok/s 0:01");
}

TEST(ProgressRender, NeverFillsTheLastColumn) {
  for (int width : {10, 20, 37, 41, 42, 60, 80, 120}) {
    const std::string line = ProgressBar::render("calibrating", 5, 10, 1.0, width);
    EXPECT_LE(line.size(), static_cast<size_t>(width - 1)) << "width " << width << ": " << line;
  }
  // "a [" + "] " + the 28-column tail leave 39 - 33 = 6 columns of bar at width 40...
  EXPECT_EQ(ProgressBar::render("a", 5, 10, 1.0, 40), "a [###---] 5/10  50% 5.00 it/s ETA 0:01");
  // ...and less than the 5-column minimum at width 37: the bar is dropped, the numbers kept.
  EXPECT_EQ(ProgressBar::render("a", 5, 10, 1.0, 37), "a 5/10  50% 5.00 it/s ETA 0:01");
}

TEST(ProgressRender, TruncatesWithoutSplittingUtf8) {
  const std::string label = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9";  // "éééé", 8 bytes
  const std::string line = ProgressBar::render(label, 1, 2, 1.0, 6);  // 5 bytes allowed
  EXPECT_EQ(line, "\xC3\xA9\xC3\xA9");
}

TEST_F(ProgressTest, TerminalDrawsThrottledAndErasesOnFinish) {
  ProgressBar bar(10, "calibrating", options(true));
  ASSERT_TRUE(bar.drawing());
  at(1050);
  bar.advance();
  EXPECT_EQ(out_.str(), "") << "the first draw waits one interval";
  at(1150);
  bar.advance();
  std::string expected = drawn(ProgressBar::render("calibrating", 2, 10, 0.150, 80));
  EXPECT_EQ(out_.str(), expected);
  at(1200);
  bar.advance();
  EXPECT_EQ(out_.str(), expected) << "redraws are at least 100 ms apart";
  at(1260);
  bar.advance(2);
  expected += drawn(ProgressBar::render("calibrating", 5, 10, 0.260, 80));
  EXPECT_EQ(out_.str(), expected);
  bar.finish();
  expected += "\r\033[K";
  EXPECT_EQ(out_.str(), expected);
  at(5000);
  bar.advance();
  bar.finish();
  EXPECT_EQ(out_.str(), expected) << "nothing after finish";
  EXPECT_EQ(bar.count(), 6);
}

TEST_F(ProgressTest, NotATerminalPrintsNothing) {
  {
    ProgressBar bar(10, "calibrating", options(false));
    EXPECT_FALSE(bar.drawing());
    for (int i = 0; i < 10; ++i) {
      at(1000 + 500 * i);
      bar.advance();
    }
    EXPECT_EQ(bar.count(), 10);
    bar.finish();
  }
  EXPECT_EQ(out_.str(), "");
  // A stream other than std::cerr is never taken for a terminal unless told.
  ProgressOptions o = options(false);
  o.is_tty.reset();
  ProgressBar bar(10, "x", o);
  EXPECT_FALSE(bar.drawing());
}

TEST_F(ProgressTest, ShortLoopsNeverDraw) {
  ProgressBar bar(1000, "fast", options(true));
  for (int i = 0; i < 1000; ++i) bar.advance();  // all within the first interval
  bar.finish();
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ProgressTest, DestructorErasesTheBar) {
  {
    ProgressBar bar(4, "x", options(true));
    at(1200);
    bar.advance();
  }
  EXPECT_EQ(out_.str(), drawn(ProgressBar::render("x", 1, 4, 0.2, 80)) + "\r\033[K");
}

TEST_F(ProgressTest, LogLineErasesTheBarFirst) {
  const LogLevel saved = log_level();
  set_log_level(LogLevel::Info);
  set_log_stream(&out_);
  ProgressBar bar(4, "x", options(true));
  at(1200);
  bar.advance();
  const std::string bar_line = drawn(ProgressBar::render("x", 1, 4, 0.2, 80));
  log_warn("careful");
  // The bar is already gone, so finish() has nothing left to erase.
  bar.finish();
  set_log_stream(nullptr);
  set_log_level(saved);
  EXPECT_EQ(out_.str(), bar_line + "\r\033[Koctet: warn: careful\n");
}

TEST_F(ProgressTest, ConcurrentAdvanceCountsEveryStepAndDrawsWholeLines) {
  constexpr int kThreads = 4;
  constexpr int kSteps = 5000;
  ProgressBar bar(kThreads * kSteps, "work", options(true));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kSteps; ++i) {
        now_ms_.fetch_add(1);  // time moves on, so redraws keep happening
        bar.advance();
      }
    });
  for (auto& th : threads) th.join();
  bar.finish();
  EXPECT_EQ(bar.count(), kThreads * kSteps);
  // Every segment between carriage returns is one whole line ending with clear-to-end.
  const std::string text = out_.str();
  ASSERT_TRUE(text.starts_with("\r"));
  ASSERT_TRUE(text.ends_with("\r\033[K"));
  size_t lines = 0;
  size_t pos = 0;
  while ((pos = text.find('\r', pos)) != std::string::npos) {
    const size_t next = text.find('\r', pos + 1);
    const std::string segment = text.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    EXPECT_TRUE(segment.ends_with("\033[K")) << segment;
    if (segment != "\033[K") {
      EXPECT_TRUE(segment.starts_with("work [")) << segment;
      EXPECT_NE(segment.find("/20000"), std::string::npos) << segment;
      ++lines;
    }
    pos = pos + 1;
  }
  // 20000 ms of fake time at one redraw per 100 ms: many draws, far fewer than steps.
  EXPECT_GT(lines, 10u);
  EXPECT_LT(lines, 1000u);
}

}  // namespace
}  // namespace octet
