// KVCache and the CausalLM helpers shared by every decoder.
#include <algorithm>
#include <vector>

#include "octet/error.h"
#include "octet/generate.h"

namespace octet {

KVCache::KVCache(std::vector<nn::AttentionCache> layers) : layers_(std::move(layers)) {}

int64_t KVCache::length() const { return layers_.empty() ? 0 : layers_.front().length; }
int64_t KVCache::capacity() const { return layers_.empty() ? 0 : layers_.front().capacity(); }
int64_t KVCache::batch() const { return layers_.empty() ? 0 : layers_.front().batch(); }

size_t KVCache::bytes() const {
  size_t total = 0;
  for (const auto& l : layers_) total += l.bytes();
  return total;
}

void KVCache::clear() {
  for (auto& l : layers_) l.length = 0;
}

KVCache CausalLM::make_cache(int64_t batch, int64_t capacity) const {
  check(batch > 0 && capacity > 0, "generate", "cache batch ({}) and capacity ({}) must be > 0", batch, capacity);
  std::vector<nn::AttentionCache> layers;
  for (int64_t i = 0; i < num_attention_layers(); ++i) layers.push_back(make_layer_cache(i, batch, capacity));
  return KVCache(std::move(layers));
}

void CausalLM::check_ragged(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const {
  check(!tokens.empty() && tokens.size() == caches.size(), "models",
        "decode_ragged needs one token per cache and at least one: {} tokens, {} caches", tokens.size(),
        caches.size());
  for (size_t i = 0; i < caches.size(); ++i) {
    const KVCache* c = caches[i];
    check(c != nullptr, "models", "decode_ragged: cache {} is null", i);
    check(int64_t(c->layers().size()) == num_attention_layers(), "models",
          "decode_ragged: cache {} has {} layers, the model {}", i, c->layers().size(), num_attention_layers());
    check(c->batch() == 1, "models", "decode_ragged: cache {} is for batch {}, not 1", i, c->batch());
    check(c->length() < c->capacity(), "models", "decode_ragged: cache {} is full ({} tokens)", i, c->capacity());
    check(tokens[i] >= 0 && (info_.vocab_size <= 0 || tokens[i] < info_.vocab_size), "models",
          "decode_ragged: token id {} is outside the vocabulary of {}", tokens[i], info_.vocab_size);
    for (size_t j = 0; j < i; ++j)
      check(caches[j] != c, "models", "decode_ragged: caches {} and {} are the same cache", j, i);
  }
}

Tensor CausalLM::decode_ragged(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const {
  check_ragged(tokens, caches);
  Tensor out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    ModelInputs in;
    in.input_ids = Tensor::from_vector(std::vector<int64_t>{tokens[i]}, {1, 1});
    const Tensor logits = forward_cached(in, *caches[i], /*last_only=*/true).contiguous();
    const int64_t vocab = logits.numel();
    if (!out.defined()) out = Tensor::empty({int64_t(tokens.size()), vocab}, DType::F32);
    std::copy_n(logits.data<float>(), vocab, out.data<float>() + int64_t(i) * vocab);
  }
  return out;
}

std::unique_ptr<CausalLM> load_causal_lm(const std::filesystem::path& path, const LoadOptions& options) {
  LoadOptions o = options;
  o.head = ModelHead::CausalLM;
  return as_causal_lm(load_model(path, o), path);
}

std::unique_ptr<CausalLM> as_causal_lm(std::unique_ptr<Model> model, const std::filesystem::path& path) {
  auto* lm = dynamic_cast<CausalLM*>(model.get());
  check(lm != nullptr, "generate", "{}: model type '{}' is not a decoder language model", path.string(),
        model->info().model_type);
  model.release();
  return std::unique_ptr<CausalLM>(lm);
}

}  // namespace octet
