// `octet bench-llm MODEL`: prefill and decode speed of a decoder LLM.
//
//   octet bench-llm MODEL [--device cpu|cuda[:N]] [--precision fp32,bf16 | fp16,w4a16,fp8] [--batch 1,16]
//                         [--prefill 512] [--decode 128] [--kv-cache TYPE] [--no-graphs] [--json]
//
// Prompts are random token ids (seeded). On CUDA, per precision and batch:
// one untimed prefill + decode warm-up (plans, graph capture), then a timed
// prefill of --prefill tokens per sequence and --decode timed steps (each
// step's time includes copying its logits to the host). Decode bandwidth =
// (weights + norms + LM head + keys and values read per step, at the mean
// cache length) / step time, reported against a device-to-device copy of 1 GiB
// measured in the same run (read + written bytes). On CPU the model runs as
// stored (fp32, or a quantized folder natively) on the KV-cache generator of
// octet/generate.h; its KV cache is the folder's unless --kv-cache f32|f16|int8|fp8
// replaces it (int8 / fp8 with dynamic per-token scales, which need no
// calibration). Bandwidth on the CPU: the Linears' weights as the model holds
// them (packed codes and scales, or f32) are read over the pool's threads just
// before and just after each generation (octet/memory_bandwidth.h), no extra
// memory; decode bound = (those bytes + keys and values read per step) / step
// time against that rate, so a busy or throttled machine moves both figures.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "llm_device.h"
#include "octet/cuda_decoder.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/log.h"
#include "octet/memory_bandwidth.h"
#include "octet/precision.h"
#include "octet/quantized_model.h"
#include "output.h"

