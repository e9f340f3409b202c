// Helpers of the quant_model tests: models and data, calibration batches,
// the native-vs-simulated bound of one quantized Linear.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

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

// Runs the native and the simulated kernel of one Linear on the same input,
// checks every output against the bound of quant_model_test_util.h
// (native_vs_simulated_bound), and passes the native result on, so the whole
// model runs natively while every layer is compared on the inputs it really gets.
class CheckingKernel final : public nn::LinearKernel {
 public:
  CheckingKernel(const QuantizedLinear& q, const Tensor& bias)
      : q_(q), bias_(bias), native_(make_quantized_linear_kernel(q, bias, QuantExecution::Native)),
        simulated_(make_quantized_linear_kernel(q, bias, QuantExecution::Simulated)) {}

  Tensor forward(const Tensor& x) const override {
    const Tensor yn = native_->forward(x), ys = simulated_->forward(x);
    const QuantizedActivation a = quantize_activation(x, *q_.input);
    const int64_t k = q_.weight.dim(1), n_out = q_.weight.dim(0), rows = a.codes.numel() / k;
    const int32_t zp = q_.input->dynamic ? 0 : q_.input->zero_point;
    const int8_t* codes = a.codes.data<int8_t>();
    const int8_t* w = q_.weight.data<int8_t>();
    for (int64_t r = 0; r < rows; ++r) {
      const double sa = q_.input->dynamic ? a.row_scales[size_t(r)] : q_.input->scale;
      for (int64_t n = 0; n < n_out; ++n) {
        int64_t p = 0;
        for (int64_t i = 0; i < k; ++i) p += std::abs((int64_t(codes[r * k + i]) - zp) * w[n * k + i]);
        const double b = bias_.defined() ? std::fabs(bias_.data<float>()[n]) : 0.0;
        const double bound =
            native_vs_simulated_bound(k, sa * q_.weight_scale.data<float>()[n] * double(p), b);
        const double diff = std::fabs(double(yn.data<float>()[r * n_out + n]) - ys.data<float>()[r * n_out + n]);
        ++checked;
        if (diff > bound) {
          ++violations;
          ADD_FAILURE() << q_.name << " row " << r << " col " << n << ": |native - simulated| = " << diff
                        << " > bound " << bound;
        }
        worst = std::max(worst, bound > 0 ? diff / bound : 0.0);
      }
    }
    return yn;
  }
  std::string describe() const override { return "checking"; }

  mutable int64_t checked = 0, violations = 0;
  mutable double worst = 0;

 private:
  QuantizedLinear q_;
  Tensor bias_;
  std::shared_ptr<const nn::LinearKernel> native_, simulated_;
};

// Deterministic random floats.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * float(double(gen() >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  return v;
}

}  // namespace octet::testing
