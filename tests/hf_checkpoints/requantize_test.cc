// Re-quantizing a Hugging Face quantized checkpoint: the folder written must
// not keep the source's `quantization_config` block in config.json (a runtime
// would read octet's int8 codes as AWQ's packed int4), and it must load as
// octet's own quantization.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "llm_quant/kjv.h"
#include "octet/hf_checkpoint.h"

namespace octet::testing {
namespace {

TEST(Requantize, AwqCheckpointToW8A16DropsTheSourceQuantizationBlock) {
  const auto dir = temp_dir();
  {
    QuantizedKjv q = quantize_kjv(llm_recipe("w4a16-rtn"));
    save_quantized_model(*q.model, q.config, kjv_path(), dir / "w4");
  }
  HfExportOptions awq;
  awq.layout = HfLayout::Awq;
  export_hf_checkpoint(dir / "w4", dir / "awq", awq);
  ASSERT_TRUE(is_hf_quantized_checkpoint(dir / "awq"));

  auto model = load_model(dir / "awq", {.head = ModelHead::CausalLM});
  LlmQuantizeOptions o;
  o.recipe = llm_recipe("w8a16");
  o.progress = false;
  save_quantized_model(*model, quantize_llm(*model, {}, o), dir / "awq", dir / "w8");

  std::ifstream in(dir / "w8" / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  EXPECT_FALSE(config.contains("quantization_config")) << config.dump(2);
  EXPECT_EQ(config.at("model_type"), "llama");
  EXPECT_FALSE(is_hf_quantized_checkpoint(dir / "w8"));
  EXPECT_EQ(read_quantization_config(dir / "w8").recipe, "w8a16");
  const auto reloaded = load_model(dir / "w8", {.head = ModelHead::CausalLM});
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, 400, 57, 999}, {1, 4});
  EXPECT_EQ(reloaded->forward({ids, {}, {}, {}}).at("logits").dim(2), 4096);
}

}  // namespace
}  // namespace octet::testing
