// kjv-llama for the LLM quantization tests: the model, calibration windows
// from kjv.train.txt and an evaluation slice of kjv.valid.txt, kept small
// enough for CI (a test quantizes on 8 windows of 256 tokens and scores 2048
// held-out tokens with a 256-token context, as the tables do at full size).
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "octet/generate.h"
#include "octet/llm_quantize.h"
#include "octet/perplexity.h"
#include "octet/quantized_model.h"
#include "support/shared_data.h"

namespace octet::testing {

inline std::filesystem::path kjv_path() { return shared_path("models/kjv-llama"); }

inline std::string read_prefix(const std::filesystem::path& file, size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::string text(bytes, '\0');
  in.read(text.data(), std::streamsize(bytes));
  text.resize(size_t(in.gcount()));
  return text;
}

struct KjvData {
  std::vector<std::vector<int64_t>> calibration;        // 8 windows of 256 tokens
  std::vector<std::vector<int64_t>> calibration_large;  // 32 windows of 256 tokens (the int4 ordering test)
  std::vector<int64_t> eval;                            // the first 2048 tokens of kjv.valid.txt
  std::vector<int64_t> eval_large;                      // the first 8192 tokens of kjv.valid.txt
};

// Tokenized once per test binary.
inline const KjvData& kjv_data() {
  static const KjvData data = [] {
    const Tokenizer tok = load_model_tokenizer(kjv_path());
    KjvData d;
    const std::vector<int64_t> train = tok.encode(read_prefix(kjv_path() / "kjv.train.txt", 200000)).ids;
    d.calibration = make_calibration_windows(train, 512, {.samples = 8, .seq_len = 256, .seed = 0}).windows;
    d.calibration_large = make_calibration_windows(train, 512, {.samples = 32, .seq_len = 256, .seed = 0}).windows;
    d.eval_large = tok.encode(read_prefix(kjv_path() / "kjv.valid.txt", 60000)).ids;
    d.eval_large.resize(std::min<size_t>(d.eval_large.size(), 8192));
    d.eval.assign(d.eval_large.begin(), d.eval_large.begin() + 2048);
    return d;
  }();
  return data;
}

inline std::unique_ptr<CausalLM> load_kjv() { return load_causal_lm(kjv_path()); }

inline PerplexityOptions eval_options() {
  PerplexityOptions o;
  o.context = 256;
  o.progress = false;
  return o;
}

// Quantizes a fresh kjv-llama with `recipe` on the calibration windows; the
// model comes back transformed (f32) with the quantization applied in `exec`.
struct QuantizedKjv {
  std::unique_ptr<CausalLM> model;
  QuantizationConfig config;
  QuantizeReport report;
};
inline QuantizedKjv quantize_kjv(const LlmRecipe& recipe, QuantExecution exec = QuantExecution::Simulated,
                                 const std::vector<std::vector<int64_t>>* calibration = nullptr) {
  QuantizedKjv q;
  q.model = load_kjv();
  LlmQuantizeOptions o;
  o.recipe = recipe;
  o.progress = false;
  q.config = quantize_llm(*q.model, calibration ? *calibration : kjv_data().calibration, o, &q.report);
  apply_quantization(*q.model, q.config, exec);
  return q;
}

// Perplexity of the quantized model and its KL / top-1 agreement against fp32 on the eval slice.
inline ModelComparison versus_fp32(const Model& quantized, bool large = false) {
  static const std::unique_ptr<CausalLM> fp32 = load_kjv();
  return compare_models(*fp32, quantized, large ? kjv_data().eval_large : kjv_data().eval, eval_options());
}

}  // namespace octet::testing
