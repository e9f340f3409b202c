// Assembling the three tokenizer families from in-memory tables; the file
// loaders and the public from_* factories both end here.
#pragma once

#include <memory>

#include "text/pipeline.h"

namespace octet::text {

// BERT: BertNormalizer (with the slow tokenizer's NFC step), BertPreTokenizer,
// WordPiece, "[CLS] A [SEP]" template, WordPiece decoder with cleanup.
std::shared_ptr<Tokenizer::Impl> build_wordpiece(Vocab vocab, const WordPieceOptions& options);
// GPT-2 / RoBERTa: ByteLevel pre-tokenizer, BPE, ByteLevel decoder.
std::shared_ptr<Tokenizer::Impl> build_bpe(Vocab vocab, const MergeList& merges, const BpeOptions& options);
// Llama-style SentencePiece (BPE by scores or Unigram), with byte fallback.
std::shared_ptr<Tokenizer::Impl> build_sentencepiece(PieceTable table, const SentencePieceOptions& options);

}  // namespace octet::text
