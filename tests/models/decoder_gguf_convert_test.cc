// GGUF mapping end to end: the HF llama fixture written as llama.cpp's
// convert_hf_to_gguf.py writes it (q/k rows permuted for its interleaved
// rotary) reproduces transformers' logits; GGUF tokenizers of both kinds;
// broken files and inconsistent hyper-parameters give clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "models/decoder_gguf_writer.h"
#include "octet/generate.h"
#include "octet/gguf.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet {
namespace {

struct LlamaGguf {
  int64_t heads = 4, kv_heads = 2;
  uint32_t bad_type_for_q0 = 0;  // nonzero: write blk.0.attn_q with this ggml type id
};

// The HF llama fixture (hidden 64, 2 layers, 4 heads / 2 kv heads) as a GGUF file.
testing::GgufWriter llama_fixture_gguf(const LlamaGguf& opt) {
  const SafetensorsFile hf = SafetensorsFile::open(testing::shared_path("fixtures/hf/llama/model.safetensors"));
  testing::GgufWriter w;
  w.str("general.architecture", "llama");
  w.u32("llama.context_length", 128);
  w.u32("llama.embedding_length", 64);
  w.u32("llama.feed_forward_length", 128);
  w.u32("llama.block_count", 2);
  w.u32("llama.attention.head_count", uint32_t(opt.heads));
  w.u32("llama.attention.head_count_kv", uint32_t(opt.kv_heads));
  w.u32("llama.rope.dimension_count", 16);
  w.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  w.f32("llama.rope.freq_base", 10000.0f);
  w.u32("tokenizer.ggml.bos_token_id", 1);
  w.u32("tokenizer.ggml.eos_token_id", 2);
  w.tensor("token_embd.weight", hf.get("model.embed_tokens.weight"));
  w.tensor("output_norm.weight", hf.get("model.norm.weight"));
  w.tensor("output.weight", hf.get("lm_head.weight"));
  for (int i = 0; i < 2; ++i) {
    const std::string hp = "model.layers." + std::to_string(i) + ".", gp = "blk." + std::to_string(i) + ".";
    w.tensor(gp + "attn_norm.weight", hf.get(hp + "input_layernorm.weight"));
    w.tensor(gp + "attn_q.weight", testing::llama_cpp_permute(hf.get(hp + "self_attn.q_proj.weight"), 4),
             i == 0 ? opt.bad_type_for_q0 : 0);
    w.tensor(gp + "attn_k.weight", testing::llama_cpp_permute(hf.get(hp + "self_attn.k_proj.weight"), 2));
    w.tensor(gp + "attn_v.weight", hf.get(hp + "self_attn.v_proj.weight"));
    w.tensor(gp + "attn_output.weight", hf.get(hp + "self_attn.o_proj.weight"));
    w.tensor(gp + "ffn_norm.weight", hf.get(hp + "post_attention_layernorm.weight"));
    w.tensor(gp + "ffn_gate.weight", hf.get(hp + "mlp.gate_proj.weight"));
    w.tensor(gp + "ffn_up.weight", hf.get(hp + "mlp.up_proj.weight"));
    w.tensor(gp + "ffn_down.weight", hf.get(hp + "mlp.down_proj.weight"));
  }
  return w;
}

TEST(GgufConvert, PermutedLlamaReproducesTransformersLogits) {
  const auto path = testing::temp_dir() / "llama.gguf";
  llama_fixture_gguf({}).write(path);
  const auto model = load_causal_lm(path);
  const auto ref = SafetensorsFile::open(testing::shared_path("fixtures/hf/llama/reference.safetensors"));
  const Tensor mask = ref.get("attention_mask");
  const Tensor logits = model->forward({ref.get("input_ids"), mask, {}, ref.get("position_ids")}).at("logits");
  const Tensor want = ref.get("logits");
  const int64_t vocab = want.dim(2);
  double worst = 0;
  for (int64_t r = 0; r < mask.numel(); ++r)
    if (mask.data<int64_t>()[r])
      for (int64_t j = 0; j < vocab; ++j)
        worst = std::max(worst, std::fabs(double(logits.data<float>()[r * vocab + j]) - want.data<float>()[r * vocab + j]));
  EXPECT_LE(worst, 1e-4);  // the fixtures' bar (see decoder_fixtures_test.cc)
  // Parameters come back under HF names, in HF layout.
  const auto params = model->parameters();
  const auto q = std::find_if(params.begin(), params.end(), [](const auto& p) { return p.first == "model.layers.1.self_attn.q_proj.weight"; });
  ASSERT_NE(q, params.end());
  const Tensor hf_q = SafetensorsFile::open(testing::shared_path("fixtures/hf/llama/model.safetensors")).get("model.layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(0, std::memcmp(q->second.data<float>(), hf_q.data<float>(), hf_q.nbytes()));
}

std::string error_of(const std::filesystem::path& path) {
  try {
    load_model(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GgufConvert, BrokenFilesGiveClearErrors) {
  const auto dir = testing::temp_dir();
  llama_fixture_gguf({}).write(dir / "truncated.gguf", 100);
  std::string msg = error_of(dir / "truncated.gguf");
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated.gguf"), std::string::npos) << msg;

  llama_fixture_gguf({.bad_type_for_q0 = 99}).write(dir / "unknown_type.gguf");
  msg = error_of(dir / "unknown_type.gguf");
  EXPECT_NE(msg.find("unknown tensor type 99"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;

  llama_fixture_gguf({.heads = 4, .kv_heads = 3}).write(dir / "heads.gguf");
  msg = error_of(dir / "heads.gguf");
  EXPECT_NE(msg.find("4 attention heads cannot be shared by 3 key/value heads"), std::string::npos) << msg;

  testing::GgufWriter other;
  other.str("general.architecture", "mamba");
  other.write(dir / "mamba.gguf");
  msg = error_of(dir / "mamba.gguf");
  EXPECT_NE(msg.find("'mamba' is not supported"), std::string::npos) << msg;
}

TEST(GgufTokenizer, Gpt2BpeFromGgufMatchesTransformers) {
  // The GPT-2 tokenizer fixture's vocab and merges as GGUF's tokenizer.ggml.* arrays.
  const auto dir = testing::shared_path("fixtures/tokenizers/gpt2");
  const auto vocab_json = nlohmann::json::parse(std::ifstream(dir / "vocab.json"));
  std::vector<std::string> tokens(vocab_json.size());
  for (const auto& [tok, id] : vocab_json.items()) tokens.at(id.get<size_t>()) = tok;
  std::vector<std::string> merges;
  std::ifstream mf(dir / "merges.txt");
  for (std::string line; std::getline(mf, line);)
    if (!line.empty() && !line.starts_with("#version")) merges.push_back(line);
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;  // <|endoftext|> is a control token
  testing::GgufWriter w;
  w.str("general.architecture", "gpt2");
  w.str("tokenizer.ggml.model", "gpt2");
  w.str("tokenizer.ggml.pre", "gpt2");
  w.str_array("tokenizer.ggml.tokens", tokens);
  w.i32_array("tokenizer.ggml.token_type", types);
  w.str_array("tokenizer.ggml.merges", merges);
  w.u32("tokenizer.ggml.bos_token_id", 50256);
  w.u32("tokenizer.ggml.eos_token_id", 50256);
  const auto path = testing::temp_dir() / "gpt2-tok.gguf";
  w.write(path);
  const Tokenizer tok = load_model_tokenizer(path);
  const auto cases = nlohmann::json::parse(std::ifstream(dir / "cases.json"));
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(tok.encode(text).ids, c["ids"].get<std::vector<int64_t>>()) << text;
  }
}

TEST(GgufTokenizer, Stories260KSentencePiece) {
  const auto path = testing::source_root() / "models" / "stories260K.gguf";
  const Tokenizer tok = load_model_tokenizer(path);
  const auto ids = tok.encode("Once upon a time, there was a little girl named Lily.").ids;
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);  // BOS, as llama.cpp adds for SentencePiece vocabularies
  EXPECT_EQ(tok.decode(ids), "Once upon a time, there was a little girl named Lily.");
  // The model's greedy story, decoded by the GGUF tokenizer.
  const auto model = load_causal_lm(path);
  GenerationOptions opt;
  opt.max_new_tokens = 40;
  const auto r = generate(*model, {{1}}, opt);
  EXPECT_TRUE(tok.decode(r.new_tokens[0]).starts_with(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."))
      << tok.decode(r.new_tokens[0]);
}

}  // namespace
}  // namespace octet
