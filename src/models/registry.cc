// The architecture registry: one line per family. Each builder lives in its
// own file (src/models/<family>.cc) and is declared in src/models/builders.h.
#include "models/builders.h"

namespace octet {

const std::vector<ArchitectureEntry>& architecture_registry() {
  static const std::vector<ArchitectureEntry> registry = {
      // {model_type, {HF class names}, builder},
      {"bert", {"BertModel", "BertForSequenceClassification"}, build_bert},
      {"roberta", {"RobertaModel", "RobertaForSequenceClassification"}, build_roberta},
      {"xlm-roberta", {"XLMRobertaModel", "XLMRobertaForSequenceClassification"}, build_roberta},
      {"electra", {"ElectraModel", "ElectraForSequenceClassification"}, build_electra},
      {"distilbert", {"DistilBertModel", "DistilBertForSequenceClassification"}, build_distilbert},
      {"albert", {"AlbertModel", "AlbertForSequenceClassification"}, build_albert},
      {"deberta-v2", {"DebertaV2Model", "DebertaV2ForSequenceClassification"}, build_deberta_v2},
      {"llama", {"LlamaForCausalLM", "LlamaModel"}, build_llama},
      {"mistral", {"MistralForCausalLM", "MistralModel"}, build_llama},
      {"qwen2", {"Qwen2ForCausalLM", "Qwen2Model"}, build_llama},
      {"gpt2", {"GPT2LMHeadModel", "GPT2Model"}, build_gpt2},
      {"gptj", {"GPTJForCausalLM", "GPTJModel"}, build_gptj},
      {"gpt_neox", {"GPTNeoXForCausalLM", "GPTNeoXModel"}, build_gpt_neox},
      {"opt", {"OPTForCausalLM", "OPTModel"}, build_opt},
      {"falcon", {"FalconForCausalLM", "FalconModel"}, build_falcon},
      {"phi", {"PhiForCausalLM", "PhiModel"}, build_phi},
      {"t5", {"T5ForConditionalGeneration"}, build_t5},
      {"bart", {"BartForConditionalGeneration"}, build_bart},
  };
  return registry;
}

}  // namespace octet
