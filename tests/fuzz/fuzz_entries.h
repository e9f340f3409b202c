// One entry function per fuzz target: bytes in, the real parser entry points
// called on them. Shared by the libFuzzer targets (tests/fuzz/targets/, built
// with clang and -DOCTET_FUZZ=ON) and by the GCC replay test
// (tests/io/fuzz_regressions_test.cc), so a checked-in regression input runs
// through exactly the code the fuzzer ran.
//
// Contract: an entry returns normally or throws octet::Error. Anything else
// (another exception, a sanitizer report, a crash, a hang, unbounded memory)
// is a finding.
//
// Parsers that only take paths get the bytes through files in a per-process
// temporary folder. Targets that read a folder take several files from one
// input, split at kFileSeparator (see split_files).
#pragma once

#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "octet/error.h"
#include "octet/generate.h"
#include "octet/gguf.h"
#include "octet/hf_checkpoint.h"
#include "octet/json_config.h"
#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "octet/tokenizer.h"
#include "serve/chat_template.h"
#include "serve/openai_api.h"

namespace octet::fuzz {

// Separates the files of a multi-file input (quantized_folder, hf_quant).
inline constexpr std::string_view kFileSeparator = "\n@@FILE@@\n";

// The target names, as the fuzz binaries (fuzz_<name>) and the corpus and
// regression folders (tests/fuzz/corpus/<name>, tests/fuzz/regressions/<name>) spell them.
inline constexpr std::array<std::string_view, 9> kTargets = {"safetensors",      "gguf",      "gguf_model",
                                                             "config_build",     "tokenizer", "tokenizer_folder",
                                                             "quantized_folder", "hf_quant",  "serve_request"};

// A folder of this process under the temp dir, removed at exit. The path is never destroyed:
// the atexit handler runs after static destructors of objects constructed before it was
// registered (a function-local static path here was already gone when the handler read it, so
// the folder stayed behind after every run).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path* const dir = [] {
    auto* d = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("octet-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline std::filesystem::path fresh_folder() {
  const auto dir = scratch_dir() / "folder";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<std::string_view> split_files(std::string_view input, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = input.find(kFileSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + kFileSeparator.size());
  }
  parts.push_back(input);
  return parts;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// ---- (a) safetensors: header, offsets, every tensor view -------------------------------

inline void safetensors(const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / "input.safetensors";
  write_bytes(path, as_text(data, size));
  const SafetensorsFile file = SafetensorsFile::open(path);
  double sum = 0;
  for (const std::string& name : file.names()) {
    const Tensor t = file.get(name);
    if (t.numel() == 0) continue;
    try {
      sum += t.to(DType::F32).data<float>()[0];  // reads every element
    } catch (const Error&) {
      // a dtype without an f32 conversion: an Error by contract
    }
  }
  (void)file.metadata();
  (void)sum;
}

// ---- (b) GGUF: header, metadata, tensor infos, every block decoder -----------------------

inline void gguf(const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / "input.gguf";
  write_bytes(path, as_text(data, size));
  const GgufFile file = GgufFile::open(path);
  for (const auto& kv : file.metadata()) {
    const std::string& key = kv.first;  // not structured bindings: clang < 16 cannot capture them
    const GgufValue& value = kv.second;
    // The checked conversions loaders use; each either converts or throws Error.
    const auto attempt = [](auto&& fn) {
      try {
        fn();
      } catch (const Error&) {
      }
    };
    attempt([&] { (void)value.as_i64(key); });
    attempt([&] { (void)value.as_u64(key); });
    attempt([&] { (void)value.as_f64(key); });
    attempt([&] { (void)value.as_string_list(key); });
    attempt([&] { (void)value.as_int_list(key); });
    attempt([&] { (void)value.as_float_list(key); });
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    try {
      (void)file.get_raw(t.name);
      (void)file.get_f32(t.name);
    } catch (const Error&) {
      // A block type octet cannot dequantize: an Error by contract; go on with the next.
    }
  }
}

// ---- (b') a GGUF file as a model: hyper-parameters -> LLaMA build, tokenizer, one forward ----

// What `octet run` / `generate` do with a .gguf: load_model (llama_hf_config_from_gguf, the size
// checks, GGUF tensors under HF names with the q/k row un-permutation, every block decoder a
// tensor asks for), the tokenizer from tokenizer.ggml.* (SentencePiece or BPE), a few encodes and
// decodes, and one forward pass of two tokens.
inline void gguf_model(const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / "model.gguf";
  write_bytes(path, as_text(data, size));
  try {
    const Tokenizer tok = tokenizer_from_gguf(GgufFile::open(path));
    for (const std::string_view text : {"Once upon a time", "", " caf\xc3\xa9 \xf0\x9f\x98\x80 <s></s>", "\xff\xfe\xc3"}) {
      const Encoding e = tok.encode(text);
      (void)tok.decode(e.ids, true);
    }
  } catch (const Error&) {
    // no tokenizer, or a broken one: an Error by contract; the model may still load
  }
  const std::unique_ptr<Model> model = load_model(path);
  const int64_t vocab = model->info().vocab_size;
  if (vocab <= 0) return;
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{0, vocab - 1}, {1, 2});
  (void)model->forward({ids, {}, {}, {}});
}

// ---- (c) config.json -> model build through the registry, zero weights -----------------

// Zeros of whatever shape a builder asks for, as long as a small checkpoint could hold
// it: each tensor at most 2^22 elements, all of them 2^23 (32 MB). Past that a real
// file would have to be that large (else it fails as missing or mismatched), so this
// source throws the same kind of Error instead of allocating. (With 2^24 / 2^26, a
// config.json with GPT-2's default sizes zero-filled 256 MB under ASan: > 2 s, a
// fuzzer timeout that was the harness's, not the library's.)
class ZeroWeights final : public WeightSource {
 public:
  std::string describe() const override { return "zero weights"; }
  bool contains(const std::string&) const override { return true; }
  std::vector<std::string> names() const override { return {}; }
  Tensor require(const std::string& name, const Shape& shape) const override {
    int64_t numel = 1;
    for (const int64_t d : shape) {
      check(d >= 0, "fuzz", "tensor '{}' has shape {} (negative dimension)", name, shape_str(shape));
      check(d == 0 || numel <= (int64_t{1} << 22) / d, "fuzz", "tensor '{}' shape {} is too large for the zero source",
            name, shape_str(shape));
      numel *= d;
    }
    total_ += numel;
    check(total_ <= (int64_t{1} << 23) && ++count_ <= 100000, "fuzz", "the zero source's budget is spent");
    return Tensor::zeros(shape, DType::F32);
  }

