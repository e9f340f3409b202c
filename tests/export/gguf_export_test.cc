// export_gguf on kjv-llama: metadata and tensor names llama.cpp reads, the
// q/k row permutation undone exactly by octet's GGUF reader, the stored
// values (f16 / q8_0 / q4_k), octet-quantized folders written code for code
// when they are Q4_0 exactly (else re-quantized with a warning), and the
// perplexity of the exported files against the folder's.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "hf_checkpoints/hf_test_util.h"
#include "io/ggml_quants.h"
#include "octet/export_gguf.h"
#include "octet/gguf.h"
#include "octet/tokenizer.h"

namespace octet::testing {
namespace {

std::map<std::string, Tensor> params_of(const fs::path& model) {
  std::map<std::string, Tensor> out;
  // Every weight as f32 (a GGUF's Q4_0 / Q8_0 Linears would otherwise stay in their blocks).
  for (auto& [name, t] : load_model(model, kLoadFloatWeights)->parameters())
    out[name] = t.contiguous().clone();
  return out;
}

// Row-wise quantize -> dequantize of `t` with a ggml block type, as the GGUF holds it.
std::vector<float> qdq(const Tensor& t, uint32_t type) {
  const io::GgmlTypeTraits* traits = io::ggml_type_traits(type);
  const Tensor c = t.contiguous();
  std::vector<uint8_t> blocks(size_t(c.numel() / traits->block_size) * traits->block_bytes);
  traits->quantize(c.data<float>(), blocks.data(), c.numel());
  std::vector<float> out(size_t(c.numel()));
  traits->dequantize(blocks.data(), out.data(), c.numel());
  return out;
}

double perplexity(const fs::path& model, const fs::path& dir) {
  const CommandResult r =
      run_octet("perplexity " + model.string() + " --data " + (kjv_llama_dir() / "kjv.valid.txt").string() +
                    " --ctx 256 --limit-tokens 4096 --json",
                dir);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  return r.exit_code == 0 ? nlohmann::json::parse(r.output).at("perplexity").get<double>() : 0.0;
}

TEST(GgufExport, KjvF16MetadataNamesAndValues) {
  const fs::path dir = temp_dir(), out = dir / "kjv-f16.gguf";
  GgufExportOptions o;
  o.type = GgufExportType::F16;
  const GgufExportResult r = export_gguf(kjv_llama_dir(), out, o);
  EXPECT_EQ(r.source_kind, "hf");
  EXPECT_EQ(r.tensors, 3 + 6 * 9);
  const GgufFile f = GgufFile::open(out);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u32("general.file_type"), 1u);
  EXPECT_EQ(f.get_u32("llama.context_length"), 512u);
  EXPECT_EQ(f.get_u32("llama.embedding_length"), 256u);
  EXPECT_EQ(f.get_u32("llama.block_count"), 6u);
  EXPECT_EQ(f.get_u32("llama.feed_forward_length"), 768u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count"), 8u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(f.get_u32("llama.rope.dimension_count"), 32u);
  EXPECT_EQ(f.get_float("llama.rope.freq_base"), 10000.0f);
  EXPECT_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 4096u);
  EXPECT_EQ(f.get_array("tokenizer.ggml.scores").items.size(), 4096u);
  EXPECT_EQ(f.get_array("tokenizer.ggml.token_type").items.size(), 4096u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_TRUE(f.get<bool>("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(f.get<bool>("tokenizer.ggml.add_eos_token"));
  for (const char* name : {"token_embd.weight", "output_norm.weight", "output.weight", "blk.0.attn_norm.weight",
                           "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                           "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.5.ffn_gate.weight",
                           "blk.5.ffn_up.weight", "blk.5.ffn_down.weight"}) {
    EXPECT_TRUE(f.contains(name)) << name;
  }
  EXPECT_EQ(f.tensor_info("output_norm.weight").type, uint32_t(GgmlType::F32));
  EXPECT_EQ(f.tensor_info("blk.0.attn_q.weight").type, uint32_t(GgmlType::F16));
  EXPECT_EQ(f.tensor_info("blk.0.attn_k.weight").shape, (Shape{128, 256}));

  // Read back (q/k un-permuted by the reader): every parameter is the folder's rounded to f16.
  const auto want = params_of(kjv_llama_dir()), got = params_of(out);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    const Tensor& g = got.at(name);
    ASSERT_EQ(g.shape(), w.shape()) << name;
    const Tensor rounded = w.rank() == 1 ? w : w.to(DType::F16).to(DType::F32).contiguous();
    for (int64_t i = 0; i < w.numel(); ++i) {
      ASSERT_EQ(g.data<float>()[i], rounded.data<float>()[i]) << name << " element " << i;
    }
  }
  // The tokenizer inside encodes as the folder's.
  const std::string text = "In the beginning God created the heaven and the earth.";
  EXPECT_EQ(load_model_tokenizer(out).encode(text).ids, load_model_tokenizer(kjv_llama_dir()).encode(text).ids);
}

TEST(GgufExport, KjvQ8AndQ4KValues) {
  const fs::path dir = temp_dir();
  const auto want = params_of(kjv_llama_dir());
  GgufExportOptions o;
  o.type = GgufExportType::Q8_0;
  export_gguf(kjv_llama_dir(), dir / "q8.gguf", o);
  EXPECT_EQ(GgufFile::open(dir / "q8.gguf").get_u32("general.file_type"), 7u);
  const auto q8 = params_of(dir / "q8.gguf");
  for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.3.self_attn.k_proj.weight",
                           "model.layers.2.mlp.down_proj.weight", "lm_head.weight"}) {
    const std::vector<float> expect = qdq(want.at(name), uint32_t(GgmlType::Q8_0));
    const Tensor& g = q8.at(name);
    for (int64_t i = 0; i < g.numel(); ++i) {
      ASSERT_EQ(g.data<float>()[i], expect[size_t(i)]) << name << " element " << i;
    }
  }

