// Generation for encoder-decoder models (octet/seq2seq.h): the encoder runs
// once, then the decoder steps over its cache (or, use_cache = false,
// reruns over the whole decoder sequence each step as a reference).
#include <algorithm>
#include <chrono>

#include "core/elapsed.h"
#include "octet/error.h"
#include "octet/json_config.h"
#include "octet/seq2seq.h"

namespace octet {

bool is_seq2seq_model(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(path) && path.extension() == ".gguf") return false;
  const fs::path config = (fs::is_directory(path) ? path : path.parent_path()) / "config.json";
  if (!fs::exists(config)) return false;
  return JsonConfig::load(config).get_or<bool>("is_encoder_decoder", false);
}

std::unique_ptr<Seq2SeqLM> load_seq2seq_lm(const std::filesystem::path& path) {
  std::unique_ptr<Model> model = load_model(path);
  auto* lm = dynamic_cast<Seq2SeqLM*>(model.get());
  check(lm != nullptr, "generate", "{}: model type '{}' is not an encoder-decoder model", path.string(),
        model->info().model_type);
  model.release();
  return std::unique_ptr<Seq2SeqLM>(lm);
}

GenerationResult generate_seq2seq(const Seq2SeqLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                  const GenerationOptions& options, bool use_cache) {
  check(!prompts.empty(), "generate", "no prompts");
  check(options.max_new_tokens >= 0, "generate", "max_new_tokens must be >= 0");
  check(options.stop_strings.empty() || options.detokenize, "generate", "stop strings need a tokenizer");
  const ModelInfo& info = model.info();
  const int64_t batch = static_cast<int64_t>(prompts.size());
  const int64_t pad = options.pad_id.value_or(info.pad_token_id >= 0 ? info.pad_token_id : 0);
  std::vector<int64_t> eos = options.eos_ids.value_or(std::vector<int64_t>{});
  if (!options.eos_ids && info.eos_token_id >= 0) eos.push_back(info.eos_token_id);

  GenerationResult result;
  result.new_tokens.resize(size_t(batch));
  result.finish_reasons.assign(size_t(batch), FinishReason::Length);
  size_t longest = 0;
  for (const auto& p : prompts) {
    check(!p.empty(), "generate", "empty prompt (the encoder needs at least one token)");
    longest = std::max(longest, p.size());
    result.prompt_tokens += static_cast<int64_t>(p.size());
  }
  if (options.max_new_tokens == 0) return result;
  // Right-padded encoder input; padding is masked out of every attention.
  const int64_t len = static_cast<int64_t>(longest);
  Tensor ids = Tensor::empty({batch, len}, DType::I64), mask = Tensor::empty({batch, len}, DType::I64);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < len; ++s) {
      const auto& p = prompts[size_t(b)];
      const bool real = s < int64_t(p.size());
      ids.data<int64_t>()[b * len + s] = real ? p[size_t(s)] : pad;
      mask.data<int64_t>()[b * len + s] = real ? 1 : 0;
    }

  auto t0 = std::chrono::steady_clock::now();
  const Tensor encoded = model.encode(ids, mask);
  const int64_t capacity = options.max_new_tokens + 1;  // decoder_start_token_id + new tokens
  Seq2SeqCache cache;
  if (use_cache) cache = model.make_cache(encoded, mask, capacity);

  std::vector<std::vector<int64_t>> seqs(size_t(batch), std::vector<int64_t>{model.decoder_start_token_id()});
  std::vector<Sampler> samplers;
  for (int64_t b = 0; b < batch; ++b) samplers.emplace_back(options.sampling, uint64_t(b));
  std::vector<bool> done(size_t(batch), false);
  std::vector<float> row;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    Tensor logits;
    if (use_cache) {
      // Step 0 feeds decoder_start_token_id; later steps the last token (pad once a sequence is done).
      Tensor next = Tensor::empty({batch, 1}, DType::I64);
      for (int64_t b = 0; b < batch; ++b) next.data<int64_t>()[b] = seqs[size_t(b)].back();
      logits = model.decode(next, cache);
    } else {
      const int64_t n = static_cast<int64_t>(seqs.front().size());
      Tensor all = Tensor::empty({batch, n}, DType::I64);
      for (int64_t b = 0; b < batch; ++b) std::copy_n(seqs[size_t(b)].data(), n, all.data<int64_t>() + b * n);
      Seq2SeqCache fresh = model.make_cache(encoded, mask, n);
      logits = model.decode(all, fresh);
    }
    logits = logits.contiguous();
    const int64_t n = logits.dim(1), vocab = logits.dim(2);
    for (int64_t b = 0; b < batch; ++b) {
      if (done[size_t(b)]) {
        seqs[size_t(b)].push_back(pad);
        continue;
      }
      const float* r = logits.data<float>() + (b * n + n - 1) * vocab;
      row.assign(r, r + vocab);
      const int64_t token = samplers[size_t(b)].next(row, seqs[size_t(b)]);
      seqs[size_t(b)].push_back(token);
      result.new_tokens[size_t(b)].push_back(token);
      ++result.generated_tokens;
      if (options.on_token) options.on_token(b, token);
      if (std::find(eos.begin(), eos.end(), token) != eos.end()) {
        done[size_t(b)] = true;
        result.finish_reasons[size_t(b)] = FinishReason::Eos;
      } else if (!options.stop_strings.empty()) {
        const std::string text = options.detokenize(result.new_tokens[size_t(b)]);
        for (const auto& s : options.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            done[size_t(b)] = true;
            result.finish_reasons[size_t(b)] = FinishReason::StopString;
          }
      }
    }
    if (step == 0) {
      result.prefill_seconds = seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
    } else {
      ++result.decode_steps;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }
  result.decode_seconds = seconds_since(t0);
  return result;
}

}  // namespace octet
