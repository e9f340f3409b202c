// QDQ export: how octet's quantized Linears map to ONNX nodes, and ONNX
// Runtime's results on the QDQ graph against octet's own INT8 (simulated and
// native), for a folder written by octet's quantizer (octet/quantized_model.h).
//
// What ONNX Runtime does with the graph (seen in its optimized model,
// bench/peers/ort_run.js --optimized-model): the 24 trunk Linears of
// sst2-bert-mini become MatMulIntegerToFloat (real int8 kernels: exact int32
// accumulation of the same codes, then float(acc) * s_a * s_w[n] + bias); the
// pooler and classifier (2-D inputs) become fp32 Gemm on the dequantized
// weight, i.e. fake-quant. Everything else runs in fp32.
//
// Bound (ORT QDQ vs octet). octet simulated computes each quantized Linear as
// an f32 GEMM over dequantized values: within gamma_K * sum|a w| (K u, u =
// 2^-24, K <= 1024: <= 6.1e-5 relative) of the exact product ORT (and octet
// native) get from the integer sum; the fp32 parts between the GEMMs
// (attention, LayerNorm, GELU) differ between ORT and octet by a few ulps.
// Those tiny differences reach the next QuantizeLinear, where a value within
// that relative distance of a rounding midpoint (x / s = n + 0.5) can round
// the other way: one code, one step s_a of the activation, on that element.
// One more source of single-code differences: octet's symmetric int8
// activations clamp at -127 where ONNX's QuantizeLinear saturates at -128, for
// values below the calibrated range (percentile calibration clips ~0.01% of
// them by design). A flip changes the next Linear's outputs by s_a * |w|,
// ~1% of an activation's range, on a handful of elements per sentence out of
// 26 sites of thousands of elements. Measured on the 872 dev sentences
// (printed): max logit difference ~0.006, every prediction equal. The bound
// 0.05 is ~1% of the logit range (|logit| up to 2.3) with ~8x margin; the
// issue's requirement is >= 99% equal predictions, and the test also asserts
// that a differing prediction has a margin the bound can swap.
#include <gtest/gtest.h>

#include <cmath>

#include "export/export_test_util.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/quantize_model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

constexpr double kQdqLogitBound = 0.05;

std::filesystem::path sst2_dir() { return source_root() / "models" / "sst2-bert-mini"; }

// sst2-bert-mini quantized by octet's default int8 recipe on 256 train.tsv
// texts (never the dev sentences evaluated), saved as a folder, and exported
// by `octet export-onnx FOLDER`: shared by the tests of this suite (ctest runs
// each test in its own process: the pass over the dev set is made by one test).
class Sst2Quantized : public ::testing::Test {
 protected:
  struct Shared {
    std::filesystem::path folder, onnx;
    QuantizationConfig config;
    QdqPlan plan;
    nlohmann::json summary;
  };
  static Shared* shared_;

