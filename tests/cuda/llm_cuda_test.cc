// The LLaMA decoder on CUDA (octet/cuda_llm_ops.h, octet/cuda_decoder.h):
// W4A16 GEMV and KV-cache attention against scalar CPU references with
// derived bounds, the whole decoder against octet's CPU fp32 forward, and the
// CLI's errors without a GPU. GPU tests skip via OCTET_REQUIRE_GPU / CudaTest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "cuda/cuda_test_util.h"
#include "octet/cuda_decoder.h"
#include "octet/cuda_llm_ops.h"
#include "octet/generate.h"
#include "octet/number_formats.h"
#include "octet/safetensors.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::cuda {
namespace {

using testing::CudaTest;
using testing::gamma_n;
using testing::kU16;
using testing::kU32;
using testing::random_values;
using testing::Reference;

// ---- W4 packing (host, runs everywhere) ---------------------------------------------

struct W4Case {
  Tensor codes, scales, zeros;  // U8 [N, K], F32 [N, K / 128], U8 [N, K / 128]
};

W4Case random_w4(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 15);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  W4Case c{Tensor::zeros({n, k}, DType::U8), Tensor::zeros({n, k / 128}, DType::F32),
           Tensor::zeros({n, k / 128}, DType::U8)};
  for (auto& v : c.codes.span<uint8_t>()) v = static_cast<uint8_t>(code(rng));
  for (auto& v : c.zeros.span<uint8_t>()) v = static_cast<uint8_t>(code(rng));
  for (auto& v : c.scales.span<float>()) v = scale(rng);
  return c;
}

TEST(W4Pack, DequantizesToCodeMinusZeroTimesF16Scale) {
  const int64_t n = 5, k = 384;  // K not a multiple of 256: one padded half chunk
  const W4Case c = random_w4(n, k, 1);
  const W4Host w = pack_w4(c.codes, c.scales, c.zeros);
  ASSERT_EQ(w.packed.numel(), n * 512 / 2);
  const Tensor scales16 = c.scales.to(DType::F16).to(DType::F32);
  const Tensor d = dequantize_w4(w);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t g = r * (k / 128) + j / 128;
      const float expect = static_cast<float>(int(c.codes.data<uint8_t>()[r * k + j]) - int(c.zeros.data<uint8_t>()[g])) *
                           scales16.data<float>()[g];
      ASSERT_EQ(d.data<float>()[r * k + j], expect) << "row " << r << " col " << j;
    }
}

TEST(W4Pack, LayoutIsTheDocumentedOne) {
  // Column 256 c + 64 t + 8 s + e of a row is nibble e of word t of lane s's
  // 16 bytes at c * 128 + 16 s: column 300 = 256 + 0 + 40 + 4 -> byte 128 + 80 + 2, low nibble;
  // column 127 = 64 + 56 + 7 -> byte 112 + 4 + 3, high nibble.
  Tensor codes = Tensor::zeros({2, 512}, DType::U8);
  Tensor zeros = Tensor::zeros({2, 4}, DType::U8);
  const Tensor scales = Tensor::full({2, 4}, 1.0f);
  codes.data<uint8_t>()[512 + 300] = 9;
  codes.data<uint8_t>()[512 + 127] = 5;
  const W4Host w = pack_w4(codes, scales, zeros);
  const uint8_t* row1 = w.packed.data<uint8_t>() + 256;
  for (int i = 0; i < 256; ++i) {
    const int expect = i == 210 ? 9 : i == 119 ? (5 << 4) : 0;
    ASSERT_EQ(int(row1[i]), expect) << "byte " << i;
  }
}

TEST(W4Pack, RtnErrorIsAtMostHalfAStep) {
  const Tensor w = random_values({7, 256}, 2, DType::F32, -0.3f, 0.3f);
  const W4Host q = quantize_w4_rtn(w);
  const Tensor d = dequantize_w4(q);
  const Tensor scales = q.scales.to(DType::F32);
  for (int64_t r = 0; r < 7; ++r)
    for (int64_t j = 0; j < 256; ++j) {
      const float s = scales.data<float>()[r * scales.dim(1) + j / 128];
      // Clamping at +-7 (or -8) steps can add at most the f16 rounding of the scale.
      ASSERT_LE(std::fabs(d.data<float>()[r * 256 + j] - w.data<float>()[r * 256 + j]), 0.5f * s + 8 * kU16 * 0.3f);
    }
}

