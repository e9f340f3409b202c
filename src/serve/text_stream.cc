// Incremental detokenization with stop strings (see text_stream.h).
#include "serve/text_stream.h"

#include <algorithm>

namespace octet::serve {
namespace {

constexpr size_t kContextTokens = 8;
// Generated tokens a window holds before it restarts (when nothing is held back).
constexpr size_t kWindowTokens = 64;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool ends_incomplete(const std::string& s) { return s.ends_with(kReplacement); }

// Length of the longest suffix of `text` that is a proper prefix of some stop string.
size_t partial_stop_suffix(std::string_view text, const std::vector<std::string>& stops) {
  size_t keep = 0;
  for (const std::string& s : stops)
    for (size_t n = std::min(text.size(), s.size() - 1); n > keep; --n)
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        keep = n;
        break;
      }
  return keep;
}

}  // namespace

TextStream::TextStream(Decode decode, std::span<const int64_t> context, std::vector<std::string> stop_strings)
    : decode_(std::move(decode)), stop_(std::move(stop_strings)) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });
  const size_t n = std::min(context.size(), kContextTokens);
  ids_.assign(context.end() - std::ptrdiff_t(n), context.end());
  context_size_ = n;
  context_text_ = n ? decode_(ids_) : std::string();
}

std::string TextStream::window_text() const {
  const std::string all = decode_(ids_);
  // The context's text is normally a prefix of the whole; when a tokenizer
  // merges across the boundary it is not, and the new tokens stand alone.
  if (all.compare(0, context_text_.size(), context_text_) == 0) return all.substr(context_text_.size());
  return decode_(std::span<const int64_t>(ids_).subspan(context_size_));
}

void TextStream::reanchor() {
  ids_.erase(ids_.begin(), ids_.end() - std::ptrdiff_t(kContextTokens));
  context_size_ = kContextTokens;
  context_text_ = decode_(ids_);
  window_released_.clear();
}

std::string TextStream::push(int64_t token) {
  if (stopped_) return {};
  ids_.push_back(token);
  std::string text = window_text();
  const std::string& released = window_released_;
  for (const std::string& s : stop_) {
    const size_t at = text.find(s, released.size() > s.size() ? released.size() - s.size() : 0);
    if (at != std::string::npos) {
      text.resize(at);
      stopped_ = true;
    }
  }
  if (stopped_) {
    // Everything before the earliest stop string is final.
    std::string out = text.size() > released.size() ? text.substr(released.size()) : std::string();
    released_ += out;
    return out;
  }
  if (ends_incomplete(text)) return {};
  const size_t keep = partial_stop_suffix(text, stop_);
  const size_t ready = text.size() - keep;
  if (ready <= released.size() || text.compare(0, released.size(), released) != 0) return {};
  std::string out = text.substr(released.size(), ready - released.size());
  released_ += out;
  window_released_ += out;
  if (keep == 0 && ids_.size() >= context_size_ + kWindowTokens) reanchor();
  return out;
}

std::string TextStream::finish() {
  if (stopped_) return {};
  const std::string text = window_text();
  const std::string& released = window_released_;
  if (text.size() <= released.size() || text.compare(0, released.size(), released) != 0) return {};
  std::string out = text.substr(released.size());
  released_ += out;
  window_released_ += out;
  return out;
}

}  // namespace octet::serve
