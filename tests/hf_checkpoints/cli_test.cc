// `octet export-hf` through the real binary, and the exported folders used
// by the other commands: generate and perplexity give the octet folder's
// results, inspect names the layout it recognised; bad input is one line and
// a non-zero exit with nothing written.
#include <gtest/gtest.h>

#include "hf_checkpoints/hf_test_util.h"

namespace octet::testing {
namespace {

// kjv-llama as w4a16-rtn (no calibration: quick), an octet folder in `dir`.
fs::path kjv_rtn(const fs::path& dir) {
  const fs::path folder = dir / "kjv-rtn";
  quantize_to_folder(kjv_llama_dir(), llm_recipe("w4a16-rtn"), {}, folder);
  return folder;
}

void expect_refused(const std::string& args, const std::string& needle, const fs::path& out, const fs::path& dir) {
  const CommandResult r = run_octet(args, dir);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
  EXPECT_NE(r.errors.find(needle), std::string::npos) << args << "\nstderr: " << r.errors;
  EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << r.errors;
  EXPECT_FALSE(fs::exists(out)) << args;
}

TEST(ExportHfCli, ExportThenGeneratePerplexityInspect) {
  const fs::path dir = temp_dir(), folder = kjv_rtn(dir), out = dir / "kjv-awq";
  const CommandResult e =
      run_octet("export-hf " + folder.string() + " -o " + out.string() + " --format awq --dtype f32 --json", dir);
  ASSERT_EQ(e.exit_code, 0) << e.errors;
  const auto j = nlohmann::json::parse(e.output);
  EXPECT_EQ(j.at("format"), "awq");
  EXPECT_EQ(j.at("quantized_linears"), 42);
  EXPECT_EQ(j.at("quantization_config").at("quant_method"), "awq");
  EXPECT_EQ(j.at("quantization_config").at("version"), "gemm");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                        "generation_config.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  // config.json keeps the source's keys and order, plus the block.
  const auto config = read_json_file(out / "config.json");
  EXPECT_EQ(config.at("architectures"), read_json_file(kjv_llama_dir() / "config.json").at("architectures"));
  EXPECT_EQ(config.at("quantization_config").at("group_size"), 128);

  // The same greedy continuation and the same perplexity as the octet folder.
  const std::string gen = " --prompt 'And God said' --max-new-tokens 16 --json";
  const CommandResult ga = run_octet("generate " + folder.string() + gen, dir);
  const CommandResult gb = run_octet("generate " + out.string() + gen, dir);
  ASSERT_EQ(ga.exit_code, 0) << ga.errors;
  ASSERT_EQ(gb.exit_code, 0) << gb.errors;
  EXPECT_EQ(nlohmann::json::parse(ga.output).at("sequences")[0].at("generated_ids"),
            nlohmann::json::parse(gb.output).at("sequences")[0].at("generated_ids"));
  const fs::path text = dir / "valid.txt";
  {
    std::ifstream in(kjv_llama_dir() / "kjv.valid.txt");
    std::string s(6000, '\0');
    in.read(s.data(), std::streamsize(s.size()));
    s.resize(size_t(in.gcount()));
    write_text(text, s);
  }
  const std::string ppl = " --data " + text.string() + " --ctx 128 --json";
  const CommandResult pa = run_octet("perplexity " + folder.string() + ppl, dir);
  const CommandResult pb = run_octet("perplexity " + out.string() + ppl, dir);
  ASSERT_EQ(pa.exit_code, 0) << pa.errors;
  ASSERT_EQ(pb.exit_code, 0) << pb.errors;
  EXPECT_EQ(nlohmann::json::parse(pa.output).at("perplexity"), nlohmann::json::parse(pb.output).at("perplexity"));

  const CommandResult i = run_octet("inspect " + out.string() + " --json", dir);
  ASSERT_EQ(i.exit_code, 0) << i.errors;
  const auto q = nlohmann::json::parse(i.output).at("quantization");
  EXPECT_EQ(q.at("layout"), "AutoAWQ gemm: 4-bit, group 128, zero points");
  EXPECT_EQ(q.at("weights"), "uint4:affine:group(128)");
  EXPECT_EQ(q.at("quantized_linears"), 42);
  EXPECT_TRUE(nlohmann::json::parse(i.output).at("unused_tensors").empty()) << i.output;
  const CommandResult t = run_octet("inspect " + out.string(), dir);
  EXPECT_NE(t.output.find("checkpoint layout"), std::string::npos) << t.output;

  // Default dtypes: f16 scales, and the table says so.
  const CommandResult d = run_octet("export-hf " + folder.string() + " -o " + (dir / "gptq").string() + " --format gptq", dir);
  ASSERT_EQ(d.exit_code, 0) << d.errors;
  EXPECT_NE(d.output.find("scales stored as f16"), std::string::npos) << d.output;
  EXPECT_TRUE(fs::exists(dir / "gptq" / "quantize_config.json"));
  EXPECT_EQ(SafetensorsFile::open(dir / "gptq" / "model.safetensors")
                .info("model.layers.0.self_attn.q_proj.scales")
                .dtype,
            DType::F16);
}

TEST(ExportHfCli, BadInputIsOneLineAndWritesNothing) {
  const fs::path dir = temp_dir(), folder = kjv_rtn(dir), out = dir / "out";
  const std::string o = " -o " + out.string();
  expect_refused("export-hf " + folder.string() + o + " --format fp8", "layouts that can hold it: awq, gptq, modelopt",
                 out, dir);
  expect_refused("export-hf " + folder.string() + o + " --format exl2", "unknown layout 'exl2'", out, dir);
  expect_refused("export-hf " + folder.string() + o + " --format awq --dtype int8", "--dtype must be f32, f16 or bf16",
                 out, dir);
  expect_refused("export-hf " + folder.string() + o + " --format awq --gptq-v2", "--gptq-v2 applies to --format gptq",
                 out, dir);
  expect_refused("export-hf " + kjv_llama_dir().string() + o + " --format awq", "not an `octet quantize` folder", out,
                 dir);
  // An existing output needs --force.
  fs::create_directories(out);
  const CommandResult r = run_octet("export-hf " + folder.string() + o + " --format awq", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("already exists"), std::string::npos) << r.errors;
  EXPECT_EQ(run_octet("export-hf " + folder.string() + o + " --format awq --force", dir).exit_code, 0);
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  // A bad checkpoint given to a command: one line naming the tensor.
  {
    const SafetensorsFile f = SafetensorsFile::open(out / "model.safetensors");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const std::string& name : f.names())
      if (name != "model.layers.2.mlp.up_proj.scales") tensors.emplace_back(name, f.get(name).clone());
    save_safetensors(out / "model.safetensors", tensors);
  }
  const CommandResult p = run_octet("inspect " + out.string(), dir);
  EXPECT_NE(p.exit_code, 0);
  EXPECT_NE(p.errors.find("'model.layers.2.mlp.up_proj.scales' is missing"), std::string::npos) << p.errors;
  EXPECT_EQ(std::count(p.errors.begin(), p.errors.end(), '\n'), 1) << p.errors;
}

}  // namespace
}  // namespace octet::testing
