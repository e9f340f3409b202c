// Task evaluation on top of models and tokenizers: text classification over
// a TSV file (GLUE style), last-word prediction of a causal LM over a text
// file (LAMBADA style), sentence embeddings by pooling.
//
//   auto model = octet::load_model("models/sst2-bert-mini");
//   auto tok = octet::Tokenizer::load("models/sst2-bert-mini");
//   auto data = octet::load_tsv_dataset("data/sst2/dev.tsv");
//   octet::ClassificationResult r = octet::evaluate_classification(*model, tok, data);
//   fmt::print("{:.2f}%\n", 100 * r.accuracy);
//
// Sentences are tokenized once, sorted by length and run in padded batches
// (padding costs little when neighbours have similar lengths); results come
// back in dataset order. Errors are octet::Error tagged "eval".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "octet/model.h"
#include "octet/tensor.h"

namespace octet {

class Tokenizer;  // octet/tokenizer.h
struct Encoding;

// Columns of a TSV file with a header row: a header name, or a 0-based index
// written as digits ("0"). An empty pair column means single sentences.
struct TsvColumns {
  std::string text = "sentence";
  std::string pair;
  std::string label = "label";
};

struct ClassificationDataset {
  std::filesystem::path source;
  std::vector<std::string> texts;
  std::vector<std::string> pairs;   // empty, or one per text
  std::vector<std::string> labels;  // as written: a class id ("1") or a label name ("positive")
  size_t size() const { return texts.size(); }
};

// Reads `path` (tab-separated, first row the header, "\r\n" accepted). Text
// fields are trimmed of surrounding whitespace. A missing column, a short row
// or an empty label is an Error naming the file and line.
ClassificationDataset load_tsv_dataset(const std::filesystem::path& path, const TsvColumns& columns = {});

struct EvalOptions {
  int64_t batch_size = 32;
  std::optional<int64_t> limit;       // evaluate the first N examples only
  std::optional<int64_t> max_length;  // tokens incl. specials; default: the model's max positions
  bool progress = true;               // a ProgressBar on stderr (drawn only on a terminal)
};

// Tokenizes (truncating pairs longest-first to the length limit) and runs the
// model in length-sorted padded batches. Returns logits [n, num_labels] in
// dataset order (n = size, or the limit). The model must have a classification head.
Tensor classification_logits(const Model& model, const Tokenizer& tokenizer, const ClassificationDataset& data,
                             const EvalOptions& options = {});

struct ClassCounts {
  std::string label;
  int64_t support = 0;    // examples whose true class this is
  int64_t correct = 0;    // of those, predicted right
  int64_t predicted = 0;  // examples predicted as this class
};

struct ClassificationResult {
  int64_t total = 0;
  int64_t correct = 0;
  double accuracy = 0;  // correct / total
  std::vector<ClassCounts> per_class;  // index = class id
  std::vector<int64_t> predictions;    // argmax per example (the first on ties)
  std::vector<int64_t> label_ids;      // the true class ids
  Tensor logits;                       // [total, num_labels]
  double seconds = 0;                  // wall time of tokenizing + forward passes
};

// Class ids of the dataset's labels: digits are ids, anything else is looked
// up in `labels` (id2label). An unknown label or an id out of range is an Error.
std::vector<int64_t> resolve_labels(const ClassificationDataset& data, const std::vector<std::string>& labels,
                                    size_t count);

// Accuracy and per-class counts of `logits` against the dataset's labels.
ClassificationResult score_classification(const Tensor& logits, const ClassificationDataset& data,
                                          const std::vector<std::string>& labels);

// classification_logits + score_classification.
ClassificationResult evaluate_classification(const Model& model, const Tokenizer& tokenizer,
                                             const ClassificationDataset& data, const EvalOptions& options = {});

// ---- last-word accuracy (LAMBADA style) -------------------------------------------

// One line of text split before its last word.
struct LastWordExample {
  std::string context;  // the line up to its last word, without the separating space
  std::string word;     // the last word, trailing punctuation removed ("speech." -> "speech")
  int64_t line = 0;     // 1-based line number in the source
};

// One example per usable line: trimmed of surrounding whitespace, at least two
// words (split at spaces), the last one not a number (headings such as
// "Genesis 11" are skipped) and not only punctuation. Empty lines are skipped.
std::vector<LastWordExample> parse_last_word_examples(std::string_view text);
// parse_last_word_examples of a file; an unreadable file or one without a
// usable line is an Error naming it.
std::vector<LastWordExample> load_last_word_examples(const std::filesystem::path& path);

struct LastWordOptions {
  int64_t batch_size = 32;        // examples per forward pass (left-padded, sorted by length)
  std::optional<int64_t> limit;   // evaluate the first N examples only
  bool progress = true;           // a ProgressBar on stderr (drawn only on a terminal)
};

enum class LastWordOutcome : int8_t { Wrong, Correct, Skipped };

struct LastWordResult {
  int64_t examples = 0;  // scored examples (skipped ones excluded)
  int64_t correct = 0;
  double accuracy = 0;   // correct / examples
  int64_t skipped = 0;   // the context's ids are not a prefix of the full text's (or add nothing)
  std::vector<LastWordOutcome> outcomes;  // per example evaluated, in order
  double seconds = 0;    // wall time of tokenizing + forward passes
};

// Greedy last-word accuracy of a causal LM. Each example tokenizes `context`
// and `context + " " + word` (with the tokenizer's special tokens; trailing
// added ones such as an EOS are dropped from both); the continuation is the
// full ids beyond the context's. It is correct when greedy decoding would
// produce every continuation token: in one teacher-forced pass over the full
// ids, the argmax (lowest id on ties) at each position before a continuation
// token is that token. Longer sequences than the model's positions lose
// context tokens from the left. `model` must give logits [batch, seq, vocab].
LastWordResult evaluate_last_word(const Model& model, const Tokenizer& tokenizer,
                                  std::span<const LastWordExample> examples, const LastWordOptions& options = {});

// ---- one input ---------------------------------------------------------------

// The model inputs of one text (or pair), truncated longest-first to
// `max_length` tokens (default: the model's max positions): [1, n] tensors.
ModelInputs encode_inputs(const Model& model, const Tokenizer& tokenizer, const std::string& text,
                          const std::string& pair = "", std::optional<int64_t> max_length = std::nullopt);

// ---- batches of encodings ------------------------------------------------------------

// The id padding uses: the tokenizer's pad token, else the model's pad_token_id, else 0.
int64_t padding_token_id(const Model& model, const Tokenizer& tokenizer);
// Right-padded [rows, longest] input_ids / attention_mask / token_type_ids of
// the encodings `rows` point to (padding has mask 0).
ModelInputs pad_encodings(const std::vector<const Encoding*>& rows, int64_t pad_id);

// ---- sentence embeddings ---------------------------------------------------------

enum class Pooling {
  Mean,  // mean of last_hidden_state over positions with attention_mask != 0
  Cls,   // last_hidden_state at the first position
};
Pooling parse_pooling(std::string_view name);  // "mean" | "cls"

// last_hidden_state [batch, seq, hidden], attention_mask i64 [batch, seq]
// (undefined: all ones) -> [batch, hidden]. A row with no tokens pools to zeros.
Tensor pool_embeddings(const Tensor& last_hidden_state, const Tensor& attention_mask, Pooling pooling);

// Row-wise softmax of logits [batch, classes] (probabilities for `octet run`).
Tensor softmax_rows(const Tensor& logits);

}  // namespace octet
