#include "io/tsv.h"

#include <algorithm>
#include <optional>

#include "core/parse_int.h"

namespace octet::io {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t begin = 0;
  while (true) {
    const size_t end = line.find('\t', begin);
    fields.push_back(line.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return fields;
    begin = end + 1;
  }
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n"), last = s.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

TsvColumn find_tsv_column(const std::vector<std::string>& header, const std::string& column) {
  for (size_t i = 0; i < header.size(); ++i)
    if (trim(header[i]) == column) return {true, false, i};
  if (column.empty() || !std::all_of(column.begin(), column.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return {};
  // Digits past size_t are an index out of range, not an exception (std::stoul threw
  // std::out_of_range here once: "octet: error: stoul").
  const std::optional<size_t> i = parse_decimal<size_t>(column);
  return {i.has_value() && *i < header.size(), true, i.value_or(0)};
}

}  // namespace octet::io
