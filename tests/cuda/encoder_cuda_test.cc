// CudaEncoder (octet/cuda_encoder.h) against octet's CPU forward, and the
// `--device` option of run / eval / bench.
//
// Runs everywhere: bad --device names, and the one-line error of a CUDA
// device that cannot be used (no GPU / no CUDA build / index out of range).
// Needs a GPU (skipped visibly without one): fp16 / int8 / fp8 against the
// CPU on a synthetic BERT and the HF fixtures, graph replays, SST-2 accuracy.
//
// Tolerances (u16 = 2^-11, the unit roundoff of f16; u8 = 2^-4 of e4m3's 3
// mantissa bits). The GPU keeps activations in f16 between ops and multiplies
// f16 weights with f32 accumulation; the CPU reference is f32 throughout, so
// its own error is negligible here. Each stored activation carries a relative
// error <= u16 (RMS u16 / sqrt 3). A dot product over K terms whose operands
// carry independent relative errors e_k has the error sum_k w_k x_k e_k, of
// RMS about u16 * sqrt(K) * |w x|_typical (errors of random sign add in
// quadrature; the worst case u16 * K is far too pessimistic to be useful),
// while the product itself is about sqrt(K) * |w x|_typical: relative to
// the output, the error stays of order u16, whatever K. One layer stores f16
// seven times (q/k/v, attention output, two GEMM outputs, two layer norms)
// and rounds each GEMM's weights: in quadrature ~3 u16; softmax and layer
// norm of sums with cancellation amplify errors by a small factor, taken as
// <= 3 here. Layer norm rescales rows, so the relative error of the hidden
// state adds up over the L layers (a residual layer passes it on with gain
// about 1):
//   rms(gpu - cpu) / rms(cpu) <= 8 * u16 * L                    (fp16)
//   max |gpu - cpu| <= 8 * that * max(1, max |cpu|)              (a few outliers)
// int8: both sides use the same int8 weight codes and the same activation
// scales (static) or the same rule (per token); they differ by the f16 input
// error, which flips a code only when a value sits within u16 |x| of a
// rounding boundary; a flip moves x^ by one step s = amax / 127. Flips are
// rare (their rate is about 127 u16 |x| / amax < 7%) and add at most one step
// per flipped input, so the bound is the fp16 one plus 1/127 per layer.
// fp8: the weights and activations are rounded to 3-bit mantissas (relative
// error <= u8 / 2 each, uniform, RMS u8 / (2 sqrt 3)); per GEMM the output's
// relative RMS error is about sqrt(2) * u8 / (2 sqrt 3) = 0.026, four GEMMs
// per layer in quadrature: 0.05 per layer, times L.
// Logits: logits = Wc tanh(Wp h0 + bp) + bc, tanh is 1-Lipschitz, so
// |d logits|_2 <= |Wc|_F |Wp|_F |d h0|_2 (Frobenius norms bound the spectral
// ones), with |d h0| the measured first-token error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "cuda/cuda_test_util.h"
#include "octet/bench.h"
#include "octet/cuda_encoder.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "octet/synth.h"
#include "octet/tokenizer.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet {
namespace {

constexpr double kU16 = 1.0 / 2048;  // 2^-11
constexpr double kU8 = 1.0 / 16;     // 2^-4

// The fp16 relative RMS bound of the derivation above, for L layers.
double fp16_bound(int64_t layers) { return 8 * kU16 * double(layers); }

// ---- everywhere: the CLI's device errors ---------------------------------------------

std::string sst2_model() { return testing::shared_path("models/sst2-bert-mini").string(); }
std::string sst2_dev() { return (testing::source_root() / "data/sst2/dev.tsv").string(); }

// Exactly one line on stderr, naming the tag.
void expect_one_line_error(const testing::CommandResult& r, const std::string& tag) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << r.errors;
  EXPECT_NE(r.errors.find("[" + tag + "]"), std::string::npos) << r.errors;
}

TEST(CudaDeviceCli, UnknownDeviceIsRejected) {
  const auto dir = testing::temp_dir();
  const std::string m = sst2_model();
  for (const std::string& args :
       {"run " + m + " --text hi --device foo", "eval " + m + " --data " + sst2_dev() + " --device gpu",
        "bench " + m + " --device cuda:x --peers none"}) {
    SCOPED_TRACE(args);
    const testing::CommandResult r = testing::run_octet(args, dir);
    expect_one_line_error(r, "device");
    EXPECT_NE(r.errors.find("expected cpu, cuda or cuda:N"), std::string::npos) << r.errors;
  }
}

