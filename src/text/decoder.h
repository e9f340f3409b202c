// Decoders: token strings -> text. Each step rewrites the token list (the
// tokenizers library's decode_chain); the result is their concatenation.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace octet::text {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};
using DecoderPtr = std::unique_ptr<Decoder>;

// transformers' clean_up_tokenization: " ." -> ".", " n't" -> "n't", ...
std::string clean_up_tokenization(std::string text);

// Continuation tokens lose `prefix`, others get a leading ' '; optional cleanup.
DecoderPtr make_wordpiece_decoder(std::string prefix, bool cleanup);
// Characters back to bytes (GPT-2's table); invalid UTF-8 becomes U+FFFD.
DecoderPtr make_byte_level_decoder();
// Runs of <0xNN> tokens become the text of their bytes (U+FFFD per byte when invalid).
DecoderPtr make_byte_fallback_decoder();
// Joins all tokens into one.
DecoderPtr make_fuse_decoder();
// Replaces every occurrence of the literal `pattern` in each token.
DecoderPtr make_replace_decoder(std::string pattern, std::string content);
// Removes up to `start` leading and `stop` trailing copies of `content` from each token.
DecoderPtr make_strip_decoder(std::string content, size_t start, size_t stop);
// `replacement` -> ' ', dropping the prefix space of the first token when `strip_prefix`.
DecoderPtr make_metaspace_decoder(std::string replacement, bool strip_prefix);
// BPE with an end-of-word suffix ("</w>"): suffix -> ' ' (none after the last token).
DecoderPtr make_bpe_suffix_decoder(std::string suffix);
DecoderPtr make_sequence_decoder(std::vector<DecoderPtr> parts);

}  // namespace octet::text