  o.type = GgufExportType::Q4_K;
  export_gguf(kjv_llama_dir(), dir / "q4k.gguf", o);
  const GgufFile f = GgufFile::open(dir / "q4k.gguf");
  EXPECT_EQ(f.get_u32("general.file_type"), 15u);
  EXPECT_EQ(f.tensor_info("output.weight").type, uint32_t(GgmlType::Q6_K));
  EXPECT_EQ(f.tensor_info("blk.0.attn_q.weight").type, uint32_t(GgmlType::Q4_K));
  EXPECT_EQ(f.tensor_info("token_embd.weight").type, uint32_t(GgmlType::Q4_K));
  const auto q4k = params_of(dir / "q4k.gguf");
  for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight"}) {
    const std::vector<float> expect = qdq(want.at(name), uint32_t(GgmlType::Q4_K));
    const Tensor& g = q4k.at(name);
    for (int64_t i = 0; i < g.numel(); ++i) {
      ASSERT_EQ(g.data<float>()[i], expect[size_t(i)]) << name << " element " << i;
    }
  }
}

TEST(GgufExport, QuantizedFolderCodesWrittenAsTheyAre) {
  const fs::path dir = temp_dir();
  LlmRecipe recipe = llm_recipe("w4a16-rtn");
  recipe.weight.group_size = 32;
  QuantizationConfig c;
  {
    auto model = load_causal_lm(kjv_llama_dir());
    LlmQuantizeOptions o;
    o.recipe = recipe;
    o.progress = false;
    o.report_windows = 0;
    c = quantize_llm(*model, {}, o);
    save_quantized_model(*model, c, kjv_llama_dir(), dir / "w4-f32scales");
    // The same codes with scales rounded to f16: Q4_0 exactly.
    for (QuantizedLinear& q : c.linears) q.weight_scale = q.weight_scale.to(DType::F16).to(DType::F32).contiguous();
    save_quantized_model(*model, c, kjv_llama_dir(), dir / "w4-f16scales");
  }
  GgufExportOptions o;
  o.type = GgufExportType::Q4_0;
  const GgufExportResult exact = export_gguf(dir / "w4-f16scales", dir / "exact.gguf", o);
  EXPECT_EQ(exact.source_kind, "quantized");
  EXPECT_EQ(exact.exact_tensors, 42);
  EXPECT_EQ(exact.requantized_tensors, 0);
  EXPECT_TRUE(exact.notes.empty());
  // The GGUF's weights are the folder's dequantized weights, bit for bit.
  const auto got = params_of(dir / "exact.gguf");
  for (const QuantizedLinear& q : read_quantization_config(dir / "w4-f16scales").linears) {
    const Tensor w = dequantized_weight(q).contiguous();
    const Tensor& g = got.at(q.name + ".weight");
    for (int64_t i = 0; i < w.numel(); ++i) {
      ASSERT_EQ(g.data<float>()[i], w.data<float>()[i]) << q.name << " element " << i;
    }
  }
  // f32 scales are not f16: re-quantized, with the reason.
  const GgufExportResult requant = export_gguf(dir / "w4-f32scales", dir / "requant.gguf", o);
  EXPECT_EQ(requant.exact_tensors, 0);
  EXPECT_EQ(requant.requantized_tensors, 42);
  ASSERT_FALSE(requant.notes.empty());
  EXPECT_NE(requant.notes[0].find("not exactly an f16"), std::string::npos) << requant.notes[0];
  // Q4_K is never an int4 folder's format; Q8_0 holds int4 codes exactly.
  o.type = GgufExportType::Q4_K;
  EXPECT_EQ(export_gguf(dir / "w4-f16scales", dir / "q4k.gguf", o).requantized_tensors, 42);
  o.type = GgufExportType::Q8_0;
  EXPECT_EQ(export_gguf(dir / "w4-f16scales", dir / "q8.gguf", o).exact_tensors, 42);
}

