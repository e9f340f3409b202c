#include "octet/json_config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error_tags.h"
#include "octet/error.h"

namespace octet {
namespace {

using Json = nlohmann::json;

// "string", "boolean", "number 0.5", ... for "got ..." in messages.
std::string describe(const Json& v) {
  if (v.is_number_float()) return fmt::format("non-integer number {}", v.dump());
  return v.type_name();
}

template <typename T>
T get_integer(const Json& v, const std::string& source, std::string_view key) {
  if (!v.is_number_integer()) fail(kConfigTag, "{}: '{}' must be an integer, got {}", source, key, describe(v));
  bool fits;
  T out{};
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    fits = u <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    out = static_cast<T>(u);
  } else {
    const auto i = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>)
      fits = i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
             i <= static_cast<int64_t>(std::numeric_limits<T>::max());
    else
      fits = i >= 0 && static_cast<uint64_t>(i) <= std::numeric_limits<T>::max();
    out = static_cast<T>(i);
  }
  if (!fits)
    fail(kConfigTag, "{}: '{}' = {} is out of range for a {}-bit {} integer", source, key, v.dump(),
         std::numeric_limits<T>::digits + std::is_signed_v<T>, std::is_signed_v<T> ? "signed" : "unsigned");
  return out;
}

template <typename T>
T get_number(const Json& v, const std::string& source, std::string_view key) {
  if (!v.is_number()) fail(kConfigTag, "{}: '{}' must be a number, got {}", source, key, v.type_name());
  const double d = v.get<double>();
  if constexpr (std::is_same_v<T, float>) {
    if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max())
      fail(kConfigTag, "{}: '{}' = {} is out of range for a float", source, key, v.dump());
  }
  return static_cast<T>(d);
}

}  // namespace

JsonConfig JsonConfig::load(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(kConfigTag, "{}: cannot open", source);
  std::stringstream buffer;
  buffer << in.rdbuf();
  Json parsed;
  try {
    parsed = Json::parse(buffer.str());
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number past double (1e400)
    fail(kConfigTag, "{}: not valid JSON: {}", source, e.what());
  }
  return from_json(std::move(parsed), source);
}

JsonConfig JsonConfig::from_json(nlohmann::json object, std::string source) {
  if (!object.is_object()) fail(kConfigTag, "{}: must be a JSON object, got {}", source, object.type_name());
  JsonConfig cfg;
  cfg.object_ = std::make_shared<const Json>(std::move(object));
  cfg.source_ = std::move(source);
  return cfg;
}

bool JsonConfig::has(std::string_view key) const {
  const auto it = object_->find(std::string(key));
  return it != object_->end() && !it->is_null();
}

const Json& JsonConfig::require(std::string_view key) const {
  const auto it = object_->find(std::string(key));
  if (it == object_->end()) fail(kConfigTag, "{}: missing '{}'", source_, key);
  if (it->is_null()) fail(kConfigTag, "{}: '{}' is null", source_, key);
  return *it;
}

template <typename T>
T JsonConfig::get(std::string_view key) const {
  const Json& v = require(key);
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) fail(kConfigTag, "{}: '{}' must be a boolean, got {}", source_, key, describe(v));
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) fail(kConfigTag, "{}: '{}' must be a string, got {}", source_, key, describe(v));
    return v.get<std::string>();
  } else if constexpr (std::is_floating_point_v<T>) {
    return get_number<T>(v, source_, key);
  } else {
    return get_integer<T>(v, source_, key);
  }
}

template bool JsonConfig::get<bool>(std::string_view) const;
template int JsonConfig::get<int>(std::string_view) const;
template int64_t JsonConfig::get<int64_t>(std::string_view) const;
template uint32_t JsonConfig::get<uint32_t>(std::string_view) const;
template uint64_t JsonConfig::get<uint64_t>(std::string_view) const;
template float JsonConfig::get<float>(std::string_view) const;
template double JsonConfig::get<double>(std::string_view) const;
template std::string JsonConfig::get<std::string>(std::string_view) const;

std::vector<std::string> JsonConfig::get_string_list(std::string_view key) const {
  const Json& v = require(key);
  if (!v.is_array()) fail(kConfigTag, "{}: '{}' must be a list of strings, got {}", source_, key, describe(v));
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) fail(kConfigTag, "{}: '{}'[{}] must be a string, got {}", source_, key, i, describe(v[i]));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

std::vector<int64_t> JsonConfig::get_int_list(std::string_view key) const {
  const Json& v = require(key);
  if (!v.is_array()) fail(kConfigTag, "{}: '{}' must be a list of integers, got {}", source_, key, describe(v));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i)
    out.push_back(get_integer<int64_t>(v[i], source_, fmt::format("{}[{}]", key, i)));
  return out;
}

std::vector<double> JsonConfig::get_number_list(std::string_view key) const {
  const Json& v = require(key);
  if (!v.is_array()) fail(kConfigTag, "{}: '{}' must be a list of numbers, got {}", source_, key, describe(v));
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); ++i)
    out.push_back(get_number<double>(v[i], source_, fmt::format("{}[{}]", key, i)));
  return out;
}

JsonConfig JsonConfig::section(std::string_view key) const {
  const Json& v = require(key);
  if (!v.is_object()) fail(kConfigTag, "{}: '{}' must be an object, got {}", source_, key, describe(v));
  return from_json(v, fmt::format("{}:{}", source_, key));
}

}  // namespace octet
