// GGUF llama models as Hugging Face folders: config.json from
// llama_hf_config_from_gguf + tokenizer.gguf + the model's parameters saved
// as model.safetensors load as exactly the GGUF model (bit-identical logits,
// the same tokenizer ids). Also the json mapping itself: defaults, head_dim,
// linear rope scaling, absent token ids, Qwen2-style q/k/v biases checked
// against transformers' Qwen2 logits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include <fmt/format.h>

#include "octet/generate.h"
#include "octet/gguf.h"
#include "octet/gguf_model.h"
#include "octet/safetensors.h"
#include "models/decoder_gguf_writer.h"
#include "support/shared_data.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using S = GgufValue::Storage;
using Metadata = std::vector<std::pair<std::string, GgufValue>>;

fs::path stories() { return testing::shared_path("models/stories260K/stories260K.gguf"); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The folder the brief describes: write_gguf_model_files + the parameters as model.safetensors.
fs::path folder_from_gguf(const fs::path& gguf, const fs::path& folder) {
  fs::create_directories(folder);
  write_gguf_model_files(gguf, folder);
  save_safetensors(folder / "model.safetensors", load_model(gguf, kLoadFloatWeights)->parameters());
  return folder;
}

Tensor logits_of(const Model& model, const std::vector<int64_t>& ids, int64_t batch = 1) {
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch; ++b) rows.insert(rows.end(), ids.begin(), ids.end());
  return model.forward({Tensor::from_vector(rows, {batch, int64_t(ids.size())}), {}, {}, {}}).at("logits");
}

void expect_bit_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(0, std::memcmp(a.raw_data(), b.raw_data(), a.nbytes())) << what;
}

// A copy of stories260K with some metadata keys left out (written by write_gguf).
fs::path stories_without(const std::vector<std::string>& dropped, const fs::path& path) {
  const GgufFile src = GgufFile::open(stories());
  Metadata metadata;
  for (const auto& kv : src.metadata())
    if (std::find(dropped.begin(), dropped.end(), kv.first) == dropped.end()) metadata.push_back(kv);
  std::vector<GgufTensorToWrite> tensors;
  for (const GgufTensorInfo& t : src.tensors()) tensors.push_back({t.name, src.get(t.name), GgmlType::F32});
  write_gguf(path, metadata, tensors);
  return path;
}

TEST(GgufFolder, Stories260KFolderIsTheSameModel) {
  const fs::path folder = folder_from_gguf(stories(), testing::temp_dir() / "stories");
  const auto gguf_model = load_causal_lm(stories());
  const auto folder_model = load_causal_lm(folder);
  const ModelInfo &a = gguf_model->info(), &b = folder_model->info();
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.head, b.head);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.max_positions, b.max_positions);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(b.bos_token_id, 1);

  std::mt19937 rng(5);
  std::uniform_int_distribution<int64_t> token(0, a.vocab_size - 1);
  for (const int64_t length : {1, 7, 33, 100}) {
    std::vector<int64_t> ids = {1};
    while (int64_t(ids.size()) < length) ids.push_back(token(rng));
    expect_bit_identical(logits_of(*gguf_model, ids), logits_of(*folder_model, ids), fmt::format("length {}", length));
  }
  expect_bit_identical(logits_of(*gguf_model, {1, 2, 3, 4}, 3), logits_of(*folder_model, {1, 2, 3, 4}, 3), "batch 3");

  const Tokenizer gguf_tok = load_model_tokenizer(stories());
  const Tokenizer folder_tok = load_model_tokenizer(folder);
  for (const std::string text : {"Once upon a time, there was a little girl named Lily.", "", " leading space",
                                 "Tom and Sue    went\tto the park!\n\"Yes,\" said Mom.", "caf\xc3\xa9 \xe2\x98\x83 42",
                                 "<s> and </s> as text"}) {
    const auto ids = gguf_tok.encode(text).ids;
    EXPECT_EQ(ids, folder_tok.encode(text).ids) << text;
    EXPECT_EQ(gguf_tok.decode(ids), folder_tok.decode(ids)) << text;
  }
}

