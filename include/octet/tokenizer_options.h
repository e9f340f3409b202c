// Options for building a Tokenizer from in-memory tables (a GGUF file's
// tokenizer arrays, tests) rather than from Hugging Face files. The file
// loaders fill the same structs from tokenizer_config.json and friends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace octet {

// BERT-style WordPiece (vocab.txt). Defaults are bert-base-uncased's.
struct WordPieceOptions {
  bool lowercase = true;                // tokenizer_config.json "do_lower_case"
  std::optional<bool> strip_accents = std::nullopt;  // unset: strip when lowercasing
  bool tokenize_chinese_chars = true;
  size_t max_input_chars_per_word = 100;
  std::string continuing_subword_prefix = "##";
  std::string unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]",
              mask_token = "[MASK]";
};

// Byte-level BPE (GPT-2's vocab.json + merges.txt, GGUF "gpt2").
struct BpeOptions {
  // The regex that splits text into words before byte-level BPE (GGUF's
  // tokenizer.ggml.pre: "gpt2", "llama-bpe", "qwen2").
  enum class Split { Gpt2, Llama3, Qwen2 };
  bool byte_level = true;         // GPT-2 byte->char mapping and regex split
  Split split = Split::Gpt2;
  bool add_prefix_space = false;  // prepend ' ' to text not starting with one
  bool ignore_merges = false;     // a word found whole in the vocab is one token (Llama-3)
  // Special tokens matched whole in input text and skipped by decode(skip_special).
  // Those absent from the vocab are ignored. Defaults cover GPT-2 and RoBERTa.
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<s>", "</s>", "<pad>", "<unk>", "<mask>"};
  std::optional<std::string> unk_token = std::nullopt;  // unset: unknown characters are dropped
  std::optional<std::string> bos_token = std::nullopt;
  std::optional<std::string> eos_token = std::nullopt;
  std::optional<std::string> pad_token = std::nullopt;
  // How special tokens wrap sequences: none (GPT-2), or RoBERTa's
  // "<s> A </s>" / "<s> A </s></s> B </s>" using bos_token/eos_token.
  bool roberta_template = false;
  bool add_bos = false;  // "<bos> A" (GPT2Tokenizer's add_bos_token)
};

// SentencePiece (tokenizer.model, GGUF "llama").
struct SentencePieceOptions {
  enum class Algorithm { Bpe, Unigram };
  Algorithm algorithm = Algorithm::Bpe;
  int64_t unk_id = 0;
  std::optional<int64_t> bos_id = 1;
  std::optional<int64_t> eos_id = 2;
  std::optional<int64_t> pad_id = std::nullopt;
  bool add_bos = true;   // "<s> A" (Llama)
  bool add_eos = false;
  // Byte fallback is on when the table has Byte pieces, unless set here.
  std::optional<bool> byte_fallback = std::nullopt;
  // SentencePiece's normalizer: ' ' -> U+2581 always; a dummy prefix ' '.
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
  bool nfkc = false;       // NFKC first (sentencepiece's nmt_nfkc / nfkc normalizers)
  bool nmt_rules = false;  // nmt_nfkc's extra rules: drop control chars, odd whitespace -> ' '
  // transformers' LlamaTokenizer legacy flag: true adds the dummy prefix after
  // every special token in the text too; false only at the start of the text.
  bool legacy = true;
};

}  // namespace octet
