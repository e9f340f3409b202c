// Internals of export_gguf (octet/export_gguf.h), shared by its two files.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "models/decoder_common.h"
#include "octet/export_gguf.h"
#include "octet/gguf.h"

namespace octet::gguf_export {

using Metadata = std::vector<std::pair<std::string, GgufValue>>;

// general.* and llama.* keys for `s`.
Metadata llama_metadata(const models::LlamaSettings& s, const std::string& name, GgufExportType type);

// Appends the tokenizer.* keys: copied from the GGUF file (`kind` "gguf") or
// a folder's tokenizer.gguf, else built from the folder's tokenizer.model
// (+ tokenizer_config.json's add_bos_token / add_eos_token). The vocabulary
// must have `vocab_rows` tokens.
void add_tokenizer(Metadata& m, const std::filesystem::path& model, const std::string& kind, int64_t vocab_rows);

}  // namespace octet::gguf_export
