#include "text/byte_level.h"

#include <array>
#include <cstdint>
#include <unordered_map>

#include "text/unicode.h"

namespace octet::text {

namespace {

struct ByteTable {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8;
  std::unordered_map<char32_t, uint8_t> to_byte;

  ByteTable() {
    // Printable Latin-1 bytes map to themselves; the rest, in order, to 256, 257, ...
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      to_char[static_cast<size_t>(b)] = cp;
      append_utf8(to_utf8[static_cast<size_t>(b)], cp);
      to_byte.emplace(cp, static_cast<uint8_t>(b));
    }
  }
};

const ByteTable& table() {
  static const ByteTable t;
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t byte) { return table().to_char[byte]; }

std::optional<uint8_t> char_to_byte(char32_t cp) {
  const auto& m = table().to_byte;
  auto it = m.find(cp);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

std::string bytes_to_chars(std::string_view bytes) {
  const ByteTable& t = table();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out.append(t.to_utf8[static_cast<uint8_t>(c)]);
  return out;
}

std::string chars_to_bytes(std::string_view chars) {
  std::string out;
  out.reserve(chars.size());
  for (size_t pos = 0; pos < chars.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(chars, pos);
    if (auto b = char_to_byte(cp)) {
      out.push_back(static_cast<char>(*b));
    } else {
      out.append(chars.substr(start, pos - start));
    }
  }
  return out;
}

}  // namespace octet::text
