// Every malformed GGUF file is rejected with a message naming the file and the defect.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "io/gguf_builder.h"
#include "io/io_test_util.h"
#include "octet/gguf.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;
using testing::GgufBuilder;

class GgufErrors : public ::testing::Test {
 protected:
  void SetUp() override { path_ = testing::temp_dir() / "bad.gguf"; }

  std::string open_error(const std::string& bytes) {
    testing::write_bytes(path_, bytes);
    return error_of([&] { GgufFile::open(path_); });
  }
  auto names_file_and(const std::string& problem) {
    return AllOf(HasSubstr("[gguf] " + path_.string() + ": "), HasSubstr(problem));
  }
  // A small valid file: two keys and one 64-byte f32 tensor.
  static GgufBuilder valid() {
    GgufBuilder b;
    b.string("general.architecture", "llama").scalar<uint32_t>("llama.block_count", GgufType::U32, 5);
    b.tensor("w", {16}, 0, std::string(64, '\x01'));
    return b;
  }

  std::filesystem::path path_;
};

TEST_F(GgufErrors, ValidBaselineOpens) {
  testing::write_bytes(path_, valid().build());
  EXPECT_EQ(GgufFile::open(path_).get_u32("llama.block_count"), 5u);
}

TEST_F(GgufErrors, BadMagic) {
  std::string bytes = valid().build();
  bytes.replace(0, 4, "GGML");
  EXPECT_THAT(open_error(bytes), names_file_and("bad magic 'GGML' (expected 'GGUF'): not a GGUF file"));
  bytes.replace(0, 4, std::string("\x00\x01GG", 4));
  EXPECT_THAT(open_error(bytes), names_file_and("bad magic '\\x00\\x01GG'"));
  EXPECT_THAT(open_error("GG"), names_file_and("truncated header"));
}

TEST_F(GgufErrors, Versions) {
  EXPECT_THAT(open_error(valid().version(1).build()),
              names_file_and("GGUF version 1 is not supported (only versions 2 and 3)"));
  EXPECT_THAT(open_error(valid().version(4).build()), names_file_and("unsupported GGUF version 4"));
  EXPECT_THAT(open_error(valid().version(0x03000000).build()), names_file_and("looks big-endian"));
  testing::write_bytes(path_, valid().version(2).build());
  EXPECT_EQ(GgufFile::open(path_).version(), 2u);
}

TEST_F(GgufErrors, TruncatedMetadata) {
  const std::string bytes = valid().build();
  // Cut inside the first key's string (header is 24 bytes, then the key length).
  EXPECT_THAT(open_error(bytes.substr(0, 30)), names_file_and("truncated metadata"));
  EXPECT_THAT(open_error(bytes.substr(0, 20)), names_file_and("truncated header"));
  size_t info_end = 0;
  valid().build(&info_end);
  EXPECT_THAT(open_error(bytes.substr(0, info_end - 3)), names_file_and("truncated tensor info"));
}

TEST_F(GgufErrors, AbsurdLengthsAreRejectedBeforeAllocating) {
  // A string claiming 2^62 bytes: reading it must fail, not try to allocate.
  std::string payload;
  GgufBuilder::put<uint64_t>(payload, uint64_t{1} << 62);
  EXPECT_THAT(open_error(GgufBuilder().raw_kv("k", 8, payload).build()),
              names_file_and("truncated metadata: needs 4611686018427387904 bytes"));
  EXPECT_THAT(open_error(GgufBuilder().raw_kv("k", 9, GgufBuilder::array_payload(GgufType::U32, uint64_t{1} << 60, ""))
                             .build()),
              names_file_and("key 'k' claims 1152921504606846976 array elements of type u32"));
  std::string bytes = valid().build();
  const uint64_t huge = uint64_t{1} << 59;
  std::memcpy(bytes.data() + 16, &huge, 8);  // metadata count
  EXPECT_THAT(open_error(bytes), names_file_and("truncated metadata: the header claims 576460752303423488 key/value pairs"));
  bytes = valid().build();
  std::memcpy(bytes.data() + 8, &huge, 8);  // tensor count
  EXPECT_THAT(open_error(bytes), names_file_and("truncated tensor info: the header claims 576460752303423488 tensors"));
}

TEST_F(GgufErrors, BadMetadataValues) {
  EXPECT_THAT(open_error(GgufBuilder().raw_kv("k", 13, "").build()), names_file_and("key 'k' has unknown value type 13"));
  EXPECT_THAT(open_error(GgufBuilder().scalar<uint8_t>("flag", GgufType::Bool, 2).build()),
              names_file_and("key 'flag' has bool value 2"));
  EXPECT_THAT(open_error(GgufBuilder().raw_kv("k", 9, GgufBuilder::array_payload(static_cast<GgufType>(77), 1, "x"))
                             .build()),
              names_file_and("key 'k' has unknown value type 77"));
  // 17 levels of arrays nested in one another.
  std::string nested = GgufBuilder::array_payload(GgufType::U8, 0, "");
  for (int i = 0; i < 17; ++i) nested = GgufBuilder::array_payload(GgufType::Array, 1, nested);
  EXPECT_THAT(open_error(GgufBuilder().raw_kv("deep", 9, nested).build()),
              names_file_and("key 'deep' nests arrays deeper than 16"));
  EXPECT_THAT(open_error(GgufBuilder().string("k", "a").string("k", "b").build()),
              names_file_and("duplicate metadata key 'k'"));
  EXPECT_THAT(open_error(GgufBuilder().scalar<uint64_t>("general.alignment", GgufType::U64, 32).build()),
              names_file_and("general.alignment must be a u32, got u64"));
  EXPECT_THAT(open_error(GgufBuilder().scalar<uint32_t>("general.alignment", GgufType::U32, 48).build()),
              names_file_and("general.alignment 48 is not a power of two"));
}