TEST(GgufExport, GgufSourceKeepsTokenizerAndWeights) {
  const fs::path dir = temp_dir(), src = shared_path("models/stories260K/stories260K.gguf"), out = dir / "st.gguf";
  GgufExportOptions o;
  o.type = GgufExportType::F16;
  const GgufExportResult r = export_gguf(src, out, o);
  EXPECT_EQ(r.source_kind, "gguf");
  const GgufFile a = GgufFile::open(src), b = GgufFile::open(out);
  for (const auto& [k, v] : a.metadata()) {
    if (!k.starts_with("tokenizer.")) continue;
    const GgufValue* w = b.find(k);
    ASSERT_NE(w, nullptr) << k;
    EXPECT_TRUE(*w == v) << k;
  }
  const auto want = params_of(src), got = params_of(out);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    const Tensor rounded = w.rank() == 1 ? w : w.to(DType::F16).to(DType::F32).contiguous();
    const Tensor& g = got.at(name);
    for (int64_t i = 0; i < w.numel(); ++i) {
      ASSERT_EQ(g.data<float>()[i], rounded.data<float>()[i]) << name << " element " << i;
    }
  }
  // Rows of 64 cannot hold Q4_K super-blocks: those tensors fall back to F16, with a note.
  o.type = GgufExportType::Q4_K;
  const GgufExportResult k = export_gguf(src, dir / "st-q4k.gguf", o);
  ASSERT_FALSE(k.notes.empty());
  EXPECT_NE(k.notes.back().find("written as F16"), std::string::npos) << k.notes.back();
}

