// Helpers of the quant_model tests: models and data, calibration batches,
// the native-vs-simulated bound of one quantized Linear.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "octet/eval.h"
#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet::testing {

inline std::filesystem::path sst2_model() { return source_root() / "models/sst2-bert-mini"; }
inline std::filesystem::path sst2_train() { return source_root() / "data/sst2/train.tsv"; }
inline std::filesystem::path sst2_dev() { return source_root() / "data/sst2/dev.tsv"; }
inline std::filesystem::path bert_fixture() { return shared_path("fixtures/hf/bert"); }

// Calibration batches of sst2-bert-mini from the first/random `samples` training sentences.
inline std::vector<ModelInputs> sst2_calibration(const Model& model, int64_t samples, uint64_t seed = 0) {
  CalibrationTextOptions o;
  o.samples = samples;
  o.seed = seed;
  const CalibrationTexts texts = read_calibration_texts(sst2_train(), o);
  return make_calibration_batches(model, Tokenizer::load(sst2_model()), texts.texts);
}

// The bert fixture's reference inputs (the fixture has no tokenizer), one row per batch so no pad
// token is observed (rows are cut at their attention mask), then `random_rows` sequences of
// seeded random ids below `vocab` (lengths 4..19).
// Logits of the first `limit` SST-2 dev sentences (batches of 32, padded).
inline Tensor sst2_dev_logits(const Model& model, int64_t limit) {
  static const auto dev = load_tsv_dataset(sst2_dev());
  static const auto tok = Tokenizer::load(sst2_model());
  EvalOptions eo;
  eo.limit = limit;
  eo.progress = false;
  return classification_logits(model, tok, dev, eo);
}

// Two runs' [n, 2] logits: the largest element difference and the predictions (argmax) that differ.
struct LogitComparison {
  double max_abs_diff = 0;
  int64_t changed_predictions = 0;
};
inline LogitComparison compare_binary_logits(const Tensor& a, const Tensor& b) {
  LogitComparison c;
  for (int64_t i = 0; i < a.numel(); ++i)
    c.max_abs_diff = std::max(c.max_abs_diff, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
  for (int64_t r = 0; r < a.dim(0); ++r) {
    const float* x = a.data<float>() + 2 * r;
    const float* y = b.data<float>() + 2 * r;
    c.changed_predictions += (x[1] > x[0]) != (y[1] > y[0]);
  }
  return c;
}

inline std::vector<ModelInputs> fixture_calibration(const std::filesystem::path& fixture, int random_rows = 6,
                                                    int64_t vocab = 512) {
  const SafetensorsFile ref = SafetensorsFile::open(fixture / "reference.safetensors");
  const Tensor ids = ref.get("input_ids").to(DType::F64);
  const Tensor mask = ref.contains("attention_mask") ? ref.get("attention_mask").to(DType::F64) : Tensor();
  std::vector<ModelInputs> batches;
  const int64_t rows = ids.dim(0), cols = ids.dim(1);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t len = 0;
    for (int64_t c = 0; c < cols; ++c)
      if (!mask.defined() || mask.data<double>()[r * cols + c] != 0) len = c + 1;
    ModelInputs in;
    in.input_ids = Tensor::empty({1, len}, DType::I64);
    for (int64_t c = 0; c < len; ++c) in.input_ids.data<int64_t>()[c] = int64_t(ids.data<double>()[r * cols + c]);
    batches.push_back(std::move(in));
  }
  std::mt19937_64 gen(42);
  for (int r = 0; r < random_rows; ++r) {
    const int64_t len = 4 + int64_t(gen() % 16);
    ModelInputs in;
    in.input_ids = Tensor::empty({1, len}, DType::I64);
    for (int64_t c = 0; c < len; ++c) in.input_ids.data<int64_t>()[c] = int64_t(gen() % uint64_t(vocab));
    batches.push_back(std::move(in));
  }
  return batches;
}

// gamma_n = n u / (1 - n u), u = 2^-24: Higham's bound factor for n fp32 roundings.
inline double gamma_n(int64_t n) {
  const double u = std::ldexp(1.0, -24);
  return double(n) * u / (1.0 - double(n) * u);
}

// Bound on |native - simulated| for one output of a quantized Linear, from
// the codes a_k = q_k - zp of its input row, the weight codes w_k, the scales
// s_a, s_w and the bias b. With P = sum_k |a_k w_k| (an integer):
//   simulated = fl(b + sum_k fl(a_k s_a) fl(w_k s_w)) by an fp32 GEMM in any
//     order (FMA or not): the two dequantizations are relative errors <= u
//     each, the sum of K + 1 terms adds <= gamma_{K+1} * sum of |terms|, so
//     |simulated - (E + b)| <= (gamma_{K+1}(1+u)^2 + 2u + u^2) s_a s_w P + gamma_{K+1}|b|,
//     with E = s_a s_w sum_k a_k w_k, the exact value.
//   native = fl(fl(fl(float(acc) s_a) s_w) + b) with acc the exact int32 sum:
//     float(acc) and the two products are <= 3 relative roundings and the
//     bias add one more: |native - (E + b)| <= gamma_3 s_a s_w P (1 + u) + u (s_a s_w P + |b|).
//   Together (gamma_m + gamma_n + gamma_m gamma_n <= gamma_{m+n}):
//     |native - simulated| <= gamma_{K+10} (s_a s_w P + |b|).
inline double native_vs_simulated_bound(int64_t k, double sa_sw_p, double abs_bias) {
  return gamma_n(k + 10) * (sa_sw_p + abs_bias);
}

