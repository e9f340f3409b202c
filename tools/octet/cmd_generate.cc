// `octet generate MODEL --prompt TEXT`: text generation with the KV cache.
// Tokens stream to stdout as they are chosen; prefill and decode speed go to
// stderr; --json prints the ids and text instead.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "core/parse_int.h"
#include "llm_device.h"
#include "octet/cuda_decoder.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/log.h"
#include "octet/seq2seq.h"
#include "output.h"

namespace octet::cli::generate_command {
namespace {

struct Options {
  std::string model;
  std::vector<std::string> prompts;
  std::string prompt_ids;
  int64_t max_new_tokens = 32;
  SamplingOptions sampling;
  std::vector<std::string> stop;
  bool json = false;
  std::string device = "cpu";
  std::string precision = "fp16";  // cuda only
  std::string kv_cache = "f16";    // cuda only
};

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    // Spaces around an id are allowed ("1, 2, 3"); the id itself is strict.
    const size_t first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    const std::optional<int64_t> id = parse_decimal<int64_t>(
        first == std::string::npos ? "" : std::string_view(item).substr(first, last - first + 1));
    check(id.has_value(), "cli", "--prompt-ids: '{}' is not an integer", item);
    ids.push_back(*id);
  }
  check(!ids.empty(), "cli", "--prompt-ids is empty");
  return ids;
}

// Ends with U+FFFD: the last token left a UTF-8 sequence incomplete; wait for more.
bool ends_incomplete(const std::string& s) { return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0; }

