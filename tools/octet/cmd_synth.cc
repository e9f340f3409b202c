// `octet synth --arch bert|llama --size ... -o DIR`: a random-weight model in
// Hugging Face layout (config.json + model.safetensors), for benchmarks.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/synth.h"
#include "output.h"

namespace octet::cli::synth_command {
namespace {

struct Options {
  SynthOptions synth;
  std::string out;
  bool force = false;
  bool json = false;
};

void run(const Options& o) {
  const SynthResult r = synthesize(o.synth, o.out, o.force);
  if (o.json) {
    print_json({{"dir", r.dir.string()}, {"arch", o.synth.arch}, {"size", o.synth.size}, {"parameters", r.parameters},
                {"bytes", r.bytes}});
    return;
  }
  std::printf("wrote %s: %s %s, %lld parameters, %s%s\n", r.dir.string().c_str(), o.synth.arch.c_str(),
              o.synth.size.c_str(), static_cast<long long>(r.parameters), format_bytes(r.bytes).c_str(),
              o.synth.arch == "llama" ? " (tokenizer.gguf: a synthetic vocabulary)" : " (no tokenizer)");
}

const CommandRegistration registration{{
    "synth",
    "Write a random-weight model in Hugging Face layout (llama: with a synthetic SentencePiece vocabulary in "
    "tokenizer.gguf; bert: no tokenizer, drive it with token ids)",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("--arch", o->synth.arch, "bert (sequence classification, 2 labels) or llama (causal LM)")
          ->capture_default_str()
          ->check(CLI::IsMember({"bert", "llama"}));
      sub.add_option("--size", o->synth.size,
                     "bert: tiny | base (768x12) | large (1024x24); llama: tiny | 1b (TinyLlama-1.1B shapes, 4.4 GB f32)")
          ->capture_default_str();
      sub.add_option("--seed", o->synth.seed, "Seed of the weights")->capture_default_str();
      sub.add_option("-o,--output", o->out, "Output folder (config.json, model.safetensors; llama: tokenizer.gguf)")
          ->required();
      sub.add_flag("--force", o->force, "Replace the output folder if it exists");
      sub.add_flag("--json", o->json, "Print JSON");
      add_common_options(sub);
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli::synth_command