// The bound of |native - simulated| for every output of `q` on input x, [rows x out] row-major.
using OutputBounds = std::function<std::vector<double>(const QuantizedLinear& q, const Tensor& bias, const Tensor& x)>;

// native_vs_simulated_bound for the int8 kernels (int8 weights, int8 activations static or per token).
inline std::vector<double> int8_output_bounds(const QuantizedLinear& q, const Tensor& bias, const Tensor& x) {
  const QuantizedActivation a = quantize_activation(x, *q.input);
  const int64_t k = q.weight.dim(1), n_out = q.weight.dim(0), rows = a.codes.numel() / k;
  const int32_t zp = q.input->dynamic ? 0 : q.input->zero_point;
  const int8_t* codes = a.codes.data<int8_t>();
  const int8_t* w = q.weight.data<int8_t>();
  std::vector<double> bounds(size_t(rows * n_out));
  for (int64_t r = 0; r < rows; ++r) {
    const double sa = q.input->dynamic ? a.row_scales[size_t(r)] : q.input->scale;
    for (int64_t n = 0; n < n_out; ++n) {
      int64_t p = 0;
      for (int64_t i = 0; i < k; ++i) p += std::abs((int64_t(codes[r * k + i]) - zp) * w[n * k + i]);
      const double b = bias.defined() ? std::fabs(bias.data<float>()[n]) : 0.0;
      bounds[size_t(r * n_out + n)] = native_vs_simulated_bound(k, sa * q.weight_scale.data<float>()[n] * double(p), b);
    }
  }
  return bounds;
}

// Runs the native and the simulated kernel of one Linear on the same input,
// checks every output against its bound (by default native_vs_simulated_bound
// of the int8 kernels), and passes the native result on, so the whole model
// runs natively while every layer is compared on the inputs it really gets.
class CheckingKernel final : public nn::LinearKernel {
 public:
  CheckingKernel(const QuantizedLinear& q, const Tensor& bias, OutputBounds bounds = int8_output_bounds)
      : q_(q), bias_(bias), bounds_(std::move(bounds)),
        native_(make_quantized_linear_kernel(q, bias, QuantExecution::Native)),
        simulated_(make_quantized_linear_kernel(q, bias, QuantExecution::Simulated)) {}

  Tensor forward(const Tensor& x_in) const override {
    const Tensor x = x_in.contiguous();
    const Tensor yn = native_->forward(x), ys = simulated_->forward(x);
    const std::vector<double> bounds = bounds_(q_, bias_, x);
    const int64_t n_out = q_.weight.dim(0), rows = int64_t(bounds.size()) / n_out;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < n_out; ++n) {
        const double bound = bounds[size_t(r * n_out + n)];
        const double diff = std::fabs(double(yn.data<float>()[r * n_out + n]) - ys.data<float>()[r * n_out + n]);
        ++checked;
        if (diff > bound) {
          ++violations;
          ADD_FAILURE() << q_.name << " row " << r << " col " << n << ": |native - simulated| = " << diff
                        << " > bound " << bound;
        }
        worst = std::max(worst, bound > 0 ? diff / bound : 0.0);
      }
    return yn;
  }
  std::string describe() const override { return "checking"; }

  mutable int64_t checked = 0, violations = 0;
  mutable double worst = 0;

 private:
  QuantizedLinear q_;
  Tensor bias_;
  OutputBounds bounds_;
  std::shared_ptr<const nn::LinearKernel> native_, simulated_;
};

struct CheckTotals {
  int64_t checked = 0, violations = 0;
  double worst = 0;  // the largest |native - simulated| / bound
};

// Puts a CheckingKernel on every Linear of `config` in `model`, runs `run` (a forward of the model) and
// sums what the kernels checked.
inline CheckTotals check_every_linear(Model& model, const QuantizationConfig& config, const std::function<void()>& run,
                                      const OutputBounds& bounds = int8_output_bounds) {
  std::map<std::string, nn::Linear*> linears;
  model.visit_linears([&](nn::Linear& l) { linears.emplace(l.name(), &l); });
  std::vector<std::shared_ptr<CheckingKernel>> kernels;
  for (const QuantizedLinear& l : config.linears) {
    kernels.push_back(std::make_shared<CheckingKernel>(l, linears.at(l.name)->bias(), bounds));
    linears.at(l.name)->set_kernel(kernels.back());
  }
  run();
  CheckTotals totals;
  for (const auto& k : kernels) {
    totals.checked += k->checked;
    totals.violations += k->violations;
    totals.worst = std::max(totals.worst, k->worst);
  }
  return totals;
}

// Deterministic random floats.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * float(double(gen() >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  return v;
}

}  // namespace octet::testing
