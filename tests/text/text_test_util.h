// Helpers shared by the tokenizer tests: the fixtures' cases.json/meta.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/shared_data.h"

namespace octet::testing {

struct TokenizerCase {
  std::string text;
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(read_text(path)); }

// fixtures/tokenizers/<name>/cases.json
inline std::vector<TokenizerCase> load_cases(const std::string& name) {
  const auto j = read_json(shared_path("fixtures/tokenizers/" + name + "/cases.json"));
  std::vector<TokenizerCase> cases;
  for (const auto& c : j) {
    cases.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<int64_t>>(),
                     c.at("tokens").get<std::vector<std::string>>()});
  }
  return cases;
}

inline nlohmann::json load_meta_options(const std::string& name) {
  return read_json(shared_path("fixtures/tokenizers/" + name + "/meta.json")).at("options");
}

}  // namespace octet::testing
