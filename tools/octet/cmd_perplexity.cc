// `octet perplexity MODEL --data FILE`: sliding-window perplexity (Hugging
// Face's fixed-length-model definition), optionally against a second model.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "llm_device.h"
#include "octet/cuda_decoder.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/gemm_bf16.h"
#include "octet/generate.h"
#include "octet/perplexity.h"
#include "octet/precision.h"
#include "octet/quantized_model.h"
#include "output.h"

namespace octet::cli::perplexity_command {
namespace {

struct Options {
  std::string model, data, compare;
  PerplexityOptions ppl;
  bool json = false;
  std::string device = "cpu";
  std::string precision;            // cuda: fp16 (default) | w4a16 | fp8; cpu: fp32 (default) | bf16
  std::string kv_cache = "f16";    // cuda only
  std::string exec;                // quantized folders: native (default) or simulated
};

// The model as --exec says (CUDA keeps the f32 weights its runner uploads).
std::unique_ptr<CausalLM> load_lm(const std::string& path, const Options& o, bool cuda) {
  const LoadOptions lo{.head = ModelHead::CausalLM, .float_weights = cuda};
  if (o.exec.empty()) return load_causal_lm(path, lo);
  return as_causal_lm(load_model_for_execution(path, parse_execution(o.exec), lo), path);
}

// --device cuda: Hugging Face's sliding-window perplexity (as octet's CPU
// perplexity()): windows of `context` tokens every `stride`; each window
// scores its tokens past the previous window's end (the first token of the
// stream is never scored), with the CUDA decoder's logits of every position.
PerplexityResult perplexity_cuda(const Options& o, const LlmDevice& dev, CausalLM& model,
                                 const std::vector<int64_t>& ids) {
  const int64_t n = int64_t(ids.size());
  check(n >= 2, "cli", "perplexity needs at least 2 tokens");
  const int64_t ctx = o.ppl.context > 0 ? o.ppl.context : model.info().max_positions;
  const int64_t stride = o.ppl.stride > 0 ? o.ppl.stride : ctx;
  check(ctx >= 2 && stride >= 1 && stride <= ctx, "cli", "--ctx must be >= 2 and 1 <= --stride <= ctx");
  cuda::DecoderOptions d;
  d.precision = cuda::parse_llm_precision(o.precision.empty() ? "fp16" : o.precision);
  d.kv_cache = cuda::parse_kv_cache_type(o.kv_cache);
  d.device = dev.index, d.max_batch = 1, d.max_seq = std::min(ctx, n);
  d.model_dir = std::filesystem::is_directory(o.model) ? std::filesystem::path(o.model) : std::filesystem::path();
  cuda::LlamaCudaRunner runner(model, d);
  const int64_t vocab = runner.info().vocab_size;
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityResult r;
  double nll = 0;
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + ctx, n), len = end - begin;
    const int64_t first = std::max(prev_end, begin + 1);  // first scored target
    if (len >= 2 && first < end) {
      std::vector<int64_t> window(ids.begin() + begin, ids.begin() + end);
      const Tensor logits = runner.prefill(Tensor::from_vector(window, {1, len}), true);
      const float* lp = logits.data<float>();
      for (int64_t t = first; t < end; ++t) {
        const float* row = lp + (t - 1 - begin) * vocab;  // position t - 1 predicts token t
        double mx = row[0];
        for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, double(row[v]));
        double sum = 0;
        for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - mx);
        const int64_t target = ids[size_t(t)];
        check(target >= 0 && target < vocab, "perplexity", "token id {} outside the vocabulary [0, {})", target, vocab);
        nll += mx + std::log(sum) - double(row[target]);
        ++r.scored_tokens;
      }
    }
    ++r.windows;
    prev_end = end;
    if (end == n) break;
  }
  r.mean_nll = r.scored_tokens > 0 ? nll / double(r.scored_tokens) : 0.0;
  r.perplexity = std::exp(r.mean_nll);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cli", "cannot read --data '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(Options o) {
  const LlmDevice dev = parse_llm_device(o.device);
  if (dev.cuda) {
    cuda::parse_llm_precision(o.precision.empty() ? "fp16" : o.precision);
    cuda::parse_kv_cache_type(o.kv_cache);
    check(o.compare.empty(), "cli", "--compare is not supported with --device cuda yet");
    check(cuda::gpu_available(), "cuda", "no usable CUDA GPU: {}", cuda_status().detail);
  } else {
    check(o.kv_cache == "f16", "cli", "--kv-cache applies to --device cuda");
    check(o.precision.empty() || o.precision == "fp32" || o.precision == "bf16", "cli",
          "--precision '{}' on the CPU: fp32 (as loaded) or bf16 (fp16, w4a16 and fp8 need --device cuda)",
          o.precision);
    if (o.precision == "bf16") require_bf16_gemm("cli");
  }
  const auto model = load_lm(o.model, o, dev.cuda);
  // On the CPU --precision applies to MODEL only: `--precision bf16 --compare MODEL` measures bf16 against fp32.
  if (!dev.cuda && !o.precision.empty()) apply_cpu_precision(*model, o.precision);
  use_decode_kernels(*model);
  const Tokenizer tok = load_model_tokenizer(o.model);
  std::string text = read_text(o.data);
  // With --limit-tokens, tokenize only a prefix: 16 bytes per token is far more
  // than any tokenizer needs (tokens average 3-5 bytes of English).
  if (o.ppl.limit_tokens > 0 && int64_t(text.size()) > 16 * o.ppl.limit_tokens + 1024)
    text.resize(size_t(16 * o.ppl.limit_tokens + 1024));
  std::vector<int64_t> ids = tok.encode(text).ids;
  if (o.ppl.limit_tokens > 0 && int64_t(ids.size()) > o.ppl.limit_tokens) ids.resize(size_t(o.ppl.limit_tokens));
  if (o.compare.empty()) {
    const PerplexityResult r = dev.cuda ? perplexity_cuda(o, dev, *model, ids) : perplexity(*model, ids, o.ppl);
    if (o.json) {
      print_json({{"model", o.model}, {"data", o.data}, {"perplexity", r.perplexity}, {"mean_nll", r.mean_nll},
                  {"scored_tokens", r.scored_tokens}, {"windows", r.windows}, {"seconds", r.seconds}});
    } else {
      print_table({"model", "perplexity", "nll/token", "tokens scored", "windows", "time"},
                  {{o.model, fmt::format("{:.4f}", r.perplexity), fmt::format("{:.4f}", r.mean_nll),
                    std::to_string(r.scored_tokens), std::to_string(r.windows), format_duration(r.seconds)}});
    }
    return;
  }
  const auto other = load_lm(o.compare, o, dev.cuda);
  use_decode_kernels(*other);
  const ModelComparison c = compare_models(*model, *other, ids, o.ppl);
  if (o.json) {
    print_json({{"model", o.model}, {"compare", o.compare}, {"data", o.data}, {"perplexity", c.a.perplexity},
                {"compare_perplexity", c.b.perplexity}, {"mean_kl", c.mean_kl}, {"top1_agreement", c.top1_agreement},
                {"positions", c.positions}, {"windows", c.a.windows}});
  } else {
    print_table({"model", "perplexity", "tokens scored"},
                {{o.model, fmt::format("{:.4f}", c.a.perplexity), std::to_string(c.positions)},
                 {o.compare, fmt::format("{:.4f}", c.b.perplexity), std::to_string(c.positions)}});
    std::printf("mean KL(model || compare): %.6g nats   top-1 agreement: %.2f%%\n", c.mean_kl,
                100.0 * c.top1_agreement);
  }
}

