// Bad Hugging Face checkpoints: every defect is an octet::Error naming what
// is wrong (the quant_method, the bits, the tensor), from read_hf_checkpoint
// and from load_model alike; never a crash, never a silently wrong model.
// Also the formats a layout cannot hold, refused with the layouts that can.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "hf_checkpoints/hf_test_util.h"
#include "octet/error.h"

namespace octet::testing {
namespace {

// A fresh export of the llama fixture quantized with `recipe` (group 32) in `layout`.
fs::path exported(const fs::path& dir, const std::string& recipe, HfLayout layout, const std::string& tag = "") {
  LlmRecipe r = llm_recipe(recipe);
  if (r.weight.granularity == Granularity::PerGroup) r.weight.group_size = 32;
  const std::string name = recipe + tag + "-" + std::string(hf_layout_name(layout));
  const fs::path folder = dir / (name + "-octet"), out = dir / name;
  quantize_to_folder(fixture("llama"), r, random_windows(512, 2, 32), folder);
  HfExportOptions o;
  o.layout = layout;
  export_hf_checkpoint(folder, out, o);
  return out;
}

using TensorMap = std::map<std::string, Tensor>;

// Rewrites the checkpoint's model.safetensors through `edit`.
void edit_tensors(const fs::path& folder, const std::function<void(TensorMap&)>& edit) {
  TensorMap tensors;
  {
    const SafetensorsFile f = SafetensorsFile::open(folder / "model.safetensors");
    for (const std::string& name : f.names()) tensors[name] = f.get(name).clone();
  }
  edit(tensors);
  save_safetensors(folder / "model.safetensors", {tensors.begin(), tensors.end()});
}

void edit_config(const fs::path& folder, const std::function<void(nlohmann::json&)>& edit,
                 const std::string& file = "config.json") {
  nlohmann::json j = read_json_file(folder / file);
  edit(file == "config.json" ? j["quantization_config"] : j);
  write_json_file(folder / file, j);
}

// read_hf_checkpoint and load_model both fail with an Error containing every needle.
void expect_error(const fs::path& folder, const std::vector<std::string>& needles) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (attempt == 0)
        read_hf_checkpoint(folder);
      else
        load_model(folder);
      ADD_FAILURE() << (attempt == 0 ? "read_hf_checkpoint" : "load_model") << " accepted " << folder;
    } catch (const Error& e) {
      for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  }
}

const std::string kQ = "model.layers.0.self_attn.q_proj";

TEST(BadCheckpoint, UnknownQuantMethodOrBits) {
  const fs::path dir = temp_dir(), awq = exported(dir, "w4a16-rtn", HfLayout::Awq);
  edit_config(awq, [](nlohmann::json& q) { q["quant_method"] = "bitsandbytes"; });
  expect_error(awq, {"quant_method 'bitsandbytes'", "awq, gptq, compressed-tensors"});
  edit_config(awq, [](nlohmann::json& q) { q["quant_method"] = "awq", q["bits"] = 3; });
  expect_error(awq, {"bits 3"});
  edit_config(awq, [](nlohmann::json& q) { q["bits"] = 8; });
  expect_error(awq, {"bits 8", "4-bit"});
  edit_config(awq, [](nlohmann::json& q) { q["bits"] = 4, q["version"] = "gemv"; });
  expect_error(awq, {"version 'gemv'"});
  const fs::path gptq = exported(dir, "w4a16-rtn", HfLayout::Gptq);
  edit_config(gptq, [](nlohmann::json& q) { q["bits"] = 2; });
  expect_error(gptq, {"bits 2"});
  edit_config(gptq, [](nlohmann::json& q) { q["bits"] = 4, q["checkpoint_format"] = "marlin"; });
  expect_error(gptq, {"checkpoint_format 'marlin'"});
}

TEST(BadCheckpoint, AwqShapesThatDisagree) {
  const fs::path dir = temp_dir(), awq = exported(dir, "w4a16-rtn", HfLayout::Awq);
  // group_size 48 does not divide q_proj's 64 inputs.
  edit_config(awq, [](nlohmann::json& q) { q["group_size"] = 48; });
  expect_error(awq, {".qweight", "not a multiple of group_size 48"});
  // group 16 divides, but then scales and qzeros have the wrong number of groups.
  edit_config(awq, [](nlohmann::json& q) { q["group_size"] = 16; });
  expect_error(awq, {".scales", "expected [", "AWQ scales"});
  edit_config(awq, [](nlohmann::json& q) { q["group_size"] = 32; });
  edit_tensors(awq, [](TensorMap& t) { t[kQ + ".qzeros"] = Tensor::zeros({2, 4}, DType::I32); });
  expect_error(awq, {kQ + ".qzeros", "[2, 4]"});
  edit_tensors(awq, [](TensorMap& t) { t.erase(kQ + ".scales"); });
  expect_error(awq, {kQ + ".scales", "missing"});
}

