// GGUF reading: a real model file, every metadata type, plain tensors.
#include "octet/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "io/gguf_builder.h"
#include "io/io_test_util.h"
#include "octet/number_formats.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using ::testing::HasSubstr;
using testing::error_of;
using testing::GgufBuilder;

TEST(Gguf, Stories260KMetadata) {
  const GgufFile f = GgufFile::open(testing::shared_path("models/stories260K/stories260K.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(f.get_u32("llama.block_count"), 5u);
  EXPECT_EQ(f.require("llama.block_count").type(), GgufType::U32);
  EXPECT_FLOAT_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[f.get_u32("tokenizer.ggml.bos_token_id")], "<s>");
  EXPECT_EQ(tokens[f.get_u32("tokenizer.ggml.eos_token_id")], "</s>");
  const GgufArray& scores = f.get_array("tokenizer.ggml.scores");
  EXPECT_EQ(scores.element_type, GgufType::F32);
  EXPECT_EQ(scores.items.size(), 512u);
  const GgufArray& types = f.get_array("tokenizer.ggml.token_type");
  EXPECT_EQ(types.element_type, GgufType::I32);
  EXPECT_EQ(f.require("tokenizer.ggml.token_type").as_int_list().size(), 512u);
  EXPECT_EQ(f.find("no.such.key"), nullptr);
  EXPECT_EQ(f.get_or<uint32_t>("no.such.key", 9u), 9u);
  EXPECT_THAT(error_of([&] { f.get_u32("no.such.key"); }), HasSubstr("metadata key 'no.such.key' missing"));
  EXPECT_THAT(error_of([&] { f.get_u32("general.architecture"); }),
              HasSubstr("key 'general.architecture' must be an integer, got string"));
}

TEST(Gguf, Stories260KTensorShapesFollowHyperparameters) {
  const auto path = testing::shared_path("models/stories260K/stories260K.gguf");
  const GgufFile f = GgufFile::open(path);
  const int64_t embd = f.get_u32("llama.embedding_length");
  const int64_t ffn = f.get_u32("llama.feed_forward_length");
  const int64_t heads = f.get_u32("llama.attention.head_count");
  const int64_t kv_heads = f.get_u32("llama.attention.head_count_kv");
  const int64_t vocab = static_cast<int64_t>(f.get_string_array("tokenizer.ggml.tokens").size());
  const int64_t kv_dim = embd / heads * kv_heads;
  std::map<std::string, Shape> expected = {
      {"token_embd.weight", {vocab, embd}}, {"output_norm.weight", {embd}}, {"output.weight", {vocab, embd}}};
  for (uint32_t i = 0; i < f.get_u32("llama.block_count"); ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    expected[p + "attn_q.weight"] = {embd, embd};
    expected[p + "attn_k.weight"] = {kv_dim, embd};
    expected[p + "attn_v.weight"] = {kv_dim, embd};
    expected[p + "attn_output.weight"] = {embd, embd};
    expected[p + "attn_norm.weight"] = {embd};
    expected[p + "ffn_gate.weight"] = {ffn, embd};
    expected[p + "ffn_up.weight"] = {ffn, embd};
    expected[p + "ffn_down.weight"] = {embd, ffn};
    expected[p + "ffn_norm.weight"] = {embd};
  }
  ASSERT_EQ(f.tensors().size(), expected.size());
  const std::string raw = testing::read_bytes(path);
  uint64_t end = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(expected.count(t.name));
    EXPECT_EQ(t.shape, expected[t.name]);
    EXPECT_EQ(t.shape, Shape(t.ne.rbegin(), t.ne.rend()));  // row-major = ggml's ne reversed
    EXPECT_EQ(t.type, static_cast<uint32_t>(GgmlType::F32));
    EXPECT_EQ(t.nbytes, static_cast<uint64_t>(shape_numel(t.shape)) * 4);
    EXPECT_EQ(t.offset % f.alignment(), 0u);
    end = std::max(end, t.offset + t.nbytes);
    const Tensor w = f.get_f32(t.name);
    EXPECT_FALSE(w.owns_memory());  // f32 is viewed in place
    EXPECT_EQ(w.shape(), t.shape);
    EXPECT_EQ(std::memcmp(w.raw_data(), raw.data() + f.data_offset() + t.offset, t.nbytes), 0);
    EXPECT_EQ(f.get_raw(t.name).numel(), static_cast<int64_t>(t.nbytes));
  }
  EXPECT_EQ(f.data_offset() % f.alignment(), 0u);
  EXPECT_EQ(f.data_offset() + end, raw.size());  // tensors fill the data section
}

