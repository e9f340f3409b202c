// Last-word accuracy (see eval.h): lines -> examples -> token ids ->
// length-sorted, left-padded teacher-forced passes -> greedy check.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/progress.h"
#include "octet/tokenizer.h"

namespace octet {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
bool is_ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_number(std::string_view word) {
  return !word.empty() && std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<LastWordExample> example_of_line(std::string_view line, int64_t number) {
  line = trim(line);
  const size_t space = line.find_last_of(" \t");
  if (space == std::string_view::npos) return std::nullopt;  // one word: nothing to predict it from
  std::string_view word = line.substr(space + 1);
  if (is_number(word)) return std::nullopt;  // a heading: "Genesis 11"
  while (!word.empty() && is_ascii_punct(word.back())) word.remove_suffix(1);
  if (word.empty()) return std::nullopt;
  return LastWordExample{std::string(trim(line.substr(0, space))), std::string(word), number};
}

// The ids without the special tokens the template appends (an EOS would end
// the context's ids and break the prefix relation).
std::vector<int64_t> encode_without_trailing_specials(const Tokenizer& tokenizer, const std::string& text) {
  Encoding e = tokenizer.encode(text);
  size_t n = e.ids.size();
  while (n > 0 && e.special_tokens_mask[n - 1] != 0) --n;
  // Keep a sequence that is nothing but specials (a lone BOS) as it is.
  if (n == 0) n = e.ids.size();
  e.ids.resize(n);
  return std::move(e.ids);
}

struct Prepared {
  size_t example;              // index into the examples
  std::vector<int64_t> ids;    // the full ids, left-truncated to the model's positions
  size_t first_continuation;   // ids[first_continuation..] are the continuation
};

int64_t argmax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;  // strict: the lowest id wins ties
  return best;
}

// Scores one batch of left-padded sequences; returns whether each is correct.
void score_batch(const Model& model, std::span<const Prepared* const> batch, std::vector<LastWordOutcome>& outcomes) {
  size_t longest = 0;
  for (const Prepared* p : batch) longest = std::max(longest, p->ids.size());
  const auto rows = int64_t(batch.size()), len = int64_t(longest);
  Tensor ids = Tensor::zeros({rows, len}, DType::I64), mask = Tensor::zeros({rows, len}, DType::I64);
  for (int64_t b = 0; b < rows; ++b) {
    const std::vector<int64_t>& seq = batch[size_t(b)]->ids;
    const int64_t pad = len - int64_t(seq.size());
    std::copy(seq.begin(), seq.end(), ids.data<int64_t>() + b * len + pad);
    std::fill_n(mask.data<int64_t>() + b * len + pad, seq.size(), int64_t{1});
  }
  // Position ids default to cumsum(mask) - 1: each row computes what it would alone.
  const NamedTensors out = model.forward({ids, mask, {}, {}});
  const auto it = out.find("logits");
  check(it != out.end() && it->second.rank() == 3 && it->second.dim(1) == len, kEvalTag,
        "the model gives no [batch, seq, vocab] logits (is it a causal LM?)");
  const Tensor logits = it->second.contiguous();
  const int64_t vocab = logits.dim(2);
  for (int64_t b = 0; b < rows; ++b) {
    const Prepared& p = *batch[size_t(b)];
    const int64_t pad = len - int64_t(p.ids.size());
    bool correct = true;
    for (size_t t = p.first_continuation; t < p.ids.size() && correct; ++t) {
      // The token at t is predicted at position t - 1.
      const float* row = logits.data<float>() + (b * len + pad + int64_t(t) - 1) * vocab;
      correct = argmax(row, vocab) == p.ids[t];
    }
    outcomes[p.example] = correct ? LastWordOutcome::Correct : LastWordOutcome::Wrong;
  }
}

}  // namespace

std::vector<LastWordExample> parse_last_word_examples(std::string_view text) {
  std::vector<LastWordExample> out;
  int64_t number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (auto e = example_of_line(line, ++number)) out.push_back(std::move(*e));
  }
  return out;
}

std::vector<LastWordExample> load_last_word_examples(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), kEvalTag, "cannot read '{}'", path.string());
  std::stringstream text;
  text << in.rdbuf();
  std::vector<LastWordExample> examples = parse_last_word_examples(text.str());
  check(!examples.empty(), kEvalTag,
        "{}: no usable line (each example is a line of at least two words whose last word is not a number)",
        path.string());
  return examples;
}

LastWordResult evaluate_last_word(const Model& model, const Tokenizer& tokenizer,
                                  std::span<const LastWordExample> examples, const LastWordOptions& options) {
  check(options.batch_size > 0, kEvalTag, "batch size must be > 0, got {}", options.batch_size);
  if (options.limit) {
    check(*options.limit >= 0, kEvalTag, "limit must be >= 0, got {}", *options.limit);
    examples = examples.first(std::min(examples.size(), size_t(*options.limit)));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t max_positions = model.info().max_positions;
  LastWordResult r;
  r.outcomes.assign(examples.size(), LastWordOutcome::Skipped);
  std::vector<Prepared> prepared;
  for (size_t i = 0; i < examples.size(); ++i) {
    const LastWordExample& e = examples[i];
    const std::vector<int64_t> context = encode_without_trailing_specials(tokenizer, e.context);
    std::vector<int64_t> full = encode_without_trailing_specials(tokenizer, e.context + " " + e.word);
    const bool prefix = !context.empty() && context.size() < full.size() &&
                        std::equal(context.begin(), context.end(), full.begin());
    const size_t continuation = full.size() - context.size();
    if (!prefix || (max_positions > 0 && continuation >= size_t(max_positions))) continue;
    size_t first = context.size();
    if (max_positions > 0 && full.size() > size_t(max_positions)) {
      const size_t drop = full.size() - size_t(max_positions);
      full.erase(full.begin(), full.begin() + std::ptrdiff_t(drop));
      first -= drop;
    }
    prepared.push_back({i, std::move(full), first});
  }
  r.skipped = int64_t(examples.size() - prepared.size());

  // Neighbours of similar length share a pass with little padding.
  std::vector<const Prepared*> order;
  for (const Prepared& p : prepared) order.push_back(&p);
  std::stable_sort(order.begin(), order.end(),
                   [](const Prepared* a, const Prepared* b) { return a->ids.size() < b->ids.size(); });
  ProgressOptions po;
  if (!options.progress) po.is_tty = false;
  po.unit = "ex";
  ProgressBar bar(int64_t(order.size()), "last-word", po);
  const auto batch = size_t(options.batch_size);
  for (size_t begin = 0; begin < order.size(); begin += batch) {
    const size_t n = std::min(batch, order.size() - begin);
    score_batch(model, std::span<const Prepared* const>(order.data() + begin, n), r.outcomes);
    bar.advance(int64_t(n));
  }
  bar.finish();
  r.examples = int64_t(prepared.size());
  r.correct = std::count(r.outcomes.begin(), r.outcomes.end(), LastWordOutcome::Correct);
  r.accuracy = r.examples > 0 ? double(r.correct) / double(r.examples) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace octet
