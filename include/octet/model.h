// Models: a registry from config.json to architecture builders, and the
// common interface every built model has.
//
// Each architecture family lives in one file under src/models/ with fixed
// hooks (hyper-parameters from config.json, a tensor table of checkpoint
// names and shapes, a forward built from nn/ blocks) and one line in
// src/models/registry.cc. Variants inside a family are flags, not copies.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "octet/json_config.h"
#include "octet/nn.h"
#include "octet/tensor.h"

namespace octet {

class WeightSource;

// What a model computes on top of its trunk.
enum class ModelHead {
  Base,                    // last_hidden_state (+ pooler_output where the family has a pooler)
  SequenceClassification,  // logits [batch, num_labels]
  CausalLM,                // logits [batch, seq, vocab]
  Seq2SeqLM,               // encoder-decoder: logits [batch, dec_seq, vocab] (octet/seq2seq.h)
};

struct ModelInfo {
  std::string model_type;    // config.json "model_type" ("bert", "llama", ...)
  std::string architecture;  // config.json "architectures"[0], or the class the head implies
  ModelHead head = ModelHead::Base;
  bool is_decoder = false;
  bool is_encoder_decoder = false;   // T5, BART: a Seq2SeqLM (octet/seq2seq.h)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t max_positions = 0;
  int64_t num_labels = 0;             // classification heads
  std::vector<std::string> labels;    // id2label, index = class id
  int64_t pad_token_id = -1, bos_token_id = -1, eos_token_id = -1;
};

// Inputs as Hugging Face models take them; all i64 [batch, seq]. Only
// input_ids is required; attention_mask defaults to all ones; token_type_ids
// to zeros; position_ids to the family's default (0..seq-1, or RoBERTa's
// padding-aware positions, or for left-padded decoders cumsum(mask) - 1).
// decoder_input_ids (encoder-decoder models only, i64 [batch, dec_seq]): the
// decoder's tokens, all attended (no decoder mask); default one
// decoder_start_token_id per row. Other models ignore it.
struct ModelInputs {
  Tensor input_ids;
  Tensor attention_mask;
  Tensor token_type_ids;
  Tensor position_ids;
  Tensor decoder_input_ids = {};  // defaulted: callers may omit it in brace initialisation
};

// Named outputs: "logits", "last_hidden_state", "pooler_output".
using NamedTensors = std::map<std::string, Tensor>;

class Model {
 public:
  virtual ~Model() = default;
  const ModelInfo& info() const { return info_; }

  // One full forward pass (no cache).
  virtual NamedTensors forward(const ModelInputs& inputs) const = 0;

  // Every Linear layer in execution order, each named (Linear::name()) by its
  // checkpoint module path ("bert.encoder.layer.0.attention.self.query").
  // This is what quantization acts on.
  virtual void visit_linears(const std::function<void(nn::Linear& linear)>& fn) = 0;

  // Activation sites besides the Linear inputs (attention q/k/v/probs,
  // residual adds, norm inputs), for the quantization placements beyond Linear.
  virtual void visit_sites(const std::function<void(nn::ActivationSite& site)>& fn) = 0;

  // The Linears grouped by the activation they read, in execution order, each
  // group with the op producing that activation when it can absorb
  // per-channel factors (SmoothQuant / AWQ folding). The default: every Linear
  // alone, nothing foldable.
  virtual void visit_linear_groups(const std::function<void(nn::LinearInputGroup& group)>& fn);

  // Every self-attention block (for KV-cache quantization); the default has none.
  virtual void visit_attention(const std::function<void(nn::MultiHeadAttention& attention)>& fn) { (void)fn; }

  // Every parameter tensor by checkpoint name (for inspect and export).
  virtual std::vector<std::pair<std::string, Tensor>> parameters() const = 0;

 protected:
  ModelInfo info_;
};

// Where a builder reads weights from: a safetensors checkpoint or a GGUF file.
// get()/require() return f32 tensors (converted from f16/bf16 or dequantized).
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::string describe() const = 0;  // the file errors name
  virtual bool contains(const std::string& name) const = 0;
  virtual std::vector<std::string> names() const = 0;
  // The tensor as f32, checked against `shape`; errors name the file, the
  // tensor and (for a missing one) that the config needs it.
  virtual Tensor require(const std::string& name, const Shape& shape) const = 0;
  // As require(), for optional tensors (biases): undefined when absent.
  Tensor optional(const std::string& name, const Shape& shape) const;
  // Whether the Linear weight `name` ("<linear>.weight") stays only in the
  // quantized kernel that will be installed on it (no f32 value is made):
  // builders that read it through WeightReader::linear then build an
  // nn::Linear::kernel_resident and leave it out of parameters().
  virtual bool kernel_resident(const std::string& name) const {
    (void)name;
    return false;
  }
};

struct ModelSource {
  std::filesystem::path path;  // folder or file the user named
  JsonConfig config;
  std::shared_ptr<const WeightSource> weights;
};

struct LoadOptions {
  // Override the head config.json implies (e.g. load a classifier as a base model).
  std::optional<ModelHead> head;
  // Quantized folders run natively: keep the dequantized f32 weight on every
  // Linear even where a native weight-only kernel holds the packed codes
  // (inspect, tools that read or rewrite weights). Default: those Linears
  // hold no f32 copy (nn::Linear::kernel_resident).
  bool float_weights = false;
};
// Every weight as f32, for tools that read, rewrite or upload weights (a
// quantized folder's dequantized weights, a GGUF's blocks dequantized).
inline const LoadOptions kLoadFloatWeights{.head = std::nullopt, .float_weights = true};

// The head a Hugging Face class name implies: "*ForSequenceClassification" ->
// SequenceClassification, "*ForCausalLM" / "*LMHeadModel" -> CausalLM,
// "*ForConditionalGeneration" -> Seq2SeqLM, else Base.
ModelHead head_from_architecture(std::string_view architecture);
std::string_view head_name(ModelHead head);

// Reads the fields of ModelInfo that every family spells the same way
// (model_type, architectures[0], num_labels / id2label, pad/bos/eos ids).
ModelInfo read_common_info(const JsonConfig& config);

// Weights of a Hugging Face folder (single or sharded safetensors); f16/bf16
// tensors are converted to f32 on require().
std::shared_ptr<const WeightSource> open_safetensors_weights(const std::filesystem::path& folder);

// Loads a Hugging Face folder (config.json + *.safetensors) or a GGUF file.
// Unknown architectures throw Error("models") listing the supported ones.
std::unique_ptr<Model> load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// One row of the registry.
struct ArchitectureEntry {
  std::string model_type;                  // config.json "model_type"
  std::vector<std::string> architectures;  // "BertModel", "BertForSequenceClassification", ...
  std::function<std::unique_ptr<Model>(const ModelSource&, const LoadOptions&)> build;
};
const std::vector<ArchitectureEntry>& architecture_registry();

}  // namespace octet
