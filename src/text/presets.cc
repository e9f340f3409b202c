#include "text/presets.h"

#include "octet/error.h"

namespace octet::text {

namespace {

std::optional<int64_t> find_id(const Tokenizer::Impl& impl, const std::optional<std::string>& token) {
  if (!token) return std::nullopt;
  if (auto id = impl.added.find(*token)) return *id;
  if (auto id = impl.model->vocab().find(*token)) return *id;
  return std::nullopt;
}

void add_special(Tokenizer::Impl& impl, const std::string& content) {
  if (content.empty() || impl.added.find(content)) return;
  if (auto id = impl.model->vocab().find(content)) impl.added.add({content, *id, true});
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> build_wordpiece(Vocab vocab, const WordPieceOptions& o) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  BertNormalizerConfig norm;
  norm.lowercase = o.lowercase;
  norm.strip_accents = o.strip_accents;
  norm.handle_chinese_chars = o.tokenize_chinese_chars;
  norm.nfc = true;
  impl->normalizer = make_bert_normalizer(norm);
  impl->pre_tokenizer = make_bert_pre_tokenizer();
  impl->model = make_wordpiece_model(std::move(vocab), {o.unk_token, o.continuing_subword_prefix, o.max_input_chars_per_word});
  for (const std::string* t : {&o.pad_token, &o.unk_token, &o.cls_token, &o.sep_token, &o.mask_token}) add_special(*impl, *t);
  auto& s = impl->special;
  s.pad = find_id(*impl, o.pad_token);
  s.unk = find_id(*impl, o.unk_token);
  s.cls = find_id(*impl, o.cls_token);
  s.sep = find_id(*impl, o.sep_token);
  s.mask = find_id(*impl, o.mask_token);
  if (s.cls && s.sep) impl->post = bert_template(static_cast<int32_t>(*s.cls), static_cast<int32_t>(*s.sep));
  impl->decoder = make_wordpiece_decoder(o.continuing_subword_prefix, true);
  impl->finish();
  return impl;
}

std::shared_ptr<Tokenizer::Impl> build_bpe(Vocab vocab, const MergeList& merges, const BpeOptions& o) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  if (o.byte_level && o.split == BpeOptions::Split::Gpt2) {
    impl->pre_tokenizer = make_byte_level_pre_tokenizer(o.add_prefix_space, true);
  } else if (o.byte_level) {
    // As Llama-3's tokenizer.json: Split(regex, Isolated), then ByteLevel without its own regex.
    std::vector<PreTokenizerPtr> steps;
    const SplitRegex regex = o.split == BpeOptions::Split::Llama3 ? SplitRegex::Llama3 : SplitRegex::Llama3Digit;
    steps.push_back(make_split_pre_tokenizer({"", regex}, SplitBehavior::Isolated, false));
    steps.push_back(make_byte_level_pre_tokenizer(o.add_prefix_space, false));
    impl->pre_tokenizer = make_sequence_pre_tokenizer(std::move(steps));
  } else {
    impl->pre_tokenizer = make_whitespace_split_pre_tokenizer();
  }
  if (o.byte_level) impl->decoder = make_byte_level_decoder();
  BpeConfig config;
  config.unk_token = o.unk_token;
  config.ignore_merges = o.ignore_merges;
  impl->model = make_bpe_model(std::move(vocab), merges, config);
  for (const std::string& t : o.special_tokens) add_special(*impl, t);
  for (const auto* t : {&o.bos_token, &o.eos_token, &o.pad_token, &o.unk_token}) {
    if (*t) add_special(*impl, **t);
  }
  auto& s = impl->special;
  s.bos = find_id(*impl, o.bos_token);
  s.eos = find_id(*impl, o.eos_token);
  s.pad = find_id(*impl, o.pad_token);
  s.unk = find_id(*impl, o.unk_token);
  if (o.roberta_template) {
    check(s.bos && s.eos, "tokenizer", "the RoBERTa template needs bos and eos tokens in the vocabulary");
    s.cls = s.bos;
    s.sep = s.eos;
    impl->post = roberta_template(static_cast<int32_t>(*s.bos), static_cast<int32_t>(*s.eos));
  } else if (o.add_bos) {
    check(s.bos.has_value(), "tokenizer", "add_bos needs a bos token in the vocabulary");
    impl->post = bos_eos_template(static_cast<int32_t>(*s.bos), std::nullopt);
  }
  impl->finish();
  return impl;
}

std::shared_ptr<Tokenizer::Impl> build_sentencepiece(PieceTable table, const SentencePieceOptions& o) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  const auto n = static_cast<int64_t>(table.pieces.size());
  auto valid = [n](std::optional<int64_t> id) { return id && *id >= 0 && *id < n; };
  check(o.unk_id >= 0 && o.unk_id < n, "tokenizer", "SentencePiece unk id {} out of range [0, {})", o.unk_id, n);
  table.unk_id = static_cast<int32_t>(o.unk_id);
  bool has_byte_pieces = false;
  for (PieceType t : table.types) has_byte_pieces |= t == PieceType::Byte;
  table.byte_fallback = o.byte_fallback.value_or(has_byte_pieces);