TEST(CudaDeviceCli, UnusableCudaDeviceIsOneLineError) {
  // An index past the visible devices fails the same way on every machine;
  // without a GPU (or a CUDA build) plain `cuda` does too.
  const CudaStatus status = cuda_status();
  const auto dir = testing::temp_dir();
  const std::string m = sst2_model();
  std::vector<std::string> devices{fmt::format("cuda:{}", status.device_count)};
  if (!status.gpu_visible) devices.push_back("cuda");
  for (const std::string& device : devices)
    for (const std::string& args : {"run " + m + " --text hi --device " + device,
                                    "eval " + m + " --data " + sst2_dev() + " --device " + device,
                                    "bench " + m + " --device " + device + " --peers none --iters 1"}) {
      SCOPED_TRACE(args);
      const testing::CommandResult r = testing::run_octet(args, dir);
      expect_one_line_error(r, "cuda");
      if (!status.built) {
        EXPECT_NE(r.errors.find("without CUDA"), std::string::npos) << r.errors;
      } else if (!status.gpu_visible) {
        EXPECT_NE(r.errors.find("no CUDA GPU is visible"), std::string::npos) << r.errors;
      } else {
        EXPECT_NE(r.errors.find("CUDA device(s) are visible"), std::string::npos) << r.errors;
      }
    }
}

TEST(CudaDeviceCli, ProfileNeedsCuda) {
  const auto dir = testing::temp_dir();
  expect_one_line_error(testing::run_octet("bench " + sst2_model() + " --peers none --iters 1 --profile", dir),
                        "bench");
}

TEST(CudaDeviceCli, PrecisionNeedsCudaAndAKnownName) {
  const auto dir = testing::temp_dir();
  expect_one_line_error(testing::run_octet("run " + sst2_model() + " --text hi --precision fp16", dir), "device");
  expect_one_line_error(testing::run_octet("run " + sst2_model() + " --text hi --device cpu --precision int4", dir),
                        "device");
}

// Without a GPU any device is refused; with one, an index past the last GPU
// is (so the test runs, never skips, on both kinds of machine).
TEST(CudaEncoderApi, UnusableDeviceThrowsCudaError) {
  const auto model = load_model(sst2_model());
  try {
    CudaEncoder::create(*model, nullptr, {.device = cuda::gpu_available() ? 99 : 0});
    ADD_FAILURE() << "created a CUDA encoder without a usable GPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "cuda");
  }
}

// ---- GPU: numerics against the CPU -------------------------------------------------------

struct Diff {
  double rel_rms = 0, max_abs = 0, ref_max = 0;
};

// Compares [B, S, H] hidden states at positions whose mask is 1.
Diff compare_hidden(const Tensor& gpu, const Tensor& cpu, const Tensor& mask) {
  EXPECT_EQ(gpu.shape(), cpu.shape());
  const int64_t b = cpu.dim(0), s = cpu.dim(1), h = cpu.dim(2);
  const auto g = gpu.contiguous().span<float>();
  const auto c = cpu.contiguous().span<float>();
  double err2 = 0, ref2 = 0;
  Diff d;
  for (int64_t i = 0; i < b * s; ++i) {
    if (mask.defined() && mask.contiguous().data<int64_t>()[i] == 0) continue;
    for (int64_t j = 0; j < h; ++j) {
      const double e = double(g[size_t(i * h + j)]) - c[size_t(i * h + j)];
      err2 += e * e;
      ref2 += double(c[size_t(i * h + j)]) * c[size_t(i * h + j)];
      d.max_abs = std::max(d.max_abs, std::fabs(e));
      d.ref_max = std::max(d.ref_max, std::fabs(double(c[size_t(i * h + j)])));
    }
  }
  d.rel_rms = std::sqrt(err2 / std::max(ref2, 1e-30));
  return d;
}

double frobenius(const Model& model, const std::string& suffix) {
  for (const auto& [name, t] : model.parameters())
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      double sum = 0;
      for (const float v : t.contiguous().span<float>()) sum += double(v) * v;
      return std::sqrt(sum);
    }
  ADD_FAILURE() << "no parameter ending in " << suffix;
  return 0;
}

