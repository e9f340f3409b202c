// Tab-separated text files (`octet eval --data`, `octet quantize --calib`): fields of a line and a
// column chosen by header name or index. Each reader keeps its own error messages.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace octet::io {

// The fields of one line, split at every tab (an empty line is one empty field).
std::vector<std::string> split_tabs(const std::string& line);

// `s` without leading and trailing spaces, tabs and line ends.
std::string trim(const std::string& s);

// Where `column` is in a header row: the first cell equal to it (cells compared trimmed), else
// `column` read as a 0-based index when it is all digits.
struct TsvColumn {
  bool found = false;     // index is a column of the header
  bool is_index = false;  // not a header name but digits: out of range when !found
  size_t index = 0;
};
TsvColumn find_tsv_column(const std::vector<std::string>& header, const std::string& column);

}  // namespace octet::io