// ---- W4A16 GEMV / GEMM ------------------------------------------------------------------

class W4Gemv : public CudaTest {};

// y = x W^T with W = dequantize_w4 (what the kernel computes with). Bound:
// f32 accumulation of K products, each partial sum scaled once (gamma_{K+2});
// the M > 16 path first rounds W to f16 (+ 2^-11 relative per term).
void check_w4_linear(const Stream& stream, int64_t m, int64_t n, int64_t k, bool bias) {
  const W4Case c = random_w4(n, k, 3 + uint32_t(m));
  const W4Host host = pack_w4(c.codes, c.scales, c.zeros);
  const Tensor w = dequantize_w4(host);
  const Tensor x = random_values({m, k}, 7, DType::F16);
  const Tensor b = random_values({n}, 8, DType::F16);
  Reference ref{{m, n}, std::vector<double>(size_t(m * n)), std::vector<double>(size_t(m * n))};
  const double u = gamma_n(double(k + 2)) + (m > 16 ? kU16 : 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias ? b.data<float>()[j] : 0.0, mag = bias ? std::fabs(s) : 0.0;
      for (int64_t t = 0; t < k; ++t) {
        const double p = double(x.data<float>()[i * k + t]) * w.data<float>()[j * k + t];
        s += p, mag += std::fabs(p);
      }
      ref.value[size_t(i * n + j)] = s;
      ref.tol[size_t(i * n + j)] = u * mag + 1e-30;
    }
  const W4Weight dw = upload_w4(host, stream);
  const DeviceTensor dx = DeviceTensor::upload(x, DType::F16, stream);
  const DeviceTensor db = bias ? DeviceTensor::upload(b, DType::F16, stream) : DeviceTensor{};
  DeviceTensor y = DeviceTensor::empty({m, n}, DType::F16, stream);
  linear_w4a16(dx, dw, db, y, stream);
  testing::expect_float_output(y, ref, stream, fmt::format("w4a16 M={} N={} K={}", m, n, k));
}

TEST_F(W4Gemv, MatchesScalarReferenceForEveryRowCount) {
  for (const int64_t m : {1, 2, 3, 5, 8, 11, 16}) check_w4_linear(stream(), m, 300, 640, m % 2 == 1);
  // TinyLlama shapes: K = 5632 ends in a partial tile (2048-column tiles for M <= 2, 1024 above).
  check_w4_linear(stream(), 1, 2048, 2048, false);
  check_w4_linear(stream(), 1, 256, 5632, false);
  check_w4_linear(stream(), 16, 64, 5632, true);
}

TEST_F(W4Gemv, PrefillPathDequantizesThenUsesCublasLt) { check_w4_linear(stream(), 40, 96, 256, true); }

// ---- KV cache and attention -----------------------------------------------------------------

class CachedAttention : public CudaTest {};

struct AttnCase {
  int64_t batch = 2, q_heads = 4, kv_heads = 2, d = 64, max_seq = 48, layers = 2, layer = 1;
};

// What the cache holds for x: f16(x), or e4m3(x / scale) * scale.
float cache_value(float x, bool fp8, float scale) {
  if (!fp8) return x;  // inputs are already f16 values
  return fp8_e4m3_to_float(float_to_fp8_e4m3(x * (1.0f / scale))) * scale;
}

// Reference attention of token rows `rows` [B * S, (qh + 2 kvh) d] (all
// tokens 0 .. past + S - 1 of each sequence, in order, S new ones last).
// `stored`: keys / values as the GPU cache holds them. Bound per output: the
// f32 score error e_j <= gamma_d sum|q k| scale (+ expf's 2 ulp), so each
// weight p_j / l moves by at most a factor exp(2 max e) - 1; the f32 sums add
// gamma_{2L} relative.
Reference attention_reference(const AttnCase& a, const Tensor& rows, int64_t total, int64_t s_new, bool fp8,
                              float kv_scale, bool stored, double extra_rel, double extra_abs = 0.0) {
  const int64_t row = (a.q_heads + 2 * a.kv_heads) * a.d, group = a.q_heads / a.kv_heads;
  Reference ref{{a.batch * s_new, a.q_heads * a.d}, {}, {}};
  ref.value.assign(size_t(a.batch * s_new * a.q_heads * a.d), 0.0);
  ref.tol.assign(ref.value.size(), 0.0);
  const double scale = 1.0 / std::sqrt(double(a.d));
  const float* x = rows.data<float>();
  auto kv = [&](int64_t b, int64_t t, int64_t which, int64_t h, int64_t i) {
    const float v = x[(b * total + t) * row + (a.q_heads + which * a.kv_heads + h) * a.d + i];
    return double(stored ? cache_value(v, fp8, kv_scale) : v);
  };
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t s = 0; s < s_new; ++s)
      for (int64_t h = 0; h < a.q_heads; ++h) {
        const int64_t t_q = total - s_new + s, n_keys = t_q + 1, hk = h / group;
        std::vector<double> sc(static_cast<size_t>(n_keys));
        double mx = -1e300, max_err = 0;
        for (int64_t j = 0; j < n_keys; ++j) {
          double dot = 0, mag = 0, qabs = 0;
          for (int64_t i = 0; i < a.d; ++i) {
            const double q = x[(b * total + t_q) * row + h * a.d + i];
            dot += q * kv(b, j, 0, hk, i), mag += std::fabs(q * kv(b, j, 0, hk, i)), qabs += std::fabs(q);
          }
          sc[size_t(j)] = dot * scale;
          max_err = std::max(max_err, ((gamma_n(double(a.d + 3)) + extra_rel) * mag + extra_abs * qabs) * scale +
                                          4 * kU32);
          mx = std::max(mx, sc[size_t(j)]);
        }
        double l = 0;
        for (int64_t j = 0; j < n_keys; ++j) l += std::exp(sc[size_t(j)] - mx);
        for (int64_t i = 0; i < a.d; ++i) {
          double o = 0, mag = 0;
          for (int64_t j = 0; j < n_keys; ++j) {
            const double p = std::exp(sc[size_t(j)] - mx) / l, v = kv(b, j, 1, hk, i);
            o += p * v, mag += p * std::fabs(v);
          }
          const size_t at = size_t(((b * s_new + s) * a.q_heads + h) * a.d + i);
          ref.value[at] = o;
          ref.tol[at] =
              (std::expm1(2 * max_err + 8 * kU32) + gamma_n(double(2 * n_keys + 8)) + extra_rel) * mag + extra_abs + 1e-7;
        }
      }
  return ref;
}

