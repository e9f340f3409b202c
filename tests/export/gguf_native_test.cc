// GGUF Q4_0 / Q8_0 Linears run natively (quant/gguf_native.cc): kjv-llama
// exported to each type loads with those Linears kernel-resident on the
// weight-only kernel (no f32 weight, not among the parameters), with
// LoadOptions::float_weights every weight dequantized as before, and the
// native perplexity within the 0.1 % bound of the dequantized (simulated)
// model: the only difference is the int8 rounding of activations per block of
// 32, so a mis-permuted q/k row or a misread nibble would show far outside it.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "octet/export_gguf.h"
#include "octet/gguf.h"
#include "octet/quantized_model.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

namespace fs = std::filesystem;

fs::path kjv() { return shared_path("models/kjv-llama"); }

double perplexity(const fs::path& model, const std::string& exec, const fs::path& dir) {
  const CommandResult r = run_octet("perplexity " + model.string() + " --data " + (kjv() / "kjv.valid.txt").string() +
                                        " --ctx 256 --limit-tokens 2048 --exec " + exec + " --json",
                                    dir);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  return r.exit_code == 0 ? nlohmann::json::parse(r.output).at("perplexity").get<double>() : 0.0;
}

class GgufNative : public ::testing::TestWithParam<GgufExportType> {};

TEST_P(GgufNative, BlockLinearsAreKernelResidentAndMatchTheDequantizedModel) {
  const fs::path dir = temp_dir(), file = dir / "kjv.gguf";
  GgufExportOptions o;
  o.type = GetParam();
  export_gguf(kjv(), file, o);

  const auto native = load_model(file);
  std::set<std::string> params;
  for (const auto& [name, t] : native->parameters()) params.insert(name);
  int64_t resident = 0;
  native->visit_linears([&](nn::Linear& l) {
    EXPECT_TRUE(l.kernel_resident()) << l.name();  // q, k, v, o, gate, up, down and the head are all blocks
    if (!l.kernel_resident()) return;
    ++resident;
    EXPECT_FALSE(l.weight().defined()) << l.name();
    EXPECT_EQ(params.count(l.name() + ".weight"), 0u) << l.name();
    ASSERT_TRUE(l.kernel()) << l.name();
    EXPECT_NE(l.kernel()->describe().find("(native)"), std::string::npos) << l.kernel()->describe();
  });
  EXPECT_EQ(resident, 6 * 7 + 1);
  EXPECT_EQ(params.count("model.embed_tokens.weight"), 1u);  // the embedding table is dequantized

  const auto floats = load_model(file, kLoadFloatWeights);
  floats->visit_linears([&](nn::Linear& l) {
    EXPECT_FALSE(l.kernel_resident()) << l.name();
    EXPECT_TRUE(l.weight().defined()) << l.name();
    EXPECT_FALSE(l.kernel()) << l.name();
  });

  const double nat = perplexity(file, "native", dir), sim = perplexity(file, "simulated", dir);
  std::printf("  %s: perplexity native %.6f, dequantized %.6f (%+.4f %%)\n",
              GetParam() == GgufExportType::Q4_0 ? "q4_0" : "q8_0", nat, sim, 100.0 * (nat / sim - 1.0));
  ASSERT_GT(sim, 1.0);
  EXPECT_LT(std::fabs(nat / sim - 1.0), 1e-3) << nat << " vs " << sim;
}

INSTANTIATE_TEST_SUITE_P(Kjv, GgufNative, ::testing::Values(GgufExportType::Q4_0, GgufExportType::Q8_0),
                         [](const auto& info) { return info.param == GgufExportType::Q4_0 ? "q4_0" : "q8_0"; });

// Other block types (here Q4_K with its Q6_K head) still load dequantized, and run.
TEST(GgufNativeKQuants, KQuantLinearsStayDequantized) {
  const fs::path dir = temp_dir(), file = dir / "kjv-q4k.gguf";
  GgufExportOptions o;
  o.type = GgufExportType::Q4_K;
  export_gguf(kjv(), file, o);
  const auto model = load_model(file);
  model->visit_linears([&](nn::Linear& l) {
    EXPECT_FALSE(l.kernel_resident()) << l.name();
    EXPECT_TRUE(l.weight().defined()) << l.name();
  });
}

}  // namespace
}  // namespace octet::testing
