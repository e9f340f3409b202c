// safetensors reading (real HF files), writing and round trips.
#include "octet/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "io/io_test_util.h"
#include "octet/json_config.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using ::testing::HasSubstr;
using testing::error_of;
using testing::read_bytes;
using testing::shared_path;
using testing::temp_dir;

// The dtypes safetensors can store.
const std::vector<DType> kSafetensorsDTypes = {DType::F32,  DType::F16, DType::BF16, DType::F64,
                                               DType::I64,  DType::I32, DType::I16,  DType::I8,
                                               DType::U8,   DType::Bool, DType::F8_E4M3, DType::F8_E5M2};

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

// A tensor whose bytes follow a pattern unique to `seed` (bit patterns, not
// values: the writer must copy bytes untouched whatever they mean).
Tensor patterned(Shape shape, DType dtype, int seed) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  auto* p = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>(i * 37 + static_cast<size_t>(seed) * 11 + 5);
  return t;
}

TEST(Safetensors, RealFixtureMatchesIndependentHeaderParse) {
  const auto path = shared_path("fixtures/hf/bert/model.safetensors");
  const SafetensorsFile file = SafetensorsFile::open(path);
  // Parse the header here with nothing but the format description and compare.
  const std::string raw = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  const auto header = nlohmann::json::parse(raw.substr(8, n));
  ASSERT_EQ(file.size() + 1, header.size());  // + __metadata__
  EXPECT_EQ(file.metadata(), (header["__metadata__"].get<std::map<std::string, std::string>>()));
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    SCOPED_TRACE(name);
    ASSERT_TRUE(file.contains(name));
    const Tensor t = file.get(name);
    EXPECT_EQ(dtype_info(t.dtype()).safetensors_name, entry["dtype"].get<std::string>());
    EXPECT_EQ(t.shape(), entry["shape"].get<Shape>());
    EXPECT_FALSE(t.owns_memory());  // zero-copy view of the mapping
    const auto begin = entry["data_offsets"][0].get<size_t>();
    const auto end = entry["data_offsets"][1].get<size_t>();
    EXPECT_EQ(bytes_of(t), raw.substr(8 + n + begin, end - begin));
  }
  EXPECT_TRUE(file.warnings().empty());
}

TEST(Safetensors, CheckpointShapesAgreeWithConfig) {
  const auto dir = shared_path("fixtures/hf/bert");
  const JsonConfig cfg = JsonConfig::load(dir / "config.json");
  const Checkpoint ckpt = Checkpoint::open(dir);
  EXPECT_EQ(ckpt.source(), dir / "model.safetensors");
  const int64_t hidden = cfg.get<int>("hidden_size");
  const int64_t inter = cfg.get<int>("intermediate_size");
  ckpt.require("bert.embeddings.word_embeddings.weight", {cfg.get<int64_t>("vocab_size"), hidden}, DType::F32);
  ckpt.require("bert.embeddings.position_embeddings.weight", {cfg.get<int64_t>("max_position_embeddings"), hidden});
  for (int layer = 0; layer < cfg.get<int>("num_hidden_layers"); ++layer) {
    const std::string p = fmt::format("bert.encoder.layer.{}.", layer);
    ckpt.require(p + "attention.self.query.weight", {hidden, hidden});
    ckpt.require(p + "intermediate.dense.weight", {inter, hidden});
    ckpt.require(p + "output.dense.weight", {hidden, inter});
  }
  EXPECT_THAT(error_of([&] { ckpt.require("bert.pooler.dense.weight", {hidden, hidden + 1}); }),
              HasSubstr("tensor 'bert.pooler.dense.weight' has shape [64, 64], config expects [64, 65]"));
  EXPECT_THAT(error_of([&] { ckpt.require("bert.pooler.dense.weight", {hidden, hidden}, DType::F16); }),
              HasSubstr("has dtype f32, expected f16"));
  const std::string missing = error_of([&] { ckpt.require("lm_head.weight", {1}); });
  EXPECT_THAT(missing, HasSubstr("[safetensors] "));
  EXPECT_THAT(missing, HasSubstr("model.safetensors: tensor 'lm_head.weight' missing (needed by config)"));
}