void run_attention_case(const Stream& stream, bool fp8) {
  AttnCase a;
  const int64_t row = (a.q_heads + 2 * a.kv_heads) * a.d, past = 33;
  const float kv_scale = fp8 ? 0.5f : 1.0f;
  // Tokens 0 .. past (prefill of `past`, then one decode token), values in [-1, 1) as f16.
  const int64_t total = past + 1;
  const Tensor all = random_values({a.batch * total, row}, 11, DType::F16);
  KvCacheView c;
  c.layers = a.layers, c.batch = a.batch, c.kv_heads = a.kv_heads, c.max_seq = a.max_seq, c.head_dim = a.d;
  const Shape shape{a.layers, a.batch, a.kv_heads, a.max_seq, a.d};
  c.k = DeviceTensor::zeros(shape, fp8 ? DType::F8_E4M3 : DType::F16, stream);
  c.v = DeviceTensor::zeros(shape, fp8 ? DType::F8_E4M3 : DType::F16, stream);
  if (fp8) {
    const std::vector<float> s(size_t(a.layers * a.kv_heads), kv_scale);
    c.k_scale = DeviceTensor::upload(Tensor::from_floats(s, {int64_t(s.size())}), stream);
    c.v_scale = DeviceTensor::upload(Tensor::from_floats(s, {int64_t(s.size())}), stream);
  }
  // Prefill rows: tokens 0 .. past - 1 of each sequence.
  Tensor pre = Tensor::zeros({a.batch * past, row}, DType::F32), dec = Tensor::zeros({a.batch, row}, DType::F32);
  for (int64_t b = 0; b < a.batch; ++b) {
    std::copy_n(all.data<float>() + b * total * row, past * row, pre.data<float>() + b * past * row);
    std::copy_n(all.data<float>() + (b * total + past) * row, row, dec.data<float>() + b * row);
  }
  DeviceTensor past_len = DeviceTensor::zeros({1}, DType::I32, stream);
  const DeviceTensor dpre = DeviceTensor::upload(pre, DType::F16, stream);
  kv_append(dpre, a.q_heads, past, past_len, c, a.layer, stream);
  DeviceTensor out_pre = DeviceTensor::empty({a.batch * past, a.q_heads * a.d}, DType::F16, stream);
  cached_attention(dpre, a.q_heads, past, past_len, c, a.layer, 0.0f, out_pre, stream);
  // The prefill reference: the sequences' first `past` tokens.
  Tensor pre_rows = pre;
  testing::expect_float_output(out_pre, attention_reference(a, pre_rows, past, past, fp8, kv_scale, true, 0.0),
                               stream, fp8 ? "prefill attention, fp8 cache" : "prefill attention, f16 cache");
  const int32_t p = static_cast<int32_t>(past);
  copy_to_device(past_len.raw_data(), &p, sizeof(p), stream);
  const DeviceTensor ddec = DeviceTensor::upload(dec, DType::F16, stream);
  kv_append(ddec, a.q_heads, 1, past_len, c, a.layer, stream);
  DeviceTensor out = DeviceTensor::empty({a.batch, a.q_heads * a.d}, DType::F16, stream);
  cached_attention(ddec, a.q_heads, 1, past_len, c, a.layer, 0.0f, out, stream);
  testing::expect_float_output(out, attention_reference(a, all, total, 1, fp8, kv_scale, true, 0.0), stream,
                               fp8 ? "decode attention, fp8 cache" : "decode attention, f16 cache");
  if (fp8) {
    // Against the unquantized values: each stored value is within 2^-4
    // relative of the original (e4m3 keeps 3 mantissa bits, round to nearest:
    // half a step is 2^-4 of the value) for normal codes, and within half the
    // subnormal step, 2^-10 * scale, below 2^-6 * scale.
    testing::expect_float_output(
        out, attention_reference(a, all, total, 1, false, 1.0f, false, 0x1p-4, 0x1p-10 * double(kv_scale)), stream,
        "decode attention, fp8 cache vs f16 values");
  }
}

TEST_F(CachedAttention, F16CacheMatchesReference) { run_attention_case(stream(), false); }
TEST_F(CachedAttention, Fp8CacheMatchesReference) { run_attention_case(stream(), true); }

// ---- the decoder end to end ---------------------------------------------------------------------

// A small random LLaMA (hidden 128, 2 layers, 4 heads of 32, 2 kv heads) in
// Hugging Face layout.
std::filesystem::path write_tiny_llama(const std::filesystem::path& dir) {
  const int64_t hidden = 128, inter = 256, vocab = 512, layers = 2, heads = 4, kv = 2, d = 32;
  nlohmann::json c = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", hidden},
                      {"intermediate_size", inter}, {"num_hidden_layers", layers}, {"num_attention_heads", heads},
                      {"num_key_value_heads", kv}, {"vocab_size", vocab}, {"max_position_embeddings", 256},
                      {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
                      {"bos_token_id", 1}, {"eos_token_id", 2}, {"hidden_act", "silu"}};
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << c.dump(2);
  std::vector<std::pair<std::string, Tensor>> t;
  uint32_t seed = 100;
  auto add = [&](const std::string& name, Shape shape, float lo, float hi) {
    t.emplace_back(name, random_values(std::move(shape), seed++, DType::F32, lo, hi));
  };
  add("model.embed_tokens.weight", {vocab, hidden}, -1.0f, 1.0f);
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    const float a = 0.15f;  // ~ 1 / sqrt(hidden) * sqrt(3): unit-variance projections
    add(p + "input_layernorm.weight", {hidden}, 0.8f, 1.2f);
    add(p + "self_attn.q_proj.weight", {heads * d, hidden}, -a, a);
    add(p + "self_attn.k_proj.weight", {kv * d, hidden}, -a, a);
    add(p + "self_attn.v_proj.weight", {kv * d, hidden}, -a, a);
    add(p + "self_attn.o_proj.weight", {hidden, heads * d}, -a, a);
    add(p + "post_attention_layernorm.weight", {hidden}, 0.8f, 1.2f);
    add(p + "mlp.gate_proj.weight", {inter, hidden}, -a, a);
    add(p + "mlp.up_proj.weight", {inter, hidden}, -a, a);
    add(p + "mlp.down_proj.weight", {hidden, inter}, -0.1f, 0.1f);
  }
  add("model.norm.weight", {hidden}, 0.8f, 1.2f);
  add("lm_head.weight", {vocab, hidden}, -0.3f, 0.3f);
  save_safetensors(dir / "model.safetensors", t);
  return dir;
}

