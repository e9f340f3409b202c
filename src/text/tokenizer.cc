// Encode/decode on an assembled pipeline: added-token split -> normalizer ->
// pre-tokenizer -> model -> truncation -> template -> padding, and back.
#include <algorithm>

#include "octet/error.h"
#include "text/pipeline.h"

namespace octet {

namespace text {

size_t PostTemplate::added(bool is_pair) const {
  size_t n = 0;
  for (const TemplatePiece& p : is_pair ? pair : single) {
    if (p.kind == TemplatePiece::Kind::Special) n += p.ids.size();
  }
  return n;
}

PostTemplate bert_template(int32_t cls, int32_t sep) {
  using K = TemplatePiece::Kind;
  PostTemplate t;
  t.single = {{K::Special, 0, {cls}}, {K::First, 0, {}}, {K::Special, 0, {sep}}};
  t.pair = {{K::Special, 0, {cls}}, {K::First, 0, {}}, {K::Special, 0, {sep}}, {K::Second, 1, {}}, {K::Special, 1, {sep}}};
  return t;
}

PostTemplate roberta_template(int32_t cls, int32_t sep) {
  using K = TemplatePiece::Kind;
  PostTemplate t;
  t.single = {{K::Special, 0, {cls}}, {K::First, 0, {}}, {K::Special, 0, {sep}}};
  t.pair = {{K::Special, 0, {cls}}, {K::First, 0, {}}, {K::Special, 0, {sep, sep}}, {K::Second, 0, {}},
            {K::Special, 0, {sep}}};
  return t;
}

PostTemplate bos_eos_template(std::optional<int32_t> bos, std::optional<int32_t> eos) {
  using K = TemplatePiece::Kind;
  PostTemplate t;
  t.single.clear();
  t.pair.clear();
  for (int part = 0; part < 2; ++part) {
    const int64_t type = part;
    if (bos) t.pair.push_back({K::Special, type, {*bos}});
    t.pair.push_back({part == 0 ? K::First : K::Second, type, {}});
    if (eos) t.pair.push_back({K::Special, type, {*eos}});
  }
  if (bos) t.single.push_back({K::Special, 0, {*bos}});
  t.single.push_back({K::First, 0, {}});
  if (eos) t.single.push_back({K::Special, 0, {*eos}});
  return t;
}

}  // namespace text

std::vector<int32_t> Tokenizer::Impl::tokenize(std::string_view text) const {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  for (const auto& segment : added.split(text)) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    pieces.clear();
    pieces.push_back(normalizer ? normalizer->normalize(segment.text, segment.first) : std::string(segment.text));
    if (pre_tokenizer) pre_tokenizer->split(pieces, segment.first);
    for (const std::string& piece : pieces) {
      if (!piece.empty()) model->tokenize(piece, ids);
    }
  }
  return ids;
}

std::string Tokenizer::Impl::token(int64_t id) const {
  if (id >= 0 && id <= INT32_MAX) {
    if (const auto* t = added.by_id(static_cast<int32_t>(id))) return t->content;
  }
  check(id >= 0 && static_cast<size_t>(id) < vocab_size(), "tokenizer", "token id {} out of range [0, {})", id,
        vocab_size());
  return model->vocab().token(id);
}

size_t Tokenizer::Impl::vocab_size() const {
  size_t n = static_cast<size_t>(model->vocab().size());
  for (const auto& t : added.tokens()) n = std::max(n, static_cast<size_t>(t.id) + 1);
  return n;
}

void Tokenizer::Impl::finish() {
  for (const auto& t : added.tokens()) {
    if (t.special) skip_on_decode.insert(t.id);
  }
}

