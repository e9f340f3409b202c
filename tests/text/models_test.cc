// The models on tiny hand-made vocabularies, with answers worked out by hand.
#include <gtest/gtest.h>

#include "octet/error.h"
#include "text/model.h"
#include "text/vocab.h"

namespace octet::text {
namespace {

using Ids = std::vector<int32_t>;

Ids run(const Model& m, std::string_view word) {
  Ids ids;
  m.tokenize(word, ids);
  return ids;
}

// Ids far past the entry count: the table by id allocated a slot for each id below the largest,
// 11 GB for one token with id 355,555,555 (fuzz_tokenizer, 2026-12-06). Such a vocabulary now
// keeps its tokens in a map: the same lookups both ways, holes are the empty token, and the
// memory follows the entries.
TEST(VocabTable, SparseIdsKeepEveryLookupWithoutATableSlotPerId) {
  for (const int64_t far : {int64_t{5}, int64_t{1000000}, int64_t{2000000000}}) {
    SCOPED_TRACE(far);
    const Vocab v = Vocab::from_entries({{"a", 0}, {"b", 2}, {"z", far}});
    EXPECT_EQ(v.size(), far + 1);
    EXPECT_EQ(v.token(0), "a");
    EXPECT_EQ(v.token(2), "b");
    EXPECT_EQ(v.token(far), "z");
    EXPECT_EQ(v.token(1), "");  // a hole
    EXPECT_EQ(v.find("z"), int32_t(far));
    EXPECT_EQ(v.find("b"), 2);
    EXPECT_THROW((void)v.token(far + 1), Error);
    EXPECT_THROW((void)v.token(-1), Error);
  }
  // A token listed twice keeps its last id, as in the dense table.
  EXPECT_EQ(Vocab::from_entries({{"a", 0}, {"a", 3000}}).find("a"), 3000);
}

TEST(WordPieceModel, GreedyLongestMatchFirst) {
  // ids:                   0        1     2        3         4    5      6
  auto m = make_wordpiece_model(Vocab({"[UNK]", "un", "##aff", "##able", "a", "##b", "unaff"}), {});
  EXPECT_EQ(run(*m, "unaffable"), (Ids{6, 3}));  // "unaff" beats "un" + "##aff"
  EXPECT_EQ(run(*m, "ab"), (Ids{4, 5}));
  EXPECT_EQ(run(*m, "abx"), (Ids{0}));  // any unmatched rest makes the whole word unknown
  EXPECT_EQ(run(*m, ""), (Ids{}));
  auto short_words = make_wordpiece_model(Vocab({"[UNK]", "ab", "##b"}), {"[UNK]", "##", 2});
  EXPECT_EQ(run(*short_words, "ab"), (Ids{1}));
  EXPECT_EQ(run(*short_words, "abb"), (Ids{0}));  // 3 chars > max_input_chars_per_word
  EXPECT_THROW(make_wordpiece_model(Vocab({"a"}), {}), Error);  // no [UNK]
}

TEST(BpeModel, MergesByRank) {
  // ids: a0 b1 c2 ab3 bc4 abc5
  const Vocab vocab({"a", "b", "c", "ab", "bc", "abc"});
  // (b c) ranks first: a (bc) -> abc through merge (a, bc).
  auto m1 = make_bpe_model(vocab, {{"b", "c"}, {"a", "b"}, {"a", "bc"}}, {});
  EXPECT_EQ(run(*m1, "abc"), (Ids{5}));
  EXPECT_EQ(run(*m1, "abab"), (Ids{3, 3}));
  // (a b) first and no (ab, c): stops at ab c.
  auto m2 = make_bpe_model(vocab, {{"a", "b"}, {"b", "c"}}, {});
  EXPECT_EQ(run(*m2, "abc"), (Ids{3, 2}));
  EXPECT_EQ(run(*m2, "bcab"), (Ids{4, 3}));
  // Overlapping pairs merge leftmost first: "aaa" -> (aa) a.
  auto m3 = make_bpe_model(Vocab({"a", "aa"}), {{"a", "a"}}, {});
  EXPECT_EQ(run(*m3, "aaa"), (Ids{1, 0}));
  EXPECT_EQ(run(*m3, "aaaa"), (Ids{1, 1}));
}

TEST(BpeModel, UnknownCharsByteFallbackAndUnk) {
  // "é" is C3 A9 in UTF-8.
  const Vocab vocab({"<unk>", "a", "<0xC3>", "<0xA9>"});
  BpeConfig fallback;
  fallback.byte_fallback = true;
  fallback.unk_token = "<unk>";
  EXPECT_EQ(run(*make_bpe_model(vocab, {}, fallback), "a\u00e9"), (Ids{1, 2, 3}));
  BpeConfig unk;
  unk.unk_token = "<unk>";
  EXPECT_EQ(run(*make_bpe_model(vocab, {}, unk), "xya"), (Ids{0, 0, 1}));
  unk.fuse_unk = true;
  EXPECT_EQ(run(*make_bpe_model(vocab, {}, unk), "xya"), (Ids{0, 1}));
  EXPECT_EQ(run(*make_bpe_model(vocab, {}, {}), "xya"), (Ids{1}));  // no unk token: dropped
}

TEST(BpeModel, ContinuingSubwordPrefix) {
  // ids: a0 ##b1 ab2
  BpeConfig c;
  c.continuing_subword_prefix = "##";
  auto m = make_bpe_model(Vocab({"a", "##b", "ab"}), {{"a", "##b"}}, c);
  EXPECT_EQ(run(*m, "ab"), (Ids{2}));
}

TEST(BpeModel, RejectsMergesOutsideTheVocab) {
  try {
    make_bpe_model(Vocab({"a", "b"}), {{"a", "b"}}, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "tokenizer");
    EXPECT_NE(e.detail().find("'ab'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_bpe_model(Vocab({"a", "ab"}), {{"a", "x"}}, {}), Error);
}

PieceTable table(std::vector<std::string> pieces, std::vector<float> scores, std::vector<PieceType> types = {}) {
  PieceTable t;
  if (types.empty()) types.assign(pieces.size(), PieceType::Normal);
  t.pieces = std::move(pieces);
  t.scores = std::move(scores);
  t.types = std::move(types);
  t.types[0] = PieceType::Unknown;
  return t;
}

TEST(SpmBpeModel, HighestScoreMergesFirst) {
  // ids: <unk>0 a1 b2 c3 ab4 bc5
  auto ab_first = make_spm_bpe_model(table({"<unk>", "a", "b", "c", "ab", "bc"}, {0, -1, -1, -1, -2, -3}));
  EXPECT_EQ(run(*ab_first, "abc"), (Ids{4, 3}));
  auto bc_first = make_spm_bpe_model(table({"<unk>", "a", "b", "c", "ab", "bc"}, {0, -1, -1, -1, -3, -2}));
  EXPECT_EQ(run(*bc_first, "abc"), (Ids{1, 5}));
  // Equal scores: the leftmost pair wins.
  auto tie = make_spm_bpe_model(table({"<unk>", "a", "b", "c", "ab", "bc"}, {0, -1, -1, -1, -2, -2}));
  EXPECT_EQ(run(*tie, "abc"), (Ids{4, 3}));
}

TEST(SpmBpeModel, UnusedPiecesAreSplitBack) {
  // "ab" is Unused: it may be formed on the way to "abc" but is never output.
  auto t = table({"<unk>", "a", "b", "c", "ab", "abc"}, {0, -1, -1, -1, -0.5f, -2},
                 {PieceType::Unknown, PieceType::Normal, PieceType::Normal, PieceType::Normal, PieceType::Unused,
                  PieceType::Normal});
  auto m = make_spm_bpe_model(t);
  EXPECT_EQ(run(*m, "abc"), (Ids{5}));
  EXPECT_EQ(run(*m, "ab"), (Ids{1, 2}));
}

TEST(SpmBpeModel, UnknownTextAndByteFallback) {
  auto t = table({"<unk>", "a", "<0xC3>", "<0xA9>"}, {0, -1, 0, 0},
                 {PieceType::Unknown, PieceType::Normal, PieceType::Byte, PieceType::Byte});
  EXPECT_EQ(run(*make_spm_bpe_model(t), "xxa"), (Ids{0, 1}));  // a run of unknowns is one unk
  t.byte_fallback = true;
  EXPECT_THROW(make_spm_bpe_model(t), Error);  // byte fallback needs all 256 byte pieces
  for (int b = 0; b < 256; ++b) {
    if (b == 0xC3 || b == 0xA9) continue;
    t.pieces.push_back(byte_piece(static_cast<uint8_t>(b)));
    t.scores.push_back(0);
    t.types.push_back(PieceType::Byte);
  }
  EXPECT_EQ(run(*make_spm_bpe_model(t), "\u00e9a"), (Ids{2, 3, 1}));
}

TEST(SpmBpeModel, UserDefinedPiecesStayWhole) {
  // ids: <unk>0 a1 b2 <x>3 ab4; "<x>" is user-defined and never merged with neighbours.
  auto t = table({"<unk>", "a", "b", "<x>", "ab", "<", "x", ">"}, {0, -1, -1, 0, -0.5f, -1, -1, -1},
                 {PieceType::Unknown, PieceType::Normal, PieceType::Normal, PieceType::UserDefined, PieceType::Normal,
                  PieceType::Normal, PieceType::Normal, PieceType::Normal});
  EXPECT_EQ(run(*make_spm_bpe_model(t), "a<x>b"), (Ids{1, 3, 2}));
  EXPECT_EQ(run(*make_spm_bpe_model(t), "ab<x>"), (Ids{4, 3}));
}

TEST(UnigramModel, ViterbiPicksTheBestTotalScore) {
  // ids: <unk>0 a1 b2 ab3
  auto split = make_unigram_model(table({"<unk>", "a", "b", "ab"}, {0, -1, -1, -3}));
  EXPECT_EQ(run(*split, "ab"), (Ids{1, 2}));  // -1 + -1 > -3
  auto whole = make_unigram_model(table({"<unk>", "a", "b", "ab"}, {0, -1, -1, -1.5f}));
  EXPECT_EQ(run(*whole, "abab"), (Ids{3, 3}));  // -1.5 * 2 > -4
  // Unknown chars score min_score - 10 each and a run of them becomes one unk.
  EXPECT_EQ(run(*whole, "xyab"), (Ids{0, 3}));
  EXPECT_EQ(run(*whole, "axb"), (Ids{1, 0, 2}));
}

TEST(UnigramModel, ByteFallbackForUnknownChars) {
  auto t = table({"<unk>", "a"}, {0, -1});
  for (int b = 0; b < 256; ++b) {
    t.pieces.push_back(byte_piece(static_cast<uint8_t>(b)));
    t.scores.push_back(0);
    t.types.push_back(PieceType::Byte);
  }
  t.byte_fallback = true;
  // "é" = C3 A9 -> byte pieces at 2 + 0xC3 and 2 + 0xA9.
  EXPECT_EQ(run(*make_unigram_model(t), "a\u00e9"), (Ids{1, 2 + 0xC3, 2 + 0xA9}));
}

TEST(WordLevelModel, WholeWordsOrUnk) {
  auto m = make_word_level_model(Vocab({"<unk>", "hello", "world"}), "<unk>");
  EXPECT_EQ(run(*m, "world"), (Ids{2}));
  EXPECT_EQ(run(*m, "worlds"), (Ids{0}));
}

}  // namespace
}  // namespace octet::text
