#include "octet/output.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "octet/error.h"

namespace octet::cli {
namespace {

TEST(FormatTable, AlignsTextLeftAndNumbersRight) {
  const std::string table = format_table({"model", "latency", "params"}, {
                                                                            {"bert-mini", "1.25 ms", "11"},
                                                                            {"llama", "12.5 ms", "260000"},
                                                                        });
  EXPECT_EQ(table,
            "model      latency  params\n"
            "---------  -------  ------\n"
            "bert-mini  1.25 ms      11\n"
            "llama      12.5 ms  260000\n");
}

TEST(FormatTable, PadsShortRowsAndCountsUtf8AsOneColumn) {
  const std::string table = format_table({"name", "n"}, {{"\xC3\xA9t\xC3\xA9"}, {"ab", "-"}, {"x", "7"}});
  // "été" is 3 columns; the empty and "-" cells do not make column 2 textual.
  EXPECT_EQ(table,
            "name  n\n"
            "----  -\n"
            "\xC3\xA9t\xC3\xA9\n"
            "ab    -\n"
            "x     7\n");
}

TEST(FormatTable, RejectsRowsWiderThanTheHeader) {
  EXPECT_THROW(format_table({"a"}, {{"1", "2"}}), Error);
}

TEST(LooksNumeric, NumbersWithOptionalUnits) {
  for (const char* yes : {"0", "12", "-3.5", "+2", "1e-3", "2.5E+10", "12.5%", "3.2x", "1.5 ms", "2.0 GiB", "1,024",
                          "12 it/s"})
    EXPECT_TRUE(looks_numeric(yes)) << yes;
  for (const char* no : {"", "-", "yes", "avx2", "v1.2", "1.5 seconds total", "e5", ".", "12 ab cd"})
    EXPECT_FALSE(looks_numeric(no)) << no;
}

TEST(FormatDuration, ThreeSignificantDigitsThenClock) {
  EXPECT_EQ(format_duration(0.0), "0.00 ns");
  EXPECT_EQ(format_duration(850e-9), "850 ns");
  EXPECT_EQ(format_duration(12.34e-6), "12.3 us");
  EXPECT_EQ(format_duration(4.561e-3), "4.56 ms");
  EXPECT_EQ(format_duration(1.234), "1.23 s");
  // Values that would round up to "1000 <unit>" move to the next unit.
  EXPECT_EQ(format_duration(999.7e-6), "1.00 ms");
  EXPECT_EQ(format_duration(0.9996), "1.00 s");
  EXPECT_EQ(format_duration(59.96), "1m 00s");
  EXPECT_EQ(format_duration(125.0), "2m 05s");
  EXPECT_EQ(format_duration(3720.0), "1h 02m");
  EXPECT_EQ(format_duration(-0.002), "-2.00 ms");
}

TEST(FormatBytes, BinaryUnits) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.00 KiB");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(3407872), "3.25 MiB");           // 3.25 * 2^20
  EXPECT_EQ(format_bytes(12ull << 30), "12.0 GiB");
  // 1023 KiB would print as "1023 KiB" (4 digits); it moves up to MiB.
  EXPECT_EQ(format_bytes(1023ull * 1024), "1.00 MiB");
}

TEST(FormatParseFailure, OneLineNamingTheUnknownCommand) {
  CLI::App app{"test"};
  app.require_subcommand(1);
  app.add_subcommand("doctor", "d");
  app.failure_message(format_parse_failure);
  const char* argv[] = {"octet", "frobnicate"};
  try {
    app.parse(2, argv);
    FAIL() << "parsed";
  } catch (const CLI::ParseError& e) {
    EXPECT_EQ(format_parse_failure(&app, e), "octet: error: unknown command 'frobnicate' (see 'octet --help')\n");
  }
}

}  // namespace
}  // namespace octet::cli
