// io/tsv.h: the field splitting and column lookup that `octet eval --data` and
// `octet quantize --calib` share (their error messages are tested with them).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/tsv.h"

namespace octet::io {
namespace {

TEST(Tsv, SplitsAtEveryTabAndTrims) {
  EXPECT_EQ(split_tabs("a\tb\t\tc"), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(split_tabs(""), (std::vector<std::string>{""}));
  EXPECT_EQ(split_tabs("x\t"), (std::vector<std::string>{"x", ""}));
  EXPECT_EQ(trim(" \t label \r\n"), "label");
  EXPECT_EQ(trim(" \t\r\n"), "");
}

TEST(Tsv, ColumnsByTrimmedNameThenByIndex) {
  const std::vector<std::string> header{"label ", " sentence", "7"};
  const TsvColumn by_name = find_tsv_column(header, "sentence");
  EXPECT_TRUE(by_name.found);
  EXPECT_FALSE(by_name.is_index);
  EXPECT_EQ(by_name.index, 1u);
  // A header cell that is itself digits is a name first.
  EXPECT_EQ(find_tsv_column(header, "7").index, 2u);
  const TsvColumn by_index = find_tsv_column(header, "0");
  EXPECT_TRUE(by_index.found && by_index.is_index);
  EXPECT_EQ(by_index.index, 0u);
  for (const char* past : {"3", "99999999999999999999999"}) {
    const TsvColumn c = find_tsv_column(header, past);
    EXPECT_FALSE(c.found) << past;
    EXPECT_TRUE(c.is_index) << past;
  }
  for (const char* missing : {"text", "", "-1", "1a"}) {
    const TsvColumn c = find_tsv_column(header, missing);
    EXPECT_FALSE(c.found || c.is_index) << missing;
  }
}

}  // namespace
}  // namespace octet::io
