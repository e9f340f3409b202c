// Checkpoint: one safetensors file or a sharded set behind an index.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error_tags.h"
#include "octet/safetensors.h"

namespace octet {
namespace {
constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

using nlohmann::json;

json read_index(const std::filesystem::path& index_path) {
  std::ifstream in(index_path, std::ios::binary);
  if (!in) fail(kSafetensorsTag, "{}: cannot open index", index_path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double (1e400)
    fail(kSafetensorsTag, "{}: index is not valid JSON: {}", index_path.string(), e.what());
  }
}

}  // namespace

struct Checkpoint::State {
  std::filesystem::path source;
  std::vector<SafetensorsFile> shards;
  // tensor name -> index into shards
  std::map<std::string, size_t, std::less<>> where;
  std::map<std::string, std::string> metadata;
};

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
  auto state = std::make_shared<State>();
  std::filesystem::path index_path;
  std::filesystem::path single_path;
  if (std::filesystem::is_directory(path)) {
    if (std::filesystem::exists(path / kIndexName))
      index_path = path / kIndexName;
    else if (std::filesystem::exists(path / kSingleName))
      single_path = path / kSingleName;
    else
      fail(kSafetensorsTag, "{}: folder has neither {} nor {}", path.string(), kIndexName, kSingleName);
  } else if (path.extension() == ".json") {
    index_path = path;
  } else {
    single_path = path;
  }

  if (!single_path.empty()) {
    state->source = single_path;
    SafetensorsFile file = SafetensorsFile::open(single_path);
    for (const std::string& name : file.names()) state->where.emplace(name, 0);
    state->metadata = file.metadata();
    state->shards.push_back(std::move(file));
  } else {
    state->source = index_path;
    const std::string index = index_path.string();
    const json root = read_index(index_path);
    if (!root.is_object()) fail(kSafetensorsTag, "{}: index must be a JSON object, got {}", index, root.type_name());
    if (!root.contains("weight_map")) fail(kSafetensorsTag, "{}: index has no 'weight_map'", index);
    const json& weight_map = root["weight_map"];
    if (!weight_map.is_object())
      fail(kSafetensorsTag, "{}: 'weight_map' must be an object, got {}", index, weight_map.type_name());
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [tensor, shard] : weight_map.items()) {
      if (!shard.is_string())
        fail(kSafetensorsTag, "{}: weight_map entry for tensor '{}' must be a file name, got {}", index, tensor,
             shard.type_name());
      const auto shard_name = shard.get<std::string>();
      auto it = shard_of_file.find(shard_name);
      if (it == shard_of_file.end()) {
        const std::filesystem::path shard_path = index_path.parent_path() / shard_name;
        if (!std::filesystem::exists(shard_path))
          fail(kSafetensorsTag, "{}: shard '{}' (holding tensor '{}') does not exist", index, shard_path.string(),
               tensor);
        it = shard_of_file.emplace(shard_name, state->shards.size()).first;
        state->shards.push_back(SafetensorsFile::open(shard_path));
      }
      const SafetensorsFile& file = state->shards[it->second];
      if (!file.contains(tensor))
        fail(kSafetensorsTag, "{}: tensor '{}' is mapped to shard '{}' but that file does not hold it", index, tensor,
             file.path().string());
      state->where.emplace(tensor, it->second);
    }
    for (const SafetensorsFile& file : state->shards) state->metadata.insert(file.metadata().begin(), file.metadata().end());
  }

  Checkpoint out;
  out.state_ = std::move(state);
  return out;
}

const std::filesystem::path& Checkpoint::source() const { return state_->source; }

std::vector<std::filesystem::path> Checkpoint::files() const {
  std::vector<std::filesystem::path> out;
  for (const SafetensorsFile& f : state_->shards) out.push_back(f.path());
  return out;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(state_->where.size());
  for (const auto& [name, shard] : state_->where) out.push_back(name);
  return out;
}

bool Checkpoint::contains(std::string_view name) const { return state_->where.find(name) != state_->where.end(); }

const TensorInfo& Checkpoint::info(std::string_view name) const {
  const auto it = state_->where.find(name);
  if (it == state_->where.end()) fail(kSafetensorsTag, "{}: no tensor named '{}'", state_->source.string(), name);
  return state_->shards[it->second].info(name);
}

Tensor Checkpoint::get(std::string_view name) const {
  const auto it = state_->where.find(name);
  if (it == state_->where.end()) fail(kSafetensorsTag, "{}: no tensor named '{}'", state_->source.string(), name);
  return state_->shards[it->second].get(name);
}

Tensor Checkpoint::require(std::string_view name, const Shape& expected_shape,
                           std::optional<DType> expected_dtype) const {
  const auto it = state_->where.find(name);
  if (it == state_->where.end())
    fail(kSafetensorsTag, "{}: tensor '{}' missing (needed by config)", state_->source.string(), name);
  const SafetensorsFile& file = state_->shards[it->second];
  const TensorInfo& t = file.info(name);
  if (t.shape != expected_shape)
    fail(kSafetensorsTag, "{}: tensor '{}' has shape {}, config expects {}", file.path().string(), name,
         shape_str(t.shape), shape_str(expected_shape));
  if (expected_dtype && t.dtype != *expected_dtype)
    fail(kSafetensorsTag, "{}: tensor '{}' has dtype {}, expected {}", file.path().string(), name, dtype_name(t.dtype),
         dtype_name(*expected_dtype));
  return file.get(name);
}

const std::map<std::string, std::string>& Checkpoint::metadata() const { return state_->metadata; }

}  // namespace octet
