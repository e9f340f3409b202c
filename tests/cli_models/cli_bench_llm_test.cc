// `octet bench-llm MODEL` on the CPU: the KV cache a row reports is the one the
// model decodes with (as stored, or replaced by --kv-cache f32|f16|int8|fp8), and
// a KV type the CPU does not have is a one-line error.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "cli_models/cli_models_util.h"
#include "octet/gemm_bf16.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using testing::kjv_llama_dir;

namespace fs = std::filesystem;
using testing::run_octet;

// The JSON row of a short bench-llm run with `extra` arguments.
nlohmann::json bench_row(const std::vector<std::string>& extra) {
  const auto scratch = testing::temp_dir();
  std::vector<std::string> args{"bench-llm", kjv_llama_dir().string(), "--prefill", "8", "--decode", "4", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run_octet(args, scratch);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("results").size(), 1u) << r.out;
  return j.at("results").at(0);
}

TEST(CliBenchLlm, ReportsTheKvCacheTheModelDecodesWith) {
  const auto as_stored = bench_row({});
  EXPECT_EQ(as_stored.at("kv_cache"), "f32");
  EXPECT_EQ(as_stored.at("decode_steps").get<int64_t>(), 4);
  EXPECT_GT(as_stored.at("decode_tokens_per_second").get<double>(), 0.0);
  EXPECT_EQ(bench_row({"--kv-cache", "int8"}).at("kv_cache"), "int8 dyn");
  EXPECT_EQ(bench_row({"--kv-cache", "fp8"}).at("kv_cache"), "fp8 dyn");
  EXPECT_EQ(bench_row({"--kv-cache", "f32"}).at("kv_cache"), "f32");
  EXPECT_EQ(bench_row({"--kv-cache", "f16"}).at("kv_cache"), "f16");
}

// Bytes a decode step reads: every Linear's f32 weight (kjv-llama: q, k, v, o, gate, up, down of each layer and
// the untied lm_head; no biases) plus keys and values at the timed steps' mean cache length, 8 + 1 + (4 - 1) / 2
// tokens. kjv-llama's 23 MB may sit in cache, so no read bandwidth is measured and no bound reported.
TEST(CliBenchLlm, ReportsTheBytesADecodeStepReads) {
  const auto config = nlohmann::json::parse(std::ifstream(kjv_llama_dir() / "config.json"));
  const int64_t hidden = config.at("hidden_size"), inter = config.at("intermediate_size");
  const int64_t layers = config.at("num_hidden_layers"), heads = config.at("num_attention_heads");
  const int64_t kv_heads = config.at("num_key_value_heads"), vocab = config.at("vocab_size");
  const int64_t head_dim = hidden / heads, kv_dim = kv_heads * head_dim;
  const int64_t linear_params =
      layers * (2 * hidden * hidden + 2 * kv_dim * hidden + 3 * inter * hidden) + vocab * hidden;
  const int64_t len = 8 + 1 + 1;
  for (const auto& [kv, value_bytes] : {std::pair{"f32", 4}, std::pair{"f16", 2}}) {
    const auto row = bench_row({"--kv-cache", kv});
    EXPECT_EQ(row.at("decode_bytes_per_step").get<int64_t>(),
              4 * linear_params + len * layers * 2 * kv_dim * value_bytes)
        << kv;
    EXPECT_FALSE(row.contains("read_bandwidth_bytes_per_second")) << row;
    EXPECT_FALSE(row.contains("decode_bound_fraction")) << row;
  }
  // int8 with dynamic scales: a byte per value and an f32 scale per token and kv head.
  EXPECT_EQ(bench_row({"--kv-cache", "int8"}).at("decode_bytes_per_step").get<int64_t>(),
            4 * linear_params + len * layers * 2 * kv_heads * (head_dim + 4));
}

// --precision bf16 on the CPU: the Linears run on their bf16 copies, which is what the row's weight bytes count
// (2 bytes per weight, outputs padded to panels of 32; kjv-llama's all are) and what a step reads.
TEST(CliBenchLlm, Bf16RowCountsTheLinearsBf16Copies) {
  if (!bf16_gemm_supported()) GTEST_SKIP() << "no AVX-512 BF16 here";
  const auto f32 = bench_row({"--precision", "fp32"});
  const auto bf16 = bench_row({"--precision", "bf16"});
  EXPECT_EQ(bf16.at("precision"), "bf16");
  EXPECT_EQ(f32.at("precision"), "fp32");
  const int64_t f32_linear_bytes = f32.at("decode_bytes_per_step").get<int64_t>() - (8 + 1 + 1) * 6 * 2 * 128 * 4;
  EXPECT_EQ(bf16.at("decode_bytes_per_step").get<int64_t>() - (8 + 1 + 1) * 6 * 2 * 128 * 4, f32_linear_bytes / 2);
  EXPECT_EQ(bf16.at("weight_bytes").get<int64_t>(), f32.at("weight_bytes").get<int64_t>() - f32_linear_bytes / 2);
  EXPECT_GT(bf16.at("decode_tokens_per_second").get<double>(), 0.0);
}

TEST(CliBenchLlm, PrecisionOfAQuantizedFolderIsAOneLineError) {
  const auto scratch = testing::temp_dir();
  const auto q =
      run_octet({"quantize", kjv_llama_dir().string(), "-o", (scratch / "w8").string(), "--recipe", "w8a16"}, scratch);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const auto r = run_octet(
      {"bench-llm", (scratch / "w8").string(), "--prefill", "8", "--decode", "2", "--precision", "bf16"}, scratch);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("quantized folder natively as stored"), std::string::npos) << r.err;
}

TEST(CliBenchLlm, KvCacheTypeTheCpuLacksIsAOneLineError) {
  const auto scratch = testing::temp_dir();
  const auto r = run_octet(
      {"bench-llm", kjv_llama_dir().string(), "--prefill", "8", "--decode", "2", "--kv-cache", "bf16"}, scratch);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--kv-cache must be f32, f16, int8 or fp8"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace octet