  static void SetUpTestSuite() {
    shared_ = new Shared();
    Shared& s = *shared_;
    const auto dir = temp_dir();
    auto model = load_model(sst2_dir());
    CalibrationTextOptions co;
    co.samples = 256;
    const CalibrationTexts texts = read_calibration_texts(source_root() / "data" / "sst2" / "train.tsv", co);
    QuantizeOptions qo;
    qo.recipe = recipe_preset("int8");
    qo.progress = false;
    const QuantizationConfig config =
        quantize_model(*model, make_calibration_batches(*model, Tokenizer::load(sst2_dir()), texts.texts), qo);
    s.folder = dir / "sst2-int8";
    save_quantized_model(*model, config, sst2_dir(), s.folder);
    s.config = read_quantization_config(s.folder);
    s.plan = qdq_plan_from_quantization(s.config);
    s.onnx = dir / "sst2-int8.onnx";
    const auto r = run_shell(quote(OCTET_CLI_PATH) + " export-onnx " + quote(s.folder.string()) + " -o " +
                             quote(s.onnx.string()) + " --json");
    if (r.exit_code != 0) throw std::runtime_error("octet export-onnx failed:\n" + r.output);
    s.summary = check_onnx(s.onnx);
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
};
Sst2Quantized::Shared* Sst2Quantized::shared_ = nullptr;

ModelInputs bert_fixture_inputs() {
  const SafetensorsFile ref = SafetensorsFile::open(shared_path("fixtures/hf/bert/reference.safetensors"));
  ModelInputs in;
  in.input_ids = ref.get("input_ids").clone();
  in.attention_mask = ref.get("attention_mask").clone();
  in.token_type_ids = Tensor::zeros(in.input_ids.shape(), DType::I64);
  return in;
}

const OnnxNode* node_producing(const OnnxGraph& g, const std::string& value) {
  for (const auto& n : g.nodes())
    for (const auto& o : n.outputs)
      if (o == value) return &n;
  return nullptr;
}

TEST_F(Sst2Quantized, EveryQuantizedLinearMapsToInt8WeightsAndActivationQdq) {
  const Shared& s = *shared_;
  const auto model = load_model_for_execution(s.folder, QuantExecution::Simulated);
  const OnnxGraph g = build_onnx_graph(*model, {}, &s.plan);
  ASSERT_FALSE(s.config.linears.empty());
  for (const QuantizedLinear& l : s.config.linears) {
    SCOPED_TRACE(l.name);
    const int64_t out = l.weight.dim(0), in = l.weight.dim(1);
    // The weight: the folder's int8 codes transposed to [in, out], its per-channel scales, zero points 0, axis 1.
    const Tensor* codes = g.find_initializer(l.name + ".weight_t_quantized");
    const Tensor* scale = g.find_initializer(l.name + ".weight_scale");
    const Tensor* zp = g.find_initializer(l.name + ".weight_zero_point");
    ASSERT_TRUE(codes && scale && zp);
    ASSERT_EQ(codes->dtype(), DType::I8);
    ASSERT_EQ(codes->shape(), (Shape{in, out}));
    const Tensor q = l.weight.contiguous();
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) ASSERT_EQ(codes->data<int8_t>()[i * out + o], q.data<int8_t>()[o * in + i]);
    ASSERT_EQ(scale->shape(), Shape{out});
    for (int64_t o = 0; o < out; ++o) {
      EXPECT_EQ(scale->data<float>()[o], l.weight_scale.data<float>()[o]);
      EXPECT_EQ(zp->data<int8_t>()[o], 0);
    }
    // The activation: QuantizeLinear with the calibrated scale / zero point (scalars).
    const Tensor* a_scale = g.find_initializer(l.name + ".scale");
    const Tensor* a_zp = g.find_initializer(l.name + ".zero_point");
    ASSERT_TRUE(a_scale && a_zp);
    EXPECT_EQ(a_scale->rank(), 0);
    EXPECT_EQ(a_scale->data<float>()[0], l.input->scale);
    EXPECT_EQ(a_zp->dtype(), DType::I8);
    EXPECT_EQ(a_zp->data<int8_t>()[0], l.input->zero_point);
  }
  // Each MatMul of a quantized Linear reads DequantizeLinear(QuantizeLinear(x)) and DequantizeLinear(W, axis 1).
  const int64_t quantized = int64_t(s.config.linears.size());
  int64_t quantized_matmuls = 0;
  for (const auto& n : g.nodes()) {
    if (n.op_type != "MatMul") continue;
    const OnnxNode* a = node_producing(g, n.inputs[0]);
    const OnnxNode* b = node_producing(g, n.inputs[1]);
    if (!b || b->op_type != "DequantizeLinear") continue;  // attention's q k^T and probs v, fp32 Linears
    ++quantized_matmuls;
    ASSERT_TRUE(a && a->op_type == "DequantizeLinear") << n.name;
    EXPECT_EQ(node_producing(g, a->inputs[0])->op_type, "QuantizeLinear");
    ASSERT_EQ(b->attributes.size(), 1u);
    EXPECT_EQ(b->attributes[0].name, "axis");
    EXPECT_EQ(std::get<int64_t>(b->attributes[0].value), 1);
  }
  EXPECT_EQ(quantized_matmuls, quantized);
  // The file `octet export-onnx FOLDER` wrote says the same to the checker.
  EXPECT_EQ(s.summary["ops"]["QuantizeLinear"], quantized);
  EXPECT_EQ(s.summary["ops"]["DequantizeLinear"], 2 * quantized);
  for (const auto& [out, dq] : s.summary["dequantize"].items()) {
    if (std::string(dq["input"]).ends_with(".weight_t_quantized")) {
      EXPECT_EQ(dq["axis"], 1) << out;
    }
  }
  EXPECT_EQ(s.summary["initializers"][s.config.linears[0].name + ".weight_t_quantized"][0], 3);  // INT8
}

