// Tables shared by the two SentencePiece algorithms (spm_bpe.cc, unigram.cc).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/model.h"

namespace octet::text {

struct SpmTables {
  PieceTable table;
  // Pieces segmentation may produce: Normal, UserDefined and Unused ones
  // (control, unknown and byte pieces are never matched against text).
  StringMap<int32_t> segment_ids;
  std::array<int32_t, 256> byte_ids{};
  std::vector<std::string> user_defined;  // longest first
  size_t max_piece_bytes = 0;

  // Validates `table` (throws Error("tokenizer")) and indexes it.
  static SpmTables build(PieceTable table);

  // Length of the longest user-defined piece starting at text[pos], or 0.
  size_t match_user_defined(std::string_view text, size_t pos) const;
  // Appends the id for one final segment. Unknown text becomes <0xNN> pieces
  // with byte fallback; otherwise a run of unknown segments becomes one unk.
  void emit(std::string_view text, std::optional<int32_t> id, std::vector<int32_t>& ids, bool& last_was_unk) const;
};

}  // namespace octet::text
