// Encoder-decoder fixtures of ../shared/fixtures/hf (t5, t5_gated, bart; saved
// by transformers v4.40.2): logits, decoder last_hidden_state and
// encoder_last_hidden_state of a right-padded batch with decoder_input_ids,
// greedy generation reproducing generated_ids, the cached decoder equal to a
// recompute, and bad configs naming the missing field.
//
// Tolerance 1e-4 absolute (the brief's bar); the measured differences are
// printed (~1e-6 here: 2 + 2 layers, d_model 64). Encoder outputs are
// compared where attention_mask == 1; decoder outputs everywhere (the
// decoder has no padding; cross-attention masks the encoder's padding).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "encoder_test_util.h"
#include "octet/generate.h"
#include "octet/safetensors.h"
#include "octet/seq2seq.h"
#include "support/shared_data.h"

namespace octet::seq2seq_test {
namespace {

using testing::error_of;
using testing::fixture_dir;
using testing::max_abs_diff;

std::vector<int64_t> row_ids(const Tensor& t, int64_t row) {
  const Tensor c = t.contiguous();
  const int64_t n = c.dim(1);
  return {c.data<int64_t>() + row * n, c.data<int64_t>() + (row + 1) * n};
}

class Seq2SeqFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(Seq2SeqFixture, LogitsAndHiddenStatesMatchTransformers) {
  const std::string name = GetParam();
  const auto model = load_seq2seq_lm(fixture_dir(name));
  EXPECT_TRUE(model->info().is_encoder_decoder);
  EXPECT_EQ(model->info().head, ModelHead::Seq2SeqLM);
  const SafetensorsFile ref = SafetensorsFile::open(fixture_dir(name) / "reference.safetensors");
  ModelInputs in = testing::reference_inputs(ref);
  in.decoder_input_ids = ref.get("decoder_input_ids").clone();
  const NamedTensors out = model->forward(in);
  ASSERT_TRUE(out.count("logits") && out.count("encoder_last_hidden_state") && out.count("last_hidden_state"));
  const double logits = max_abs_diff(out.at("logits"), ref.get("logits"));
  const double hidden = max_abs_diff(out.at("last_hidden_state"), ref.get("last_hidden_state"));
  const double encoder = max_abs_diff(out.at("encoder_last_hidden_state"), ref.get("encoder_last_hidden_state"),
                                      in.attention_mask);
  std::printf("%s: max |diff| logits %.3g, decoder last_hidden_state %.3g, encoder_last_hidden_state %.3g\n",
              name.c_str(), logits, hidden, encoder);
  EXPECT_LE(logits, 1e-4);
  EXPECT_LE(hidden, 1e-4);
  EXPECT_LE(encoder, 1e-4);
}

TEST_P(Seq2SeqFixture, GreedyGenerationMatchesTransformers) {
  const std::string name = GetParam();
  const auto model = load_seq2seq_lm(fixture_dir(name));
  use_decode_kernels(*model);
  const SafetensorsFile ref = SafetensorsFile::open(fixture_dir(name) / "reference.safetensors");
  const Tensor expected = ref.get("generated_ids");
  GenerationOptions opt;
  opt.max_new_tokens = 10;  // meta.json: generate(max_new_tokens=10), greedy
  const GenerationResult r = generate_seq2seq(*model, {row_ids(ref.get("prompt_ids"), 0)}, opt);
  std::vector<int64_t> got{model->decoder_start_token_id()};
  got.insert(got.end(), r.new_tokens[0].begin(), r.new_tokens[0].end());
  EXPECT_EQ(got, row_ids(expected, 0)) << name;
}

TEST_P(Seq2SeqFixture, CachedDecodingEqualsRecompute) {
  const std::string name = GetParam();
  const auto model = load_seq2seq_lm(fixture_dir(name));
  const SafetensorsFile ref = SafetensorsFile::open(fixture_dir(name) / "reference.safetensors");
  ModelInputs in = testing::reference_inputs(ref);
  in.decoder_input_ids = ref.get("decoder_input_ids").clone();
  const Tensor full = model->forward(in).at("logits");
  // The decoder fed one token at a time through its cache gives the full pass's logits.
  const Tensor encoded = model->encode(in.input_ids, in.attention_mask);
  const int64_t batch = in.decoder_input_ids.dim(0), n = in.decoder_input_ids.dim(1), vocab = full.dim(2);
  Seq2SeqCache cache = model->make_cache(encoded, in.attention_mask, n);
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    const Tensor step = model->decode(in.decoder_input_ids.slice(1, t, t + 1).contiguous(), cache);
    ASSERT_EQ(step.shape(), (Shape{batch, 1, vocab}));
    worst = std::max(worst, max_abs_diff(step, full.slice(1, t, t + 1).contiguous()));
  }
  EXPECT_EQ(cache.length, n);
  EXPECT_LE(worst, 1e-5) << name;
  // Generation: cached and recomputed pick the same tokens (eos ignored, so all 10 steps run).
  GenerationOptions opt;
  opt.max_new_tokens = 10;
  opt.eos_ids = std::vector<int64_t>{};
  const std::vector<std::vector<int64_t>> prompts{row_ids(ref.get("prompt_ids"), 0), row_ids(in.input_ids, 0)};
  const GenerationResult cached = generate_seq2seq(*model, prompts, opt, true);
  const GenerationResult recomputed = generate_seq2seq(*model, prompts, opt, false);
  EXPECT_EQ(cached.new_tokens, recomputed.new_tokens) << name;
  ASSERT_EQ(cached.new_tokens[0].size(), 10u);
  // A right-padded batch generates what each prompt does alone.
  const GenerationResult alone = generate_seq2seq(*model, {prompts[0]}, opt);
  EXPECT_EQ(alone.new_tokens[0], cached.new_tokens[0]) << name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Seq2SeqFixture, ::testing::Values("t5", "t5_gated", "bart"));

TEST(Seq2Seq, LinearsAreVisibleToQuantization) {
  const auto model = load_model(fixture_dir("t5"));
  std::vector<std::string> names;
  model->visit_linears([&](nn::Linear& l) { names.push_back(l.name()); });
  // encoder 2 x (q, k, v, o, wi, wo) + decoder 2 x (4 self + 4 cross + wi, wo) + lm_head
  EXPECT_EQ(names.size(), 33u);
  EXPECT_NE(std::find(names.begin(), names.end(), "decoder.block.1.layer.1.EncDecAttention.k"), names.end());
  EXPECT_EQ(names.back(), "lm_head");
  const auto bart = load_model(fixture_dir("bart"));
  names.clear();
  bart->visit_linears([&](nn::Linear& l) { names.push_back(l.name()); });
  EXPECT_EQ(names.size(), 2u * 6 + 2u * 10 + 1);
  EXPECT_NE(std::find(names.begin(), names.end(), "model.decoder.layers.0.encoder_attn.q_proj"), names.end());
  // parameters() lists every checkpoint tensor once.
  EXPECT_EQ(bart->parameters().size(), 92u);
  EXPECT_EQ(model->parameters().size(), 47u);
}

TEST(Seq2Seq, DefaultDecoderInputIsTheStartToken) {
  const auto model = load_seq2seq_lm(fixture_dir("bart"));
  const SafetensorsFile ref = SafetensorsFile::open(fixture_dir("bart") / "reference.safetensors");
  const ModelInputs in = testing::reference_inputs(ref);
  const Tensor logits = model->forward(in).at("logits");
  ASSERT_EQ(logits.shape(), (Shape{2, 1, 512}));
  // decoder_input_ids[:, 0] is decoder_start_token_id: the first position of the reference.
  EXPECT_LE(max_abs_diff(logits, ref.get("logits").slice(1, 0, 1).contiguous()), 1e-4);
}

// A copy of fixture `name` under `root` with `patch` merged into config.json.
std::filesystem::path patched(const std::filesystem::path& root, const std::string& name, const nlohmann::json& patch) {
  const auto src = fixture_dir(name);
  const auto dir = root / name;
  std::filesystem::create_directories(dir);
  auto config = nlohmann::json::parse(std::ifstream(src / "config.json"));
  config.merge_patch(patch);
  std::ofstream(dir / "config.json") << config.dump(2);
  std::filesystem::create_symlink(src / "model.safetensors", dir / "model.safetensors");
  return dir;
}

TEST(Seq2Seq, MissingRequiredConfigFieldsAreNamed) {
  const auto root = testing::temp_dir();
  for (const char* name : {"t5", "bart"}) {
    const auto dir = patched(root / "start", name, {{"decoder_start_token_id", nullptr}});
    const std::string msg = error_of([&] { load_model(dir); }).what();
    EXPECT_NE(msg.find("missing 'decoder_start_token_id'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  }
  const auto dir = patched(root / "buckets", "t5_gated", {{"relative_attention_num_buckets", nullptr}});
  const std::string msg = error_of([&] { load_model(dir); }).what();
  EXPECT_NE(msg.find("missing 'relative_attention_num_buckets'"), std::string::npos) << msg;
}

TEST(Seq2Seq, WrongModelKindsAreRefused) {
  std::string msg = error_of([] { load_causal_lm(fixture_dir("t5")); }).what();
  EXPECT_NE(msg.find("T5ForConditionalGeneration"), std::string::npos) << msg;
  msg = error_of([] { load_seq2seq_lm(fixture_dir("gpt2")); }).what();
  EXPECT_NE(msg.find("not an encoder-decoder"), std::string::npos) << msg;
  const auto model = load_seq2seq_lm(fixture_dir("t5"));
  Seq2SeqCache cache = model->make_cache(Tensor::zeros({1, 3, 64}, DType::F32), {}, 2);
  Tensor ids = Tensor::zeros({1, 3}, DType::I64);
  msg = error_of([&] { model->decode(ids, cache); }).what();
  EXPECT_NE(msg.find("capacity"), std::string::npos) << msg;
}

}  // namespace
}  // namespace octet::seq2seq_test
