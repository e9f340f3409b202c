#include "output.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "octet/error.h"
#include "octet/log.h"
#include "octet/thread_pool.h"

namespace octet::cli {
namespace {

// Display width as UTF-8 code points (continuation bytes do not count).
size_t display_width(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool is_placeholder(std::string_view cell) { return cell.empty() || cell == "-"; }

// "1.23", "12.3", "123": three significant digits for values below 1000.
std::string three_digits(double value) {
  const int decimals = value >= 99.95 ? 0 : value >= 9.995 ? 1 : 2;
  return fmt::format("{:.{}f}", value, decimals);
}

}  // namespace

bool looks_numeric(std::string_view cell) {
  size_t i = 0;
  if (i < cell.size() && (cell[i] == '-' || cell[i] == '+')) ++i;
  const size_t digits_start = i;
  bool seen_digit = false;
  while (i < cell.size() && (std::isdigit(static_cast<unsigned char>(cell[i])) || cell[i] == '.' || cell[i] == ',')) {
    seen_digit = seen_digit || std::isdigit(static_cast<unsigned char>(cell[i]));
    ++i;
  }
  if (!seen_digit || i == digits_start) return false;
  // Exponent: "1e-3".
  if (i + 1 < cell.size() && (cell[i] == 'e' || cell[i] == 'E')) {
    size_t j = i + 1;
    if (cell[j] == '-' || cell[j] == '+') ++j;
    if (j < cell.size() && std::isdigit(static_cast<unsigned char>(cell[j]))) {
      while (j < cell.size() && std::isdigit(static_cast<unsigned char>(cell[j]))) ++j;
      i = j;
    }
  }
  // An optional unit: "%", "x", " ms", "GiB": letters only, at most one space before.
  std::string_view unit = cell.substr(i);
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  if (unit.size() > 4) return false;
  return std::all_of(unit.begin(), unit.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '%' || c == '/'; });
}

std::string format_table(const TableRow& header, const std::vector<TableRow>& rows) {
  const size_t columns = header.size();
  std::vector<size_t> widths(columns);
  std::vector<bool> numeric(columns, true);
  std::vector<bool> any_value(columns, false);
  for (size_t c = 0; c < columns; ++c) widths[c] = display_width(header[c]);
  for (const auto& row : rows) {
    check(row.size() <= columns, "cli", "table row has {} cells but the header has {}", row.size(), columns);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], display_width(row[c]));
      if (is_placeholder(row[c])) continue;
      any_value[c] = true;
      numeric[c] = numeric[c] && looks_numeric(row[c]);
    }
  }
  std::string out;
  auto append_line = [&](const TableRow& cells) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      const std::string_view cell = c < cells.size() ? std::string_view(cells[c]) : std::string_view();
      const std::string padding(widths[c] - display_width(cell), ' ');
      if (c > 0) line += "  ";
      // Headers of numeric columns align with their numbers.
      if (numeric[c] && any_value[c]) {
        line += padding;
        line += cell;
      } else {
        line += cell;
        line += padding;
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  append_line(header);
  std::string rule;
  for (size_t c = 0; c < columns; ++c) {
    if (c > 0) rule += "  ";
    rule += std::string(widths[c], '-');
  }
  out += rule + '\n';
  for (const auto& row : rows) append_line(row);
  return out;
}

void print_table(const TableRow& header, const std::vector<TableRow>& rows) {
  std::cout << format_table(header, rows) << std::flush;
}

void print_json(const nlohmann::json& value) { std::cout << value.dump(2) << '\n' << std::flush; }

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "-";
  if (seconds < 0) return "-" + format_duration(-seconds);
  // Each bound is where three digits would round up to the next unit ("1000 ms").
  if (seconds < 999.5e-9) return three_digits(seconds * 1e9) + " ns";
  if (seconds < 999.5e-6) return three_digits(seconds * 1e6) + " us";
  if (seconds < 0.9995) return three_digits(seconds * 1e3) + " ms";
  if (seconds < 59.95) return three_digits(seconds) + " s";
  const auto whole = static_cast<int64_t>(std::llround(seconds));
  if (whole < 3600) return fmt::format("{}m {:02}s", whole / 60, whole % 60);
  return fmt::format("{}h {:02}m", whole / 3600, (whole / 60) % 60);
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  // Move up while the value would print as 1024 or more with three digits.
  while (value >= 999.5 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  return three_digits(value) + " " + kUnits[unit];
}

std::string yes_no(bool value) { return value ? "yes" : "no"; }

void add_common_options(CLI::App& command) {
  command.add_option_function<int>(
      "--threads", [](const int& n) { set_num_threads(n); }, "Threads to use (0 or default: all hardware threads)")
      ->check(CLI::Range(0, 4096));
  command.add_option_function<std::string>(
      "--log-level", [](const std::string& level) { set_log_level(parse_log_level(level)); },
      "error, warn, info or debug (default: $OCTET_LOG_LEVEL or info)");
}

std::string format_parse_failure(const CLI::App* app, const CLI::Error& error) {
  std::string message = error.what();
  // CLI11 reports "octet foo" as "A subcommand is required"; name the word instead.
  const std::vector<std::string> leftover = app ? app->remaining() : std::vector<std::string>{};
  if (app && error.get_name() == "RequiredError" && app->get_subcommands().empty() && !leftover.empty())
    message = fmt::format("unknown command '{}'", leftover.front());
  // CLI11 messages are one line already; make sure of it.
  std::replace(message.begin(), message.end(), '\n', ' ');
  return fmt::format("octet: error: {} (see 'octet --help')\n", message);
}

}  // namespace octet::cli