TEST(GgufExport, Int8PerChannelFolderIsQ8Exactly) {
  const fs::path dir = temp_dir();
  QuantizationConfig c;
  {
    auto model = load_causal_lm(kjv_llama_dir());
    LlmQuantizeOptions o;
    o.recipe = llm_recipe("w8a16");
    o.progress = false;
    o.report_windows = 0;
    c = quantize_llm(*model, {}, o);
    for (QuantizedLinear& q : c.linears) q.weight_scale = q.weight_scale.to(DType::F16).to(DType::F32).contiguous();
    save_quantized_model(*model, c, kjv_llama_dir(), dir / "w8");
  }
  GgufExportOptions o;
  o.type = GgufExportType::Q8_0;
  const GgufExportResult r = export_gguf(dir / "w8", dir / "w8.gguf", o);
  EXPECT_EQ(r.exact_tensors, 42);
  EXPECT_EQ(r.requantized_tensors, 0);
  const auto got = params_of(dir / "w8.gguf");
  for (const QuantizedLinear& q : read_quantization_config(dir / "w8").linears) {
    const Tensor w = dequantized_weight(q).contiguous();
    const Tensor& g = got.at(q.name + ".weight");
    for (int64_t i = 0; i < w.numel(); ++i) {
      ASSERT_EQ(g.data<float>()[i], w.data<float>()[i]) << q.name << " element " << i;
    }
  }
  // int8 codes have no Q4_0 form.
  o.type = GgufExportType::Q4_0;
  EXPECT_EQ(export_gguf(dir / "w8", dir / "w8-q4.gguf", o).requantized_tensors, 42);
}

TEST(GgufExport, KjvPerplexityOfExportedFiles) {
  const fs::path dir = temp_dir();
  GgufExportOptions o;
  o.type = GgufExportType::F16;
  export_gguf(kjv_llama_dir(), dir / "f16.gguf", o);
  o.type = GgufExportType::Q8_0;
  export_gguf(kjv_llama_dir(), dir / "q8_0.gguf", o);
  const double folder = perplexity(kjv_llama_dir(), dir), f16 = perplexity(dir / "f16.gguf", dir),
               q8 = perplexity(dir / "q8_0.gguf", dir);
  ASSERT_GT(folder, 1.0);
  EXPECT_LT(std::fabs(f16 / folder - 1), 0.001) << f16 << " vs " << folder;
  EXPECT_LT(std::fabs(q8 / folder - 1), 0.005) << q8 << " vs " << folder;
}

// add_bos_token / add_eos_token come from tokenizer_config.json as Tokenizer::load reads them: the
// GGUF tokenizer encodes as the folder's, and a value that is not a bool is an error (it was
// ignored before, exporting add_bos_token = true whatever the folder said).
TEST(GgufExport, TokenizerConfigSettingsAreReadAsTheTokenizerReadsThem) {
  const fs::path dir = temp_dir(), folder = dir / "kjv";
  fs::create_directories(folder);
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.model"})
    fs::create_symlink(kjv_llama_dir() / file, folder / file);
  std::ofstream(folder / "tokenizer_config.json") << R"({"add_bos_token": false, "add_eos_token": true})";
  GgufExportOptions o;
  o.type = GgufExportType::Q8_0;
  export_gguf(folder, dir / "x.gguf", o);
  const GgufFile f = GgufFile::open(dir / "x.gguf");
  EXPECT_FALSE(f.get<bool>("tokenizer.ggml.add_bos_token"));
  EXPECT_TRUE(f.get<bool>("tokenizer.ggml.add_eos_token"));
  const std::string text = "And God said, Let there be light.";
  const std::vector<int64_t> ids = load_model_tokenizer(folder).encode(text).ids;
  EXPECT_EQ(load_model_tokenizer(dir / "x.gguf").encode(text).ids, ids);
  EXPECT_EQ(ids.back(), 2);  // </s>, no <s> first
  EXPECT_NE(ids.front(), 1);

  std::ofstream(folder / "tokenizer_config.json") << R"({"add_bos_token": "false"})";
  try {
    export_gguf(folder, dir / "y.gguf", o);
    ADD_FAILURE() << "a string add_bos_token was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"add_bos_token\" must be true or false, got \"false\""), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "y.gguf"));
}

}  // namespace
}  // namespace octet::testing