const CommandRegistration registration{{
    "perplexity",
    "Sliding-window perplexity of a decoder LLM on a text file (optionally vs a second model)",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("model", o->model, "Model folder or .gguf file")->required();
      sub.add_option("--data", o->data, "Text file (e.g. wikitext-2 wiki.test.raw)")->required();
      sub.add_option("--ctx", o->ppl.context, "Window length in tokens (default: the model's context)");
      sub.add_option("--stride", o->ppl.stride, "Window step; each window scores only its last end - prev_end tokens (default: ctx)");
      sub.add_option("--limit-tokens", o->ppl.limit_tokens, "Use only the first N tokens of the data");
      sub.add_option("--compare", o->compare, "A second model: report mean KL divergence and top-1 agreement");
      sub.add_flag("--json", o->json, "Print JSON");
      sub.add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
      sub.add_option("--precision", o->precision,
                     "cuda: fp16 (default), w4a16 or fp8; cpu: fp32 (default) or bf16 (MODEL's Linears on the bf16 GEMM)");
      sub.add_option("--kv-cache", o->kv_cache, "cuda: f16 or fp8")->capture_default_str();
      sub.add_option("--exec", o->exec,
                     "Quantized folders: native (packed kernels, the default) or simulated (fp32 with QDQ); "
                     "GGUF files: native (Q4_0 / Q8_0 blocks on the packed kernels) or simulated (every weight "
                     "dequantized to fp32)");
      add_common_options(sub);
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli::perplexity_command