// Logits within the Lipschitz bound of the first-token hidden error (see the top).
void expect_logits_close(const Tensor& gpu_logits, const Tensor& cpu_logits, const Tensor& gpu_hidden,
                         const Tensor& cpu_hidden, double lipschitz) {
  const int64_t b = cpu_logits.dim(0), c = cpu_logits.dim(1), s = cpu_hidden.dim(1), h = cpu_hidden.dim(2);
  for (int64_t i = 0; i < b; ++i) {
    double dh2 = 0, dl2 = 0;
    for (int64_t j = 0; j < h; ++j) {
      const double e = double(gpu_hidden.data<float>()[i * s * h + j]) - cpu_hidden.data<float>()[i * s * h + j];
      dh2 += e * e;
    }
    for (int64_t j = 0; j < c; ++j) {
      const double e = double(gpu_logits.data<float>()[i * c + j]) - cpu_logits.data<float>()[i * c + j];
      dl2 += e * e;
    }
    // 1e-5: the f32 arithmetic of the two heads themselves.
    EXPECT_LE(std::sqrt(dl2), lipschitz * std::sqrt(dh2) + 1e-5) << "row " << i;
  }
}

// Random ids with right padding in the second half of the rows (mask 0, pad id 0).
ModelInputs padded_inputs(int64_t vocab, int64_t batch, int64_t seq, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ModelInputs in;
  in.input_ids = Tensor::zeros({batch, seq}, DType::I64);
  in.attention_mask = Tensor::zeros({batch, seq}, DType::I64);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t length = b < batch / 2 ? seq : std::max<int64_t>(1, seq - 1 - int64_t(rng() % uint64_t(seq)));
    for (int64_t s = 0; s < length; ++s) {
      in.input_ids.data<int64_t>()[b * seq + s] = 1 + int64_t(rng() % uint64_t(vocab - 1));
      in.attention_mask.data<int64_t>()[b * seq + s] = 1;
    }
  }
  return in;
}

class SynthBert : public ::testing::Test {
 protected:
  void SetUp() override {
    OCTET_REQUIRE_GPU();
    dir_ = testing::temp_dir() / "bert-tiny";
    synthesize({.arch = "bert", .size = "tiny", .seed = 7}, dir_);
    model_ = load_model(dir_);
    inputs_ = padded_inputs(model_->info().vocab_size, 4, 33, 11);
  }
  double fp16_rel_bound() const { return fp16_bound(layers()); }
  int64_t layers() const { return model_->info().num_layers; }
  double lipschitz() const { return frobenius(*model_, "classifier.weight") * frobenius(*model_, "pooler.dense.weight"); }

  std::filesystem::path dir_;
  std::unique_ptr<Model> model_;
  ModelInputs inputs_;
};

TEST_F(SynthBert, Fp16MatchesCpuFp32) {
  const NamedTensors cpu = model_->forward(inputs_);
  const auto gpu_encoder = CudaEncoder::create(*model_, nullptr, {.precision = "fp16", .graphs = false});
  const NamedTensors gpu = gpu_encoder->forward(inputs_);
  const Diff d = compare_hidden(gpu.at("last_hidden_state"), cpu.at("last_hidden_state"), inputs_.attention_mask);
  const double bound = fp16_rel_bound();
  EXPECT_LE(d.rel_rms, bound);
  EXPECT_LE(d.max_abs, 8 * bound * std::max(1.0, d.ref_max));
  EXPECT_GT(d.rel_rms, 0.0) << "suspicious: f16 storage should differ from f32 somewhere";
  expect_logits_close(gpu.at("logits"), cpu.at("logits"), gpu.at("last_hidden_state"), cpu.at("last_hidden_state"),
                      lipschitz());
}

TEST_F(SynthBert, GraphReplaysMatchEagerAndSeeNewInputs) {
  const auto eager = CudaEncoder::create(*model_, nullptr, {.precision = "fp16", .graphs = false});
  const auto graphed = CudaEncoder::create(*model_, nullptr, {.precision = "fp16", .graphs = true});
  const ModelInputs other = padded_inputs(model_->info().vocab_size, 4, 33, 99);  // same shape, new ids
  // Pass 1 eager, pass 2 captures and launches, passes 3-4 replay.
  for (const ModelInputs* in : std::vector<const ModelInputs*>{&inputs_, &inputs_, &other, &inputs_}) {
    const Tensor want = eager->forward(*in).at("last_hidden_state");
    const Tensor got = graphed->forward(*in).at("last_hidden_state");
    const Diff d = compare_hidden(got, want, {});
    // Same kernels; the two encoders' buffers may differ in alignment and so in
    // cuBLASLt plan, hence the fp16 bound rather than 0. Stale inputs (a graph
    // reading old ids) would differ by O(1).
    EXPECT_LE(d.max_abs, fp16_rel_bound() * std::max(1.0, d.ref_max));
  }
  EXPECT_TRUE(graphed->notes().empty()) << graphed->notes().front();
}

