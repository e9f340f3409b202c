// Classification evaluation: tokenize once, sort by length, run padded batches.
#include <algorithm>
#include <chrono>
#include <numeric>

#include "octet/error.h"
#include "octet/eval.h"
#include "octet/progress.h"
#include "octet/thread_pool.h"
#include "octet/tokenizer.h"

namespace octet {
namespace {

int64_t length_limit(const Model& model, std::optional<int64_t> max_length) {
  const int64_t limit = max_length.value_or(model.info().max_positions);
  check(limit > 0, "eval", "the length limit must be > 0 (model max positions {}, asked {})",
        model.info().max_positions, max_length.value_or(0));
  return limit;
}

Encoding encode_one(const Tokenizer& tokenizer, const std::string& text, const std::string* pair, int64_t limit) {
  EncodeOptions options;
  options.max_length = limit;
  options.truncation = Truncation::LongestFirst;
  return pair ? tokenizer.encode_pair(text, *pair, options) : tokenizer.encode(text, options);
}

}  // namespace

int64_t padding_token_id(const Model& model, const Tokenizer& tokenizer) {
  if (tokenizer.special_ids().pad) return *tokenizer.special_ids().pad;
  return model.info().pad_token_id >= 0 ? model.info().pad_token_id : 0;
}

ModelInputs pad_encodings(const std::vector<const Encoding*>& rows, int64_t pad_id) {
  size_t longest = 0;
  for (const Encoding* e : rows) longest = std::max(longest, e->size());
  const Shape shape{int64_t(rows.size()), int64_t(longest)};
  ModelInputs in;
  in.input_ids = Tensor::empty(shape, DType::I64);
  in.attention_mask = Tensor::zeros(shape, DType::I64);
  in.token_type_ids = Tensor::zeros(shape, DType::I64);
  int64_t* ids = in.input_ids.data<int64_t>();
  int64_t* mask = in.attention_mask.data<int64_t>();
  int64_t* types = in.token_type_ids.data<int64_t>();
  std::fill(ids, ids + shape_numel(shape), pad_id);
  for (size_t r = 0; r < rows.size(); ++r) {
    const Encoding& e = *rows[r];
    const size_t base = r * longest;
    for (size_t i = 0; i < e.size(); ++i) {
      ids[base + i] = e.ids[i];
      mask[base + i] = 1;
      types[base + i] = e.type_ids.empty() ? 0 : e.type_ids[i];
    }
  }
  return in;
}

ModelInputs encode_inputs(const Model& model, const Tokenizer& tokenizer, const std::string& text,
                          const std::string& pair, std::optional<int64_t> max_length) {
  const Encoding e = encode_one(tokenizer, text, pair.empty() ? nullptr : &pair, length_limit(model, max_length));
  check(e.size() > 0, "eval", "the text encodes to no tokens");
  return pad_encodings({&e}, padding_token_id(model, tokenizer));
}

Tensor classification_logits(const Model& model, const Tokenizer& tokenizer, const ClassificationDataset& data,
                             const EvalOptions& options) {
  const ModelInfo& info = model.info();
  check(info.head == ModelHead::SequenceClassification, "eval",
        "the model ({}, head {}) has no sequence-classification head", info.architecture, head_name(info.head));
  check(options.batch_size > 0, "eval", "batch size must be > 0, got {}", options.batch_size);
  check(data.pairs.empty() || data.pairs.size() == data.texts.size(), "eval", "{} texts but {} pairs",
        data.texts.size(), data.pairs.size());
  const int64_t n = std::min<int64_t>(int64_t(data.size()), options.limit.value_or(int64_t(data.size())));
  check(n > 0, "eval", "nothing to evaluate ({} examples, limit {})", data.size(), options.limit.value_or(-1));
  const int64_t limit = length_limit(model, options.max_length);

  // The tokenizer is thread-safe; tokenizing is a small share of the time, so it is split across the pool.
  std::vector<Encoding> encodings(static_cast<size_t>(n));
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          encodings[size_t(i)] =
              encode_one(tokenizer, data.texts[size_t(i)], data.pairs.empty() ? nullptr : &data.pairs[size_t(i)], limit);
      },
      16);
  std::vector<size_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return encodings[a].size() < encodings[b].size(); });

  const int64_t classes = info.num_labels, pad = padding_token_id(model, tokenizer);
  Tensor logits = Tensor::empty({n, classes}, DType::F32);
  std::optional<ProgressBar> bar;
  if (options.progress) {
    ProgressOptions progress;
    progress.unit = "ex";
    bar.emplace(n, "evaluating", progress);
  }
  for (int64_t start = 0; start < n; start += options.batch_size) {
    const int64_t end = std::min(n, start + options.batch_size);
    std::vector<const Encoding*> rows;
    for (int64_t i = start; i < end; ++i) rows.push_back(&encodings[order[size_t(i)]]);
    const NamedTensors out = model.forward(pad_encodings(rows, pad));
    const auto it = out.find("logits");
    check(it != out.end() && it->second.shape() == Shape{end - start, classes}, "eval",
          "the model gave no logits of shape [{}, {}]", end - start, classes);
    const Tensor batch_logits = it->second.contiguous();
    for (int64_t r = 0; r < end - start; ++r)
      std::copy_n(batch_logits.data<float>() + r * classes, classes,
                  logits.data<float>() + int64_t(order[size_t(start + r)]) * classes);
    if (bar) bar->advance(end - start);
  }
  if (bar) bar->finish();
  return logits;
}

ClassificationResult evaluate_classification(const Model& model, const Tokenizer& tokenizer,
                                             const ClassificationDataset& data, const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Tensor logits = classification_logits(model, tokenizer, data, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ClassificationResult r = score_classification(logits, data, model.info().labels);
  r.seconds = seconds;
  return r;
}

}  // namespace octet