namespace {

void drop(std::vector<int32_t>& ids, size_t n, Side side) {
  n = std::min(n, ids.size());
  if (side == Side::Right) {
    ids.resize(ids.size() - n);
  } else {
    ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

void truncate(std::vector<int32_t>& first, std::vector<int32_t>* second, const EncodeOptions& o, size_t added) {
  if (o.truncation == Truncation::None) return;
  check(o.max_length.has_value(), "tokenizer", "truncation needs max_length");
  check(*o.max_length >= static_cast<int64_t>(added), "tokenizer",
        "max_length {} leaves no room: the template adds {} special tokens", *o.max_length, added);
  const size_t budget = static_cast<size_t>(*o.max_length) - added;
  const size_t total = first.size() + (second ? second->size() : 0);
  if (total <= budget) return;
  size_t excess = total - budget;
  switch (o.truncation) {
    case Truncation::None:
      break;
    case Truncation::LongestFirst:
      if (!second) {
        drop(first, excess, o.truncation_side);
        break;
      }
      // transformers removes one token at a time from the longer sequence, the second on ties.
      {
        size_t a = first.size(), b = second->size();
        for (; excess > 0; --excess) (a > b ? a : b) -= 1;
        drop(first, first.size() - a, o.truncation_side);
        drop(*second, second->size() - b, o.truncation_side);
      }
      break;
    case Truncation::OnlyFirst:
      check(first.size() >= excess, "tokenizer",
            "cannot truncate the first sequence ({} tokens) by {} to fit max_length {}", first.size(), excess,
            *o.max_length);
      drop(first, excess, o.truncation_side);
      break;
    case Truncation::OnlySecond:
      check(second != nullptr, "tokenizer", "truncation only_second needs a second sequence");
      check(second->size() >= excess, "tokenizer",
            "cannot truncate the second sequence ({} tokens) by {} to fit max_length {}", second->size(), excess,
            *o.max_length);
      drop(*second, excess, o.truncation_side);
      break;
  }
}

void append(Encoding& e, int32_t id, int64_t type_id, bool special) {
  e.ids.push_back(id);
  e.type_ids.push_back(type_id);
  e.attention_mask.push_back(1);
  e.special_tokens_mask.push_back(special ? 1 : 0);
}

int64_t pad_target(const EncodeOptions& o, int64_t longest) {
  int64_t target = longest;
  if (o.padding == Padding::MaxLength) {
    check(o.max_length.has_value(), "tokenizer", "padding to max_length needs max_length");
    target = std::max(target, *o.max_length);
  }
  if (o.pad_to_multiple_of) {
    const int64_t m = *o.pad_to_multiple_of;
    check(m > 0, "tokenizer", "pad_to_multiple_of must be positive, got {}", m);
    target = (target + m - 1) / m * m;
  }
  return target;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

namespace {

Encoding build_encoding(const Tokenizer::Impl& impl, std::string_view first, const std::string_view* second,
                        const EncodeOptions& o) {
  std::vector<int32_t> a = impl.tokenize(first);
  std::vector<int32_t> b;
  if (second) b = impl.tokenize(*second);
  truncate(a, second ? &b : nullptr, o, o.add_special_tokens ? impl.post.added(second != nullptr) : 0);
  Encoding e;
  if (o.add_special_tokens) {
    for (const auto& piece : second ? impl.post.pair : impl.post.single) {
      switch (piece.kind) {
        case text::TemplatePiece::Kind::Special:
          for (int32_t id : piece.ids) append(e, id, piece.type_id, true);
          break;
        case text::TemplatePiece::Kind::First:
          for (int32_t id : a) append(e, id, piece.type_id, false);
          break;
        case text::TemplatePiece::Kind::Second:
          for (int32_t id : b) append(e, id, piece.type_id, false);
          break;
      }
    }
  } else {
    for (int32_t id : a) append(e, id, 0, false);
    for (int32_t id : b) append(e, id, 1, false);
  }
  e.tokens.reserve(e.ids.size());
  for (int64_t id : e.ids) e.tokens.push_back(impl.token(id));
  return e;
}

void pad(const Tokenizer::Impl& impl, Encoding& e, int64_t target, const EncodeOptions& o) {
  if (static_cast<int64_t>(e.size()) >= target) return;
  const std::optional<int64_t> pad_id = o.pad_id ? o.pad_id : impl.special.pad;
  check(pad_id.has_value(), "tokenizer", "padding needs a pad token: this tokenizer has none, set EncodeOptions::pad_id");
  const std::string pad_token = impl.token(*pad_id);
  const auto n = static_cast<size_t>(target) - e.size();
  auto fill = [&](auto& v, auto value) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    if (o.padding_side == Side::Right) {
      v.insert(v.end(), n, V(value));
    } else {
      v.insert(v.begin(), n, V(value));
    }
  };
  fill(e.ids, *pad_id);
  fill(e.type_ids, int64_t{0});
  fill(e.attention_mask, int64_t{0});
  fill(e.special_tokens_mask, int64_t{1});
  fill(e.tokens, pad_token);
}

BatchEncoding to_batch(const Tokenizer::Impl& impl, std::vector<Encoding> encodings, const EncodeOptions& o) {
  int64_t longest = 0;
  for (const auto& e : encodings) longest = std::max(longest, static_cast<int64_t>(e.size()));
  const int64_t target = pad_target(o, longest);
  for (auto& e : encodings) pad(impl, e, target, o);
  const auto batch = static_cast<int64_t>(encodings.size());
  BatchEncoding out;
  out.input_ids = Tensor::empty({batch, target}, DType::I64);
  out.attention_mask = Tensor::empty({batch, target}, DType::I64);
  out.token_type_ids = Tensor::empty({batch, target}, DType::I64);
  int64_t* ids = out.input_ids.data<int64_t>();
  int64_t* mask = out.attention_mask.data<int64_t>();
  int64_t* types = out.token_type_ids.data<int64_t>();
  for (size_t i = 0; i < encodings.size(); ++i) {
    const auto row = static_cast<std::ptrdiff_t>(i) * target;
    std::copy(encodings[i].ids.begin(), encodings[i].ids.end(), ids + row);
    std::copy(encodings[i].attention_mask.begin(), encodings[i].attention_mask.end(), mask + row);
    std::copy(encodings[i].type_ids.begin(), encodings[i].type_ids.end(), types + row);
  }
  out.encodings = std::move(encodings);
  return out;
}

}  // namespace

Encoding Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  Encoding e = build_encoding(*impl_, text, nullptr, options);
  if (options.padding != Padding::None) pad(*impl_, e, pad_target(options, static_cast<int64_t>(e.size())), options);
  return e;
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second, const EncodeOptions& options) const {
  Encoding e = build_encoding(*impl_, first, &second, options);
  if (options.padding != Padding::None) pad(*impl_, e, pad_target(options, static_cast<int64_t>(e.size())), options);
  return e;
}

BatchEncoding Tokenizer::encode_batch(std::span<const std::string> texts, const EncodeOptions& options) const {
  std::vector<Encoding> encodings;
  encodings.reserve(texts.size());
  for (const auto& t : texts) encodings.push_back(build_encoding(*impl_, t, nullptr, options));
  return to_batch(*impl_, std::move(encodings), options);
}

BatchEncoding Tokenizer::encode_batch(std::span<const std::string> first, std::span<const std::string> second,
                                      const EncodeOptions& options) const {
  check(first.size() == second.size(), "tokenizer", "encode_batch: {} first sequences but {} second ones", first.size(),
        second.size());
  std::vector<Encoding> encodings;
  encodings.reserve(first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    const std::string_view b = second[i];
    encodings.push_back(build_encoding(*impl_, first[i], &b, options));
  }
  return to_batch(*impl_, std::move(encodings), options);
}

std::string Tokenizer::decode(std::span<const int64_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    std::string token = impl_->token(id);  // validates the id even when skipped
    if (skip_special_tokens && impl_->skip_on_decode.contains(id)) continue;
    tokens.push_back(std::move(token));
  }
  if (!impl_->decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out.append(tokens[i]);
    }
    return out;
  }
  impl_->decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out.append(t);
  return out;
}

int64_t Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.find(token)) return *id;
  if (auto id = impl_->model->vocab().find(token)) return *id;
  return -1;
}

std::string Tokenizer::id_to_token(int64_t id) const { return impl_->token(id); }
size_t Tokenizer::vocab_size() const { return impl_->vocab_size(); }
bool Tokenizer::is_special(int64_t id) const { return impl_->skip_on_decode.contains(id); }
const SpecialTokenIds& Tokenizer::special_ids() const { return impl_->special; }
size_t Tokenizer::num_special_tokens(bool pair) const { return impl_->post.added(pair); }
std::optional<int64_t> Tokenizer::model_max_length() const { return impl_->model_max_length; }
const EncodeOptions& Tokenizer::configured_options() const { return impl_->configured; }

}  // namespace octet
