// Reading and writing Hugging Face safetensors files.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the data section; offsets are relative to its start.
//
// Reading is zero-copy: the file (opened read-only) is mmapped privately and
// get() returns Tensor::borrow views that keep the mapping alive. The pages are
// copy-on-write: modifying a view in place never changes the file. Everything in the header is
// validated when the file is opened; each failure is an Error tagged
// "safetensors" naming the file and, where there is one, the tensor.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "octet/tensor.h"

namespace octet {

// Where one tensor lives in its file.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t data_begin = 0;  // byte offsets into the data section
  uint64_t data_end = 0;
  std::filesystem::path file;  // the .safetensors file holding it

  uint64_t nbytes() const { return data_end - data_begin; }
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. Throws Error("safetensors", ...) on any defect.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  size_t size() const;
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;
  // A read-only view into the mapping (copied instead only when the file places
  // the tensor at an address not aligned to its element size).
  Tensor get(std::string_view name) const;
  // The "__metadata__" object (string -> string).
  const std::map<std::string, std::string>& metadata() const;
  // Harmless oddities found while validating (gaps between tensors, trailing bytes).
  const std::vector<std::string>& warnings() const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

// A model's weights: one safetensors file or a sharded set named by
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}).
class Checkpoint {
 public:
  // `path` is a folder (uses model.safetensors.index.json if present, else
  // model.safetensors), a .safetensors file, or an index .json file. All shards
  // are opened and validated up front; a missing shard or a tensor absent from
  // the shard the index names is an error.
  static Checkpoint open(const std::filesystem::path& path);

  // The file error messages name: the single file or the index.
  const std::filesystem::path& source() const;
  // The .safetensors files, in the order first named.
  std::vector<std::filesystem::path> files() const;
  std::vector<std::string> names() const;  // sorted
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;
  Tensor get(std::string_view name) const;
  // get() plus checks a model builder needs; errors read
  // "[safetensors] model.safetensors: tensor 'x' missing (needed by config)" or
  // "... tensor 'x' has shape [2, 3], config expects [3, 2]".
  Tensor require(std::string_view name, const Shape& expected_shape,
                 std::optional<DType> expected_dtype = std::nullopt) const;
  // "__metadata__" of every shard merged (the first shard wins on a clash).
  const std::map<std::string, std::string>& metadata() const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

// Order of tensors in the data section.
enum class TensorOrder {
  // Largest element size first, then by name (Hugging Face's own order): with
  // the 8-byte aligned header this keeps every tensor aligned to its element size.
  Sorted,
  Given,  // as passed
};

// Writes `tensors` (non-contiguous ones are made contiguous) with `metadata`
// as "__metadata__". The header is padded with spaces to a multiple of 8 bytes,
// as Hugging Face does. The file is written to `path` + ".tmp-<pid>-<n>" and renamed
// into place, so a crash never leaves a half-written file. Names must be unique
// and non-empty; packed types (int4) have no safetensors dtype and are rejected.
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      TensorOrder order = TensorOrder::Sorted);

}  // namespace octet
