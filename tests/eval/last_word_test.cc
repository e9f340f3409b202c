// Last-word accuracy: the line rules, and on kjv-llama the accuracy of the
// batched teacher-forced evaluation equals an independent count made here by
// running octet::generate greedily from each context and comparing the
// generated tokens with the word's tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>

#include "octet/error.h"
#include "octet/eval.h"
#include "octet/generate.h"
#include "eval/eval_test_util.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using testing::eval_error_message;

using testing::kjv_llama_dir;

TEST(LastWordExamples, LineRules) {
  const auto examples = parse_last_word_examples(
      "Genesis 11\n"                                                      // heading: last word a number
      "And the whole earth was of one language, and of one speech.\n"
      "\n"
      "   \r\n"                                                           // blank
      "Amen.\n"                                                           // one word: no context
      "And they said, Go to, let us build us a city;  \r\n"               // CRLF, trailing spaces
      "Who said, \"Whither goest thou?\"\n"                               // closing quote and ?
      "and the end --\n"                                                  // last word only punctuation
      "the LORD's.\n"
      "Psalms 119");                                                      // no final newline
  ASSERT_EQ(examples.size(), 4u);
  EXPECT_EQ(examples[0].context, "And the whole earth was of one language, and of one");
  EXPECT_EQ(examples[0].word, "speech");
  EXPECT_EQ(examples[0].line, 2);
  EXPECT_EQ(examples[1].context, "And they said, Go to, let us build us a");
  EXPECT_EQ(examples[1].word, "city");
  EXPECT_EQ(examples[1].line, 6);
  EXPECT_EQ(examples[2].context, "Who said, \"Whither goest");
  EXPECT_EQ(examples[2].word, "thou");
  EXPECT_EQ(examples[3].context, "the");
  EXPECT_EQ(examples[3].word, "LORD's");
  EXPECT_EQ(examples[3].line, 9);
}

TEST(LastWordExamples, KjvValidationFile) {
  const auto examples = load_last_word_examples(kjv_llama_dir() / "kjv.valid.txt");
  // 1602 lines; every chapter starts with a heading ("Genesis 11").
  EXPECT_GT(examples.size(), 1400u);
  EXPECT_LT(examples.size(), 1602u);
  EXPECT_EQ(examples.front().line, 2);
  EXPECT_EQ(examples.front().word, "speech");
  for (const auto& e : examples) {
    EXPECT_FALSE(e.word.empty());
    EXPECT_FALSE(std::ispunct(static_cast<unsigned char>(e.word.back()))) << e.line;
    EXPECT_FALSE(e.context.empty()) << e.line;
  }
}

TEST(LastWordExamples, FileWithoutUsableLineIsAnError) {
  const auto path = testing::temp_dir() / "headings.txt";
  std::ofstream(path) << "Genesis 11\n\nExodus 3\n   \nAmen.\n";
  const std::string msg = eval_error_message([&] { load_last_word_examples(path); });
  EXPECT_NE(msg.find("headings.txt: no usable line"), std::string::npos) << msg;
  EXPECT_NE(eval_error_message([&] { load_last_word_examples(path.parent_path() / "missing.txt"); })
                .find("cannot read"),
            std::string::npos);
}

// The independent count: greedy generate() from the context's ids (KV cache,
// incremental decoding) must produce exactly the continuation's ids.
std::vector<LastWordOutcome> outcomes_by_generate(const CausalLM& model, const Tokenizer& tok,
                                                  const std::vector<LastWordExample>& examples) {
  std::vector<LastWordOutcome> out;
  for (const auto& e : examples) {
    const std::vector<int64_t> context = tok.encode(e.context).ids;
    const std::vector<int64_t> full = tok.encode(e.context + " " + e.word).ids;
    if (full.size() <= context.size() || !std::equal(context.begin(), context.end(), full.begin())) {
      out.push_back(LastWordOutcome::Skipped);
      continue;
    }
    const std::vector<int64_t> continuation(full.begin() + std::ptrdiff_t(context.size()), full.end());
    GenerationOptions opt;
    opt.max_new_tokens = int64_t(continuation.size());
    opt.eos_ids = std::vector<int64_t>{};  // never stop early: compare every token
    const GenerationResult r = generate(model, {context}, opt);
    out.push_back(r.new_tokens[0] == continuation ? LastWordOutcome::Correct : LastWordOutcome::Wrong);
  }
  return out;
}

TEST(LastWordAccuracy, KjvLlamaMatchesGreedyGeneration) {
  const auto model = load_causal_lm(kjv_llama_dir());
  use_decode_kernels(*model);
  const Tokenizer tok = load_model_tokenizer(kjv_llama_dir());
  const auto all = load_last_word_examples(kjv_llama_dir() / "kjv.valid.txt");
  const std::vector<LastWordExample> examples(all.begin(), all.begin() + 40);

  const std::vector<LastWordOutcome> want = outcomes_by_generate(*model, tok, examples);
  const int64_t want_correct = std::count(want.begin(), want.end(), LastWordOutcome::Correct);
  const int64_t want_skipped = std::count(want.begin(), want.end(), LastWordOutcome::Skipped);

  LastWordOptions opt;
  opt.progress = false;
  opt.batch_size = 8;
  const LastWordResult r = evaluate_last_word(*model, tok, examples, opt);
  EXPECT_EQ(r.outcomes, want);
  EXPECT_EQ(r.correct, want_correct);
  EXPECT_EQ(r.skipped, want_skipped);
  EXPECT_EQ(r.examples, 40 - want_skipped);
  EXPECT_DOUBLE_EQ(r.accuracy, double(want_correct) / double(40 - want_skipped));
  // A trained model gets some right and some wrong: the check has teeth both ways.
  EXPECT_GT(r.correct, 0);
  EXPECT_LT(r.correct, r.examples);
  EXPECT_GT(r.seconds, 0.0);

  // One example per pass gives the same outcomes; --limit takes the first N.
  opt.batch_size = 1;
  opt.limit = 10;
  const LastWordResult one = evaluate_last_word(*model, tok, examples, opt);
  ASSERT_EQ(one.outcomes.size(), 10u);
  EXPECT_EQ(one.outcomes, std::vector<LastWordOutcome>(want.begin(), want.begin() + 10));
}

}  // namespace
}  // namespace octet
