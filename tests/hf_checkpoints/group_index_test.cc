// QuantizedLinear::group_index (GPTQ's act-order g_idx): dequantization looks
// column k's group up as group_index[k], the folder format carries it
// (format_version 3 only then), and out-of-range groups are refused.
#include <gtest/gtest.h>

#include "hf_checkpoints/hf_test_util.h"
#include "io/hf_packing.h"
#include "octet/error.h"

namespace octet::testing {
namespace {

// A uint4 Linear [2, 8] in groups of 4, with the given group index.
QuantizedLinear small_linear(const std::vector<int32_t>& group_index) {
  QuantizedLinear q;
  q.name = "layer";
  q.weight_spec = parse_quant_spec("uint4:affine:group(4)");
  std::vector<int32_t> codes;
  for (int i = 0; i < 16; ++i) codes.push_back(i);
  q.weight = io::values_to_codes(Tensor::from_vector(codes, {2, 8}), DType::U4, "codes");
  q.weight_scale = Tensor::from_floats(std::vector<float>{0.5f, 2.0f, 1.0f, 4.0f}, {2, 2});
  q.weight_zero_point = Tensor::from_vector(std::vector<int32_t>{1, 3, 0, 15}, {2, 2});
  if (!group_index.empty()) q.group_index = Tensor::from_vector(group_index, {8});
  q.input = std::nullopt;
  return q;
}

TEST(GroupIndex, DequantizationLooksTheGroupUp) {
  const std::vector<int32_t> g{1, 0, 0, 1, 1, 0, 1, 0};
  const Tensor w = dequantized_weight(small_linear(g));
  const float scale[2][2] = {{0.5f, 2.0f}, {1.0f, 4.0f}};
  const int zero[2][2] = {{1, 3}, {0, 15}};
  for (int n = 0; n < 2; ++n)
    for (int k = 0; k < 8; ++k) {
      const int grp = g[size_t(k)];
      EXPECT_EQ(w.data<float>()[n * 8 + k], float(n * 8 + k - zero[n][grp]) * scale[n][grp]) << n << "," << k;
    }
  // The contiguous index gives what no index gives.
  const Tensor a = dequantized_weight(small_linear({0, 0, 0, 0, 1, 1, 1, 1})), b = dequantized_weight(small_linear({}));
  EXPECT_TRUE(bit_equal(a, b));
}

TEST(GroupIndex, OutOfRangeOrMisshapenIsRefused) {
  EXPECT_THROW(dequantized_weight(small_linear({0, 0, 0, 0, 1, 1, 1, 2})), Error);
  EXPECT_THROW(dequantized_weight(small_linear({0, 0, 0, 0, 1, 1, 1, -1})), Error);
  QuantizedLinear q = small_linear({});
  q.group_index = Tensor::zeros({4}, DType::I32);
  EXPECT_THROW(validate_quantized_linear(q), Error);
  q = small_linear({});
  q.weight_spec = parse_quant_spec("int8:sym:per_channel(0)");
  q.group_index = Tensor::zeros({8}, DType::I32);
  EXPECT_THROW(validate_quantized_linear(q), Error);
}

// A folder whose Linears carry a group index saves as format_version 3, reads
// back with the same indices and logits; a bad index in the file is an error
// naming the tensor.
TEST(GroupIndex, TheFolderFormatCarriesIt) {
  const fs::path dir = temp_dir();
  LlmRecipe r = llm_recipe("w4a16-rtn");
  r.weight.group_size = 32;
  const QuantizationConfig plain = quantize_to_folder(fixture("llama"), r, {}, dir / "plain");
  EXPECT_EQ(read_json_file(dir / "plain" / kQuantizationConfigFile).at("format_version"), 2);
  QuantizationConfig c = plain;
  std::mt19937 rng(5);
  for (QuantizedLinear& q : c.linears) {
    std::vector<int32_t> g(static_cast<size_t>(q.weight.dim(1)));
    for (size_t k = 0; k < g.size(); ++k) g[k] = int32_t(k / 32);
    std::shuffle(g.begin(), g.end(), rng);
    q.group_index = Tensor::from_vector(g, {int64_t(g.size())});
  }
  save_quantized_model(*load_model(dir / "plain"), c, dir / "plain", dir / "indexed");
  EXPECT_EQ(read_json_file(dir / "indexed" / kQuantizationConfigFile).at("format_version"), 3);
  const QuantizationConfig back = read_quantization_config(dir / "indexed");
  for (size_t i = 0; i < c.linears.size(); ++i) {
    ASSERT_TRUE(back.linears[i].group_index.defined());
    EXPECT_TRUE(bit_equal(back.linears[i].group_index.contiguous(), c.linears[i].group_index.contiguous()));
  }
  const std::vector<int64_t> ids = random_windows(512, 1, 24).front();
  auto expected = load_model(dir / "plain");
  apply_quantization(*expected, c, QuantExecution::Native);
  const Tensor a = logits_of(*expected, ids), b = logits_of(*load_model(dir / "indexed"), ids);
  EXPECT_TRUE(bit_equal(a, b));
  EXPECT_FALSE(bit_equal(b, logits_of(*load_model(dir / "plain"), ids)));  // the index matters

  // An index naming group 2 of a two-group Linear.
  {
    const SafetensorsFile f = SafetensorsFile::open(dir / "indexed" / "model.safetensors");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const std::string& name : f.names()) tensors.emplace_back(name, f.get(name).clone());
    for (auto& [name, t] : tensors)
      if (name == "model.layers.1.mlp.up_proj.weight_group_index") t.data<int32_t>()[3] = 2;
    save_safetensors(dir / "indexed" / "model.safetensors", tensors);
  }
  try {
    load_model(dir / "indexed");
    ADD_FAILURE() << "an out-of-range group index was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.up_proj"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("group_index holds 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet::testing