// Stated bound for f16 activations through two layers: every stored
// activation is rounded to f16 (2^-11 relative) about 12 times per layer and
// the normalised, unit-variance stream passes that on roughly unamplified, so
// logits (|z| of order 1..10) differ by at most 3e-2 * (1 + |z|max) from fp32.
double logit_bound(const Tensor& cpu) {
  double mx = 0;
  for (const float v : cpu.span<float>()) mx = std::max(mx, double(std::fabs(v)));
  return 3e-2 * (1.0 + mx);
}

void expect_logits_close(const Tensor& gpu, const Tensor& cpu, double bound, const std::string& what) {
  ASSERT_EQ(gpu.numel(), cpu.numel()) << what;
  double worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const double e = std::fabs(double(gpu.data<float>()[i]) - cpu.data<float>()[i]);
    if (e > worst) worst = e, at = i;
  }
  EXPECT_LE(worst, bound) << what << ": worst element " << at << " gpu " << gpu.data<float>()[at] << " cpu "
                          << cpu.data<float>()[at];
}

Tensor cpu_logits(CausalLM& model, const std::vector<int64_t>& ids) {
  const NamedTensors out = model.forward({Tensor::from_vector(ids, {1, int64_t(ids.size())}), {}, {}, {}});
  return out.at("logits").to(DType::F32).contiguous();
}

class LlamaCuda : public CudaTest {};

void run_end_to_end(LlmPrecision precision, const Stream&) {
  const auto dir = write_tiny_llama(octet::testing::temp_dir() / "tiny-llama");
  auto model = load_causal_lm(dir);
  DecoderOptions o;
  o.precision = precision, o.max_batch = 1, o.max_seq = 64, o.model_dir = dir;
  LlamaCudaRunner runner(*model, o);
  if (precision == LlmPrecision::W4A16) {
    // The CPU reference runs the very weights the GPU uses.
    model->visit_linears([](nn::Linear& l) {
      if (l.name() != "lm_head") l.assign_weight(dequantize_w4(quantize_w4_rtn(l.weight())));
    });
  }
  std::vector<int64_t> prompt;
  for (int i = 0; i < 12; ++i) prompt.push_back((i * 37 + 5) % 512);
  // Prefill of every position (12 rows: the GEMV path for w4a16) and of 40 rows.
  const Tensor cpu = cpu_logits(*model, prompt);
  const double bound = logit_bound(cpu);
  expect_logits_close(runner.prefill(Tensor::from_vector(prompt, {1, 12}), true), cpu, bound, "prefill logits (12)");
  std::vector<int64_t> longer;
  for (int i = 0; i < 40; ++i) longer.push_back((i * 91 + 3) % 512);
  const Tensor cpu40 = cpu_logits(*model, longer);
  expect_logits_close(runner.prefill(Tensor::from_vector(longer, {1, 40}), true), cpu40, logit_bound(cpu40),
                      "prefill logits (40)");
  // Greedy: 16 tokens; each must equal the CPU's while the sequences agree and
  // the CPU's top-2 margin exceeds twice the bound.
  const auto gpu_tokens = runner.generate_greedy(Tensor::from_vector(prompt, {1, 12}), 16).front();
  std::vector<int64_t> seq = prompt;
  int compared = 0;
  for (size_t step = 0; step < gpu_tokens.size(); ++step) {
    const Tensor lg = cpu_logits(*model, seq);
    const int64_t vocab = lg.dim(2);
    const float* row = lg.data<float>() + (int64_t(seq.size()) - 1) * vocab;
    std::vector<float> sorted(row, row + vocab);
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    const int64_t cpu_next = std::max_element(row, row + vocab) - row;
    if (double(sorted[0] - sorted[1]) <= 2 * logit_bound(lg)) break;  // too close to call: stop comparing
    EXPECT_EQ(gpu_tokens[step], cpu_next) << "greedy step " << step;
    if (gpu_tokens[step] != cpu_next) break;
    seq.push_back(cpu_next);
    ++compared;
  }
  std::printf("greedy: %d of 16 steps compared\n", compared);
  // Decode steps through the graph give the eager result.
  o.use_graphs = false;
  LlamaCudaRunner eager(*load_causal_lm(dir), o);
  EXPECT_EQ(eager.generate_greedy(Tensor::from_vector(prompt, {1, 12}), 16).front(), gpu_tokens);
}

