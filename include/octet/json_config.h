// Typed access to a model's config.json.
//
//   JsonConfig cfg = JsonConfig::load(dir / "config.json");
//   int hidden = cfg.get<int>("hidden_size");
//   float eps = cfg.get_or<float>("layer_norm_eps", 1e-12f);
//
// Errors are tagged "config" and name the file and key:
//   "[config] config.json: 'hidden_size' must be an integer, got string".
// A key whose value is JSON null counts as absent (HF writes "rope_scaling": null).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace octet {

class JsonConfig {
 public:
  // Reads and parses a JSON object from `path`.
  static JsonConfig load(const std::filesystem::path& path);
  // Wraps an already parsed object; `source` is what error messages name.
  static JsonConfig from_json(nlohmann::json object, std::string source);

  // The file (or "file:parent.key" for a nested section) errors name.
  const std::string& source() const { return source_; }
  const nlohmann::json& json() const { return *object_; }

  // Present and not null.
  bool has(std::string_view key) const;
  // T is one of bool, int, int64_t, uint32_t, uint64_t, float, double, std::string.
  // Integers must be JSON integers that fit T; floats accept any JSON number.
  template <typename T>
  T get(std::string_view key) const;
  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    return has(key) ? get<T>(key) : fallback;
  }
  std::vector<std::string> get_string_list(std::string_view key) const;
  std::vector<int64_t> get_int_list(std::string_view key) const;
  std::vector<double> get_number_list(std::string_view key) const;
  // A nested object (e.g. "text_config") as its own JsonConfig.
  JsonConfig section(std::string_view key) const;

 private:
  const nlohmann::json& require(std::string_view key) const;

  std::shared_ptr<const nlohmann::json> object_;
  std::string source_;
};

extern template bool JsonConfig::get<bool>(std::string_view) const;
extern template int JsonConfig::get<int>(std::string_view) const;
extern template int64_t JsonConfig::get<int64_t>(std::string_view) const;
extern template uint32_t JsonConfig::get<uint32_t>(std::string_view) const;
extern template uint64_t JsonConfig::get<uint64_t>(std::string_view) const;
extern template float JsonConfig::get<float>(std::string_view) const;
extern template double JsonConfig::get<double>(std::string_view) const;
extern template std::string JsonConfig::get<std::string>(std::string_view) const;

}  // namespace octet
