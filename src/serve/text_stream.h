// Turns a growing list of generated token ids into text deltas for
// streaming, with stop strings.
//
// The text of new tokens is decoded together with a few prompt tokens before
// them, then that prefix's text is removed: SentencePiece tokenizers drop
// the word-initial space of a sequence's first token, so decoding the new
// tokens alone would lose it. Once all text so far is released, the window
// restarts from the last few tokens as its context, so each token costs a
// decode of a bounded window, not of everything generated. Text is released
// only when it is final:
// never the end of an incomplete UTF-8 sequence (decoded as U+FFFD), never
// a tail that could still become a stop string.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace octet::serve {

class TextStream {
 public:
  using Decode = std::function<std::string(std::span<const int64_t> ids)>;
  // `context`: the last prompt tokens (up to 8 are used).
  TextStream(Decode decode, std::span<const int64_t> context, std::vector<std::string> stop_strings);

  // Adds a token; returns the text released by it (may be empty).
  std::string push(int64_t token);
  // Adds a token without decoding (no stop strings, nothing streamed): the
  // text comes out of finish(), equal to what push() would have released.
  void append(int64_t token) { ids_.push_back(token); }
  // Ends the stream: returns the rest (held-back text that did not become a stop string).
  std::string finish();
  // True once the text contains a stop string; the text before it has been released
  // (or is returned by finish()) and nothing after it ever is.
  bool stopped() const { return stopped_; }
  // All text released so far, plus what finish() returned.
  const std::string& text() const { return released_; }

 private:
  // The text of ids_ after the context.
  std::string window_text() const;
  // Restarts the window from the last context tokens (all its text is released).
  void reanchor();
  Decode decode_;
  std::vector<int64_t> ids_;  // context + generated since the window started
  size_t context_size_ = 0;
  std::string context_text_;
  std::vector<std::string> stop_;
  std::string released_;         // everything released
  std::string window_released_;  // the part of it released since the window started
  bool stopped_ = false;
};

}  // namespace octet::serve