// --device cuda: the CUDA decoder (octet/cuda_decoder.h). Prompts of one batch
// must have the same length (it does not pad); sampling as on the CPU, one
// Sampler per sequence; a sequence stops at EOS (the batch runs until all have).
GenerationResult generate_cuda(const Options& o, const LlmDevice& dev, CausalLM& model,
                               const std::vector<std::vector<int64_t>>& prompts, const GenerationOptions& g) {
  const int64_t b = int64_t(prompts.size()), len = int64_t(prompts.front().size());
  for (const auto& p : prompts)
    check(int64_t(p.size()) == len, "cli", "--device cuda: all prompts must have the same number of tokens");
  check(g.stop_strings.empty(), "cli", "--device cuda: --stop is not supported yet");
  cuda::DecoderOptions d;
  d.precision = cuda::parse_llm_precision(o.precision);
  d.kv_cache = cuda::parse_kv_cache_type(o.kv_cache);
  d.device = dev.index, d.max_batch = b, d.max_seq = len + std::max<int64_t>(g.max_new_tokens, 1);
  d.model_dir = std::filesystem::is_directory(o.model) ? std::filesystem::path(o.model) : std::filesystem::path();
  cuda::LlamaCudaRunner runner(model, d);
  std::vector<int64_t> flat;
  for (const auto& p : prompts) flat.insert(flat.end(), p.begin(), p.end());
  GenerationResult r;
  r.new_tokens.resize(size_t(b));
  r.finish_reasons.assign(size_t(b), FinishReason::Length);
  r.prompt_tokens = b * len;
  if (g.max_new_tokens == 0) return r;
  std::vector<Sampler> samplers;
  for (int64_t i = 0; i < b; ++i) samplers.emplace_back(g.sampling, uint64_t(i));
  std::vector<std::vector<int64_t>> history = prompts;
  std::vector<bool> done(size_t(b), false);
  const int64_t eos = model.info().eos_token_id, vocab = runner.info().vocab_size;
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  Tensor logits = runner.prefill(Tensor::from_vector(flat, {b, len}));
  r.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  for (int64_t step = 0; step < g.max_new_tokens; ++step) {
    std::vector<int64_t> next(static_cast<size_t>(b), 0);
    for (int64_t i = 0; i < b; ++i) {
      if (done[size_t(i)]) continue;
      std::span<float> row(logits.data<float>() + i * vocab, size_t(vocab));
      next[size_t(i)] = samplers[size_t(i)].next(row, history[size_t(i)]);
      history[size_t(i)].push_back(next[size_t(i)]);
      r.new_tokens[size_t(i)].push_back(next[size_t(i)]);
      ++r.generated_tokens;
      if (g.on_token) g.on_token(i, next[size_t(i)]);
      if (eos >= 0 && next[size_t(i)] == eos) done[size_t(i)] = true, r.finish_reasons[size_t(i)] = FinishReason::Eos;
    }
    if (std::all_of(done.begin(), done.end(), [](bool x) { return x; }) || step + 1 == g.max_new_tokens) break;
    logits = runner.decode_step(next);
    ++r.decode_steps;
  }
  r.decode_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

void run(const Options& o) {
  check(!o.prompts.empty() || !o.prompt_ids.empty(), "cli", "give --prompt TEXT or --prompt-ids 1,2,3");
  check(o.prompts.empty() || o.prompt_ids.empty(), "cli", "give either --prompt or --prompt-ids, not both");
  const LlmDevice dev = parse_llm_device(o.device);
  if (dev.cuda) {
    cuda::parse_llm_precision(o.precision);
    cuda::parse_kv_cache_type(o.kv_cache);
    check(cuda::gpu_available(), "cuda", "no usable CUDA GPU: {}", cuda_status().detail);
  } else {
    check(o.precision == "fp16" && o.kv_cache == "f16", "cli",
          "--precision and --kv-cache apply to --device cuda (the CPU runs the model as loaded)");
  }
  // Encoder-decoders (T5, BART): the prompt is the encoder input; the new
  // tokens follow decoder_start_token_id (octet/seq2seq.h).
  std::unique_ptr<CausalLM> model;
  std::unique_ptr<Seq2SeqLM> seq2seq;
  if (is_seq2seq_model(o.model)) {
    check(!dev.cuda, "cli", "--device cuda does not run encoder-decoder models yet (use the CPU)");
    seq2seq = load_seq2seq_lm(o.model);
    use_decode_kernels(*seq2seq);
  } else {
    // The CUDA runner uploads f32 weights; the CPU runs quantized folders with packed kernels.
    model = load_causal_lm(o.model, {.head = std::nullopt, .float_weights = dev.cuda});
    use_decode_kernels(*model);
  }
  const ModelInfo& info = seq2seq ? seq2seq->info() : model->info();
  std::optional<Tokenizer> tok;
  try {
    tok = load_model_tokenizer(o.model);
  } catch (const Error& e) {
    check(o.prompts.empty() && o.stop.empty(), "cli", "{} (a tokenizer is needed for --prompt and --stop)", e.what());
    log_info("no tokenizer ({}); printing token ids", e.what());
  }
  std::vector<std::vector<int64_t>> prompts;
  if (!o.prompt_ids.empty()) prompts.push_back(parse_ids(o.prompt_ids));
  for (const auto& p : o.prompts) {
    std::vector<int64_t> ids = tok->encode(p).ids;
    if (ids.empty() && info.bos_token_id >= 0) ids.push_back(info.bos_token_id);
    check(!ids.empty(), "cli", "the prompt '{}' encodes to no tokens", p);
    prompts.push_back(std::move(ids));
  }

  GenerationOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.sampling = o.sampling;
  g.stop_strings = o.stop;
  if (tok) g.detokenize = [&](std::span<const int64_t> ids) { return tok->decode(ids); };
  // Streaming (one prompt, not --json): the prompt, then the text as it grows.
  // Decoding prompt + new tokens together keeps SentencePiece's word-initial
  // spaces, which decoding the new tokens alone would strip.
  const bool stream = !o.json && prompts.size() == 1;
  // A decoder's text continues its prompt; an encoder-decoder's is new text.
  std::vector<int64_t> all = seq2seq ? std::vector<int64_t>{} : prompts.front();
  std::string printed;
  if (stream && tok && !seq2seq) {
    printed = tok->decode(all);
    std::fwrite(printed.data(), 1, printed.size(), stdout);
    std::fflush(stdout);
  }
  auto print_growth = [&] {
    const std::string text = tok->decode(all);
    if (ends_incomplete(text) || text.size() < printed.size() || text.compare(0, printed.size(), printed) != 0) return;
    std::fwrite(text.data() + printed.size(), 1, text.size() - printed.size(), stdout);
    printed = text;
  };
  if (stream) {
    g.on_token = [&](int64_t, int64_t token) {
      all.push_back(token);
      if (tok)
        print_growth();
      else
        std::printf("%lld ", static_cast<long long>(token));
      std::fflush(stdout);
    };
  }
  const GenerationResult r = seq2seq    ? generate_seq2seq(*seq2seq, prompts, g)
                             : dev.cuda ? generate_cuda(o, dev, *model, prompts, g)
                                        : generate(*model, prompts, g);
  if (stream) {
    std::printf("\n");
  } else if (!o.json) {
    for (size_t i = 0; i < prompts.size(); ++i) {
      const std::string text =
          tok ? tok->decode(r.new_tokens[i]) : fmt::format("{}", fmt::join(r.new_tokens[i], " "));
      std::printf("[%zu] %s\n", i, text.c_str());
    }
  }
  std::fflush(stdout);
  const double prefill_rate = r.prefill_seconds > 0 ? double(r.prompt_tokens) / r.prefill_seconds : 0.0;
  const double decode_rate = r.decode_seconds > 0 ? double(r.decode_steps * int64_t(prompts.size())) / r.decode_seconds : 0.0;
  std::fprintf(stderr, "prefill: %lld tokens in %s (%.1f tokens/s); decode: %lld steps x %zu in %s (%.2f tokens/s)\n",
               static_cast<long long>(r.prompt_tokens), format_duration(r.prefill_seconds).c_str(), prefill_rate,
               static_cast<long long>(r.decode_steps), prompts.size(), format_duration(r.decode_seconds).c_str(),
               decode_rate);
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < prompts.size(); ++i) {
      nlohmann::json s{{"prompt_ids", prompts[i]},
                       {"generated_ids", r.new_tokens[i]},
                       {"finish_reason", finish_reason_name(r.finish_reasons[i])}};
      if (tok) s["text"] = tok->decode(r.new_tokens[i]);
      out.push_back(std::move(s));
    }
    print_json({{"model", o.model},
                {"sequences", out},
                {"prefill_seconds", r.prefill_seconds},
                {"decode_seconds", r.decode_seconds},
                {"prefill_tokens_per_second", prefill_rate},
                {"decode_tokens_per_second", decode_rate}});
  }
}

