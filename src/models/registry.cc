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
  };
  return registry;
}

}  // namespace octet