TEST(BadCheckpoint, GptqDefects) {
  const fs::path dir = temp_dir(), gptq = exported(dir, "w4a16-rtn", HfLayout::Gptq);
  const fs::path original = dir / "original.safetensors";
  fs::copy_file(gptq / "model.safetensors", original);
  auto restore = [&] { fs::copy_file(original, gptq / "model.safetensors", fs::copy_options::overwrite_existing); };
  // g_idx naming group 2 of a 2-group Linear.
  edit_tensors(gptq, [](TensorMap& t) { t[kQ + ".g_idx"].data<int32_t>()[5] = 2; });
  expect_error(gptq, {kQ + ".g_idx", "group 2 at column 5", "[0, 2)"});
  restore();
  edit_tensors(gptq, [](TensorMap& t) { t[kQ + ".g_idx"] = Tensor::zeros({32}, DType::I32); });
  expect_error(gptq, {kQ + ".g_idx", "[32]", "[64]"});
  restore();
  // A v1 qzeros nibble of 15 would be zero point 16.
  edit_tensors(gptq, [](TensorMap& t) { t[kQ + ".qzeros"].data<int32_t>()[0] = -1; });
  expect_error(gptq, {kQ + ".qzeros", "zero point 16"});
  restore();
  edit_tensors(gptq, [](TensorMap& t) { t[kQ + ".scales"] = Tensor::zeros({2, 32}, DType::F16); });
  expect_error(gptq, {kQ + ".scales", "[2, 32]", "[2, 64]"});
  restore();
  edit_tensors(gptq, [](TensorMap& t) { t[kQ + ".qweight"] = Tensor::zeros({4, 64}, DType::I32); });
  expect_error(gptq, {kQ + ".scales", "[1, 64]"});  // 32 inputs read from qweight: one group, and scales have two
  restore();
  edit_tensors(gptq, [](TensorMap& t) { t[kQ + ".scales"].data<f16>()[3].bits = 0; });  // a zero scale
  expect_error(gptq, {kQ + ".scales", "positive"});
  restore();
  EXPECT_NO_THROW(load_model(gptq));
}

TEST(BadCheckpoint, StaticFp8WithoutItsInputScale) {
  const fs::path dir = temp_dir(), ct = exported(dir, "fp8", HfLayout::CompressedTensors);
  edit_tensors(ct, [](TensorMap& t) { t.erase(kQ + ".input_scale"); });
  expect_error(ct, {kQ + ".input_scale", "missing", "static fp8"});
  // The config saying dynamic: read weight-only, with a warning.
  edit_config(ct, [](nlohmann::json& q) { q["config_groups"]["group_0"]["input_activations"]["dynamic"] = true; });
  edit_tensors(ct, [](TensorMap& t) {
    for (auto it = t.begin(); it != t.end();) it = it->first.ends_with(".input_scale") ? t.erase(it) : std::next(it);
  });
  const HfCheckpoint c = read_hf_checkpoint(ct);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("dynamic"), std::string::npos) << c.warnings[0];
  for (const QuantizedLinear& q : c.config.linears) EXPECT_FALSE(q.input.has_value()) << q.name;
  EXPECT_NO_THROW(load_model(ct));

  const fs::path mo = exported(dir, "fp8", HfLayout::ModelOpt);
  edit_tensors(mo, [](TensorMap& t) { t.erase(kQ + ".input_scale"); });
  expect_error(mo, {kQ + ".input_scale", "FP8"});
}

