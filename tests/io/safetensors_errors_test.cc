// Every malformed safetensors file is rejected with a message naming the file,
// the tensor and the defect.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "io/io_test_util.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;
using testing::raw_safetensors;
using testing::temp_dir;
using testing::write_bytes;

class SafetensorsErrors : public ::testing::Test {
 protected:
  void SetUp() override { path_ = temp_dir() / "bad.safetensors"; }

  // Writes `bytes` and returns the error opening them produces.
  std::string open_error(const std::string& bytes) {
    write_bytes(path_, bytes);
    return error_of([&] { SafetensorsFile::open(path_); });
  }
  // Same, for a header and data section.
  std::string open_error(const std::string& header, const std::string& data) {
    return open_error(raw_safetensors(header, data));
  }
  auto names_file_and(const std::string& problem) {
    return AllOf(HasSubstr("[safetensors] " + path_.string() + ": "), HasSubstr(problem));
  }

  std::filesystem::path path_;
};

TEST_F(SafetensorsErrors, TruncatedBeforeHeaderLength) {
  EXPECT_THAT(open_error(""), names_file_and("file is 0 bytes, shorter than the 8-byte header length"));
  EXPECT_THAT(open_error("abc"), names_file_and("file is 3 bytes"));
}

TEST_F(SafetensorsErrors, HeaderLengthBounds) {
  const std::string full = raw_safetensors(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "xy");
  // Cut the file inside the header.
  EXPECT_THAT(open_error(full.substr(0, 20)), names_file_and("runs past the end of the file (20 bytes)"));
  uint64_t huge = 100'000'000;
  std::string bytes(reinterpret_cast<const char*>(&huge), 8);
  EXPECT_THAT(open_error(bytes + "{}"), names_file_and("header length 100000000 exceeds the 100 MB limit"));
  huge = ~uint64_t{0};
  EXPECT_THAT(open_error(std::string(reinterpret_cast<const char*>(&huge), 8)), names_file_and("exceeds the 100 MB"));
}

TEST_F(SafetensorsErrors, MalformedJsonHeader) {
  EXPECT_THAT(open_error(R"({"a": {"dtype": "F32",)", ""), names_file_and("header is not valid JSON"));
  EXPECT_THAT(open_error("", ""), names_file_and("header is not valid JSON"));
  EXPECT_THAT(open_error(R"({"__metadata__": {"a": 1e400}})", ""), names_file_and("header is not valid JSON"));
  EXPECT_THAT(open_error(R"([1, 2])", ""), names_file_and("header must be a JSON object, got array"));
}

TEST_F(SafetensorsErrors, EntryFieldsMissingOrMistyped) {
  EXPECT_THAT(open_error(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("tensor 'w' is missing 'dtype'"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("tensor 'w' is missing 'shape'"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [1]}})", "abcd"),
              names_file_and("tensor 'w' is missing 'data_offsets'"));
  EXPECT_THAT(open_error(R"({"w": 3})", ""), names_file_and("tensor 'w' entry must be an object, got number"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("tensor 'w' dtype must be a string, got number"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("tensor 'w' shape must be an array, got number"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("tensor 'w' shape entries must be integers, got string"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "abcd"),
              names_file_and("tensor 'w' data_offsets must be an array of 2 integers, got 1 entries"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", "abcd"),
              names_file_and("tensor 'w' data_offsets must be non-negative integers, got a negative integer"));
  EXPECT_THAT(open_error(R"({"__metadata__": {"k": 1}})", ""),
              names_file_and("__metadata__ value 'k' must be a string, got number"));
}

TEST_F(SafetensorsErrors, UnknownDtype) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F31", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("tensor 'w' has unknown dtype 'F31'"));
  // octet's own names are not safetensors names.
  EXPECT_THAT(open_error(R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
              names_file_and("unknown dtype 'f32'"));
}

TEST_F(SafetensorsErrors, NegativeAndOverflowingShapes) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "U8", "shape": [2, -1], "data_offsets": [0, 0]}})", ""),
              names_file_and("tensor 'w' has negative dimension -1"));
  EXPECT_THAT(
      open_error(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", ""),
      names_file_and("tensor 'w' shape [4294967296, 4294967296] overflows"));
  // numel fits in 64 bits but the byte count does not.
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", ""),
              names_file_and("overflows"));
}

TEST_F(SafetensorsErrors, DtypeShapeMismatchWithOffsets) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", std::string(24, 'x')),
              names_file_and("tensor 'w' of dtype F32 and shape [2, 3] needs 24 bytes but data_offsets [0, 20] span 20"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "U8", "shape": [2], "data_offsets": [3, 1]}})", "abcd"),
              names_file_and("tensor 'w' data_offsets [3, 1] end before they begin"));
}

TEST_F(SafetensorsErrors, OffsetsPastTheEndOfTheFile) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", std::string(12, 'x')),
              names_file_and("tensor 'w' data_offsets [0, 16] run past the end of the file (data section is 12 bytes)"));
  // A valid file cut short loses its last tensor's bytes.
  const auto good = path_.parent_path() / "good.safetensors";
  save_safetensors(good, {{"t", Tensor::zeros({16}, DType::F32)}});
  const std::string bytes = testing::read_bytes(good);
  EXPECT_THAT(open_error(bytes.substr(0, bytes.size() - 1)), names_file_and("tensor 't' data_offsets [0, 64] run past"));
}

TEST_F(SafetensorsErrors, OverlappingTensors) {
  const std::string header =
      R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},)"
      R"( "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})";
  EXPECT_THAT(open_error(header, "abcdef"), names_file_and("tensors 'a' [0, 4] and 'b' [2, 6] overlap"));
  // Listed out of order in the header: still found after sorting by offset.
  const std::string reversed =
      R"({"z": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},)"
      R"( "y": {"dtype": "U8", "shape": [3], "data_offsets": [4, 7]},)"
      R"( "x": {"dtype": "U8", "shape": [4], "data_offsets": [1, 5]}})";
  EXPECT_THAT(open_error(reversed, "abcdefg"), names_file_and("tensors 'z' [0, 2] and 'x' [1, 5] overlap"));
}

TEST_F(SafetensorsErrors, GapsOnlyWarn) {
  // Empty tensors claim no bytes and may sit anywhere, even inside another tensor.
  const std::string header =
      R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},)"
      R"( "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [1, 1]},)"
      R"( "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}})";
  write_bytes(path_, raw_safetensors(header, "abcdefgh"));
  const SafetensorsFile file = SafetensorsFile::open(path_);
  ASSERT_EQ(file.warnings().size(), 2u);
  EXPECT_THAT(file.warnings()[0], HasSubstr("2 unused bytes before tensor 'b'"));
  EXPECT_THAT(file.warnings()[1], HasSubstr("2 unused bytes after the last tensor"));
  EXPECT_EQ(file.get("b").span<uint8_t>()[1], 'f');
  EXPECT_EQ(file.get("e").numel(), 0);
}

TEST_F(SafetensorsErrors, MissingTensorAndMissingFile) {
  save_safetensors(path_, {{"a", Tensor::zeros({1}, DType::F32)}});
  const SafetensorsFile file = SafetensorsFile::open(path_);
  EXPECT_THAT(error_of([&] { file.get("nope"); }), names_file_and("no tensor named 'nope'"));
  const auto absent = path_.parent_path() / "absent.safetensors";
  EXPECT_THAT(error_of([&] { SafetensorsFile::open(absent); }),
              AllOf(HasSubstr("[safetensors] " + absent.string()), HasSubstr("cannot open")));
}

}  // namespace
}  // namespace octet
