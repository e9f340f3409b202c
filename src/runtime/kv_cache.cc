// KVCache and the CausalLM helpers shared by every decoder.
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