namespace octet::cli::bench_llm_command {
namespace {

struct Options {
  std::string model;
  std::string device = "cpu";
  std::vector<std::string> precisions;
  std::vector<int64_t> batches{1};
  int64_t prefill = 512, decode = 128;
  std::string kv_cache;  // "": f16 on cuda, the model's own on cpu
  bool no_graphs = false;
  uint64_t seed = 0;
  bool json = false;
};

struct Row {
  std::string precision, kv_cache;
  int64_t batch = 0;
  double prefill_s = 0, decode_s = 0;
  int64_t decode_steps = 0;
  int64_t weight_bytes = 0, step_bytes = 0;
  double hbm_fraction = -1;   // decode bytes per second / the bandwidth; < 0: not measured
  double read_bandwidth = 0;  // CPU: bytes/s of the weight reads around the generation; 0: not measured
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Tensor random_prompt(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, vocab - 1);
  std::vector<int64_t> ids(static_cast<size_t>(batch * len));
  for (auto& id : ids) id = dist(rng);
  return Tensor::from_vector(ids, {batch, len});
}

// --kv-cache on the CPU: f32 (no quantization), f16 (halves, no scales) or int8 / fp8 with dynamic scales (for
// every attention block).
nn::KvCacheQuant cpu_kv_cache(const std::string& type) {
  nn::KvCacheQuant q;
  if (type == "f16") {
    q.dtype = DType::F16;
    return q;
  }
  if (type == "int8") {
    q.dtype = DType::I8;
  } else if (type == "fp8") {
    q.dtype = DType::F8_E4M3;
  } else {
    check(type == "f32", "cli", "bench-llm --device cpu: --kv-cache must be f32, f16, int8 or fp8, got '{}'", type);
  }
  q.dynamic = q.enabled();
  return q;
}

// The KV cache the model decodes with (its first attention block's: every block has the same format).
std::string kv_cache_label(Model& model) {
  std::string label;
  model.visit_attention([&](nn::MultiHeadAttention& a) {
    if (!label.empty()) return;
    const nn::KvCacheQuant& q = a.kv_quant();
    label = !q.enabled() ? "f32"
            : q.dtype == DType::F16
                ? "f16"
                : fmt::format("{} {}", q.dtype == DType::I8 ? "int8" : "fp8", q.dynamic ? "dyn" : "static");
  });
  return label.empty() ? "-" : label;
}

// What a decode step reads of the weights, as regions: each Linear's resident kernel weights, or its f32 weight
// and bias. The embedding table is not among them (a step gathers one row per sequence).
std::vector<std::span<const std::byte>> linear_weight_regions(Model& model) {
  std::vector<std::span<const std::byte>> regions;
  const auto add = [&](const Tensor& t) {
    if (t.defined() && t.nbytes() > 0) regions.push_back({static_cast<const std::byte*>(t.raw_data()), t.nbytes()});
  };
  model.visit_linears([&](nn::Linear& l) {
    const auto resident = l.kernel() ? l.kernel()->resident_regions() : std::vector<std::span<const std::byte>>{};
    if (resident.empty()) add(l.weight());
    regions.insert(regions.end(), resident.begin(), resident.end());
    add(l.bias());
  });
  return regions;
}

// Bytes of keys and values one decode step of `batch` sequences reads at cache length `len`.
int64_t kv_bytes_per_step(Model& model, int64_t batch, int64_t len) {
  int64_t per_token = 0;
  model.visit_attention([&](nn::MultiHeadAttention& a) {
    const nn::AttentionConfig& c = a.config();
    const int64_t kv_heads = c.num_kv_heads > 0 ? c.num_kv_heads : c.num_heads;
    const int64_t head_dim = c.head_dim > 0 ? c.head_dim : c.hidden_size / c.num_heads;
    const nn::KvCacheQuant& q = a.kv_quant();
    const int64_t row = int64_t(storage_bytes(q.dtype, head_dim)) + (q.dynamic ? int64_t(sizeof(float)) : 0);
    per_token += 2 * kv_heads * row;
  });
  return batch * len * per_token;
}

// Below this the weights may sit in the last-level cache, and reading them measures the cache, not memory.
constexpr int64_t kMinProbeBytes = int64_t(128) << 20;

// One precision on the CPU: "" runs a quantized folder as stored (weight-only int8 / int4 Linears as packed
// codes, docs/llm_native_cpu.md), fp32 an fp32 model, bf16 its Linears on the bf16 GEMM (octet/precision.h).
// Weight bytes: f32 parameters the model holds plus the stored codes, scales and zero points of the quantized
// Linears (bf16: the Linears' bf16 copies instead of their f32 weights).
std::vector<Row> bench_cpu_precision(const Options& o, const std::string& cpu_precision,
                                     const std::optional<nn::KvCacheQuant>& kv_cache) {
  const bool quantized = cpu_precision.empty();  // bench_cpu passes "" for a quantized folder only
  std::string precision = cpu_precision.empty() ? "fp32" : cpu_precision;
  int64_t stored_bytes = 0;
  if (quantized) {
    // Read (and its mapping of the checkpoint released) before the model loads, so the peak RSS the bench
    // reports is the model's, not the model's plus a second view of every code.
    const QuantizationConfig q = read_quantization_config(o.model);
    precision = q.recipe + " (native)";
    for (const QuantizedLinear& l : q.linears) {
      stored_bytes += int64_t(l.weight.nbytes() + l.weight_scale.nbytes());
      if (l.weight_zero_point.defined()) stored_bytes += int64_t(l.weight_zero_point.nbytes());
    }
  }
  const auto model = load_causal_lm(o.model);
  int64_t bf16_bytes = 0;
  if (cpu_precision == "bf16") {
    use_bf16_kernels(*model);  // an error without AVX-512 BF16, or on a GGUF's native Linears
    bf16_bytes = int64_t(bf16_weight_bytes(*model));
  }
  use_decode_kernels(*model);
  if (kv_cache) model->visit_attention([&](nn::MultiHeadAttention& a) { a.set_kv_quant(*kv_cache); });
  if (!quantized) {
    // A GGUF's Q4_0 / Q8_0 Linears run natively: their packed bytes count, as a quantized folder's codes do.
    int64_t native = 0;
    model->visit_linears([&](nn::Linear& l) {
      if (!l.kernel_resident() || !l.kernel()) return;
      ++native;
      stored_bytes += l.kernel()->resident_bytes();
    });
    if (native > 0) precision = fmt::format("gguf ({} Linears native)", native);
  }
  const std::vector<std::span<const std::byte>> probe = linear_weight_regions(*model);
  int64_t probe_bytes = 0;
  for (const auto& r : probe) probe_bytes += int64_t(r.size());
  const bool measure_bandwidth = probe_bytes >= kMinProbeBytes;
  if (measure_bandwidth) {
    // One unmeasured pass first: weights mapped from the checkpoint (an fp32 model's) fault their pages in on
    // the first read, which would otherwise count as slow memory (a 4.4 GB fp32 model probed at ~7 GB/s).
    measure_read_bandwidth(probe, 1);
  } else {
    log_info("bench-llm: the Linears' weights ({:.1f} MB) may fit in cache; the read bandwidth is not measured",
             double(probe_bytes) / 1e6);
  }
  std::vector<Row> rows;
  for (const int64_t b : o.batches) {
    const Tensor prompt = random_prompt(b, o.prefill, model->info().vocab_size, o.seed);
    std::vector<std::vector<int64_t>> prompts(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i)
      prompts[size_t(i)].assign(prompt.data<int64_t>() + i * o.prefill, prompt.data<int64_t>() + (i + 1) * o.prefill);
    GenerationOptions g;
    g.max_new_tokens = o.decode + 1;  // the first new token comes from the prefill
    g.eos_ids = std::vector<int64_t>{};  // never stop early
    const ReadBandwidth before = measure_bandwidth ? measure_read_bandwidth(probe, 2) : ReadBandwidth{};
    const GenerationResult r = generate(*model, prompts, g);
    const ReadBandwidth after = measure_bandwidth ? measure_read_bandwidth(probe, 2) : ReadBandwidth{};
    Row row;
    row.precision = precision, row.kv_cache = kv_cache_label(*model), row.batch = b;
    row.prefill_s = r.prefill_seconds, row.decode_s = r.decode_seconds, row.decode_steps = r.decode_steps;
    row.weight_bytes = stored_bytes;
    for (const auto& [name, t] : model->parameters()) row.weight_bytes += int64_t(t.numel()) * 4;
    if (bf16_bytes > 0) {
      // The Linears compute from their bf16 copies: those count instead of the f32 weights (still mapped).
      model->visit_linears([&](nn::Linear& l) { row.weight_bytes -= int64_t(l.weight().nbytes()); });
      row.weight_bytes += bf16_bytes;
    }
    // Keys and values at the mean cache length of the timed steps (step i attends to prefill + i + 1 tokens).
    row.step_bytes =
        probe_bytes + kv_bytes_per_step(*model, b, o.prefill + 1 + std::max<int64_t>(0, r.decode_steps - 1) / 2);
    if (measure_bandwidth) {
      // The mean rate of the two probes: equal bytes each, so total bytes over total seconds.
      row.read_bandwidth = 2.0 / (1.0 / before.bytes_per_second + 1.0 / after.bytes_per_second);
      if (r.decode_steps > 0 && r.decode_seconds > 0)
        row.hbm_fraction = double(row.step_bytes) / (r.decode_seconds / double(r.decode_steps)) / row.read_bandwidth;
    }
    rows.push_back(row);
  }
  return rows;
}

std::vector<Row> bench_cpu(const Options& o) {
  const bool quantized = is_quantized_model(o.model);
  for (const auto& p : o.precisions)
    check((p == "fp32" || p == "bf16") && !quantized, "cli",
          "bench-llm --device cpu runs precision fp32 or bf16, or a quantized folder natively as stored without "
          "--precision (got '{}')",
          p);
  const std::optional<nn::KvCacheQuant> kv_cache =
      o.kv_cache.empty() ? std::nullopt : std::optional(cpu_kv_cache(o.kv_cache));
  std::vector<Row> rows;
  // Each precision on a model of its own (bf16 kernels replace the decode GEMV's), loaded once it is reached.
  for (const std::string& p : quantized ? std::vector<std::string>{""} : o.precisions) {
    const std::vector<Row> more = bench_cpu_precision(o, p, kv_cache);
    rows.insert(rows.end(), more.begin(), more.end());
  }
  return rows;
}

std::vector<Row> bench_cuda(const Options& o, int device, double& bandwidth) {
  std::vector<cuda::LlmPrecision> precisions;
  for (const auto& p : o.precisions.empty() ? std::vector<std::string>{"fp16"} : o.precisions)
    precisions.push_back(cuda::parse_llm_precision(p));
  const cuda::KvCacheType kv = cuda::parse_kv_cache_type(o.kv_cache.empty() ? "f16" : o.kv_cache);
  check(cuda::gpu_available(), "cuda", "no usable CUDA GPU: {}", cuda_status().detail);
  const auto model = load_causal_lm(o.model, kLoadFloatWeights);  // the runner uploads f32 weights
  const int64_t max_seq = o.prefill + o.decode + 2;
  std::vector<Row> rows;
  for (const auto prec : precisions) {
    cuda::DecoderOptions d;
    d.precision = prec, d.kv_cache = kv, d.device = device;
    d.max_batch = o.batches.front(), d.max_seq = max_seq, d.use_graphs = !o.no_graphs;
    d.model_dir = std::filesystem::is_directory(o.model) ? std::filesystem::path(o.model) : std::filesystem::path();
    log_info("bench-llm: preparing {} weights on cuda:{}", cuda::llm_precision_name(prec), device);
    cuda::LlamaCudaRunner runner(*model, d);
    if (bandwidth <= 0) bandwidth = cuda::measure_copy_bandwidth(size_t(1) << 30, 5, runner.stream());
    const int64_t vocab = runner.info().vocab_size;
    for (const int64_t b : o.batches) {
      runner.set_cache(b, max_seq);
      const Tensor prompt = random_prompt(b, o.prefill, vocab, o.seed);
      const std::vector<int64_t> next(static_cast<size_t>(b), 1);
      // Warm-up: plans, pool blocks, the decode graph.
      runner.prefill(prompt);
      for (int i = 0; i < 3 && i < o.decode; ++i) runner.decode_step(next);
      Row row;
      row.precision = std::string(cuda::llm_precision_name(prec));
      row.kv_cache = std::string(cuda::kv_cache_type_name(kv));
      row.batch = b;
      auto t0 = Clock::now();
      runner.prefill(prompt);  // returns after its logits reached the host
      row.prefill_s = seconds_since(t0);
      t0 = Clock::now();
      for (int64_t i = 0; i < o.decode; ++i) runner.decode_step(next);
      row.decode_s = seconds_since(t0);
      row.decode_steps = o.decode;
      row.weight_bytes = runner.weight_bytes();
      row.step_bytes = runner.decode_bytes(b, o.prefill + (o.decode + 1) / 2);
      if (row.decode_steps > 0 && row.decode_s > 0 && bandwidth > 0)
        row.hbm_fraction = double(row.step_bytes) / (row.decode_s / double(row.decode_steps)) / bandwidth;
      rows.push_back(row);
    }
  }
  return rows;
}

void run(const Options& o) {
  const LlmDevice dev = parse_llm_device(o.device);
  check(o.prefill >= 1 && o.decode >= 0, "cli", "--prefill must be >= 1 and --decode >= 0");
  check(!o.batches.empty(), "cli", "--batch is empty");
  for (const int64_t b : o.batches) check(b >= 1 && b <= 4096, "cli", "--batch {} out of range", b);
  Options opts = o;
  if (!dev.cuda && opts.precisions.empty() && !is_quantized_model(o.model)) opts.precisions = {"fp32"};
  double bandwidth = 0;
  const std::vector<Row> rows = dev.cuda ? bench_cuda(opts, dev.index, bandwidth) : bench_cpu(opts);
  const std::string device = dev.cuda ? fmt::format("cuda:{}", dev.index) : "cpu";
  auto rate = [](double tokens, double s) { return s > 0 ? tokens / s : 0.0; };
  if (o.json) {
    nlohmann::json results = nlohmann::json::array();
    for (const Row& r : rows) {
      nlohmann::json j{{"precision", r.precision},
                       {"kv_cache", r.kv_cache},
                       {"batch", r.batch},
                       {"prefill_tokens", r.batch * o.prefill},
                       {"prefill_seconds", r.prefill_s},
                       {"prefill_tokens_per_second", rate(double(r.batch * o.prefill), r.prefill_s)},
                       {"decode_steps", r.decode_steps},
                       {"decode_seconds", r.decode_s},
                       {"decode_tokens_per_second", rate(double(r.batch * r.decode_steps), r.decode_s)},
                       {"decode_step_ms", r.decode_steps > 0 ? 1e3 * r.decode_s / double(r.decode_steps) : 0.0},
                       {"weight_bytes", r.weight_bytes}};
      j["decode_bytes_per_step"] = r.step_bytes;
      if (dev.cuda) j["decode_hbm_fraction"] = r.hbm_fraction;
      if (!dev.cuda && r.read_bandwidth > 0) {
        j["read_bandwidth_bytes_per_second"] = r.read_bandwidth;
        j["decode_bound_fraction"] = r.hbm_fraction;
      }
      results.push_back(std::move(j));
    }
    nlohmann::json out{{"model", o.model}, {"device", device}, {"prefill", o.prefill}, {"decode", o.decode},
                       {"results", results}};
    if (dev.cuda) out["copy_bandwidth_bytes_per_second"] = bandwidth;
    print_json(out);
    return;
  }
  std::vector<TableRow> table;
  for (const Row& r : rows) {
    table.push_back({r.precision, r.kv_cache, std::to_string(r.batch),
                     fmt::format("{:.1f}", rate(double(r.batch * o.prefill), r.prefill_s)),
                     fmt::format("{:.1f}", rate(double(r.batch * r.decode_steps), r.decode_s)),
                     fmt::format("{:.3f}", r.decode_steps > 0 ? 1e3 * r.decode_s / double(r.decode_steps) : 0.0),
                     fmt::format("{:.1f}", double(r.weight_bytes) / 1e6),
                     r.hbm_fraction >= 0 ? fmt::format("{:.1f}%", 100.0 * r.hbm_fraction) : std::string("-")});
    if (!dev.cuda) table.back().push_back(r.read_bandwidth > 0 ? fmt::format("{:.1f}", r.read_bandwidth / 1e9) : "-");
  }
  std::vector<std::string> header{"precision",    "kv",      "batch",      "prefill tok/s",
                                  "decode tok/s", "step ms", "weights MB", "decode HBM"};
  if (!dev.cuda) header.back() = "decode / bound", header.push_back("read GB/s");
  print_table(header, table);
  if (dev.cuda) std::printf("copy bandwidth (cuda:%d, 1 GiB d2d): %.1f GB/s\n", dev.index, bandwidth / 1e9);
}

const CommandRegistration registration{{
    "bench-llm",
    "Prefill and decode speed of a decoder LLM (CPU fp32 or a quantized folder natively, or CUDA fp16 / w4a16 / fp8)",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("model", o->model, "Model folder (config.json + safetensors) or .gguf file")->required();
      sub.add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
      sub.add_option("--precision", o->precisions, "Comma-separated: fp32, bf16 (cpu); fp16, w4a16, fp8 (cuda)")
          ->delimiter(',');
      sub.add_option("--batch", o->batches, "Comma-separated batch sizes")->delimiter(',')->capture_default_str();
      sub.add_option("--prefill", o->prefill, "Prompt tokens per sequence")->capture_default_str();
      sub.add_option("--decode", o->decode, "Timed decode steps")->capture_default_str();
      sub.add_option("--kv-cache", o->kv_cache,
                     "KV cache: cuda f16 (default) or fp8; cpu f32, f16, int8 or fp8 (int8 / fp8 with dynamic "
                     "scales; default: the model's own)");
      sub.add_flag("--no-graphs", o->no_graphs, "Decode without CUDA graphs");
      sub.add_option("--seed", o->seed, "Seed of the random prompts")->capture_default_str();
      sub.add_flag("--json", o->json, "Print JSON");
      add_common_options(sub);
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli::bench_llm_command