// All 872 dev sentences through ORT (the QDQ file), octet simulated, octet native and octet fp32.
TEST_F(Sst2Quantized, OnnxRuntimeAgreesWithOctetInt8OnDev) {
  const Shared& s = *shared_;
  const Tokenizer tokenizer = Tokenizer::load(sst2_dir());
  std::shared_ptr<Model> fp32(load_model(sst2_dir()).release());
  const TokenizedBatches data =
      tokenize_batches(*fp32, tokenizer, load_tsv_dataset(source_root() / "data" / "sst2" / "dev.tsv"), 32);
  ASSERT_EQ(data.size(), 872);
  std::shared_ptr<Model> simulated(load_model_for_execution(s.folder, QuantExecution::Simulated).release());
  std::shared_ptr<Model> native(load_model(s.folder).release());
  PeerOptions peer;
  peer.peers_dir = source_root() / "bench" / "peers";
  peer.work_dir = s.onnx.parent_path();
  const auto ort = runner_logits(*make_ort_runner(s.onnx, "int8-qdq", peer), data);
  const auto sim = runner_logits(*make_octet_runner(simulated, "int8-sim"), data);
  const auto nat = runner_logits(*make_octet_runner(native, "int8"), data);
  const auto ort_pred = batch_predictions(data, ort);
  const double fp32_acc =
      accuracy(batch_predictions(data, runner_logits(*make_octet_runner(fp32, "fp32"), data)), data.labels);
  std::printf("sst2 int8 QDQ (ORT) vs octet: fp32 accuracy %.2f%%, ORT %.2f%%\n", 100 * fp32_acc,
              100 * accuracy(ort_pred, data.labels));
  for (const auto& [label, octet] : {std::pair{"simulated", &sim}, std::pair{"native", &nat}}) {
    const auto pred = batch_predictions(data, *octet);
    double worst = 0;
    for (size_t b = 0; b < ort.size(); ++b) worst = std::max(worst, max_abs_diff(ort[b], (*octet)[b]));
    int64_t same = 0;
    for (size_t i = 0; i < pred.size(); ++i) same += pred[i] == ort_pred[i];
    std::printf("  octet %-9s: predictions equal %lld / %zu, max |ORT - octet| logits %.3g, accuracy %.2f%%\n", label,
                (long long)same, pred.size(), worst, 100 * accuracy(pred, data.labels));
    EXPECT_GE(double(same) / double(pred.size()), 0.99) << label;
    EXPECT_LE(worst, kQdqLogitBound) << label;
    for (size_t b = 0; b < data.batches.size(); ++b)
      for (size_t r = 0; r < data.rows[b].size(); ++r) {
        const int64_t i = data.rows[b][r];
        if (pred[size_t(i)] == ort_pred[size_t(i)]) continue;
        const float* l = (*octet)[b].data<float>() + r * 2;
        EXPECT_LE(std::fabs(l[0] - l[1]), 2 * kQdqLogitBound) << label << " example " << i;
      }
  }
  // The quantization itself keeps sst2 accuracy within a point of fp32.
  EXPECT_NEAR(accuracy(ort_pred, data.labels), fp32_acc, 0.01);
}

TEST(QdqExport, DynamicRecipesHaveNoQdqForm) {
  auto model = load_model(shared_path("fixtures/hf/bert"));
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8-dynamic");
  qo.progress = false;
  const QuantizationConfig config = quantize_model(*model, {}, qo);
  try {
    qdq_plan_from_quantization(config);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("per token"), std::string::npos) << e.what();
  }
}

// Affine uint8 activations (ONNX Runtime's preferred U8S8) and per-tensor
// weights on a fixture: the same agreement, with zero points in play.
TEST(QdqExport, AffineUint8ActivationsAndPerTensorWeights) {
  const auto model = load_model(shared_path("fixtures/hf/bert"));
  const ModelInputs in = bert_fixture_inputs();
  MinMaxPlanOptions options;
  options.activation_spec = parse_quant_spec("uint8:affine:per_tensor");
  options.weight_spec = parse_quant_spec("int8:sym:per_tensor");
  const QdqPlan plan = calibrate_minmax_plan(*model, {in}, options);
  for (const auto& [name, a] : plan.activations) EXPECT_EQ(a.spec.dtype, DType::U8) << name;
  const auto path = temp_dir() / "bert-u8.onnx";
  export_onnx(*model, path, {}, &plan);
  const nlohmann::json summary = check_onnx(path);
  for (const auto& [out, dq] : summary["dequantize"].items())
    if (std::string(dq["input"]).ends_with(".weight_t_quantized")) {
      EXPECT_TRUE(dq["axis"].is_null()) << out;
    }
  install_simulated_plan(*model, plan);
  const Tensor sim = model->forward(in).at("logits");
  const auto ort = run_onnxruntime(path, feeds(in));
  // The fixture's logits are ~0.01: the single-code flips of the bound above
  // scale with them; 1e-3 is 10% of the logit range.
  EXPECT_LE(max_abs_diff(ort.at("logits"), sim), 1e-3);
  remove_installed_quantization(*model);
}

