// Prefill + decode loop over one KV cache, and generate() on top of it.
#include <algorithm>
#include <chrono>

#include "core/elapsed.h"
#include "octet/error.h"
#include "octet/generate.h"

namespace octet {

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Length: return "length";
    case FinishReason::Eos: return "eos";
    case FinishReason::StopString: return "stop";
    case FinishReason::Context: return "context";
  }
  return "unknown";
}

Generator::Generator(const CausalLM& model, int64_t batch, int64_t capacity, int64_t pad_id)
    : model_(model),
      batch_(batch),
      pad_id_(pad_id),
      cache_(model.make_cache(batch, capacity)),
      mask_(static_cast<size_t>(batch * capacity), 0),
      next_pos_(static_cast<size_t>(batch), 0) {}

Tensor Generator::prefill(const std::vector<std::vector<int64_t>>& prompts) {
  check(int64_t(prompts.size()) == batch_, "generate", "{} prompts for a generator of batch {}", prompts.size(),
        batch_);
  check(cache_.length() == 0, "generate", "prefill needs an empty cache ({} tokens cached)", cache_.length());
  size_t longest = 0;
  for (const auto& p : prompts) {
    check(!p.empty(), "generate", "empty prompt (give at least one token, e.g. BOS)");
    longest = std::max(longest, p.size());
  }
  const int64_t len = static_cast<int64_t>(longest), cap = cache_.capacity();
  check(len <= cap, "generate", "prompt of {} tokens exceeds the cache capacity of {}", len, cap);
  Tensor ids = Tensor::empty({batch_, len}, DType::I64), mask = Tensor::empty({batch_, len}, DType::I64);
  Tensor pos = Tensor::empty({batch_, len}, DType::I64);
  for (int64_t b = 0; b < batch_; ++b) {
    const auto& p = prompts[size_t(b)];
    const int64_t pad = len - int64_t(p.size());
    for (int64_t s = 0; s < len; ++s) {
      const bool real = s >= pad;
      const size_t i = size_t(b * len + s);
      ids.data<int64_t>()[i] = real ? p[size_t(s - pad)] : pad_id_;
      mask.data<int64_t>()[i] = real ? 1 : 0;
      // cumsum(mask) - 1, padding at 1: transformers' generate() convention.
      pos.data<int64_t>()[i] = real ? s - pad : 1;
      mask_[size_t(b * cap + s)] = real ? 1 : 0;
    }
    next_pos_[size_t(b)] = int64_t(p.size());
  }
  Tensor logits = model_.forward_cached({ids, mask, {}, pos}, cache_, /*last_only=*/true);
  return logits.reshape({batch_, logits.dim(-1)});
}

Tensor Generator::decode_step(std::span<const int64_t> tokens) {
  check(int64_t(tokens.size()) == batch_, "generate", "{} tokens for a batch of {}", tokens.size(), batch_);
  const int64_t t = cache_.length(), cap = cache_.capacity();
  check(t > 0, "generate", "decode_step before prefill");
  check(t < cap, "generate", "KV cache full ({} tokens)", cap);
  Tensor ids = Tensor::empty({batch_, 1}, DType::I64), pos = Tensor::empty({batch_, 1}, DType::I64);
  Tensor mask = Tensor::empty({batch_, t + 1}, DType::I64);
  for (int64_t b = 0; b < batch_; ++b) {
    ids.data<int64_t>()[b] = tokens[size_t(b)];
    pos.data<int64_t>()[b] = next_pos_[size_t(b)]++;
    mask_[size_t(b * cap + t)] = 1;
    std::copy_n(mask_.data() + b * cap, t + 1, mask.data<int64_t>() + b * (t + 1));
  }
  Tensor logits = model_.forward_cached({ids, mask, {}, pos}, cache_, /*last_only=*/true);
  return logits.reshape({batch_, logits.dim(-1)});
}