const CommandRegistration registration{{
    "generate",
    "Generate text with a decoder LLM (Hugging Face folder or GGUF file) or an encoder-decoder (T5, BART)",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("model", o->model, "Model folder (config.json + safetensors) or .gguf file")->required();
      sub.add_option("--prompt", o->prompts, "Prompt text (repeat for a batch; tokenized with the model's tokenizer)");
      sub.add_option("--prompt-ids", o->prompt_ids, "Prompt as token ids, e.g. 1,5,9");
      sub.add_option("--max-new-tokens", o->max_new_tokens, "Tokens to generate")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
      sub.add_option("--temperature", o->sampling.temperature, "0 = greedy; else sample from logits / T")->capture_default_str();
      sub.add_option("--top-k", o->sampling.top_k, "Sample among the k most likely tokens (0 = all)")->capture_default_str();
      sub.add_option("--top-p", o->sampling.top_p, "Nucleus sampling mass")->capture_default_str();
      sub.add_option("--repetition-penalty", o->sampling.repetition_penalty, "Penalty on tokens already seen (transformers' rule)")->capture_default_str();
      sub.add_option("--seed", o->sampling.seed, "Seed of the sampler (std::mt19937_64)")->capture_default_str();
      sub.add_option("--stop", o->stop, "Stop when the generated text contains this string (repeatable)");
      sub.add_flag("--json", o->json, "Print ids, text and speed as JSON instead of streaming");
      sub.add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
      sub.add_option("--precision", o->precision, "cuda: fp16, w4a16 or fp8")->capture_default_str();
      sub.add_option("--kv-cache", o->kv_cache, "cuda: f16 or fp8")->capture_default_str();
      add_common_options(sub);
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli::generate_command