 private:
  mutable int64_t total_ = 0;
  mutable int64_t count_ = 0;
};

inline void config_build(const uint8_t* data, size_t size) {
  const auto dir = fresh_folder();
  write_bytes(dir / "config.json", as_text(data, size));
  ModelSource source{dir, JsonConfig::load(dir / "config.json"), std::make_shared<ZeroWeights>()};
  const JsonConfig& config = source.config;
  // load_model's lookup: architectures[0] first, then model_type.
  const std::string model_type = config.get_or<std::string>("model_type", "");
  std::vector<std::string> archs;
  if (config.has("architectures")) archs = config.get_string_list("architectures");
  const ArchitectureEntry* entry = nullptr;
  for (const auto& e : architecture_registry()) {
    for (const auto& a : e.architectures)
      if (!archs.empty() && a == archs.front()) entry = &e;
    if (entry) break;
  }
  if (!entry)
    for (const auto& e : architecture_registry())
      if (e.model_type == model_type) entry = &e;
  if (!entry) return;
  const std::unique_ptr<Model> model = entry->build(source, LoadOptions{});
  (void)model->parameters();
}

// ---- (d) tokenizer.json: the pipeline, then a few encodes and decodes ------------------

// A few encodes and decodes through the whole pipeline of a loaded tokenizer.
inline void exercise_tokenizer(const Tokenizer& tok) {
  const std::string_view texts[] = {"Hello, world! It's 2024.", "", "  multiple   spaces\tand\nnewlines ",
                                    "caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
                                    "[CLS] [SEP] <s> </s> <unk> \xe2\x96\x81x", "\xff\xfe invalid \xc3"};
  for (const std::string_view text : texts) {
    const Encoding e = tok.encode(text);
    (void)tok.decode(e.ids, true);
    (void)tok.decode(e.ids, false);
  }
  (void)tok.encode_pair("first sentence", "second one");
  const int64_t ids[] = {0, 1, 2, 3, static_cast<int64_t>(tok.vocab_size()) - 1};
  try {
    (void)tok.decode(ids);
  } catch (const Error&) {
  }
}

inline void tokenizer(const uint8_t* data, size_t size) {
  exercise_tokenizer(Tokenizer::from_tokenizer_json_text(as_text(data, size)));
}

// ---- (d') a Hugging Face tokenizer folder: tokenizer_config.json and -------------------
// special_tokens_map.json applied to each kind of tokenizer file
//
// Input: one byte choosing the layout, then tokenizer_config.json,
// special_tokens_map.json, file A, file B (split at kFileSeparator; an empty
// config part is no file). Layout (byte % 4): tokenizer.json = A; vocab.txt =
// A; vocab.json = A + merges.txt = B; tokenizer.model = A. Bit 2 of the byte
// loads the tokenizer file by path instead of the folder (a different route
// through the loader).
inline void tokenizer_folder(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const auto parts = split_files(as_text(data + 1, size - 1), 4);
  const auto dir = fresh_folder();
  if (!parts[0].empty()) write_bytes(dir / "tokenizer_config.json", parts[0]);
  if (parts.size() > 1 && !parts[1].empty()) write_bytes(dir / "special_tokens_map.json", parts[1]);
  const std::string_view a = parts.size() > 2 ? parts[2] : std::string_view();
  const std::string_view b = parts.size() > 3 ? parts[3] : std::string_view();
  const char* const files[] = {"tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model"};
  const char* const file = files[data[0] % 4];
  write_bytes(dir / file, a);
  if (data[0] % 4 == 2) write_bytes(dir / "merges.txt", b);
  exercise_tokenizer(Tokenizer::load((data[0] & 4) ? dir / file : dir));
}

// ---- (e) the octet quantized folder and Hugging Face quantized checkpoints ---------------

// Input: quantization_config.json, model.safetensors, config.json (split at kFileSeparator).
inline void quantized_folder(const uint8_t* data, size_t size) {
  const auto parts = split_files(as_text(data, size), 3);
  const auto dir = fresh_folder();
  write_bytes(dir / kQuantizationConfigFile, parts[0]);
  if (parts.size() > 1) write_bytes(dir / "model.safetensors", parts[1]);
  if (parts.size() > 2) write_bytes(dir / "config.json", parts[2]);
  (void)read_quantization_config(dir);
  (void)load_quantized_model(dir, QuantExecution::Simulated);
}

// Input: config.json, model.safetensors, hf_quant_config.json, quantize_config.json
// (split at kFileSeparator; an empty part is no file).
inline void hf_quant(const uint8_t* data, size_t size) {
  const auto parts = split_files(as_text(data, size), 4);
  const auto dir = fresh_folder();
  const char* names[] = {"config.json", "model.safetensors", "hf_quant_config.json", "quantize_config.json"};
  for (size_t i = 0; i < parts.size(); ++i)
    if (i < 2 || !parts[i].empty()) write_bytes(dir / names[i], parts[i]);
  (void)read_hf_checkpoint(dir);
  (void)load_hf_quantized_model(dir, QuantExecution::Simulated);
}

// Input: one byte choosing the endpoint, then an `octet serve` request body.
// The parsers never throw (bad bodies are ApiErrors, 400); a parsed chat
// request is rendered in every chat format (refusals are octet::Error).
inline void serve_request(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: (void)serve::parse_completion_request(body); break;
    case 1: {
      auto r = serve::parse_chat_request(body);
      if (auto* chat = std::get_if<serve::ChatRequest>(&r))
        for (const std::string& name : serve::ChatTemplate::names()) {
          try {
            (void)serve::ChatTemplate::named(name).render(chat->messages);
          } catch (const Error&) {
          }
        }
      break;
    }
    case 2: (void)serve::parse_embedding_request(body); break;
    default: (void)serve::parse_classify_request(body); break;
  }
}

using Entry = void (*)(const uint8_t*, size_t);

inline Entry entry(std::string_view target) {
  if (target == "safetensors") return safetensors;
  if (target == "gguf") return gguf;
  if (target == "gguf_model") return gguf_model;
  if (target == "config_build") return config_build;
  if (target == "tokenizer") return tokenizer;
  if (target == "tokenizer_folder") return tokenizer_folder;
  if (target == "quantized_folder") return quantized_folder;
  if (target == "hf_quant") return hf_quant;
  if (target == "serve_request") return serve_request;
  return nullptr;
}

}  // namespace octet::fuzz