TEST_F(LlamaCuda, Fp16MatchesCpuFp32) { run_end_to_end(LlmPrecision::FP16, stream()); }
TEST_F(LlamaCuda, W4a16MatchesCpuWithTheSameWeights) { run_end_to_end(LlmPrecision::W4A16, stream()); }

TEST_F(LlamaCuda, Fp8RunsAndStaysNearFp16) {
  const auto dir = write_tiny_llama(octet::testing::temp_dir() / "tiny-llama");
  DecoderOptions o;
  o.max_batch = 2, o.max_seq = 32, o.model_dir = dir;
  auto model = load_causal_lm(dir);
  std::vector<int64_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back((i * 13 + 7) % 512);
  const Tensor prompt = Tensor::from_vector(ids, {2, 10});
  LlamaCudaRunner f16(*model, o);
  const Tensor a = f16.prefill(prompt);
  o.precision = LlmPrecision::FP8, o.kv_cache = KvCacheType::FP8;
  LlamaCudaRunner f8(*model, o);
  const Tensor b = f8.prefill(prompt);
  // W8A8 e4m3: each weight and activation within 2^-4 relative; over the
  // model that is a few tenths of a logit at most (a smoke bound).
  double mx = 0;
  for (const float v : a.span<float>()) mx = std::max(mx, double(std::fabs(v)));
  expect_logits_close(b, a, 0.25 * (1 + mx), "fp8 vs fp16 logits");
  const auto t = f8.decode_step(std::vector<int64_t>{3, 4});
  EXPECT_EQ(t.numel(), 2 * 512);
}

// ---- CLI without a GPU (runs everywhere) -------------------------------------------------------

// Without a GPU (or CUDA) `--device cuda` is refused in one line; with one,
// an index past the last GPU is, so the test runs on both kinds of machine.
TEST(LlmCli, UnusableCudaDeviceGivesOneLineError) {
  const std::string device = gpu_available() ? "cuda:99" : "cuda";
  const auto dir = octet::testing::temp_dir();
  for (const std::string& args : {"bench-llm missing-model --device " + device + " --precision fp16,w4a16 --batch 1,16",
                                  "generate missing-model --device " + device + " --prompt-ids 1,2,3",
                                  "perplexity missing-model --data missing.txt --device " + device}) {
    const auto r = octet::testing::run_octet(args, dir);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.errors.find("octet: error: [cuda]"), std::string::npos) << args << ": " << r.errors;
    EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << args << ": " << r.errors;
  }
}

TEST(LlmCli, BadDeviceAndCpuPrecisionAreRejected) {
  const auto dir = octet::testing::temp_dir();
  auto r = octet::testing::run_octet("bench-llm missing-model --device tpu", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("--device 'tpu'"), std::string::npos) << r.errors;
  r = octet::testing::run_octet("bench-llm missing-model --device cpu --precision w4a16", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("runs precision fp32 or bf16"), std::string::npos) << r.errors;
}

}  // namespace
}  // namespace octet::cuda