  SentencePieceNormalizerConfig norm;
  norm.nfkc = o.nfkc;
  norm.nmt_rules = o.nmt_rules;
  norm.remove_extra_whitespaces = o.remove_extra_whitespaces;
  norm.dummy_prefix = !o.add_dummy_prefix ? PrefixScheme::Never : o.legacy ? PrefixScheme::Always : PrefixScheme::First;
  impl->normalizer = make_sentencepiece_normalizer(norm);

  // Control and unknown pieces are matched whole in text and count as special.
  std::vector<std::pair<std::string, int32_t>> specials;
  for (size_t i = 0; i < table.pieces.size(); ++i) {
    if (table.types[i] == PieceType::Control || table.types[i] == PieceType::Unknown) {
      specials.emplace_back(table.pieces[i], static_cast<int32_t>(i));
    }
  }
  impl->model = o.algorithm == SentencePieceOptions::Algorithm::Bpe ? make_spm_bpe_model(std::move(table))
                                                                     : make_unigram_model(std::move(table));
  for (auto& [content, id] : specials) {
    if (!content.empty()) impl->added.add({content, id, true});
  }
  auto& s = impl->special;
  s.unk = o.unk_id;
  if (valid(o.bos_id)) s.bos = o.bos_id;
  if (valid(o.eos_id)) s.eos = o.eos_id;
  if (valid(o.pad_id)) s.pad = o.pad_id;
  check(!o.add_bos || s.bos, "tokenizer", "add_bos is set but the bos id is missing or out of range");
  check(!o.add_eos || s.eos, "tokenizer", "add_eos is set but the eos id is missing or out of range");
  std::optional<int32_t> bos, eos;
  if (o.add_bos) bos = static_cast<int32_t>(*s.bos);
  if (o.add_eos) eos = static_cast<int32_t>(*s.eos);
  impl->post = bos_eos_template(bos, eos);

  std::vector<DecoderPtr> steps;
  steps.push_back(make_replace_decoder(std::string(kMetaspace), " "));
  steps.push_back(make_byte_fallback_decoder());
  steps.push_back(make_fuse_decoder());
  if (o.add_dummy_prefix) steps.push_back(make_strip_decoder(" ", 1, 0));
  impl->decoder = make_sequence_decoder(std::move(steps));
  impl->finish();
  return impl;
}

}  // namespace octet::text

namespace octet {

Tokenizer Tokenizer::from_wordpiece(std::vector<std::string> vocab, const WordPieceOptions& options) {
  return Tokenizer(text::build_wordpiece(text::Vocab(std::move(vocab)), options));
}

Tokenizer Tokenizer::from_bpe(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges,
                              const BpeOptions& options) {
  return Tokenizer(text::build_bpe(text::Vocab(std::move(vocab)), merges, options));
}

Tokenizer Tokenizer::from_sentencepiece_vocab(std::vector<std::string> pieces, std::vector<float> scores,
                                              std::vector<int32_t> token_types, const SentencePieceOptions& options) {
  text::PieceTable table;
  check(token_types.size() == pieces.size(), "tokenizer", "{} pieces but {} token types", pieces.size(),
        token_types.size());
  table.types.reserve(token_types.size());
  for (size_t i = 0; i < token_types.size(); ++i) {
    check(token_types[i] >= 1 && token_types[i] <= 6, "tokenizer", "piece {} ('{}') has unknown token type {}", i,
          pieces[i], token_types[i]);
    table.types.push_back(static_cast<text::PieceType>(token_types[i]));
  }
  table.pieces = std::move(pieces);
  table.scores = std::move(scores);
  return Tokenizer(text::build_sentencepiece(std::move(table), options));
}

}  // namespace octet