GenerationResult generate(const CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& options) {
  check(!prompts.empty(), "generate", "no prompts");
  check(options.max_new_tokens >= 0, "generate", "max_new_tokens must be >= 0, got {}", options.max_new_tokens);
  check(options.stop_strings.empty() || options.detokenize, "generate", "stop strings need a tokenizer");
  const ModelInfo& info = model.info();
  const int64_t context = model.context_length();
  const int64_t batch = int64_t(prompts.size());
  int64_t longest = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    check(!prompts[i].empty(), "generate", "prompt {} is empty (give at least one token, e.g. BOS)", i);
    for (int64_t id : prompts[i])
      check(id >= 0 && id < info.vocab_size, "generate", "prompt {} has token id {} outside the vocabulary [0, {})", i,
            id, info.vocab_size);
    longest = std::max<int64_t>(longest, int64_t(prompts[i].size()));
    check(context <= 0 || int64_t(prompts[i].size()) <= context, "generate",
          "prompt {} has {} tokens, more than the model's context of {}", i, prompts[i].size(), context);
  }
  GenerationResult result;
  result.new_tokens.resize(size_t(batch));
  result.finish_reasons.assign(size_t(batch), FinishReason::Length);
  for (const auto& p : prompts) result.prompt_tokens += int64_t(p.size());
  if (options.max_new_tokens == 0) return result;

  // The last new token is never fed back, so the cache needs longest + max_new - 1
  // slots; positions stay below the context.
  int64_t capacity = longest + options.max_new_tokens - 1;
  if (context > 0) capacity = std::min(capacity, context);
  capacity = std::max(capacity, longest);
  const std::vector<int64_t> eos = options.eos_ids.value_or(
      info.eos_token_id >= 0 ? std::vector<int64_t>{info.eos_token_id} : std::vector<int64_t>{});
  const int64_t pad_id = options.pad_id.value_or(
      info.pad_token_id >= 0 ? info.pad_token_id : (info.eos_token_id >= 0 ? info.eos_token_id : 0));

  Generator gen(model, batch, capacity, pad_id);
  std::vector<Sampler> samplers;
  for (int64_t b = 0; b < batch; ++b) samplers.emplace_back(options.sampling, uint64_t(b));
  std::vector<std::vector<int64_t>> history = prompts;
  std::vector<bool> done(size_t(batch), false);
  std::vector<int64_t> feed(size_t(batch), pad_id);

  auto t0 = std::chrono::steady_clock::now();
  Tensor logits = gen.prefill(prompts);
  result.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const int64_t vocab = logits.dim(1);
  while (true) {
    int64_t active = 0;
    for (int64_t b = 0; b < batch; ++b) {
      if (done[size_t(b)]) continue;
      std::span<float> row(logits.data<float>() + b * vocab, size_t(vocab));
      const int64_t token = samplers[size_t(b)].next(row, history[size_t(b)]);
      history[size_t(b)].push_back(token);
      auto& out = result.new_tokens[size_t(b)];
      out.push_back(token);
      ++result.generated_tokens;
      feed[size_t(b)] = token;
      if (options.on_token) options.on_token(b, token);
      if (std::find(eos.begin(), eos.end(), token) != eos.end()) {
        done[size_t(b)] = true, result.finish_reasons[size_t(b)] = FinishReason::Eos;
      } else if (!options.stop_strings.empty()) {
        const std::string text = options.detokenize(out);
        for (const auto& s : options.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            done[size_t(b)] = true, result.finish_reasons[size_t(b)] = FinishReason::StopString;
            break;
          }
      }
      if (!done[size_t(b)] && int64_t(out.size()) >= options.max_new_tokens) {
        done[size_t(b)] = true, result.finish_reasons[size_t(b)] = FinishReason::Length;
      }
      if (!done[size_t(b)]) ++active;
    }
    if (active == 0) break;
    if (gen.cache().length() >= gen.cache().capacity()) {
      for (int64_t b = 0; b < batch; ++b)
        if (!done[size_t(b)]) result.finish_reasons[size_t(b)] = FinishReason::Context;
      break;
    }
    for (int64_t b = 0; b < batch; ++b)
      if (done[size_t(b)]) feed[size_t(b)] = pad_id;  // finished sequences idle on padding
    logits = gen.decode_step(feed);
    ++result.decode_steps;
  }
  result.decode_seconds = seconds_since(t0);
  return result;
}

}  // namespace octet