TEST_F(GgufErrors, TruncatedTensorData) {
  const std::string bytes = valid().build();
  EXPECT_THAT(open_error(bytes.substr(0, bytes.size() - 1)),
              names_file_and("tensor 'w' data [0, 64) runs past the end of the file (data section has 63 bytes): "
                             "truncated"));
  size_t info_end = 0;
  valid().build(&info_end);
  EXPECT_THAT(open_error(bytes.substr(0, info_end)), names_file_and("tensor 'w' data [0, 64) runs past the end"));
}

TEST_F(GgufErrors, UnknownTensorType) {
  GgufBuilder b;
  b.tensor("w", {32}, 99, std::string(128, '\0'));
  EXPECT_THAT(open_error(b.build()), names_file_and("tensor 'w' has unknown tensor type 99"));
  GgufBuilder removed;  // id 4 (Q4_2) was removed from ggml
  removed.tensor("old", {32}, 4, std::string(20, '\0'));
  EXPECT_THAT(open_error(removed.build()), names_file_and("tensor 'old' has unknown tensor type 4"));
}

TEST_F(GgufErrors, BadTensorInfos) {
  EXPECT_THAT(open_error(valid().shift_offset(0, 4).build()),
              names_file_and("tensor 'w' offset 4 is not a multiple of the alignment 32"));
  GgufBuilder rows;
  rows.tensor("q", {40}, 8, std::string(34, '\0'));  // Q8_0 blocks hold 32 values
  EXPECT_THAT(open_error(rows.build()),
              names_file_and("tensor 'q' of type Q8_0 has rows of 40 elements, not a multiple of the block size 32"));
  GgufBuilder dims;
  dims.tensor("d", {1, 1, 1, 1, 1}, 0, std::string(4, '\0'));
  EXPECT_THAT(open_error(dims.build()), names_file_and("tensor 'd' has 5 dimensions (at most 4)"));
  GgufBuilder negative;
  negative.tensor("n", {uint64_t{1} << 63}, 0, "");
  EXPECT_THAT(open_error(negative.build()), names_file_and("tensor 'n' dimension 0 is negative or too large"));
  GgufBuilder overflow;
  overflow.tensor("o", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, "");
  EXPECT_THAT(open_error(overflow.build()), names_file_and("tensor 'o' element count overflows"));
  // A zero dimension made the count 0 and hid the overflow of the others, which octet's shapes
  // (strides) multiply anyway: UBSan in shape_numel (fuzz_gguf, 2026-12-06).
  GgufBuilder empty_overflow;
  empty_overflow.tensor("e", {0, uint64_t{1} << 34, uint64_t{1} << 30}, 0, "");
  EXPECT_THAT(open_error(empty_overflow.build()), names_file_and("tensor 'e' element count overflows"));
  GgufBuilder empty;
  empty.tensor("z", {0, 3}, 0, "");
  testing::write_bytes(path_, empty.build());
  EXPECT_EQ(GgufFile::open(path_).get_f32("z").numel(), 0);
  GgufBuilder twice;
  twice.tensor("t", {8}, 0, std::string(32, '\0')).tensor("t", {8}, 0, std::string(32, '\0'));
  EXPECT_THAT(open_error(twice.build()), names_file_and("duplicate tensor name 't'"));
  GgufBuilder overlap;
  overlap.tensor("a", {16}, 0, std::string(64, '\0')).tensor("b", {16}, 0, std::string(64, '\0')).shift_offset(1, -32);
  EXPECT_THAT(open_error(overlap.build()), names_file_and("tensors 'a' and 'b' overlap"));
}

TEST_F(GgufErrors, AccessErrors) {
  GgufBuilder b;
  b.tensor("q8", {32}, 8, std::string(34, '\0')).tensor("q5k", {256}, 13, std::string(176, '\0'));
  testing::write_bytes(path_, b.build());
  const GgufFile f = GgufFile::open(path_);
  EXPECT_THAT(error_of([&] { f.get("q8"); }), names_file_and("tensor 'q8' is block-quantized Q8_0; use get_f32"));
  EXPECT_THAT(error_of([&] { f.get_f32("q5k"); }),
              names_file_and("tensor 'q5k' has type Q5_K, which octet cannot dequantize"));
  EXPECT_EQ(f.get_raw("q5k").numel(), 176);  // raw bytes of any known type are still readable
  EXPECT_THAT(error_of([&] { f.get_f32("nope"); }), names_file_and("no tensor named 'nope'"));
  EXPECT_EQ(ggml_type_name(14), "Q6_K");
  EXPECT_EQ(ggml_type_name(99), "type 99");
}

}  // namespace
}  // namespace octet
