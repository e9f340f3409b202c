// `octet perplexity MODEL --data FILE`: sliding-window perplexity (Hugging
// Face's fixed-length-model definition), optionally against a second model.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/perplexity.h"
#include "output.h"

namespace octet::cli {
namespace {

struct Options {
  std::string model, data, compare;
  PerplexityOptions ppl;
  bool json = false;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cli", "cannot read --data '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(Options o) {
  const auto model = load_causal_lm(o.model);
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
    const PerplexityResult r = perplexity(*model, ids, o.ppl);
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
  const auto other = load_causal_lm(o.compare);
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
      add_common_options(sub);
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli
