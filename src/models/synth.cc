// Random-weight BERT / LLaMA checkpoints in Hugging Face layout (see synth.h).
#include "octet/synth.h"

#include <cmath>
#include <string>
#include <vector>
#include <numbers>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/atomic_folder.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "octet/safetensors.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

struct BertSize {
  int64_t hidden, layers, heads, inter, vocab, positions;
};
struct LlamaSize {
  int64_t hidden, layers, heads, kv_heads, inter, vocab, positions;
};

SynthPlan bert_plan(const BertSize& s) {
  SynthPlan p;
  nlohmann::json c = {
      {"architectures", {"BertForSequenceClassification"}},
      {"model_type", "bert"},
      {"attention_probs_dropout_prob", 0.1},
      {"classifier_dropout", nullptr},
      {"hidden_act", "gelu"},
      {"hidden_dropout_prob", 0.1},
      {"hidden_size", s.hidden},
      {"initializer_range", 0.02},
      {"intermediate_size", s.inter},
      {"layer_norm_eps", 1e-12},
      {"max_position_embeddings", s.positions},
      {"num_attention_heads", s.heads},
      {"num_hidden_layers", s.layers},
      {"pad_token_id", 0},
      {"position_embedding_type", "absolute"},
      {"type_vocab_size", 2},
      {"vocab_size", s.vocab},
      {"id2label", {{"0", "LABEL_0"}, {"1", "LABEL_1"}}},
      {"label2id", {{"LABEL_0", 0}, {"LABEL_1", 1}}},
      {"torch_dtype", "float32"},
  };
  p.config_json = c.dump(2) + "\n";
  auto add = [&](std::string name, Shape shape, SynthInit init = SynthInit::Normal) {
    p.tensors.push_back({std::move(name), std::move(shape), init});
  };
  auto linear = [&](const std::string& path, int64_t out, int64_t in) {
    add(path + ".weight", {out, in});
    add(path + ".bias", {out}, SynthInit::Zeros);
  };
  auto norm = [&](const std::string& path) {
    add(path + ".weight", {s.hidden}, SynthInit::Ones);
    add(path + ".bias", {s.hidden}, SynthInit::Zeros);
  };
  add("bert.embeddings.word_embeddings.weight", {s.vocab, s.hidden});
  add("bert.embeddings.position_embeddings.weight", {s.positions, s.hidden});
  add("bert.embeddings.token_type_embeddings.weight", {2, s.hidden});
  norm("bert.embeddings.LayerNorm");
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string pre = fmt::format("bert.encoder.layer.{}.", i);
    linear(pre + "attention.self.query", s.hidden, s.hidden);
    linear(pre + "attention.self.key", s.hidden, s.hidden);
    linear(pre + "attention.self.value", s.hidden, s.hidden);
    linear(pre + "attention.output.dense", s.hidden, s.hidden);
    norm(pre + "attention.output.LayerNorm");
    linear(pre + "intermediate.dense", s.inter, s.hidden);
    linear(pre + "output.dense", s.hidden, s.inter);
    norm(pre + "output.LayerNorm");
  }
  linear("bert.pooler.dense", s.hidden, s.hidden);
  linear("classifier", 2, s.hidden);
  return p;
}

