// Leveled logging to stderr.
//
//   octet::log_warn("tensor '{}' has no scale; using 1.0", name);
//
// Lines read "octet: warn: <message>". The level comes from OCTET_LOG_LEVEL
// (error, warn, info, debug; read on first use) unless set_log_level() was
// called. Messages below the level are not formatted at all. Safe to call from
// any thread: each line is written whole, and a progress bar drawn on the
// same stream is erased first (it redraws on its next update).
#pragma once

#include <iosfwd>
#include <mutex>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace octet {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

// The current level: messages at this level or more severe are written.
LogLevel log_level();
void set_log_level(LogLevel level);
// "error" | "warn" | "warning" | "info" | "debug" (any case); throws Error "log" otherwise.
LogLevel parse_log_level(std::string_view text);
std::string_view to_string(LogLevel level);

inline bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(log_level()); }

// Writes one already-formatted line if `level` is enabled.
void log_message(LogLevel level, std::string_view message);

// Redirects log output (nullptr restores stderr). For tests.
void set_log_stream(std::ostream* stream);

template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::Error)) log_message(LogLevel::Error, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::Warn)) log_message(LogLevel::Warn, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::Info)) log_message(LogLevel::Info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::Debug)) log_message(LogLevel::Debug, fmt::format(format, std::forward<Args>(args)...));
}

namespace detail {
// One lock for all terminal output of the logger and progress bars, so lines never interleave.
std::mutex& terminal_mutex();
// The stream whose current line is a drawn progress bar, or nullptr (guarded by
// terminal_mutex()). The logger erases that line before writing to the same stream.
std::ostream*& status_line_stream();
}  // namespace detail

}  // namespace octet
