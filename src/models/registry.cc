// The architecture registry: one line per family. Each builder lives in its
// own file (src/models/<family>.cc) and is declared in src/models/builders.h.
#include "models/builders.h"
#include "octet/error.h"

namespace octet {
namespace {

// Every integer size a builder reads from config.json (src/models/*.cc), bounded before any
// builder runs: products of two sizes stay far from int64 overflow, and nothing is sized from
// a hostile value (a fuzzed "head_dim": 2^40 used to reach a 2^39-float allocation, and
// "num_labels": 2^40 a loop making 2^40 label names). 2^24 is 100x the largest real model's
// sizes (vocabularies of 256k, hidden 16k, contexts of 1M tokens).
constexpr int64_t kMaxConfigSize = int64_t{1} << 24;
constexpr int64_t kMaxLabels = int64_t{1} << 20;

}  // namespace

void check_config_sizes(const JsonConfig& c) {
  static const char* const kSizeKeys[] = {
      "attention_head_size", "conv_kernel_size", "d_ff", "d_kv", "d_model", "decoder_attention_heads",
      "decoder_ffn_dim", "decoder_layers", "dim", "embedding_size", "encoder_attention_heads", "encoder_ffn_dim",
      "encoder_layers", "ffn_dim", "ffn_hidden_size", "head_dim", "hidden_dim", "hidden_size", "inner_group_num",
      "intermediate_size", "max_position_embeddings", "max_relative_positions", "n_embd", "n_head", "n_heads",
      "n_inner", "n_layer", "n_layers", "n_positions", "num_attention_heads", "num_decoder_layers", "num_heads",
      "num_hidden_groups", "num_hidden_layers", "num_key_value_heads", "num_kv_heads", "num_ln_in_parallel_attn",
      "pooler_hidden_size", "position_buckets", "relative_attention_max_distance", "relative_attention_num_buckets",
      "rotary_dim", "sliding_window", "type_vocab_size", "vocab_size", "word_embed_proj_dim", "num_labels"};
  for (const char* key : kSizeKeys) {
    if (!c.has(key) || !c.json().at(key).is_number_integer()) continue;  // absent, or the builder's type error
    const int64_t limit = std::string_view(key) == "num_labels" ? kMaxLabels : kMaxConfigSize;
    const auto& j = c.json().at(key);
    const bool too_large = j.is_number_unsigned() ? j.get<uint64_t>() > uint64_t(limit) : j.get<int64_t>() > limit;
    check(!too_large, "config", "{}: '{}' = {} is larger than octet accepts ({})", c.source(), key, j.dump(), limit);
  }
}

namespace {

using Builder = decltype(ArchitectureEntry::build);

// The builder, after check_config_sizes.
Builder checked(Builder build) {
  return [build = std::move(build)](const ModelSource& source, const LoadOptions& options) {
    check_config_sizes(source.config);
    return build(source, options);
  };
}

}  // namespace

const std::vector<ArchitectureEntry>& architecture_registry() {
  static const std::vector<ArchitectureEntry> registry = {
      // {model_type, {HF class names}, builder},
      {"bert", {"BertModel", "BertForSequenceClassification"}, checked(build_bert)},
      {"roberta", {"RobertaModel", "RobertaForSequenceClassification"}, checked(build_roberta)},
      {"xlm-roberta", {"XLMRobertaModel", "XLMRobertaForSequenceClassification"}, checked(build_roberta)},
      {"electra", {"ElectraModel", "ElectraForSequenceClassification"}, checked(build_electra)},
      {"distilbert", {"DistilBertModel", "DistilBertForSequenceClassification"}, checked(build_distilbert)},
      {"albert", {"AlbertModel", "AlbertForSequenceClassification"}, checked(build_albert)},
      {"deberta-v2", {"DebertaV2Model", "DebertaV2ForSequenceClassification"}, checked(build_deberta_v2)},
      {"llama", {"LlamaForCausalLM", "LlamaModel"}, checked(build_llama)},
      {"mistral", {"MistralForCausalLM", "MistralModel"}, checked(build_llama)},
      {"qwen2", {"Qwen2ForCausalLM", "Qwen2Model"}, checked(build_llama)},
      {"gpt2", {"GPT2LMHeadModel", "GPT2Model"}, checked(build_gpt2)},
      {"gptj", {"GPTJForCausalLM", "GPTJModel"}, checked(build_gptj)},
      {"gpt_neox", {"GPTNeoXForCausalLM", "GPTNeoXModel"}, checked(build_gpt_neox)},
      {"opt", {"OPTForCausalLM", "OPTModel"}, checked(build_opt)},
      {"falcon", {"FalconForCausalLM", "FalconModel"}, checked(build_falcon)},
      {"phi", {"PhiForCausalLM", "PhiModel"}, checked(build_phi)},
      {"t5", {"T5ForConditionalGeneration"}, checked(build_t5)},
      {"bart", {"BartForConditionalGeneration"}, checked(build_bart)},
  };
  return registry;
}

}  // namespace octet