SynthPlan llama_plan(const LlamaSize& s) {
  SynthPlan p;
  nlohmann::json c = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"hidden_act", "silu"},
      {"hidden_size", s.hidden},
      {"initializer_range", 0.02},
      {"intermediate_size", s.inter},
      {"max_position_embeddings", s.positions},
      {"num_attention_heads", s.heads},
      {"num_hidden_layers", s.layers},
      {"num_key_value_heads", s.kv_heads},
      {"pretraining_tp", 1},
      {"rms_norm_eps", 1e-5},
      {"rope_scaling", nullptr},
      {"rope_theta", 10000.0},
      {"tie_word_embeddings", false},
      {"torch_dtype", "float32"},
      {"vocab_size", s.vocab},
  };
  p.config_json = c.dump(2) + "\n";
  const int64_t d = s.hidden / s.heads;
  auto add = [&](std::string name, Shape shape, SynthInit init = SynthInit::Normal) {
    p.tensors.push_back({std::move(name), std::move(shape), init});
  };
  add("model.embed_tokens.weight", {s.vocab, s.hidden});
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string pre = fmt::format("model.layers.{}.", i);
    add(pre + "input_layernorm.weight", {s.hidden}, SynthInit::Ones);
    add(pre + "self_attn.q_proj.weight", {s.heads * d, s.hidden});
    add(pre + "self_attn.k_proj.weight", {s.kv_heads * d, s.hidden});
    add(pre + "self_attn.v_proj.weight", {s.kv_heads * d, s.hidden});
    add(pre + "self_attn.o_proj.weight", {s.hidden, s.heads * d});
    add(pre + "post_attention_layernorm.weight", {s.hidden}, SynthInit::Ones);
    add(pre + "mlp.gate_proj.weight", {s.inter, s.hidden});
    add(pre + "mlp.up_proj.weight", {s.inter, s.hidden});
    add(pre + "mlp.down_proj.weight", {s.hidden, s.inter});
  }
  add("model.norm.weight", {s.hidden}, SynthInit::Ones);
  add("lm_head.weight", {s.vocab, s.hidden});
  p.llama_vocab = s.vocab;
  return p;
}

// The pieces of SynthPlan::llama_vocab: letter strings of length 1, 2, 3, ...
// in order, each bare and with the word-start marker, until `count` are made.
std::vector<std::string> letter_pieces(int64_t count) {
  std::vector<std::string> out{"\xe2\x96\x81"};  // the word start alone: a space before a non-letter
  std::vector<std::string> level{""};
  while (int64_t(out.size()) < count) {
    std::vector<std::string> next;
    for (const auto& prefix : level)
      for (char c = 'a'; c <= 'z'; ++c) next.push_back(prefix + c);
    for (const std::string marker : {"", "\xe2\x96\x81"})  // U+2581, SentencePiece's word start
      for (const auto& piece : next) {
        if (int64_t(out.size()) == count) return out;
        out.push_back(marker + piece);
      }
    level = std::move(next);
  }
  return out;
}

void write_llama_tokenizer(const std::filesystem::path& file, int64_t vocab) {
  constexpr int64_t kFixed = 3 + 256;
  check(vocab >= kFixed, "synth", "a llama vocabulary needs at least {} pieces, got {}", kFixed, vocab);
  // SentencePiece piece types as llama.cpp stores them: 1 normal, 2 unknown, 3 control, 6 byte.
  GgufArray tokens{GgufType::String, {}}, scores{GgufType::F32, {}}, types{GgufType::I32, {}};
  auto add = [&](std::string piece, float score, int32_t type) {
    tokens.items.emplace_back(std::move(piece));
    scores.items.emplace_back(score);
    types.items.emplace_back(type);
  };
  add("<unk>", 0.0f, 2);
  add("<s>", 0.0f, 3);
  add("</s>", 0.0f, 3);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0.0f, 6);
  const std::vector<std::string> pieces = letter_pieces(vocab - kFixed);
  for (size_t i = 0; i < pieces.size(); ++i) add(pieces[i], -float(i), 1);  // shorter pieces score higher
  std::vector<std::pair<std::string, GgufValue>> meta;
  meta.emplace_back("tokenizer.ggml.model", GgufValue(std::string("llama")));
  meta.emplace_back("tokenizer.ggml.tokens", GgufValue(std::move(tokens)));
  meta.emplace_back("tokenizer.ggml.scores", GgufValue(std::move(scores)));
  meta.emplace_back("tokenizer.ggml.token_type", GgufValue(std::move(types)));
  meta.emplace_back("tokenizer.ggml.unknown_token_id", GgufValue(uint32_t{0}));
  meta.emplace_back("tokenizer.ggml.bos_token_id", GgufValue(uint32_t{1}));
  meta.emplace_back("tokenizer.ggml.eos_token_id", GgufValue(uint32_t{2}));
  meta.emplace_back("tokenizer.ggml.add_bos_token", GgufValue(true));
  meta.emplace_back("tokenizer.ggml.add_eos_token", GgufValue(false));
  meta.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue(true));
  write_gguf(file, meta, {});
}