TEST(BadCheckpoint, ScaledLayoutDefects) {
  const fs::path dir = temp_dir(), ct = exported(dir, "w8a8", HfLayout::CompressedTensors);
  // A weight of int8 codes with no scale would be read as plain numbers.
  edit_tensors(ct, [](TensorMap& t) { t.erase(kQ + ".weight_scale"); });
  expect_error(ct, {kQ + ".weight", "I8"});
  const fs::path ct2 = exported(dir, "w8a8", HfLayout::CompressedTensors, "b");
  edit_tensors(ct2, [](TensorMap& t) { t[kQ + ".weight_scale"] = Tensor::full({3, 1}, 0.1f); });
  expect_error(ct2, {kQ + ".weight_scale", "[3, 1]"});
  edit_tensors(ct2, [](TensorMap& t) { t[kQ + ".weight_scale"] = Tensor::full({64, 1}, 0.1f); });
  edit_config(ct2, [](nlohmann::json& q) { q["config_groups"]["group_0"]["weights"]["num_bits"] = 4; });
  expect_error(ct2, {"num_bits 4"});
  edit_config(ct2, [](nlohmann::json& q) {
    q["config_groups"]["group_0"]["weights"]["num_bits"] = 8;
    q["format"] = "pack-quantized";
  });
  expect_error(ct2, {"format 'pack-quantized'"});

  const fs::path mo = exported(dir, "w4a16-rtn", HfLayout::ModelOpt);
  edit_config(mo, [](nlohmann::json& j) { j["quantization"]["quant_algo"] = "NVFP4"; }, "hf_quant_config.json");
  expect_error(mo, {"quant_algo 'NVFP4'"});
  edit_config(mo, [](nlohmann::json& j) { j["quantization"]["quant_algo"] = "W4A16_AWQ"; }, "hf_quant_config.json");
  edit_tensors(mo, [](TensorMap& t) { t[kQ + ".pre_quant_scale"] = Tensor::full({64}, 2.0f); });
  expect_error(mo, {kQ + ".pre_quant_scale", "all ones"});
  edit_tensors(mo, [](TensorMap& t) {
    t.erase(kQ + ".pre_quant_scale");
    t[kQ + ".weight_scale"] = Tensor::full({64, 3}, 0.1f);
  });
  expect_error(mo, {kQ + ".weight_scale", "[64, 3]", "[64, 2]"});
}

TEST(BadCheckpoint, KvScalesThatDoNotPair) {
  const fs::path dir = temp_dir();
  LlmRecipe r = llm_recipe("fp8");
  r.kv_cache = DType::F8_E4M3;
  quantize_to_folder(fixture("llama"), r, random_windows(512, 2, 32), dir / "octet");
  HfExportOptions o;
  o.layout = HfLayout::CompressedTensors;
  export_hf_checkpoint(dir / "octet", dir / "ct", o);
  edit_tensors(dir / "ct", [](TensorMap& t) { t.erase("model.layers.1.self_attn.v_scale"); });
  expect_error(dir / "ct", {"model.layers.1.self_attn", "no v scale"});
  edit_tensors(dir / "ct", [](TensorMap& t) {
    for (auto it = t.begin(); it != t.end();)
      it = it->first.ends_with(".k_scale") || it->first.ends_with(".v_scale") ? t.erase(it) : std::next(it);
  });
  expect_error(dir / "ct", {"static", "no attention has k_scale"});
}

// The formats a layout cannot hold: one error naming the Linear, why, and the layouts that can.
TEST(ExportRefusal, NamesTheLayoutsThatCanHoldIt) {
  const fs::path dir = temp_dir();
  LlmRecipe asym = llm_recipe("w4a16-rtn");
  asym.weight = parse_quant_spec("uint4:affine:group(32)");
  quantize_to_folder(fixture("llama"), asym, {}, dir / "asym");
  HfExportOptions o;
  o.layout = HfLayout::ModelOpt;
  try {
    export_hf_checkpoint(dir / "asym", dir / "out", o);
    ADD_FAILURE() << "asymmetric int4 written as modelopt";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("uint4:affine:group(32)"), std::string::npos) << m;
    EXPECT_NE(m.find("layouts that can hold it: awq, gptq"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(hf_layouts_for(read_quantization_config(dir / "asym")), (std::vector<HfLayout>{HfLayout::Awq, HfLayout::Gptq}));

  LlmRecipe kv = llm_recipe("w4a16-rtn");
  kv.weight.group_size = 32;
  kv.kv_cache = DType::I8;
  kv.kv_dynamic = true;
  quantize_to_folder(fixture("llama"), kv, {}, dir / "kv");
  const QuantizationConfig c = read_quantization_config(dir / "kv");
  EXPECT_NE(hf_layout_refusal(c, HfLayout::Awq).find("no KV-cache scales"), std::string::npos);
  EXPECT_NE(hf_layout_refusal(c, HfLayout::ModelOpt).find("dynamic"), std::string::npos);
  EXPECT_TRUE(hf_layouts_for(c).empty());

  // A zero point of 0 has no GPTQ v1 encoding: the error says what to do.
  QuantizationConfig z = read_quantization_config(dir / "asym");
  z.linears[0].weight_zero_point.data<int32_t>()[0] = 0;
  save_quantized_model(*load_model(dir / "asym"), z, dir / "asym", dir / "zero");
  o.layout = HfLayout::Gptq;
  try {
    export_hf_checkpoint(dir / "zero", dir / "out", o);
    ADD_FAILURE() << "zero point 0 written as GPTQ v1";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--gptq-v2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
  o.gptq_v2 = true;
  EXPECT_NO_THROW(export_hf_checkpoint(dir / "zero", dir / "out", o));

  // Only octet folders are exported.
  try {
    export_hf_checkpoint(fixture("llama"), dir / "out2", o);
    ADD_FAILURE() << "a plain model exported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an `octet quantize` folder"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet::testing