TEST_F(SynthBert, Int8MatchesCpuSimulatedInt8) {
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8");
  qo.progress = false;
  std::vector<ModelInputs> calibration;
  for (uint64_t i = 0; i < 4; ++i) {
    ModelInputs b = padded_inputs(model_->info().vocab_size, 8, 33, 100 + i);
    b.attention_mask = Tensor();  // calibration rows without padding
    calibration.push_back(b);
  }
  const QuantizationConfig q = quantize_model(*model_, calibration, qo);
  const auto gpu_encoder = CudaEncoder::create(*model_, &q, {.precision = "int8", .graphs = false});
  for (const std::string& note : gpu_encoder->notes()) ADD_FAILURE() << "int8 recipe not run as int8: " << note;
  apply_quantization(*model_, q, QuantExecution::Simulated);
  const NamedTensors cpu = model_->forward(inputs_);
  const NamedTensors gpu = gpu_encoder->forward(inputs_);
  const Diff d = compare_hidden(gpu.at("last_hidden_state"), cpu.at("last_hidden_state"), inputs_.attention_mask);
  const double bound = fp16_rel_bound() + double(layers()) / 127;
  EXPECT_LE(d.rel_rms, bound);
  EXPECT_LE(d.max_abs, 8 * bound * std::max(1.0, d.ref_max));
}

TEST_F(SynthBert, Int8PerTokenMatchesCpuSimulated) {
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8-dynamic");
  qo.progress = false;
  const QuantizationConfig q = quantize_model(*model_, {}, qo);
  const auto gpu_encoder = CudaEncoder::create(*model_, &q, {.precision = "int8", .graphs = true});
  for (const std::string& note : gpu_encoder->notes()) ADD_FAILURE() << "int8 recipe not run as int8: " << note;
  apply_quantization(*model_, q, QuantExecution::Simulated);
  const NamedTensors cpu = model_->forward(inputs_);
  for (int pass = 0; pass < 3; ++pass) {  // eager, capture, replay
    const NamedTensors gpu = gpu_encoder->forward(inputs_);
    const Diff d = compare_hidden(gpu.at("last_hidden_state"), cpu.at("last_hidden_state"), inputs_.attention_mask);
    const double bound = fp16_rel_bound() + double(layers()) / 127;
    EXPECT_LE(d.rel_rms, bound) << "pass " << pass;
  }
}

TEST_F(SynthBert, Fp8WithinItsRoundingOfCpuFp32) {
  if (cuda::compute_capability(0) < 89) {
    EXPECT_THROW(CudaEncoder::create(*model_, nullptr, {.precision = "fp8"}), Error);
    GTEST_SKIP() << "fp8 needs sm_89+; checked that it is refused";
  }
  const NamedTensors cpu = model_->forward(inputs_);
  const auto gpu_encoder = CudaEncoder::create(*model_, nullptr, {.precision = "fp8", .graphs = true});
  for (int pass = 0; pass < 3; ++pass) {
    const NamedTensors gpu = gpu_encoder->forward(inputs_);
    const Diff d = compare_hidden(gpu.at("last_hidden_state"), cpu.at("last_hidden_state"), inputs_.attention_mask);
    const double per_layer = 2 * std::sqrt(2.0) * kU8 / (2 * std::sqrt(3.0));  // sqrt(4 GEMMs) * per-GEMM
    EXPECT_LE(d.rel_rms, per_layer * double(layers()) + fp16_rel_bound()) << "pass " << pass;
  }
}