TEST(Safetensors, RoundTripEveryDtypeAndLayout) {
  for (const TensorOrder order : {TensorOrder::Sorted, TensorOrder::Given}) {
    SCOPED_TRACE(order == TensorOrder::Sorted ? "sorted" : "given");
    std::vector<std::pair<std::string, Tensor>> tensors;
    int seed = 0;
    for (const DType dtype : kSafetensorsDTypes) {
      const std::string name(dtype_info(dtype).safetensors_name);
      tensors.emplace_back(name + ".plain", patterned({3, 5}, dtype, ++seed));
      // Non-contiguous inputs: a transpose and a column slice.
      tensors.emplace_back(name + ".transposed", patterned({4, 6}, dtype, ++seed).transpose(0, 1));
      tensors.emplace_back(name + ".sliced", patterned({3, 7}, dtype, ++seed).slice(1, 2, 5));
    }
    tensors.emplace_back("scalar", patterned({}, DType::F32, ++seed));
    tensors.emplace_back("empty", Tensor::empty({0, 3}, DType::F16));
    ASSERT_FALSE(tensors[1].second.is_contiguous());
    ASSERT_FALSE(tensors[2].second.is_contiguous());

    const auto path = temp_dir() / "round.safetensors";
    const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "héllo \"quoted\""}};
    save_safetensors(path, tensors, meta, order);
    const SafetensorsFile file = SafetensorsFile::open(path);
    EXPECT_EQ(file.metadata(), meta);
    EXPECT_EQ(file.size(), tensors.size());
    EXPECT_TRUE(file.warnings().empty()) << file.warnings().front();
    for (const auto& [name, expected] : tensors) {
      SCOPED_TRACE(name);
      const Tensor got = file.get(name);
      EXPECT_EQ(got.dtype(), expected.dtype());
      EXPECT_EQ(got.shape(), expected.shape());
      EXPECT_TRUE(got.is_contiguous());
      EXPECT_EQ(bytes_of(got), bytes_of(expected));
      const uint64_t element = static_cast<uint64_t>(dtype_info(got.dtype()).bits / 8);
      if (order == TensorOrder::Sorted) {
        // The sorted layout aligns every tensor, so every read is zero-copy.
        EXPECT_EQ(file.info(name).data_begin % element, 0u);
        EXPECT_FALSE(got.owns_memory());
      }
    }
  }
}

TEST(Safetensors, HeaderIsPaddedWithSpacesToEightBytes) {
  const auto path = temp_dir() / "pad.safetensors";
  for (int len = 1; len <= 9; ++len) {
    // Vary the name length so the raw header length takes every residue mod 8.
    save_safetensors(path, {{std::string(static_cast<size_t>(len), 'w'), patterned({2}, DType::U8, len)}});
    const std::string raw = read_bytes(path);
    uint64_t n = 0;
    std::memcpy(&n, raw.data(), 8);
    EXPECT_EQ(n % 8, 0u);
    const std::string header = raw.substr(8, n);
    const size_t json_end = header.find_last_of('}') + 1;
    EXPECT_LT(n - json_end, 8u);
    EXPECT_EQ(header.substr(json_end), std::string(n - json_end, ' '));
    EXPECT_EQ(raw.size(), 8 + n + 2);
  }
}

TEST(Safetensors, WriteIsAtomicAndLeavesNoTemporary) {
  const auto dir = temp_dir();
  const auto path = dir / "model.safetensors";
  save_safetensors(path, {{"a", patterned({4}, DType::F32, 1)}});
  const std::string before = read_bytes(path);
  // A failing save (int4 has no safetensors dtype) leaves the old file as it was.
  const std::string err = error_of([&] {
    save_safetensors(path, {{"b", patterned({4}, DType::F32, 2)}, {"c", Tensor::zeros({4}, DType::I4)}});
  });
  EXPECT_THAT(err, HasSubstr("tensor 'c' has dtype int4"));
  EXPECT_EQ(read_bytes(path), before);
  save_safetensors(path, {{"d", patterned({8}, DType::F32, 3)}});
  EXPECT_TRUE(SafetensorsFile::open(path).contains("d"));
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename(), "model.safetensors");
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(Safetensors, WriterRejectsBadNames) {
  const auto path = temp_dir() / "bad.safetensors";
  const Tensor t = patterned({2}, DType::U8, 1);
  EXPECT_THAT(error_of([&] { save_safetensors(path, {{"x", t}, {"x", t}}); }), HasSubstr("tensor 'x' is given twice"));
  EXPECT_THAT(error_of([&] { save_safetensors(path, {{"", t}}); }), HasSubstr("empty name"));
  EXPECT_THAT(error_of([&] { save_safetensors(path, {{"__metadata__", t}}); }), HasSubstr("reserved"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, ViewsOutliveTheFileObject) {
  const auto path = temp_dir() / "alive.safetensors";
  const Tensor src = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f}, {3});
  save_safetensors(path, {{"v", src}});
  Tensor view;
  { view = SafetensorsFile::open(path).get("v"); }
  EXPECT_EQ(view.span<float>()[2], 3.25f);
  // Views are copy-on-write: writing changes this process's copy, not the file.
  view.span<float>()[2] = 99.0f;
  EXPECT_EQ(view.span<float>()[2], 99.0f);
  EXPECT_EQ(SafetensorsFile::open(path).get("v").span<float>()[2], 3.25f);
}

