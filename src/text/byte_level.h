// GPT-2's byte <-> character table: every byte gets a printable code point so
// byte strings can live in a text vocabulary ("Ġ" is the space byte 0x20).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace octet::text {

// The code point standing for `byte`.
char32_t byte_to_char(uint8_t byte);
// The byte a code point stands for, if it is one of the 256.
std::optional<uint8_t> char_to_byte(char32_t cp);
// Maps each byte of `bytes` to its character (UTF-8 encoded).
std::string bytes_to_chars(std::string_view bytes);
// The inverse; characters outside the table contribute their own UTF-8 bytes.
std::string chars_to_bytes(std::string_view chars);

}  // namespace octet::text
