// Benchmark inputs (random ids, tokenized datasets), latency statistics, accuracy.
#include <algorithm>
#include <numeric>
#include <random>

#include "core/error_tags.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/tokenizer.h"

namespace octet {
namespace {

int64_t padding_id(const Model& model, const Tokenizer& tokenizer) {
  if (tokenizer.special_ids().pad) return *tokenizer.special_ids().pad;
  return model.info().pad_token_id >= 0 ? model.info().pad_token_id : 0;
}

}  // namespace

ModelInputs random_bench_inputs(const ModelInfo& info, int64_t batch, int64_t seq, uint64_t seed) {
  check(batch > 0 && seq > 0, kBenchTag, "batch ({}) and sequence length ({}) must be > 0", batch, seq);
  check(info.vocab_size > 0, kBenchTag, "the model reports no vocabulary size");
  check(info.max_positions <= 0 || seq <= info.max_positions, kBenchTag,
        "sequence length {} exceeds the model's {} positions", seq, info.max_positions);
  const int64_t low = info.vocab_size > 2000 ? 1000 : std::min<int64_t>(3, info.vocab_size - 1);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> id(low, info.vocab_size - 1);
  ModelInputs in;
  in.input_ids = Tensor::empty({batch, seq}, DType::I64);
  for (auto& v : in.input_ids.span<int64_t>()) v = id(rng);
  in.attention_mask = Tensor::empty({batch, seq}, DType::I64);
  for (auto& v : in.attention_mask.span<int64_t>()) v = 1;
  in.token_type_ids = Tensor::zeros({batch, seq}, DType::I64);
  return in;
}

TokenizedBatches tokenize_batches(const Model& model, const Tokenizer& tokenizer, const ClassificationDataset& data,
                                  int64_t batch_size, std::optional<int64_t> limit) {
  check(batch_size > 0, kBenchTag, "batch size must be > 0, got {}", batch_size);
  const int64_t n = std::min<int64_t>(int64_t(data.size()), limit.value_or(int64_t(data.size())));
  check(n > 0, kBenchTag, "{}: nothing to evaluate ({} examples, limit {})", data.source.string(), data.size(),
        limit.value_or(-1));
  TokenizedBatches out;
  // Unlabelled texts (calibration) get -1.
  out.labels = data.labels.empty() ? std::vector<int64_t>(size_t(n), -1)
                                   : resolve_labels(data, model.info().labels, size_t(n));
  std::vector<ModelInputs> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    rows[size_t(i)] = encode_inputs(model, tokenizer, data.texts[size_t(i)],
                                    data.pairs.empty() ? std::string() : data.pairs[size_t(i)]);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return rows[size_t(a)].input_ids.dim(1) < rows[size_t(b)].input_ids.dim(1);
  });
  const int64_t pad = padding_id(model, tokenizer);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min(n, start + batch_size);
    int64_t longest = 0;
    for (int64_t i = start; i < end; ++i) longest = std::max(longest, rows[size_t(order[size_t(i)])].input_ids.dim(1));
    const Shape shape{end - start, longest};
    ModelInputs b;
    b.input_ids = Tensor::empty(shape, DType::I64);
    b.attention_mask = Tensor::zeros(shape, DType::I64);
    b.token_type_ids = Tensor::zeros(shape, DType::I64);
    std::fill_n(b.input_ids.data<int64_t>(), shape_numel(shape), pad);
    std::vector<int64_t> index;
    for (int64_t i = start; i < end; ++i) {
      const ModelInputs& r = rows[size_t(order[size_t(i)])];
      const int64_t len = r.input_ids.dim(1), base = (i - start) * longest;
      std::copy_n(r.input_ids.data<int64_t>(), len, b.input_ids.data<int64_t>() + base);
      std::copy_n(r.attention_mask.data<int64_t>(), len, b.attention_mask.data<int64_t>() + base);
      std::copy_n(r.token_type_ids.data<int64_t>(), len, b.token_type_ids.data<int64_t>() + base);
      index.push_back(order[size_t(i)]);
    }
    out.batches.push_back(std::move(b));
    out.rows.push_back(std::move(index));
  }
  return out;
}

std::vector<int64_t> batch_predictions(const TokenizedBatches& data, const std::vector<Tensor>& logits) {
  check(logits.size() == data.batches.size(), kBenchTag, "{} logits tensors for {} batches", logits.size(),
        data.batches.size());
  std::vector<int64_t> pred(size_t(data.size()), -1);
  for (size_t b = 0; b < logits.size(); ++b) {
    const Tensor l = logits[b].contiguous();
    const auto& rows = data.rows[b];
    check(l.dtype() == DType::F32 && l.rank() == 2 && l.dim(0) == int64_t(rows.size()) && l.dim(1) > 0, kBenchTag,
          "batch {}: logits {} for {} rows", b, l, rows.size());
    const int64_t classes = l.dim(1);
    for (size_t r = 0; r < rows.size(); ++r) {
      const float* row = l.data<float>() + int64_t(r) * classes;
      pred[size_t(rows[r])] = std::max_element(row, row + classes) - row;
    }
  }
  return pred;
}

double accuracy(const std::vector<int64_t>& predictions, const std::vector<int64_t>& labels) {
  check(predictions.size() == labels.size() && !labels.empty(), kBenchTag, "{} predictions for {} labels",
        predictions.size(), labels.size());
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return double(correct) / double(labels.size());
}

LatencyStats latency_stats(std::vector<double> ms) {
  check(!ms.empty(), kBenchTag, "no timings");
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    const double x = p * double(ms.size() - 1);
    const size_t lo = size_t(x), hi = std::min(lo + 1, ms.size() - 1);
    return ms[lo] + (ms[hi] - ms[lo]) * (x - double(lo));
  };
  LatencyStats s;
  s.samples = int64_t(ms.size());
  s.p50_ms = pct(0.5);
  s.p90_ms = pct(0.9);
  s.p99_ms = pct(0.99);
  s.mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
  s.min_ms = ms.front();
  s.max_ms = ms.back();
  return s;
}

}  // namespace octet