TEST(Safetensors, MisalignedTensorIsCopiedNotViewed) {
  const auto path = temp_dir() / "misaligned.safetensors";
  // Given order puts the f32 tensor at data offset 1.
  const Tensor f = Tensor::from_vector<float>({1.0f, 2.0f, -7.5f}, {3});
  save_safetensors(path, {{"byte", patterned({1}, DType::U8, 1)}, {"f", f}}, {}, TensorOrder::Given);
  const SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.info("f").data_begin, 1u);
  const Tensor got = file.get("f");
  EXPECT_TRUE(got.owns_memory());
  EXPECT_EQ(bytes_of(got), bytes_of(f));
}

TEST(Safetensors, ShardedCheckpoint) {
  const auto dir = temp_dir();
  const Tensor a = patterned({2, 3}, DType::F32, 1), b = patterned({4}, DType::BF16, 2), c = patterned({5}, DType::I64, 3);
  save_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}, {"b", b}}, {{"format", "pt"}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", c}, {"unlisted", a}});
  const nlohmann::json index = {{"metadata", {{"total_size", 100}}},
                                {"weight_map",
                                 {{"a", "model-00001-of-00002.safetensors"},
                                  {"b", "model-00001-of-00002.safetensors"},
                                  {"c", "model-00002-of-00002.safetensors"}}}};
  testing::write_bytes(dir / "model.safetensors.index.json", index.dump(2));

  const Checkpoint ckpt = Checkpoint::open(dir);
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ckpt.files().size(), 2u);
  EXPECT_EQ(ckpt.metadata().at("format"), "pt");
  EXPECT_EQ(bytes_of(ckpt.get("a")), bytes_of(a));
  EXPECT_EQ(bytes_of(ckpt.require("b", {4}, DType::BF16)), bytes_of(b));
  EXPECT_EQ(bytes_of(ckpt.get("c")), bytes_of(c));
  EXPECT_EQ(ckpt.info("c").file.filename(), "model-00002-of-00002.safetensors");
  EXPECT_FALSE(ckpt.contains("unlisted"));
  EXPECT_THAT(error_of([&] { ckpt.require("d", {1}); }),
              HasSubstr("model.safetensors.index.json: tensor 'd' missing (needed by config)"));
  EXPECT_THAT(error_of([&] { ckpt.require("c", {6}); }),
              HasSubstr("model-00002-of-00002.safetensors: tensor 'c' has shape [5], config expects [6]"));
  // The same checkpoint opened through the index file itself.
  EXPECT_EQ(Checkpoint::open(dir / "model.safetensors.index.json").names(), ckpt.names());
}

TEST(Safetensors, ShardedIndexErrors) {
  const auto dir = temp_dir();
  save_safetensors(dir / "shard1.safetensors", {{"a", patterned({2}, DType::F32, 1)}});
  const auto index = dir / "model.safetensors.index.json";

  testing::write_bytes(index, R"({"weight_map": {"a": "shard1.safetensors", "b": "shard2.safetensors"}})");
  std::string err = error_of([&] { Checkpoint::open(dir); });
  EXPECT_THAT(err, HasSubstr("[safetensors] " + index.string()));
  EXPECT_THAT(err, HasSubstr("shard2.safetensors' (holding tensor 'b') does not exist"));

  testing::write_bytes(index, R"({"weight_map": {"a": "shard1.safetensors", "z": "shard1.safetensors"}})");
  err = error_of([&] { Checkpoint::open(dir); });
  EXPECT_THAT(err, HasSubstr("tensor 'z' is mapped to shard"));
  EXPECT_THAT(err, HasSubstr("shard1.safetensors' but that file does not hold it"));

  testing::write_bytes(index, R"({"weight_map": ["a"]})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir); }), HasSubstr("'weight_map' must be an object, got array"));
  testing::write_bytes(index, R"({"metadata": {}})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir); }), HasSubstr("index has no 'weight_map'"));
  testing::write_bytes(index, R"({"weight_map": {)");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir); }), HasSubstr("index is not valid JSON"));

  const auto empty = dir / "empty_folder";
  std::filesystem::create_directories(empty);
  EXPECT_THAT(error_of([&] { Checkpoint::open(empty); }),
              HasSubstr("folder has neither model.safetensors.index.json nor model.safetensors"));
}

}  // namespace
}  // namespace octet
