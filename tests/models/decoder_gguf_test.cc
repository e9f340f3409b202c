// GGUF llama models: stories260K (a real llama2.c model converted by
// llama.cpp) generates its known story greedily from BOS; broken files fail
// with clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "octet/generate.h"
#include "octet/gguf.h"
#include "support/shared_data.h"

namespace octet {
namespace {

std::filesystem::path stories() { return testing::source_root() / "models" / "stories260K.gguf"; }

// SentencePiece pieces joined, "▁" as a space, <0xNN> byte pieces as bytes.
std::string pieces_to_text(const GgufFile& f, const std::vector<int64_t>& ids) {
  const auto pieces = f.get_string_array("tokenizer.ggml.tokens");
  std::string text;
  for (int64_t id : ids) {
    std::string p = pieces.at(size_t(id));
    if (p.size() == 6 && p.starts_with("<0x")) {
      text += char(std::stoi(p.substr(3, 2), nullptr, 16));
      continue;
    }
    for (size_t i = 0; i < p.size(); ++i) {
      if (p.compare(i, 3, "\xE2\x96\x81") == 0) {
        text += ' ';
        i += 2;
      } else {
        text += p[i];
      }
    }
  }
  return text;
}

TEST(GgufModel, Stories260KGreedyFromBos) {
  const auto model = load_causal_lm(stories());
  EXPECT_EQ(model->info().model_type, "llama");
  EXPECT_EQ(model->info().num_kv_heads, 4);
  EXPECT_EQ(model->info().bos_token_id, 1);
  use_decode_kernels(*model);
  GenerationOptions opt;
  opt.max_new_tokens = 40;
  const GenerationResult r = generate(*model, {{model->info().bos_token_id}}, opt);
  const std::string text = pieces_to_text(GgufFile::open(stories()), r.new_tokens[0]);
  const std::string expected = " Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
  EXPECT_EQ(text.substr(0, expected.size()), expected) << text;
}

}  // namespace
}  // namespace octet