TEST(GgufFolder, FilesHoldTheConfigAndOnlyTheTokenizerKeys) {
  const fs::path folder = testing::temp_dir();
  write_gguf_model_files(stories(), folder);
  const GgufFile src = GgufFile::open(stories());
  const GgufFile tok = GgufFile::open(folder / "tokenizer.gguf");
  EXPECT_TRUE(tok.tensors().empty());
  Metadata want = {{"general.architecture", src.require("general.architecture")}};
  for (const auto& kv : src.metadata())
    if (kv.first.starts_with("tokenizer.")) want.push_back(kv);
  EXPECT_GT(want.size(), 4u);
  EXPECT_EQ(tok.metadata(), want);

  const auto config = nlohmann::json::parse(std::ifstream(folder / "config.json"));
  EXPECT_EQ(config, llama_hf_config_from_gguf(src));
  EXPECT_EQ(config.at("architectures"), nlohmann::json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(config.at("model_type"), "llama");
  EXPECT_EQ(config.at("hidden_size"), 64);
  EXPECT_EQ(config.at("num_hidden_layers"), 5);
  EXPECT_EQ(config.at("num_attention_heads"), 8);
  EXPECT_EQ(config.at("num_key_value_heads"), 4);
  EXPECT_EQ(config.at("vocab_size"), 512);
  EXPECT_EQ(config.at("rms_norm_eps").get<double>(), double(1e-5f));
  EXPECT_TRUE(config.at("rope_scaling").is_null());
  EXPECT_FALSE(config.contains("head_dim"));
  EXPECT_EQ(config.at("tie_word_embeddings"), !src.contains("output.weight"));
  EXPECT_EQ(config.at("bos_token_id"), 1);
  EXPECT_EQ(config.at("eos_token_id"), 2);
  EXPECT_EQ(config.at("torch_dtype"), "float32");
  EXPECT_EQ(config.at("attention_bias"), false);
}

TEST(GgufFolder, ConfigMapsHeadDimRopeScalingAndDefaults) {
  const fs::path path = testing::temp_dir() / "tiny.gguf";
  auto u32 = [](uint32_t v) { return GgufValue(S(v)); };
  write_gguf(path,
             {{"general.architecture", GgufValue(S(std::string("llama")))},
              {"llama.embedding_length", u32(96)},
              {"llama.feed_forward_length", u32(128)},
              {"llama.block_count", u32(1)},
              {"llama.attention.head_count", u32(4)},
              {"llama.attention.key_length", u32(32)},
              {"llama.attention.value_length", u32(32)},
              {"llama.rope.dimension_count", u32(32)},
              {"llama.rope.scaling.type", GgufValue(S(std::string("linear")))},
              {"llama.rope.scaling.factor", GgufValue(S(4.0f))},
              {"llama.rope.freq_base", GgufValue(S(500000.0f))}},
             {{"token_embd.weight", Tensor::zeros({10, 96}, DType::F32), GgmlType::F32}});
  const nlohmann::json c = llama_hf_config_from_gguf(GgufFile::open(path));
  EXPECT_EQ(c.at("head_dim"), 32);
  EXPECT_EQ(c.at("num_key_value_heads"), 4);  // head_count_kv absent: one per head
  EXPECT_EQ(c.at("max_position_embeddings"), 2048);
  EXPECT_EQ(c.at("rms_norm_eps").get<double>(), double(1e-5f));  // llama.cpp's default, not transformers' 1e-6
  EXPECT_EQ(c.at("rope_theta"), 500000.0);
  EXPECT_EQ(c.at("rope_scaling"), (nlohmann::json{{"type", "linear"}, {"factor", 4.0}}));
  EXPECT_EQ(c.at("vocab_size"), 10);
  EXPECT_EQ(c.at("tie_word_embeddings"), true);
  EXPECT_TRUE(c.at("bos_token_id").is_null());
  EXPECT_TRUE(c.at("pad_token_id").is_null());

  write_gguf(path, {{"general.architecture", GgufValue(S(std::string("llama")))},
                    {"llama.embedding_length", u32(64)}, {"llama.attention.head_count", u32(4)},
                    {"llama.rope.dimension_count", u32(8)}},
             {});
  EXPECT_THAT(error_of([&] { llama_hf_config_from_gguf(GgufFile::open(path)); }),
              HasSubstr("rope.dimension_count 8 differs from the head size 16 (partial rotary)"));
}

// A file without bos/eos ids keeps them absent (-1) through the json (null,
// which transformers also reads as "no such token", unlike a missing key).
TEST(GgufFolder, AbsentTokenIdsStayAbsent) {
  const fs::path dir = testing::temp_dir();
  const fs::path gguf =
      stories_without({"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}, dir / "no-ids.gguf");
  const auto model = load_model(gguf);
  EXPECT_EQ(model->info().bos_token_id, -1);
  EXPECT_EQ(model->info().eos_token_id, -1);
  const fs::path folder = folder_from_gguf(gguf, dir / "folder");
  EXPECT_TRUE(nlohmann::json::parse(std::ifstream(folder / "config.json")).at("bos_token_id").is_null());
  EXPECT_EQ(load_model(folder)->info().bos_token_id, -1);
  EXPECT_EQ(load_model(folder)->info().eos_token_id, -1);
}

// The transformers Qwen2 fixture as a llama GGUF: q/k/v biases, no o bias.
fs::path qwen2_fixture_as_llama_gguf(const fs::path& path) {
  const SafetensorsFile hf = SafetensorsFile::open(testing::shared_path("fixtures/hf/qwen2/model.safetensors"));
  auto u32 = [](uint32_t v) { return GgufValue(S(v)); };
  const Metadata metadata = {{"general.architecture", GgufValue(S(std::string("llama")))},
                             {"llama.context_length", u32(128)},
                             {"llama.embedding_length", u32(64)},
                             {"llama.feed_forward_length", u32(128)},
                             {"llama.block_count", u32(2)},
                             {"llama.attention.head_count", u32(4)},
                             {"llama.attention.head_count_kv", u32(2)},
                             {"llama.attention.layer_norm_rms_epsilon", GgufValue(S(1e-6f))},
                             {"llama.rope.freq_base", GgufValue(S(10000.0f))}};
  std::vector<GgufTensorToWrite> t = {{"token_embd.weight", hf.get("model.embed_tokens.weight")},
                                      {"output_norm.weight", hf.get("model.norm.weight")},
                                      {"output.weight", hf.get("lm_head.weight")}};
  for (int i = 0; i < 2; ++i) {
    const std::string hp = fmt::format("model.layers.{}.", i), gp = fmt::format("blk.{}.", i);
    t.push_back({gp + "attn_norm.weight", hf.get(hp + "input_layernorm.weight")});
    t.push_back({gp + "attn_q.weight", testing::llama_cpp_permute(hf.get(hp + "self_attn.q_proj.weight"), 4)});
    t.push_back({gp + "attn_q.bias", testing::llama_cpp_permute(hf.get(hp + "self_attn.q_proj.bias"), 4)});
    t.push_back({gp + "attn_k.weight", testing::llama_cpp_permute(hf.get(hp + "self_attn.k_proj.weight"), 2)});
    t.push_back({gp + "attn_k.bias", testing::llama_cpp_permute(hf.get(hp + "self_attn.k_proj.bias"), 2)});
    t.push_back({gp + "attn_v.weight", hf.get(hp + "self_attn.v_proj.weight")});
    t.push_back({gp + "attn_v.bias", hf.get(hp + "self_attn.v_proj.bias")});
    t.push_back({gp + "attn_output.weight", hf.get(hp + "self_attn.o_proj.weight")});
    t.push_back({gp + "ffn_norm.weight", hf.get(hp + "post_attention_layernorm.weight")});
    t.push_back({gp + "ffn_gate.weight", hf.get(hp + "mlp.gate_proj.weight")});
    t.push_back({gp + "ffn_up.weight", hf.get(hp + "mlp.up_proj.weight")});
    t.push_back({gp + "ffn_down.weight", hf.get(hp + "mlp.down_proj.weight")});
  }
  write_gguf(path, metadata, t);
  return path;
}

TEST(GgufFolder, QkvBiasesWithoutOutputBiasMapToQwen2) {
  const fs::path dir = testing::temp_dir();
  const fs::path gguf = qwen2_fixture_as_llama_gguf(dir / "qwen2-as-llama.gguf");
  const nlohmann::json c = llama_hf_config_from_gguf(GgufFile::open(gguf));
  EXPECT_EQ(c.at("model_type"), "qwen2");
  EXPECT_EQ(c.at("architectures"), nlohmann::json::array({"Qwen2ForCausalLM"}));
  EXPECT_EQ(c.at("attention_bias"), false);
  const auto model = load_causal_lm(gguf);
  EXPECT_EQ(model->info().model_type, "qwen2");
  // transformers' Qwen2 logits, within the fixtures' 1e-4 (see decoder_fixtures_test.cc).
  const auto ref = SafetensorsFile::open(testing::shared_path("fixtures/hf/qwen2/reference.safetensors"));
  const Tensor mask = ref.get("attention_mask");
  const Tensor logits = model->forward({ref.get("input_ids"), mask, {}, ref.get("position_ids")}).at("logits");
  const Tensor want = ref.get("logits");
  const int64_t vocab = want.dim(2);
  double worst = 0;
  for (int64_t r = 0; r < mask.numel(); ++r)
    if (mask.data<int64_t>()[r])
      for (int64_t j = 0; j < vocab; ++j)
        worst = std::max(worst, std::fabs(double(logits.data<float>()[r * vocab + j]) -
                                          double(want.data<float>()[r * vocab + j])));
  EXPECT_LE(worst, 1e-4);
  // No tokenizer inside: write_gguf_model_files refuses before writing anything.
  const fs::path folder = dir / "folder";
  fs::create_directories(folder);
  EXPECT_THAT(error_of([&] { write_gguf_model_files(gguf, folder); }), HasSubstr("no tokenizer inside"));
  EXPECT_TRUE(fs::is_empty(folder));
}

TEST(GgufFolder, TokenizerLookupPrefersHuggingFaceFiles) {
  const fs::path dir = testing::temp_dir();
  EXPECT_THAT(error_of([&] { load_model_tokenizer(dir); }), HasSubstr("tokenizer.model, tokenizer.gguf"));
  write_gguf_model_files(stories(), dir);
  const auto ids = load_model_tokenizer(dir).encode("Lily went home.").ids;
  EXPECT_EQ(ids, load_model_tokenizer(stories()).encode("Lily went home.").ids);
  // A Hugging Face tokenizer file next to tokenizer.gguf wins.
  fs::copy_file(testing::shared_path("models/kjv-llama/tokenizer.model"), dir / "tokenizer.model");
  const auto kjv_ids = load_model_tokenizer(dir).encode("Lily went home.").ids;
  EXPECT_EQ(kjv_ids, Tokenizer::load(dir).encode("Lily went home.").ids);
  EXPECT_NE(kjv_ids, ids);
}

// A copy of stories260K with some metadata values replaced.
fs::path stories_with(const Metadata& replaced, const fs::path& path) {
  const GgufFile src = GgufFile::open(stories());
  Metadata metadata;
  for (const auto& kv : src.metadata()) {
    const auto it = std::find_if(replaced.begin(), replaced.end(), [&](const auto& r) { return r.first == kv.first; });
    metadata.push_back(it == replaced.end() ? kv : *it);
  }
  std::vector<GgufTensorToWrite> tensors;
  for (const GgufTensorInfo& t : src.tensors()) tensors.push_back({t.name, src.get(t.name), GgmlType::F32});
  write_gguf(path, metadata, tensors);
  return path;
}

// GGUF hyper-parameters are bounded like config.json's (src/models/registry.cc) before the
// model is built: block_count 2^40 used to make the weight source loop over 2^40 layers (a
// hang; `octet run` on stories260K with block_count 2^30 ran past a 20 s timeout).
TEST(GgufFolder, HostileHyperParametersAreRejectedBeforeBuilding) {
  const fs::path dir = testing::temp_dir();
  const uint64_t huge = uint64_t{1} << 40;
  for (const char* key : {"llama.block_count", "llama.feed_forward_length", "llama.context_length"}) {
    const fs::path gguf = stories_with({{key, GgufValue(S(huge))}}, dir / "hostile.gguf");
    const std::string error = error_of([&] { (void)load_model(gguf); });
    EXPECT_THAT(error, HasSubstr("larger than octet accepts")) << key;
  }
  // Within the bound but past the file's blocks: an error naming the first missing tensor.
  const fs::path claimed = stories_with({{"llama.block_count", GgufValue(S(uint32_t{1} << 24))}}, dir / "claimed.gguf");
  EXPECT_THAT(error_of([&] { (void)load_model(claimed); }), HasSubstr("model.layers.5."));
}

// A token_embd.weight that is not 2-D is a one-line error. A 0-d one (which GGUF's reader takes, its writer
// does not write) used to throw std::out_of_range out of llama_hf_config_from_gguf: fuzz_gguf_model's input
// tests/fuzz/regressions/gguf_model/crash-cba34c54..., replayed by FuzzReplay.
TEST(GgufFolder, EmbeddingThatIsNotTwoDimensionalIsRejected) {
  const fs::path dir = testing::temp_dir();
  const GgufFile src = GgufFile::open(stories());
  for (const Shape& shape : {Shape{7}, Shape{2, 3, 4}}) {
    std::vector<GgufTensorToWrite> tensors;
    for (const GgufTensorInfo& t : src.tensors())
      tensors.push_back(
          {t.name, t.name == "token_embd.weight" ? Tensor::zeros(shape, DType::F32) : src.get(t.name), GgmlType::F32});
    const fs::path gguf = dir / "embedding.gguf";
    write_gguf(gguf, src.metadata(), tensors);
    EXPECT_THAT(error_of([&] { (void)load_model(gguf); }),
                HasSubstr(fmt::format("'token_embd.weight' has {} dimensions, expected 2", shape.size())));
  }
}

// A Q8_0 / Q4_0 Linear is kept in its blocks (the builder never reads it as f32), so its shape is
// checked where its kernel is made: a wrong one is the same one-line error as for an f32 tensor.
TEST(GgufFolder, NativeBlockLinearOfTheWrongShapeIsRejected) {
  const fs::path dir = testing::temp_dir(), gguf = dir / "wrong-shape.gguf";
  const GgufFile src = GgufFile::open(stories());
  std::vector<GgufTensorToWrite> tensors;
  for (const GgufTensorInfo& t : src.tensors()) {
    Tensor v = src.get(t.name);
    if (t.name == "blk.0.attn_k.weight") {
      ASSERT_EQ(v.shape(), (Shape{32, 64}));
      tensors.push_back({t.name, v.contiguous().reshape({64, 32}), GgmlType::Q8_0});
    } else {
      tensors.push_back({t.name, v, GgmlType::F32});
    }
  }
  write_gguf(gguf, src.metadata(), tensors);
  EXPECT_THAT(error_of([&] { (void)load_model(gguf); }),
              HasSubstr("tensor 'blk.0.attn_k.weight' has shape [64, 32], the hyper-parameters expect [32, 64]"));
  // Dequantized (float_weights) it is the builder's own check.
  EXPECT_THAT(error_of([&] { (void)load_model(gguf, kLoadFloatWeights); }),
              HasSubstr("has shape [64, 32]"));
}

}  // namespace
}  // namespace octet