// Every optional site of octet quantize (attention q/k/v and softmax
// probabilities, residual branches, norm inputs) becomes a QuantizeLinear /
// DequantizeLinear pair at the same place in the graph, and ONNX Runtime
// agrees with octet's simulated execution of the same config.
TEST(QdqExport, AttentionResidualAndNormSites) {
  auto model = load_model(shared_path("fixtures/hf/bert"));
  const ModelInputs in = bert_fixture_inputs();
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8");
  qo.recipe.calibrator = "minmax";
  qo.recipe.attention_sites = qo.recipe.residual_sites = qo.recipe.norm_sites = true;
  qo.progress = false;
  const QuantizationConfig config = quantize_model(*model, {in}, qo);
  size_t probs_sites = 0;
  for (const auto& s : config.sites) probs_sites += s.kind == nn::SiteKind::AttentionProbs;
  EXPECT_EQ(probs_sites, 2u);  // one per layer of the fixture
  const QdqPlan plan = qdq_plan_from_quantization(config);
  const OnnxGraph g = build_onnx_graph(*model, {}, &plan);
  size_t softmax_qdq = 0;
  for (const auto& n : g.nodes()) {
    if (n.op_type != "QuantizeLinear") continue;
    const OnnxNode* producer = node_producing(g, n.inputs.at(0));
    softmax_qdq += producer && producer->op_type == "Softmax";
  }
  EXPECT_EQ(softmax_qdq, 2u);
  const auto path = temp_dir() / "bert-sites.onnx";
  export_onnx(*model, path, {}, &plan);
  check_onnx(path);
  apply_quantization(*model, config, QuantExecution::Simulated);
  const Tensor sim = model->forward(in).at("logits");
  clear_quantization(*model);
  const Tensor fp32 = model->forward(in).at("logits");
  const auto ort = run_onnxruntime(path, feeds(in));
  // As above: single-code flips scaled by the fixture's ~0.01 logits.
  EXPECT_LE(max_abs_diff(ort.at("logits"), sim), 1e-3);
  EXPECT_GT(max_abs_diff(sim, fp32), 0.0);  // the sites did quantize
}

TEST(QdqExport, ExcludedLinearsStayFp32) {
  const auto model = load_model(shared_path("fixtures/hf/bert"));
  const ModelInputs in = bert_fixture_inputs();
  MinMaxPlanOptions options;
  options.exclude = {"classifier", "*.pooler.*", "bert.encoder.layer.1.output.dense"};
  const QdqPlan plan = calibrate_minmax_plan(*model, {in}, options);
  EXPECT_FALSE(plan.weights.contains("classifier"));
  EXPECT_FALSE(plan.weights.contains("bert.pooler.dense"));
  EXPECT_FALSE(plan.weights.contains("bert.encoder.layer.1.output.dense"));
  EXPECT_TRUE(plan.weights.contains("bert.encoder.layer.1.intermediate.dense"));
  const OnnxGraph g = build_onnx_graph(*model, {}, &plan);
  EXPECT_NE(g.find_initializer("classifier.weight_t"), nullptr);
  EXPECT_EQ(g.find_initializer("classifier.weight_t_quantized"), nullptr);
  EXPECT_NE(g.find_initializer("bert.encoder.layer.1.intermediate.dense.weight_t_quantized"), nullptr);
}

TEST(QdqExport, PlansThatDoNotFitAreErrors) {
  const auto model = load_model(shared_path("fixtures/hf/bert"));
  const ModelInputs in = bert_fixture_inputs();
  const QdqPlan plan = calibrate_minmax_plan(*model, {in});

  QdqPlan foreign = plan;
  foreign.weights["no.such.linear"] = plan.weights.begin()->second;
  EXPECT_THROW(build_onnx_graph(*model, {}, &foreign), Error);
  EXPECT_THROW(install_simulated_plan(*model, foreign), Error);

  QdqPlan per_token = plan;
  per_token.activations.begin()->second.spec = parse_quant_spec("int8:sym:per_token");
  EXPECT_THROW(build_onnx_graph(*model, {}, &per_token), Error);

  QdqPlan int4 = plan;
  int4.weights.begin()->second.spec.dtype = DType::I4;
  EXPECT_THROW(build_onnx_graph(*model, {}, &int4), Error);

  QdqPlan bad_scale = plan;
  bad_scale.activations.begin()->second.params.scale = 0;
  EXPECT_THROW(build_onnx_graph(*model, {}, &bad_scale), Error);

  EXPECT_THROW(calibrate_minmax_plan(*model, {}), Error);
  MinMaxPlanOptions all_out;
  all_out.exclude = {"*"};
  EXPECT_THROW(calibrate_minmax_plan(*model, {in}, all_out), Error);
  // A failed install leaves the model fp32.
  const SafetensorsFile r = SafetensorsFile::open(shared_path("fixtures/hf/bert/reference.safetensors"));
  EXPECT_LE(max_abs_diff(model->forward(in).at("logits"), r.get("logits")), 1e-4);
}

}  // namespace
}  // namespace octet::testing
