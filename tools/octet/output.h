// Output helpers shared by the CLI commands: aligned text tables, JSON on
// stdout, human-readable durations and sizes, and the common options.
//
// Convention: results go to stdout (a table, or JSON with --json); logs,
// progress bars and errors go to stderr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace CLI {
class App;
class Error;
}  // namespace CLI

namespace octet::cli {

using TableRow = std::vector<std::string>;

// A table as text: the header, a rule of dashes, then the rows, columns
// separated by two spaces and padded to the widest cell (counted in UTF-8
// code points). A column whose cells are all numbers (or empty / "-") is
// right-aligned, the others left-aligned. Rows shorter than the header are
// padded with empty cells; longer ones are an error ("cli"). Each line ends
// with '\n' and carries no trailing spaces.
std::string format_table(const TableRow& header, const std::vector<TableRow>& rows);
void print_table(const TableRow& header, const std::vector<TableRow>& rows);

// `value` pretty-printed with 2-space indent and a final newline, on stdout.
void print_json(const nlohmann::json& value);

// Whether `cell` reads as a number: "12", "-3.5", "1e-3", "12.5%", "3.2x",
// "1.5 ms", "2.0 GiB" (a number, optionally followed by a unit word or %).
bool looks_numeric(std::string_view cell);

// 3 significant digits with an SI unit: "850 ns", "12.3 us", "4.56 ms",
// "1.23 s"; from a minute on "2m 05s", from an hour on "1h 02m".
std::string format_duration(double seconds);
// Binary units with 3 significant digits: "512 B", "1.50 KiB", "3.25 MiB", "12.0 GiB".
std::string format_bytes(uint64_t bytes);
std::string yes_no(bool value);

// Adds --threads N (sets octet's thread pool size) and --log-level LEVEL to a
// command. They take effect while parsing, before the command's callback runs.
void add_common_options(CLI::App& command);

// CLI11 failure message for argument errors, one line like every other error:
// "octet: error: <what> (see 'octet --help')"; "unknown command 'x'" when the
// first word names no command. Installed by main.cc via app.failure_message().
std::string format_parse_failure(const CLI::App* app, const CLI::Error& error);

}  // namespace octet::cli
