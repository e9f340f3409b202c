#include "octet/log.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <string>

#include "octet/error.h"

namespace octet {
namespace {

constexpr LogLevel kDefaultLevel = LogLevel::Info;
constexpr int kLevelUnset = -1;

// kLevelUnset until the first read, which consults OCTET_LOG_LEVEL once.
std::atomic<int> g_level{kLevelUnset};
std::ostream* g_stream = nullptr;  // guarded by terminal_mutex(); nullptr means std::cerr

std::ostream& current_stream() { return g_stream ? *g_stream : std::cerr; }

int level_from_environment() {
  const char* env = std::getenv("OCTET_LOG_LEVEL");
  if (!env || !*env) return static_cast<int>(kDefaultLevel);
  try {
    return static_cast<int>(parse_log_level(env));
  } catch (const Error& e) {
    // A bad variable must not stop the program; say so once and carry on.
    std::lock_guard<std::mutex> lock(detail::terminal_mutex());
    current_stream() << "octet: warn: " << e.detail() << "; using '" << to_string(kDefaultLevel) << "'\n"
                     << std::flush;
    return static_cast<int>(kDefaultLevel);
  }
}

}  // namespace

namespace detail {
std::mutex& terminal_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::ostream*& status_line_stream() {
  static std::ostream* stream = nullptr;
  return stream;
}
}  // namespace detail

LogLevel log_level() {
  int level = g_level.load(std::memory_order_relaxed);
  if (level == kLevelUnset) {
    static const int from_env = level_from_environment();  // thread-safe one-time init
    int expected = kLevelUnset;
    // set_log_level() may have won the race meanwhile; its value stands.
    g_level.compare_exchange_strong(expected, from_env);
    level = g_level.load(std::memory_order_relaxed);
  }
  return static_cast<LogLevel>(level);
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel parse_log_level(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "error") return LogLevel::Error;
  if (lower == "warn" || lower == "warning") return LogLevel::Warn;
  if (lower == "info") return LogLevel::Info;
  if (lower == "debug") return LogLevel::Debug;
  fail("log", "unknown log level '{}': expected error, warn, info or debug", text);
}

std::string_view to_string(LogLevel level) {
  static constexpr std::array<std::string_view, 4> kNames{"error", "warn", "info", "debug"};
  const auto i = static_cast<size_t>(level);
  return i < kNames.size() ? kNames[i] : "unknown";
}

void log_message(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  // Build the whole line first so the lock covers a single write.
  std::string line = fmt::format("octet: {}: {}\n", to_string(level), message);
  std::lock_guard<std::mutex> lock(detail::terminal_mutex());
  std::ostream& out = current_stream();
  if (detail::status_line_stream() == &out) {
    out << "\r\033[K";  // erase the progress bar; it redraws on its next update
    detail::status_line_stream() = nullptr;
  }
  out << line << std::flush;
}

void set_log_stream(std::ostream* stream) {
  std::lock_guard<std::mutex> lock(detail::terminal_mutex());
  g_stream = stream;
}

}  // namespace octet
