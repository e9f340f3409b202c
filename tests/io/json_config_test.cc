#include "octet/json_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "io/io_test_util.h"
#include "octet/error.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using ::testing::HasSubstr;
using testing::error_of;

TEST(JsonConfig, ReadsRealConfigAgainstIndependentParse) {
  const auto path = testing::shared_path("fixtures/hf/bert/config.json");
  const JsonConfig cfg = JsonConfig::load(path);
  const auto raw = nlohmann::json::parse(testing::read_bytes(path));
  EXPECT_EQ(cfg.get<int>("hidden_size"), raw["hidden_size"].get<int>());
  EXPECT_EQ(cfg.get<int64_t>("vocab_size"), raw["vocab_size"].get<int64_t>());
  EXPECT_EQ(cfg.get<float>("layer_norm_eps"), raw["layer_norm_eps"].get<float>());
  EXPECT_EQ(cfg.get<double>("layer_norm_eps"), raw["layer_norm_eps"].get<double>());
  EXPECT_EQ(cfg.get<std::string>("model_type"), raw["model_type"].get<std::string>());
  EXPECT_EQ(cfg.get<bool>("use_cache"), raw["use_cache"].get<bool>());
  EXPECT_EQ(cfg.get_string_list("architectures"), raw["architectures"].get<std::vector<std::string>>());
  // "classifier_dropout": null counts as absent.
  ASSERT_TRUE(raw.contains("classifier_dropout"));
  EXPECT_FALSE(cfg.has("classifier_dropout"));
  EXPECT_EQ(cfg.get_or<float>("classifier_dropout", 0.25f), 0.25f);
  EXPECT_EQ(cfg.get_or<float>("layer_norm_eps", 1.0f), raw["layer_norm_eps"].get<float>());
  EXPECT_EQ(cfg.get_or<int>("no_such_key", 7), 7);
}

TEST(JsonConfig, WrongTypesNameFileKeyAndTypes) {
  const auto path = testing::temp_dir() / "config.json";
  testing::write_bytes(path, R"({"hidden_size": "64", "eps": 1e-12, "flag": 1, "big": 5000000000, "neg": -3,
                                 "names": ["a", 2], "nested": {"hidden_size": 32}, "ints": [1, 2.5], "nums": [1, 2.5],
                                 "name": true, "huge": 1e300})");
  const JsonConfig cfg = JsonConfig::load(path);
  const std::string prefix = "[config] " + path.string() + ": ";
  EXPECT_EQ(error_of([&] { cfg.get<int>("hidden_size"); }), prefix + "'hidden_size' must be an integer, got string");
  EXPECT_EQ(error_of([&] { cfg.get<int>("eps"); }), prefix + "'eps' must be an integer, got non-integer number 1e-12");
  EXPECT_EQ(error_of([&] { cfg.get<bool>("flag"); }), prefix + "'flag' must be a boolean, got number");
  EXPECT_EQ(error_of([&] { cfg.get<std::string>("name"); }), prefix + "'name' must be a string, got boolean");
  EXPECT_EQ(error_of([&] { cfg.get<float>("name"); }), prefix + "'name' must be a number, got boolean");
  EXPECT_THAT(error_of([&] { cfg.get<int>("big"); }), HasSubstr("'big' = 5000000000 is out of range for a 32-bit"));
  EXPECT_EQ(cfg.get<int64_t>("big"), 5000000000);
  EXPECT_THAT(error_of([&] { cfg.get<uint32_t>("neg"); }), HasSubstr("'neg' = -3 is out of range"));
  EXPECT_EQ(cfg.get<int>("neg"), -3);
  EXPECT_THAT(error_of([&] { cfg.get<float>("huge"); }), HasSubstr("'huge' = 1e+300 is out of range for a float"));
  EXPECT_EQ(cfg.get<double>("huge"), 1e300);
  EXPECT_EQ(cfg.get<float>("neg"), -3.0f);  // integers are numbers too
  EXPECT_EQ(error_of([&] { cfg.get_string_list("names"); }), prefix + "'names'[1] must be a string, got number");
  EXPECT_EQ(error_of([&] { cfg.get_string_list("hidden_size"); }),
            prefix + "'hidden_size' must be a list of strings, got string");
  EXPECT_THAT(error_of([&] { cfg.get_int_list("ints"); }), HasSubstr("'ints[1]' must be an integer"));
  EXPECT_EQ(cfg.get_number_list("nums"), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(error_of([&] { cfg.get<int>("absent"); }), prefix + "missing 'absent'");
  const JsonConfig nested = cfg.section("nested");
  EXPECT_EQ(nested.get<int>("hidden_size"), 32);
  EXPECT_EQ(error_of([&] { nested.get<int>("x"); }), "[config] " + path.string() + ":nested: missing 'x'");
  EXPECT_THAT(error_of([&] { cfg.section("eps"); }), HasSubstr("'eps' must be an object"));
}

TEST(JsonConfig, FileErrors) {
  const auto dir = testing::temp_dir();
  EXPECT_THAT(error_of([&] { JsonConfig::load(dir / "absent.json"); }), HasSubstr("absent.json: cannot open"));
  testing::write_bytes(dir / "bad.json", R"({"a": )");
  EXPECT_THAT(error_of([&] { JsonConfig::load(dir / "bad.json"); }), HasSubstr("bad.json: not valid JSON"));
  // A number past double's range is nlohmann's out_of_range, not parse_error: it used to escape
  // as a non-octet exception (fuzz_config_build, tests/fuzz/regressions/config_build/crash-5042...).
  for (const char* text : {"6e308", R"({"hidden_size": 1e400})"}) {
    testing::write_bytes(dir / "huge.json", text);
    EXPECT_THAT(error_of([&] { JsonConfig::load(dir / "huge.json"); }), HasSubstr("huge.json: not valid JSON"));
  }
  testing::write_bytes(dir / "list.json", "[1]");
  EXPECT_THAT(error_of([&] { JsonConfig::load(dir / "list.json"); }),
              HasSubstr("list.json: must be a JSON object, got array"));
}

}  // namespace
}  // namespace octet
