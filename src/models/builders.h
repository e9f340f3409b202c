// Builder entry points of the architecture families (one per src/models/<family>.cc).
#pragma once

#include <memory>

#include "octet/model.h"

namespace octet {

// Encoders (bert.cc: BERT, RoBERTa, XLM-RoBERTa, ELECTRA; distilbert.cc; albert.cc; deberta_v2.cc).
std::unique_ptr<Model> build_bert(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_roberta(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_electra(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_distilbert(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_albert(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_deberta_v2(const ModelSource& source, const LoadOptions& options);

// Decoder LLMs (src/models/<family>.cc, on src/models/decoder_common.h).
std::unique_ptr<Model> build_llama(const ModelSource& source, const LoadOptions& options);  // also mistral, qwen2
std::unique_ptr<Model> build_gpt2(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_gptj(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_gpt_neox(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_opt(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_falcon(const ModelSource& source, const LoadOptions& options);
std::unique_ptr<Model> build_phi(const ModelSource& source, const LoadOptions& options);

// Encoder-decoders (src/models/<family>.cc, on src/models/seq2seq_common.h; octet/seq2seq.h).
std::unique_ptr<Model> build_t5(const ModelSource& source, const LoadOptions& options);    // T5 v1.0 and v1.1
std::unique_ptr<Model> build_bart(const ModelSource& source, const LoadOptions& options);

// Throws Error when an integer size in `config` (hidden_size, num_hidden_layers, vocab_size, ...)
// is past what octet accepts (2^24; num_labels 2^20), so that no builder loops or allocates
// from a hostile value. The registry runs it before every builder; loaders that make a config
// themselves (GGUF) call it too.
void check_config_sizes(const JsonConfig& config);

}  // namespace octet
