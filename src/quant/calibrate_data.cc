// Calibration data: texts from a TSV file, tokenized into unpadded batches.
#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "core/error_tags.h"
#include "io/tsv.h"
#include "octet/error.h"
#include "octet/log.h"
#include "octet/quantize_model.h"
#include "octet/tokenizer.h"

namespace octet {
namespace {

using io::split_tabs;
using io::trim;

size_t column_index(const std::vector<std::string>& header, const std::string& column, const std::string& file) {
  const io::TsvColumn c = io::find_tsv_column(header, column);
  if (c.found) return c.index;
  check(!c.is_index, kCalibrateTag, "{}: column index {} is past the {} columns of the header", file, column,
        header.size());
  std::vector<std::string> names;
  for (const auto& h : header) names.push_back(trim(h));
  fail(kCalibrateTag, "{}: no column '{}' in the header (columns: {})", file, column, fmt::join(names, ", "));
}

}  // namespace

CalibrationTexts read_calibration_texts(const std::filesystem::path& tsv, const CalibrationTextOptions& options) {
  const std::string file = tsv.string();
  check(options.samples > 0, kCalibrateTag, "the number of calibration samples must be > 0, got {}", options.samples);
  check(std::filesystem::exists(tsv), kCalibrateTag, "calibration file '{}' does not exist", file);
  check(!std::filesystem::is_directory(tsv), kCalibrateTag, "calibration file '{}' is a folder", file);
  std::ifstream in(tsv);
  check(bool(in), kCalibrateTag, "cannot read calibration file '{}'", file);
  std::string line;
  check(bool(std::getline(in, line)), kCalibrateTag,
        "calibration file '{}' is empty (expected a header row and text rows)", file);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const size_t col = column_index(split_tabs(line), options.column, file);

  CalibrationTexts out;
  out.source = tsv;
  std::vector<std::string> all;
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const auto fields = split_tabs(line);
    check(col < fields.size(), kCalibrateTag, "{}:{}: the row has {} fields, column {} is missing", file, line_no,
          fields.size(), col);
    std::string text = trim(fields[col]);
    if (!text.empty()) all.push_back(std::move(text));
  }
  out.rows = int64_t(all.size());
  check(out.rows > 0, kCalibrateTag, "calibration file '{}' has no text rows in column '{}'", file, options.column);

  if (out.rows <= options.samples) {
    if (out.rows < options.samples) {
      out.warning = fmt::format("calibration file '{}' has {} rows, fewer than the {} samples asked; calibrating on all {}",
                                file, out.rows, options.samples, out.rows);
      log_warn("{}", *out.warning);
    }
    out.texts = std::move(all);
    return out;
  }
  if (options.sampling == CalibrationSampling::First) {
    all.resize(size_t(options.samples));
    out.texts = std::move(all);
    return out;
  }
  // Partial Fisher-Yates over indices with mt19937_64 (the same sequence on
  // every platform; the modulo bias is < n / 2^64), then file order.
  std::mt19937_64 rng(options.seed);
  std::vector<size_t> idx(all.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  for (size_t i = 0; i < size_t(options.samples); ++i) std::swap(idx[i], idx[i + rng() % (idx.size() - i)]);
  idx.resize(size_t(options.samples));
  std::sort(idx.begin(), idx.end());
  for (const size_t i : idx) out.texts.push_back(std::move(all[i]));
  return out;
}

std::vector<ModelInputs> make_calibration_batches(const Model& model, const Tokenizer& tokenizer,
                                                  const std::vector<std::string>& texts, int64_t batch_size,
                                                  std::optional<int64_t> max_length) {
  check(batch_size > 0, kCalibrateTag, "batch size must be > 0, got {}", batch_size);
  check(!texts.empty(), kCalibrateTag, "no calibration texts");
  EncodeOptions eo;
  eo.max_length = max_length.value_or(model.info().max_positions);
  eo.truncation = Truncation::LongestFirst;
  // Sequences grouped by length (map keeps lengths ascending, texts in order).
  std::map<size_t, std::vector<Encoding>> by_length;
  for (const std::string& t : texts) {
    Encoding e = tokenizer.encode(t, eo);
    if (e.size() > 0) by_length[e.size()].push_back(std::move(e));
  }
  check(!by_length.empty(), kCalibrateTag, "no calibration text encodes to any token");
  std::vector<ModelInputs> batches;
  for (const auto& [length, group] : by_length) {
    for (size_t start = 0; start < group.size(); start += size_t(batch_size)) {
      const size_t end = std::min(group.size(), start + size_t(batch_size));
      const Shape shape{int64_t(end - start), int64_t(length)};
      ModelInputs in;
      in.input_ids = Tensor::empty(shape, DType::I64);
      in.attention_mask = Tensor::empty(shape, DType::I64);
      in.token_type_ids = Tensor::empty(shape, DType::I64);
      int64_t* ids = in.input_ids.data<int64_t>();
      int64_t* mask = in.attention_mask.data<int64_t>();
      int64_t* types = in.token_type_ids.data<int64_t>();
      for (size_t r = start; r < end; ++r)
        for (size_t i = 0; i < length; ++i) {
          const size_t at = (r - start) * length + i;
          ids[at] = group[r].ids[i];
          mask[at] = 1;
          types[at] = group[r].type_ids.empty() ? 0 : group[r].type_ids[i];
        }
      batches.push_back(std::move(in));
    }
  }
  return batches;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative matcher with one backtrack point for the last '*' (linear in practice).
  size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace octet