TEST(CudaEncoderFixtures, Fp16MatchesCpuOnHfFixturesWithPadding) {
  OCTET_REQUIRE_GPU();
  for (const char* name : {"bert", "roberta", "xlm_roberta"}) {
    SCOPED_TRACE(name);
    const auto dir = testing::shared_path(std::string("fixtures/hf/") + name);
    const auto model = load_model(dir);
    const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
    ModelInputs in;
    in.input_ids = ref.get("input_ids");
    if (ref.contains("attention_mask")) in.attention_mask = ref.get("attention_mask");
    const NamedTensors cpu = model->forward(in);
    const auto gpu_encoder = CudaEncoder::create(*model, nullptr, {.precision = "fp16", .graphs = false});
    const NamedTensors gpu = gpu_encoder->forward(in);
    const Diff d = compare_hidden(gpu.at("last_hidden_state"), cpu.at("last_hidden_state"), in.attention_mask);
    EXPECT_LE(d.rel_rms, fp16_bound(model->info().num_layers));
    if (cpu.count("logits")) {
      ASSERT_TRUE(gpu.count("logits"));
      for (int64_t i = 0; i < cpu.at("logits").numel(); ++i)
        EXPECT_NEAR(gpu.at("logits").data<float>()[i], cpu.at("logits").data<float>()[i],
                    0.05 * std::max(1.0f, std::fabs(cpu.at("logits").data<float>()[i])));
    }
  }
}

// The synthetic and fixture models have N(0, 0.02^2) weights: their branches
// add little to the residual stream, so a wiring error there could hide
// under the bound. The trained model's branches are not small.
TEST(CudaEncoderSst2, HiddenStatesMatchCpuOnTrainedModel) {
  OCTET_REQUIRE_GPU();
  const auto model = load_model(sst2_model());
  const Tokenizer tokenizer = Tokenizer::load(sst2_model());
  const TokenizedBatches data = tokenize_batches(*model, tokenizer, load_tsv_dataset(sst2_dev()), 16, 48);
  const int64_t layers = model->info().num_layers;
  CalibrationTextOptions co;
  co.samples = 64;
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8");
  qo.progress = false;
  const QuantizationConfig q = quantize_model(
      *model,
      make_calibration_batches(*model, tokenizer,
                               read_calibration_texts(testing::source_root() / "data/sst2/train.tsv", co).texts, 16),
      qo);
  const auto fp16 = CudaEncoder::create(*model, nullptr, {.precision = "fp16", .graphs = false});
  const auto int8 = CudaEncoder::create(*model, &q, {.precision = "int8", .graphs = false});
  for (const ModelInputs& b : data.batches) {
    const NamedTensors cpu = model->forward(b);
    const Diff d16 = compare_hidden(fp16->forward(b).at("last_hidden_state"), cpu.at("last_hidden_state"),
                                    b.attention_mask);
    std::printf("fp16 vs cpu fp32: rel rms %.3g, max %.3g (|ref| max %.3g); bound %.3g\n", d16.rel_rms, d16.max_abs,
                d16.ref_max, fp16_bound(layers));
    EXPECT_LE(d16.rel_rms, fp16_bound(layers));
    EXPECT_LE(d16.max_abs, 8 * fp16_bound(layers) * std::max(1.0, d16.ref_max));
  }
  apply_quantization(*model, q, QuantExecution::Simulated);
  for (const ModelInputs& b : data.batches) {
    const NamedTensors cpu = model->forward(b);
    const Diff d8 = compare_hidden(int8->forward(b).at("last_hidden_state"), cpu.at("last_hidden_state"),
                                   b.attention_mask);
    const double bound = fp16_bound(layers) + double(layers) / 127;
    std::printf("int8 vs cpu int8 simulated: rel rms %.3g, max %.3g; bound %.3g\n", d8.rel_rms, d8.max_abs, bound);
    EXPECT_LE(d8.rel_rms, bound);
  }
}

// ---- GPU: SST-2 accuracy ------------------------------------------------------------------

double accuracy_of(const TokenizedBatches& data, const std::function<Tensor(const ModelInputs&)>& logits) {
  std::vector<Tensor> all;
  for (const ModelInputs& b : data.batches) all.push_back(logits(b));
  return accuracy(batch_predictions(data, all), data.labels);
}

