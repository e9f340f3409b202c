// GGUF Q4_0 / Q8_0 / Q4_K (+ its Q6_K head) Linears run natively
// (quant/gguf_native.cc): kjv-llama exported to each type loads with those
// Linears kernel-resident on the weight-only kernel (no f32 weight, not among
// the parameters), with LoadOptions::float_weights every weight dequantized
// as before. Each native Linear equals its dequantized one within the bound
// of the int8 rounding of activations per block of 32 (the only difference),
// and the native perplexity is within 0.1 % of the dequantized (simulated)
// model: a mis-permuted q/k row, a misread nibble or a wrong scale / min
// would show far outside both.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
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

double perplexity(const fs::path& model, const std::string& exec, const fs::path& dir) {
  const CommandResult r =
      run_octet("perplexity " + model.string() + " --data " + (kjv_llama_dir() / "kjv.valid.txt").string() +
                    " --ctx 256 --limit-tokens 2048 --exec " + exec + " --json",
                dir);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  return r.exit_code == 0 ? nlohmann::json::parse(r.output).at("perplexity").get<double>() : 0.0;
}

const char* type_name(GgufExportType t) {
  return t == GgufExportType::Q4_0 ? "q4_0" : t == GgufExportType::Q8_0 ? "q8_0" : "q4_k";
}

class GgufNative : public ::testing::TestWithParam<GgufExportType> {};

TEST_P(GgufNative, BlockLinearsAreKernelResidentAndMatchTheDequantizedModel) {
  const fs::path dir = temp_dir(), file = dir / "kjv.gguf";
  GgufExportOptions o;
  o.type = GetParam();
  export_gguf(kjv_llama_dir(), file, o);

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

  // Per Linear, on random inputs: an activation x quantized per block b of 32 moves by at most
  // amax_b / 254 (half a step of amax_b / 127), so |y_native - y_float| <= sum_b amax_b / 254 * sum_{j in b} |W_nj|,
  // plus f32 accumulation (k * 2^-24 of sum |W_nj x_j| per side, doubled).
  std::map<std::string, const nn::Linear*> float_linears;
  floats->visit_linears([&](nn::Linear& l) { float_linears[l.name()] = &l; });
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int64_t checked = 0;
  native->visit_linears([&](nn::Linear& l) {
    const nn::Linear& f = *float_linears.at(l.name());
    const int64_t k = l.in_features(), rows = 3;
    Tensor x = Tensor::empty({rows, k}, DType::F32);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
    const Tensor yn = l.forward(x), yf = f.forward(x);
    const Tensor w = f.weight().contiguous();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < l.out_features(); ++n) {
        double bound = 0.0, magnitude = 0.0;
        for (int64_t b = 0; b < k / 32; ++b) {
          double amax = 0.0, wsum = 0.0;
          for (int64_t j = b * 32; j < b * 32 + 32; ++j) {
            const double xv = x.data<float>()[r * k + j], wv = w.data<float>()[n * k + j];
            amax = std::max(amax, std::fabs(xv));
            wsum += std::fabs(wv);
            magnitude += std::fabs(xv * wv);
          }
          bound += amax / 254.0 * wsum;
        }
        bound += 4.0 * double(k) * 0x1p-24 * magnitude;
        const double got = yn.data<float>()[r * l.out_features() + n], want = yf.data<float>()[r * l.out_features() + n];
        ASSERT_LE(std::fabs(got - want), bound) << l.name() << " row " << r << " output " << n;
      }
    ++checked;
  });
  EXPECT_EQ(checked, 6 * 7 + 1);

  const double nat = perplexity(file, "native", dir), sim = perplexity(file, "simulated", dir);
  std::printf("  %s: perplexity native %.6f, dequantized %.6f (%+.4f %%)\n", type_name(GetParam()), nat, sim,
              100.0 * (nat / sim - 1.0));
  ASSERT_GT(sim, 1.0);
  EXPECT_LT(std::fabs(nat / sim - 1.0), 1e-3) << nat << " vs " << sim;
}

// q4_k: Q4_K Linears (the scale-min form) and a Q6_K head (8-bit codes in groups of 16).
INSTANTIATE_TEST_SUITE_P(Kjv, GgufNative,
                         ::testing::Values(GgufExportType::Q4_0, GgufExportType::Q8_0, GgufExportType::Q4_K),
                         [](const auto& info) { return std::string(type_name(info.param)); });

}  // namespace
}  // namespace octet::testing
