#include "io/tsv.h"

#include <algorithm>
#include <charconv>

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
  // std::from_chars reports an index past size_t where std::stoul threw std::out_of_range (once
  // "octet: error: stoul").
  size_t i = 0;
  const auto [end, ec] = std::from_chars(column.data(), column.data() + column.size(), i);
  return {ec == std::errc() && i < header.size(), true, i};
}

}  // namespace octet::io