TEST(CudaEncoderSst2, AccuracyOnFirst200DevSentencesMatchesCpu) {
  OCTET_REQUIRE_GPU();
  constexpr int64_t kExamples = 200;
  const auto model = load_model(sst2_model());
  const Tokenizer tokenizer = Tokenizer::load(sst2_model());
  const TokenizedBatches data = tokenize_batches(*model, tokenizer, load_tsv_dataset(sst2_dev()), 32, kExamples);
  ASSERT_EQ(data.size(), kExamples);

  const double cpu_fp32 = accuracy_of(data, [&](const ModelInputs& b) { return model->forward(b).at("logits"); });
  const auto fp16 = CudaEncoder::create(*model, nullptr, {.precision = "fp16", .graphs = false});
  const double gpu_fp16 = accuracy_of(data, [&](const ModelInputs& b) { return fp16->forward(b).at("logits"); });

  // The int8 recipe as `octet quantize --calib train.tsv --calib-samples 256` makes it.
  CalibrationTextOptions co;
  co.samples = 256;
  const CalibrationTexts texts =
      read_calibration_texts(testing::source_root() / "data/sst2/train.tsv", co);
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8");
  qo.progress = false;
  const QuantizationConfig q = quantize_model(*model, make_calibration_batches(*model, tokenizer, texts.texts, 16), qo);
  const auto int8 = CudaEncoder::create(*model, &q, {.precision = "int8", .graphs = false});
  const double gpu_int8 = accuracy_of(data, [&](const ModelInputs& b) { return int8->forward(b).at("logits"); });
  apply_quantization(*model, q, QuantExecution::Native);
  const double cpu_int8 = accuracy_of(data, [&](const ModelInputs& b) { return model->forward(b).at("logits"); });

  std::printf("SST-2 first %lld dev: cpu fp32 %.2f%%  gpu fp16 %.2f%%  cpu int8 %.2f%%  gpu int8 %.2f%%\n",
              static_cast<long long>(kExamples), 100 * cpu_fp32, 100 * gpu_fp16, 100 * cpu_int8, 100 * gpu_int8);
  // 0.5 points of 200 examples: one prediction may differ (+ slack for the division's rounding).
  EXPECT_LE(std::fabs(gpu_fp16 - cpu_fp32), 0.005 + 1e-9);
  EXPECT_LE(std::fabs(gpu_int8 - cpu_int8), 0.005 + 1e-9);
  EXPECT_GT(cpu_fp32, 0.75);  // the model is trained: a broken pipeline would not get here
}

TEST(CudaEncoderSst2, EvalCommandOnCuda) {
  OCTET_REQUIRE_GPU();
  const auto dir = testing::temp_dir();
  const testing::CommandResult gpu =
      testing::run_octet("eval " + sst2_model() + " --data " + sst2_dev() + " --limit 200 --device cuda --json", dir);
  ASSERT_EQ(gpu.exit_code, 0) << gpu.errors;
  const testing::CommandResult cpu =
      testing::run_octet("eval " + sst2_model() + " --data " + sst2_dev() + " --limit 200 --json", dir);
  ASSERT_EQ(cpu.exit_code, 0) << cpu.errors;
  const auto g = nlohmann::json::parse(gpu.output), c = nlohmann::json::parse(cpu.output);
  EXPECT_EQ(g.at("device"), "cuda:0");
  EXPECT_EQ(g.at("precision"), "fp16");
  EXPECT_LE(std::fabs(g.at("accuracy").get<double>() - c.at("accuracy").get<double>()), 0.005 + 1e-9);
}

TEST(CudaEncoderSst2, RunAndBenchCommandsOnCuda) {
  OCTET_REQUIRE_GPU();
  const auto dir = testing::temp_dir();
  const testing::CommandResult run =
      testing::run_octet("run " + sst2_model() + " --text 'a gorgeous , witty film' --device cuda --json", dir);
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  EXPECT_EQ(nlohmann::json::parse(run.output).at("label").get<std::string>(),
            nlohmann::json::parse(testing::run_octet("run " + sst2_model() + " --text 'a gorgeous , witty film' --json",
                                                     dir)
                                      .output)
                .at("label")
                .get<std::string>());
  const testing::CommandResult bench = testing::run_octet(
      "bench " + sst2_model() + " --device cuda --precision fp16,int8,fp8 --peers none --batch 4 --seq 32 --warmup 2 "
      "--iters 4 --rounds 2 --calib-samples 16 --json",
      dir);
  ASSERT_EQ(bench.exit_code, 0) << bench.errors;
  const auto j = nlohmann::json::parse(bench.output);
  ASSERT_EQ(j.at("results").size(), 3u) << bench.output;
  for (const auto& r : j.at("results")) {
    EXPECT_FALSE(r.contains("error")) << r.dump();
    EXPECT_EQ(r.at("samples").get<int64_t>(), 4) << r.dump();
  }
}

}  // namespace
}  // namespace octet
