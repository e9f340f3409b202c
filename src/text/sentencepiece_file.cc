// tokenizer.model: a serialized sentencepiece.ModelProto. Only the fields the
// tokenizer needs are read, straight from the protobuf wire format (no
// generated code is shipped with Debian's libsentencepiece):
//   ModelProto      1: pieces (repeated SentencePiece), 2: trainer_spec, 3: normalizer_spec
//   SentencePiece   1: piece (string), 2: score (float), 3: type (enum, default NORMAL)
//   TrainerSpec     3: model_type (UNIGRAM=1, BPE=2, WORD=3, CHAR=4), 35: byte_fallback,
//                   40..43: unk_id, bos_id, eos_id, pad_id
//   NormalizerSpec  1: name, 2: precompiled_charsmap, 3: add_dummy_prefix,
//                   4: remove_extra_whitespaces, 5: escape_whitespaces
#include <cstring>

#include "octet/error.h"
#include "text/loaders.h"

namespace octet::text {

namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      check(pos_ < data_.size(), "tokenizer", "truncated varint at byte {}", pos_);
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      value |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return value;
    }
    fail("tokenizer", "varint longer than 10 bytes at byte {}", pos_);
  }
  std::pair<uint32_t, WireType> tag() {
    const uint64_t t = varint();
    return {static_cast<uint32_t>(t >> 3), static_cast<WireType>(t & 7)};
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    check(n <= data_.size() - pos_, "tokenizer", "field of {} bytes runs past the end at byte {}", n, pos_);
    std::string_view out = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }
  float fixed32_float() {
    check(data_.size() - pos_ >= 4, "tokenizer", "truncated fixed32 at byte {}", pos_);
    uint32_t bits = 0;
    for (int i = 0; i < 4; ++i) bits |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 4;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  void skip(WireType type) {
    switch (type) {
      case kVarint: varint(); break;
      case kLengthDelimited: bytes(); break;
      case kFixed32:
        check(data_.size() - pos_ >= 4, "tokenizer", "truncated fixed32 at byte {}", pos_);
        pos_ += 4;
        break;
      case kFixed64:
        check(data_.size() - pos_ >= 8, "tokenizer", "truncated fixed64 at byte {}", pos_);
        pos_ += 8;
        break;
      default: fail("tokenizer", "unsupported protobuf wire type {} at byte {}", static_cast<int>(type), pos_);
    }
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void expect(WireType got, WireType want, const char* field) {
  check(got == want, "tokenizer", "field {} has wire type {}, expected {}", field, static_cast<int>(got), static_cast<int>(want));
}

void parse_piece(std::string_view data, PieceTable& t) {
  ProtoReader r(data);
  std::string piece;
  float score = 0.0f;
  uint64_t type = 1;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    if (field == 1) {
      expect(wire, kLengthDelimited, "SentencePiece.piece");
      piece = std::string(r.bytes());
    } else if (field == 2) {
      expect(wire, kFixed32, "SentencePiece.score");
      score = r.fixed32_float();
    } else if (field == 3) {
      expect(wire, kVarint, "SentencePiece.type");
      type = r.varint();
    } else {
      r.skip(wire);
    }
  }
  check(type >= 1 && type <= 6, "tokenizer", "piece {} ('{}') has unknown type {}", t.pieces.size(), piece, type);
  t.pieces.push_back(std::move(piece));
  t.scores.push_back(score);
  t.types.push_back(static_cast<PieceType>(type));
}

}  // namespace

SentencePieceFile parse_sentencepiece_model(std::string_view bytes, std::string_view origin,
                                            const SentencePieceOptions& base) {
  SentencePieceFile out;
  out.options = base;
  SentencePieceOptions& o = out.options;
  try {
    // proto2 defaults for the fields that may be absent.
    int64_t model_type = 1;
    bool byte_fallback = false;
    int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    std::string normalizer_name;
    bool has_charsmap = false;
    o.add_dummy_prefix = true;
    o.remove_extra_whitespaces = true;
    ProtoReader r(bytes);
    while (!r.done()) {
      auto [field, wire] = r.tag();
      if (field == 1) {
        expect(wire, kLengthDelimited, "ModelProto.pieces");
        parse_piece(r.bytes(), out.table);
      } else if (field == 2) {
        expect(wire, kLengthDelimited, "ModelProto.trainer_spec");
        ProtoReader t(r.bytes());
        while (!t.done()) {
          auto [f, w] = t.tag();
          if (w != kVarint) {
            t.skip(w);
            continue;
          }
          // int32 fields are sign-extended to 64 bits on the wire.
          const auto v = static_cast<int64_t>(static_cast<int32_t>(t.varint()));
          if (f == 3) model_type = v;
          if (f == 35) byte_fallback = v != 0;
          if (f == 40) unk_id = v;
          if (f == 41) bos_id = v;
          if (f == 42) eos_id = v;
          if (f == 43) pad_id = v;
        }
      } else if (field == 3) {
        expect(wire, kLengthDelimited, "ModelProto.normalizer_spec");
        ProtoReader n(r.bytes());
        while (!n.done()) {
          auto [f, w] = n.tag();
          if (f == 1 && w == kLengthDelimited) {
            normalizer_name = std::string(n.bytes());
          } else if (f == 2 && w == kLengthDelimited) {
            has_charsmap = !n.bytes().empty();
          } else if (f >= 3 && f <= 5 && w == kVarint) {
            const bool v = n.varint() != 0;
            if (f == 3) o.add_dummy_prefix = v;
            if (f == 4) o.remove_extra_whitespaces = v;
            check(f != 5 || v, "tokenizer", "escape_whitespaces=false is not supported");
          } else {
            n.skip(w);
          }
        }
      } else {
        r.skip(wire);
      }
    }
    check(!out.table.pieces.empty(), "tokenizer", "no pieces (not a SentencePiece model?)");
    check(model_type == 1 || model_type == 2, "tokenizer", "model type {} is not supported (only UNIGRAM and BPE)",
          model_type);
    o.algorithm = model_type == 2 ? SentencePieceOptions::Algorithm::Bpe : SentencePieceOptions::Algorithm::Unigram;
    o.byte_fallback = byte_fallback;
    o.unk_id = unk_id;
    o.bos_id = bos_id >= 0 ? std::optional<int64_t>(bos_id) : std::nullopt;
    o.eos_id = eos_id >= 0 ? std::optional<int64_t>(eos_id) : std::nullopt;
    o.pad_id = pad_id >= 0 ? std::optional<int64_t>(pad_id) : std::nullopt;
    // nmt_nfkc (the default) and nfkc both start from NFKC; "identity" keeps text as is;
    // a custom rule TSV or case folding is not reproduced.
    // A charsmap without a name is taken as the default, nmt_nfkc.
    o.nfkc = normalizer_name.find("nfkc") != std::string::npos || (normalizer_name.empty() && has_charsmap);
    o.nmt_rules = normalizer_name.starts_with("nmt") || (normalizer_name.empty() && has_charsmap);
    check(!normalizer_name.ends_with("_cf"), "tokenizer", "case-folding normalizer '{}' is not supported",
          normalizer_name);
    if (o.add_bos && !o.bos_id) o.add_bos = false;
    if (o.add_eos && !o.eos_id) o.add_eos = false;
  } catch (const Error& e) {
    fail("tokenizer", "{}: malformed SentencePiece model: {}", origin, e.detail());
  }
  return out;
}

}  // namespace octet::text
