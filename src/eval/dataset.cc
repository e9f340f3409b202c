// TSV classification datasets, label resolution and scoring.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>

#include "core/parse_int.h"
#include "io/tsv.h"
#include "octet/error.h"
#include "octet/eval.h"

namespace octet {
namespace {

using io::split_tabs;
using io::trim;

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A column given by header name, or by 0-based index written as digits.
size_t find_column(const std::vector<std::string>& header, const std::string& column, const std::string& what,
                   const std::filesystem::path& path) {
  const io::TsvColumn c = io::find_tsv_column(header, column);
  if (c.found) return c.index;
  check(!c.is_index, "eval", "{}: {} column {} is out of range (the header has {} columns)", path.string(), what,
        column, header.size());
  fail("eval", "{}: no {} column '{}' (header: {})", path.string(), what, column, fmt::join(header, ", "));
}

}  // namespace

ClassificationDataset load_tsv_dataset(const std::filesystem::path& path, const TsvColumns& columns) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "eval", "cannot open '{}'", path.string());
  ClassificationDataset data;
  data.source = path;
  std::string line;
  check(static_cast<bool>(std::getline(in, line)), "eval", "{}: empty file (expected a header row)", path.string());
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> header = split_tabs(line);
  for (auto& h : header) h = trim(h);
  const size_t text_col = find_column(header, columns.text, "text", path);
  const size_t label_col = find_column(header, columns.label, "label", path);
  std::optional<size_t> pair_col;
  if (!columns.pair.empty()) pair_col = find_column(header, columns.pair, "pair", path);
  const size_t needed = std::max({text_col, label_col, pair_col.value_or(0)}) + 1;
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const auto fields = split_tabs(line);
    check(fields.size() >= needed, "eval", "{}:{}: {} fields, the columns need {}", path.string(), line_no,
          fields.size(), needed);
    std::string label = trim(fields[label_col]);
    check(!label.empty(), "eval", "{}:{}: empty label", path.string(), line_no);
    data.texts.push_back(trim(fields[text_col]));
    if (pair_col) data.pairs.push_back(trim(fields[*pair_col]));
    data.labels.push_back(std::move(label));
  }
  check(!data.texts.empty(), "eval", "{}: no examples after the header", path.string());
  return data;
}

std::vector<int64_t> resolve_labels(const ClassificationDataset& data, const std::vector<std::string>& labels,
                                    size_t count) {
  check(count <= data.labels.size(), "eval", "{} labels asked for, the dataset has {}", count, data.labels.size());
  std::vector<int64_t> ids(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string& l = data.labels[i];
    const auto named = std::find(labels.begin(), labels.end(), l);
    if (named != labels.end()) {
      ids[i] = named - labels.begin();
    } else {
      check(all_digits(l), "eval", "{}: example {}: label '{}' is neither a class id nor one of the model's labels ({})",
            data.source.string(), i + 1, l, fmt::join(labels, ", "));
      // Digits past uint64's range parse to nullopt: as out of range as any id >= the class count.
      const std::optional<uint64_t> id = parse_decimal<uint64_t>(l);
      check(id && *id < labels.size(), "eval", "{}: example {}: class id {} but the model has {} classes",
            data.source.string(), i + 1, l, labels.size());
      ids[i] = static_cast<int64_t>(*id);
    }
  }
  return ids;
}

ClassificationResult score_classification(const Tensor& logits, const ClassificationDataset& data,
                                          const std::vector<std::string>& labels) {
  check(logits.defined() && logits.rank() == 2 && logits.dtype() == DType::F32, "eval",
        "logits must be f32 [examples, classes], got {}", logits.defined() ? logits.describe() : "nothing");
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  check(classes == int64_t(labels.size()), "eval", "logits have {} classes, the model names {}", classes,
        labels.size());
  ClassificationResult r;
  r.total = n;
  r.logits = logits;
  r.label_ids = resolve_labels(data, labels, size_t(n));
  r.per_class.resize(size_t(classes));
  for (int64_t c = 0; c < classes; ++c) r.per_class[size_t(c)].label = labels[size_t(c)];
  const Tensor l = logits.contiguous();
  const float* row = l.data<float>();
  for (int64_t i = 0; i < n; ++i, row += classes) {
    const int64_t pred = std::max_element(row, row + classes) - row;  // first maximum, as torch.argmax
    const int64_t truth = r.label_ids[size_t(i)];
    r.predictions.push_back(pred);
    r.per_class[size_t(truth)].support += 1;
    r.per_class[size_t(pred)].predicted += 1;
    if (pred == truth) {
      r.per_class[size_t(truth)].correct += 1;
      r.correct += 1;
    }
  }
  r.accuracy = n > 0 ? double(r.correct) / double(n) : 0.0;
  return r;
}

}  // namespace octet
