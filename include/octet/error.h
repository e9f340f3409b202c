// octet::Error: the one exception type the library throws.
//
// Every error carries a tag naming the component or op that raised it, so a
// message reads "[safetensors] tensor 'x' data_offsets past end of file".
// The library never aborts on bad input; the CLI turns an Error into one line
// and a non-zero exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace octet {

class Error : public std::runtime_error {
 public:
  Error(std::string tag, std::string detail);

  // The component or op that raised the error ("safetensors", "gemm", ...).
  const std::string& tag() const noexcept { return tag_; }
  // The message without the tag prefix.
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string tag_;
  std::string detail_;
};

// Throws Error(tag, formatted message).
template <typename... Args>
[[noreturn]] void fail(std::string_view tag, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(std::string(tag), fmt::format(format, std::forward<Args>(args)...));
}

// Throws Error(tag, message) unless `condition` holds.
template <typename... Args>
void check(bool condition, std::string_view tag, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) fail(tag, format, std::forward<Args>(args)...);
}

}  // namespace octet
