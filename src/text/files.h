// File and JSON helpers for the tokenizer loaders: every failure becomes one
// Error("tokenizer") that names the file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "octet/error.h"

namespace octet::text {

// The whole file; throws Error("tokenizer", "cannot read <path>").
std::string read_file(const std::filesystem::path& path);
// Parses JSON; throws Error("tokenizer", "<origin>: invalid JSON: ...").
nlohmann::json parse_json(std::string_view text, std::string_view origin);
// The parsed JSON file if it exists.
std::optional<nlohmann::json> read_json_if_exists(const std::filesystem::path& path);

// Runs `f`, turning any Error or JSON type error into one Error("tokenizer")
// prefixed with `origin`.
template <typename F>
auto with_origin(std::string_view origin, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.detail().starts_with(origin)) throw;
    fail("tokenizer", "{}: {}", origin, e.detail());
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer", "{}: {}", origin, e.what());
  }
}

// A special token given as "[CLS]" or {"content": "[CLS]", ...}; nullopt for null/absent.
std::optional<std::string> json_token(const nlohmann::json& object, std::string_view key);

}  // namespace octet::text