// splitmix64: a fast, well-mixed generator seeded per (seed, tensor, block).
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
};

// N(0, std^2) by Box-Muller, in blocks of 64 Ki values with their own streams.
void fill_normal(float* out, int64_t n, double stddev, uint64_t stream) {
  constexpr int64_t kBlock = int64_t{1} << 16;
  parallel_for((n + kBlock - 1) / kBlock, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      SplitMix rng{stream * 0x100000001B3ull + uint64_t(b) * 0x9E3779B97F4A7C15ull};
      const int64_t end = std::min(n, (b + 1) * kBlock);
      for (int64_t i = b * kBlock; i < end; i += 2) {
        const double r = stddev * std::sqrt(-2.0 * std::log(rng.uniform()));
        const double t = 2.0 * std::numbers::pi * rng.uniform();
        out[i] = float(r * std::cos(t));
        if (i + 1 < end) out[i + 1] = float(r * std::sin(t));
      }
    }
  });
}

}  // namespace

int64_t SynthPlan::parameters() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += shape_numel(t.shape);
  return n;
}

SynthPlan synth_plan(const SynthOptions& o) {
  if (o.arch == "bert") {
    if (o.size == "base") return bert_plan({768, 12, 12, 3072, 30522, 512});
    if (o.size == "large") return bert_plan({1024, 24, 16, 4096, 30522, 512});
    if (o.size == "tiny") return bert_plan({64, 2, 4, 128, 512, 128});
    fail("synth", "unknown bert size '{}' (base, large, tiny)", o.size);
  }
  if (o.arch == "llama") {
    if (o.size == "1b") return llama_plan({2048, 22, 32, 4, 5632, 32000, 2048});
    if (o.size == "tiny") return llama_plan({64, 2, 4, 2, 128, 512, 256});
    fail("synth", "unknown llama size '{}' (1b, tiny)", o.size);
  }
  fail("synth", "unknown architecture '{}' (bert, llama)", o.arch);
}

SynthResult synthesize(const SynthOptions& options, const std::filesystem::path& dir, bool overwrite) {
  const SynthPlan plan = synth_plan(options);
  // The whole folder is written under a temporary name and renamed into place: a killed or
  // failed run (a full disk) leaves no half-written model, and a replaced folder keeps no
  // file of the old model (a llama tokenizer.gguf beside a new bert config).
  io::AtomicFolderWriter writer(dir, overwrite, "synth");
  const std::filesystem::path& temp = writer.path();
  std::vector<std::pair<std::string, Tensor>> tensors;
  uint64_t stream = options.seed * 0x2545F4914F6CDD1Dull;
  for (const SynthTensor& t : plan.tensors) {
    ++stream;
    Tensor x = Tensor::empty(t.shape, DType::F32);
    switch (t.init) {
      case SynthInit::Normal: fill_normal(x.data<float>(), x.numel(), 0.02, stream); break;
      case SynthInit::Zeros: std::fill_n(x.data<float>(), x.numel(), 0.0f); break;
      case SynthInit::Ones: std::fill_n(x.data<float>(), x.numel(), 1.0f); break;
    }
    tensors.emplace_back(t.name, std::move(x));
  }
  save_safetensors(temp / "model.safetensors", tensors, {{"format", "pt"}});
  tensors.clear();
  io::write_small_file(temp / "config.json", plan.config_json, "synth");
  if (plan.llama_vocab > 0) write_llama_tokenizer(temp / "tokenizer.gguf", plan.llama_vocab);
  const uint64_t bytes = std::filesystem::file_size(temp / "model.safetensors");
  writer.commit();
  return {dir, plan.parameters(), bytes};
}

}  // namespace octet
