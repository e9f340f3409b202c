// Strict decimal integers from text (config keys, CLI values, spec arguments).
//
// One rule for every caller: an optional '-', then one or more ASCII digits,
// nothing else (no spaces, no '+', no trailing characters), and the value in
// range of the type. std::stoul / stoll, which several readers used, accept
// leading spaces and a trailing suffix ("1abc" -> 1), wrap a '-' for unsigned
// types, and throw std::invalid_argument / std::out_of_range instead of a
// message naming the input. Callers trim if they allow spaces and report
// nullopt in their own words.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <type_traits>

namespace octet {

template <class Int>
std::optional<Int> parse_decimal(std::string_view text) {
  static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
  const size_t digits_from = !text.empty() && text.front() == '-' ? 1 : 0;
  if (text.size() == digits_from) return std::nullopt;
  if (std::is_unsigned_v<Int> && digits_from == 1) return std::nullopt;
  for (size_t i = digits_from; i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace octet
