// `octet calibrators`: runs the real binary and checks its JSON output.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace {

using octet::testing::CommandResult;

// `octet ARGS`, stdout and stderr together.
CommandResult run_command(const std::string& args) {
  return octet::testing::run_shell_combined(octet::testing::octet_cli_path() + " " + args);
}

const nlohmann::json& find_by(const nlohmann::json& array, const char* key, const std::string& value) {
  for (const auto& item : array)
    if (item.at(key) == value) return item;
  throw std::runtime_error("no entry with " + std::string(key) + " = " + value);
}

TEST(CalibratorsCli, JsonParsesAndEntropyClipsBelowMinMax) {
  const CommandResult r = run_command("calibrators --json --samples 50000 --outliers 6 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("spec"), "int8:sym:per_tensor");
  ASSERT_EQ(j.at("datasets").size(), 2u);
  const auto& gauss = find_by(j.at("datasets"), "name", "gaussian_outliers");
  EXPECT_EQ(gauss.at("samples"), 50000);
  const auto& results = gauss.at("results");
  for (const char* name : {"minmax", "ema(0.9)", "percentile(99.9)", "percentile(99.99)", "entropy", "mse"}) {
    const auto& row = find_by(results, "calibrator", name);
    EXPECT_GT(row.at("scale").get<double>(), 0.0) << name;
    EXPECT_GT(row.at("sqnr_db").get<double>(), 0.0) << name;
    EXPECT_NEAR(row.at("scale").get<double>(), row.at("amax").get<double>() / 127.0,
                1e-6 * row.at("amax").get<double>())
        << name;
  }
  const double minmax = find_by(results, "calibrator", "minmax").at("amax").get<double>();
  const double entropy = find_by(results, "calibrator", "entropy").at("amax").get<double>();
  EXPECT_DOUBLE_EQ(minmax, std::max(-gauss.at("min").get<double>(), gauss.at("max").get<double>()));
  EXPECT_LT(entropy, minmax);
  // Min-max never clips, so its max error is at most half a step (plus rounding).
  const auto& mm = find_by(results, "calibrator", "minmax");
  EXPECT_LE(mm.at("max_abs_error").get<double>(), mm.at("scale").get<double>() * 0.5001);
}

TEST(CalibratorsCli, TableAndBadArguments) {
  const CommandResult table = run_command("calibrators --samples 20000");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("entropy"), std::string::npos);
  EXPECT_NE(table.output.find("SQNR dB"), std::string::npos);
  const CommandResult bad = run_command("calibrators --samples 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--samples"), std::string::npos) << bad.output;
  const CommandResult bad_spec = run_command("calibrators --spec 'int8:sym:per_channel(0)'");
  EXPECT_NE(bad_spec.exit_code, 0);
  EXPECT_NE(bad_spec.output.find("per_tensor"), std::string::npos) << bad_spec.output;
}

}  // namespace
