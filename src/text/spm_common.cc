#include "text/spm_common.h"

#include <algorithm>

#include "octet/error.h"

namespace octet::text {

SpmTables SpmTables::build(PieceTable table) {
  const size_t n = table.pieces.size();
  check(n > 0, "tokenizer", "SentencePiece vocabulary is empty");
  check(table.scores.size() == n && table.types.size() == n, "tokenizer",
        "SentencePiece vocabulary has {} pieces but {} scores and {} types", n, table.scores.size(),
        table.types.size());
  check(table.unk_id >= 0 && static_cast<size_t>(table.unk_id) < n, "tokenizer",
        "SentencePiece unk id {} out of range [0, {})", table.unk_id, n);
  SpmTables t;
  t.byte_ids.fill(-1);
  t.segment_ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const PieceType type = table.types[i];
    const auto type_value = static_cast<int>(type);
    check(type_value >= 1 && type_value <= 6, "tokenizer", "SentencePiece piece {} ('{}') has unknown type {}", i,
          table.pieces[i], type_value);
    const std::string& piece = table.pieces[i];
    if (type == PieceType::Byte) {
      auto byte = parse_byte_piece(piece);
      check(byte.has_value(), "tokenizer", "SentencePiece byte piece {} is '{}', not <0xNN>", i, piece);
      t.byte_ids[*byte] = static_cast<int32_t>(i);
    } else if (type == PieceType::Normal || type == PieceType::UserDefined || type == PieceType::Unused) {
      if (piece.empty()) continue;
      t.segment_ids.insert_or_assign(piece, static_cast<int32_t>(i));
      t.max_piece_bytes = std::max(t.max_piece_bytes, piece.size());
      if (type == PieceType::UserDefined) t.user_defined.push_back(piece);
    }
  }
  if (table.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      check(t.byte_ids[static_cast<size_t>(b)] >= 0, "tokenizer",
            "SentencePiece byte fallback is on but byte piece {} is missing", byte_piece(static_cast<uint8_t>(b)));
    }
  }
  std::stable_sort(t.user_defined.begin(), t.user_defined.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  t.table = std::move(table);
  return t;
}

size_t SpmTables::match_user_defined(std::string_view text, size_t pos) const {
  for (const std::string& piece : user_defined) {
    if (text.compare(pos, piece.size(), piece) == 0) return piece.size();
  }
  return 0;
}

void SpmTables::emit(std::string_view text, std::optional<int32_t> id, std::vector<int32_t>& ids,
                     bool& last_was_unk) const {
  if (id && *id != table.unk_id) {
    ids.push_back(*id);
    last_was_unk = false;
    return;
  }
  if (table.byte_fallback) {
    for (char c : text) ids.push_back(byte_ids[static_cast<uint8_t>(c)]);
    last_was_unk = false;
    return;
  }
  if (!last_was_unk) ids.push_back(table.unk_id);
  last_was_unk = true;
}

}  // namespace octet::text