TEST(Gguf, EveryMetadataType) {
  using S = GgufValue::Storage;
  GgufBuilder b;
  b.scalar<uint8_t>("u8", GgufType::U8, 200)
      .scalar<int8_t>("i8", GgufType::I8, -100)
      .scalar<uint16_t>("u16", GgufType::U16, 60000)
      .scalar<int16_t>("i16", GgufType::I16, -30000)
      .scalar<uint32_t>("u32", GgufType::U32, 4000000000u)
      .scalar<int32_t>("i32", GgufType::I32, -2000000000)
      .scalar<float>("f32", GgufType::F32, 1.5f)
      .scalar<uint8_t>("bool", GgufType::Bool, 1)
      .string("string", "h\xc3\xa9llo")
      .scalar<uint64_t>("u64", GgufType::U64, uint64_t{1} << 40)
      .scalar<int64_t>("i64", GgufType::I64, -(int64_t{1} << 40))
      .scalar<double>("f64", GgufType::F64, -2.25)
      .array<uint8_t>("a.u8", GgufType::U8, {1, 2, 255})
      .array<int8_t>("a.i8", GgufType::I8, {-1, 2})
      .array<uint16_t>("a.u16", GgufType::U16, {65535})
      .array<int16_t>("a.i16", GgufType::I16, {-2, 3})
      .array<uint32_t>("a.u32", GgufType::U32, {7, 8, 9})
      .array<int32_t>("a.i32", GgufType::I32, {-7})
      .array<float>("a.f32", GgufType::F32, {0.5f, -1.0f})
      .array<uint8_t>("a.bool", GgufType::Bool, {1, 0, 1})
      .string_array("a.string", {"a", "", "ccc"})
      .array<uint64_t>("a.u64", GgufType::U64, {uint64_t{1} << 63})
      .array<int64_t>("a.i64", GgufType::I64, {-5, 6})
      .array<double>("a.f64", GgufType::F64, {3.0})
      .array<uint32_t>("a.empty", GgufType::U32, {});
  // Nested: [[1, 2], [3]] of u32, and [["x"], ["y", "z"]] of strings.
  b.raw_kv("a.nested", 9,
           GgufBuilder::array_payload(
               GgufType::Array, 2,
               GgufBuilder::array_payload(GgufType::U32, 2, GgufBuilder::items<uint32_t>({1, 2})) +
                   GgufBuilder::array_payload(GgufType::U32, 1, GgufBuilder::items<uint32_t>({3}))));
  b.raw_kv("a.nested_strings", 9,
           GgufBuilder::array_payload(
               GgufType::Array, 2,
               GgufBuilder::array_payload(GgufType::String, 1, GgufBuilder::string_items({"x"})) +
                   GgufBuilder::array_payload(GgufType::String, 2, GgufBuilder::string_items({"y", "z"}))));
  const auto path = testing::temp_dir() / "meta.gguf";
  testing::write_bytes(path, b.build());
  const GgufFile f = GgufFile::open(path);

  EXPECT_EQ(f.require("u8").storage(), S(uint8_t{200}));
  EXPECT_EQ(f.require("i8").storage(), S(int8_t{-100}));
  EXPECT_EQ(f.require("u16").storage(), S(uint16_t{60000}));
  EXPECT_EQ(f.require("i16").storage(), S(int16_t{-30000}));
  EXPECT_EQ(f.require("u32").storage(), S(uint32_t{4000000000u}));
  EXPECT_EQ(f.require("i32").storage(), S(int32_t{-2000000000}));
  EXPECT_EQ(f.require("f32").storage(), S(1.5f));
  EXPECT_EQ(f.require("bool").storage(), S(true));
  EXPECT_EQ(f.require("string").storage(), S(std::string("h\xc3\xa9llo")));
  EXPECT_EQ(f.require("u64").storage(), S(uint64_t{1} << 40));
  EXPECT_EQ(f.require("i64").storage(), S(-(int64_t{1} << 40)));
  EXPECT_EQ(f.require("f64").storage(), S(-2.25));
  EXPECT_EQ(f.metadata().size(), 27u);
  EXPECT_EQ(f.metadata().front().first, "u8");  // file order
  EXPECT_EQ(f.metadata().back().first, "a.nested_strings");

  // Typed getters convert between integer widths when the value fits.
  EXPECT_EQ(f.get<uint32_t>("u8"), 200u);
  EXPECT_EQ(f.get<int64_t>("i32"), -2000000000);
  EXPECT_EQ(f.get<int32_t>("i16"), -30000);
  EXPECT_EQ(f.get<uint64_t>("u64"), uint64_t{1} << 40);
  EXPECT_EQ(f.get<double>("f64"), -2.25);
  EXPECT_EQ(f.get<float>("f32"), 1.5f);
  EXPECT_EQ(f.get<float>("u16"), 60000.0f);
  EXPECT_TRUE(f.get<bool>("bool"));
  EXPECT_THAT(error_of([&] { f.get<uint32_t>("i8"); }), HasSubstr("key 'i8' = -100 is negative"));
  EXPECT_THAT(error_of([&] { f.get<int32_t>("u64"); }), HasSubstr("key 'u64' = 1099511627776 does not fit in 32 bits"));
  EXPECT_THAT(error_of([&] { f.get<std::string>("u32"); }), HasSubstr("key 'u32' must be a string, got u32"));
  EXPECT_THAT(error_of([&] { f.get<bool>("u8"); }), HasSubstr("key 'u8' must be a bool, got u8"));
  EXPECT_THAT(error_of([&] { f.get_array("f32"); }), HasSubstr("key 'f32' must be an array, got f32"));

  EXPECT_EQ(f.require("a.u8").as_int_list(), (std::vector<int64_t>{1, 2, 255}));
  EXPECT_EQ(f.require("a.i8").as_int_list(), (std::vector<int64_t>{-1, 2}));
  EXPECT_EQ(f.require("a.u16").as_int_list(), (std::vector<int64_t>{65535}));
  EXPECT_EQ(f.require("a.i16").as_int_list(), (std::vector<int64_t>{-2, 3}));
  EXPECT_EQ(f.require("a.u32").as_int_list(), (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(f.require("a.i32").as_int_list(), (std::vector<int64_t>{-7}));
  EXPECT_EQ(f.require("a.f32").as_float_list(), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(f.get_array("a.bool").element_type, GgufType::Bool);
  EXPECT_TRUE(f.get_array("a.bool").items[2].as_bool());
  EXPECT_FALSE(f.get_array("a.bool").items[1].as_bool());
  EXPECT_EQ(f.get_string_array("a.string"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.get_array("a.u64").items[0].as_u64(), uint64_t{1} << 63);
  EXPECT_THAT(error_of([&] { f.require("a.u64").as_int_list("a.u64"); }), HasSubstr("does not fit in int64"));
  EXPECT_EQ(f.require("a.i64").as_int_list(), (std::vector<int64_t>{-5, 6}));
  EXPECT_EQ(f.require("a.f64").as_float_list(), (std::vector<float>{3.0f}));
  EXPECT_TRUE(f.get_array("a.empty").items.empty());
  EXPECT_EQ(f.get_array("a.empty").element_type, GgufType::U32);
  const GgufArray& nested = f.get_array("a.nested");
  ASSERT_EQ(nested.element_type, GgufType::Array);
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(nested.items[0].as_int_list(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nested.items[1].as_int_list(), (std::vector<int64_t>{3}));
  const GgufArray& nested_strings = f.get_array("a.nested_strings");
  EXPECT_EQ(nested_strings.items[1].as_string_list(), (std::vector<std::string>{"y", "z"}));
  EXPECT_THAT(error_of([&] { f.get_string_array("a.u32"); }), HasSubstr("array of strings, got an array of u32"));
}

TEST(Gguf, PlainTensorsAreViewedWithRowMajorShapes) {
  // ne = {3, 2}: 2 rows of 3, row-major shape [2, 3].
  const std::vector<float> f32 = {1, 2, 3, 4, 5, -6};
  std::vector<uint16_t> f16, bf16;
  for (float v : f32) {
    f16.push_back(float_to_f16(v * 0.5f));
    bf16.push_back(float_to_bf16(v * 4.0f));
  }
  const std::vector<int32_t> i32 = {-1, 7, 100000, 3, 0, 2};
  GgufBuilder b;
  b.scalar<uint32_t>("general.alignment", GgufType::U32, 64).alignment(64);
  b.tensor("f32", {3, 2}, 0, GgufBuilder::items(f32))
      .tensor("f16", {3, 2}, 1, GgufBuilder::items(f16))
      .tensor("bf16", {3, 1, 2}, 30, GgufBuilder::items(bf16))
      .tensor("i32", {6}, 26, GgufBuilder::items(i32));
  const auto path = testing::temp_dir() / "plain.gguf";
  testing::write_bytes(path, b.build());
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensor_info("bf16").ne, (std::vector<uint64_t>{3, 1, 2}));
  EXPECT_EQ(f.tensor_info("bf16").shape, (Shape{2, 1, 3}));

  const Tensor t32 = f.get("f32");
  EXPECT_EQ(t32.dtype(), DType::F32);
  EXPECT_EQ(t32.shape(), (Shape{2, 3}));
  EXPECT_FALSE(t32.owns_memory());
  const Tensor t16 = f.get("f16");
  EXPECT_EQ(t16.dtype(), DType::F16);
  EXPECT_FALSE(t16.owns_memory());
  EXPECT_EQ(f.get("bf16").dtype(), DType::BF16);
  EXPECT_EQ(f.get("i32").span<int32_t>()[2], 100000);
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(t32.span<float>()[i], f32[i]);
    EXPECT_EQ(f.get_f32("f16").span<float>()[i], f32[i] * 0.5f);  // small integers/halves: exact in f16
    EXPECT_EQ(f.get_f32("bf16").span<float>()[i], f32[i] * 4.0f);
    EXPECT_EQ(f.get_f32("i32").span<float>()[i], static_cast<float>(i32[i]));
  }
  EXPECT_EQ(f.get_f32("bf16").shape(), (Shape{2, 1, 3}));
  const Tensor raw = f.get_raw("f16");
  EXPECT_EQ(raw.dtype(), DType::U8);
  EXPECT_EQ(raw.numel(), 12);
  EXPECT_EQ(raw.raw_data(), t16.raw_data());
}

TEST(Gguf, SmallAlignmentCopiesMisalignedTensors) {
  GgufBuilder b;
  b.scalar<uint32_t>("general.alignment", GgufType::U32, 1).alignment(1);
  b.tensor("byte", {1}, 24, std::string(1, '\x7f')).tensor("f", {2}, 0, GgufBuilder::items<float>({2.5f, -1.0f}));
  const auto path = testing::temp_dir() / "align1.gguf";
  const std::string bytes = b.build();
  testing::write_bytes(path, bytes);
  const GgufFile f = GgufFile::open(path);
  ASSERT_EQ(f.tensor_info("f").offset, 1u);
  const Tensor t = f.get("f");
  ASSERT_NE((f.data_offset() + 1) % 4, 0u);  // this layout puts the f32 data off its natural alignment
  EXPECT_TRUE(t.owns_memory());
  EXPECT_EQ(t.span<float>()[0], 2.5f);
  EXPECT_EQ(t.span<float>()[1], -1.0f);
  EXPECT_EQ(f.get("byte").span<int8_t>()[0], 0x7f);
}

}  // namespace
}  // namespace octet
