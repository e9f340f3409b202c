// Export then read back: every recipe / layout pair on kjv-llama (quantized
// on two calibration windows of 256 tokens) and on the Hugging Face fixtures llama, qwen2,
// mistral, opt and gpt_neox gives the logits of the octet folder it came from,
// bit for bit (against the folder with f16 scales for default awq / gptq
// exports and per-tensor KV scales where the layout holds one per tensor).
#include <gtest/gtest.h>

#include <unistd.h>

#include <map>

#include "hf_checkpoints/hf_test_util.h"
#include "llm_quant/kjv.h"
#include "octet/quantize_model.h"
#include "quant_model/quant_model_test_util.h"

namespace octet::testing {
namespace {

// One quantized octet folder per (model, recipe variant), made once per test binary.
const fs::path& folder_cache() {
  static const fs::path dir = [] {
    // Beside the tests' temp_dir() folders (support/shared_data.cc), which this process owns.
    const fs::path d = process_temp_root() / "hf-folders";
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

struct Variant {
  std::string recipe;
  bool asym = false;
  bool kv_fp8 = false;
  bool static_int8 = false;
  std::string label() const {
    return recipe + (asym ? "-asym" : "") + (kv_fp8 ? "-kvfp8" : "") + (static_int8 ? "-static" : "");
  }
};

LlmRecipe make_recipe(const Variant& v, int64_t group) {
  LlmRecipe r = llm_recipe(v.recipe);
  if (r.weight.granularity == Granularity::PerGroup) {
    r.weight.group_size = group;
    if (v.asym) r.weight = parse_quant_spec(fmt::format("uint4:affine:group({})", group));
  }
  if (v.kv_fp8) r.kv_cache = DType::F8_E4M3;
  if (v.static_int8) r.activations = ActivationFormat::Int8Static;
  return r;
}

// kjv-llama's text, tokenized once per process (a few KB: every test is its own process under ctest).
struct KjvTokens {
  std::vector<std::vector<int64_t>> calibration;  // 2 windows of 256 tokens
  std::vector<int64_t> eval;                      // ~1000 held-out tokens
};
const KjvTokens& kjv_tokens() {
  static const KjvTokens t = [] {
    const Tokenizer tok = load_model_tokenizer(kjv_path());
    KjvTokens k;
    const auto train = tok.encode(read_prefix(kjv_path() / "kjv.train.txt", 4000)).ids;
    k.calibration = {{train.begin(), train.begin() + 256}, {train.begin() + 256, train.begin() + 512}};
    k.eval = tok.encode(read_prefix(kjv_path() / "kjv.valid.txt", 5000)).ids;
    return k;
  }();
  return t;
}

const fs::path& quantized_folder(const std::string& model, const Variant& v) {
  static std::map<std::string, fs::path> made;
  const std::string key = model + "/" + v.label();
  if (const auto it = made.find(key); it != made.end()) return it->second;
  const fs::path out = folder_cache() / (model + "-" + v.label());
  if (model == "kjv") {
    LlmRecipe r = make_recipe(v, 128);
    r.awq_grid = 10;  // a smaller search: the test is about the layouts, not AWQ's accuracy
    r.awq_rows = 512;
    quantize_to_folder(kjv_path(), r, kjv_tokens().calibration, out);
  } else {
    quantize_to_folder(fixture(model), make_recipe(v, 32), random_windows(512, 2, 48), out);
  }
  return made.emplace(key, out).first->second;
}

std::vector<int64_t> eval_ids(const std::string& model) {
  if (model == "kjv") return {kjv_tokens().eval.begin(), kjv_tokens().eval.begin() + 96};
  return random_windows(512, 1, 40, 7).front();
}

struct Export {
  HfLayout layout;
  bool f32 = true;  // --dtype f32 (else the layout's default dtypes: f16 awq / gptq scales)
  bool gptq_v2 = false;
};

// One quantized folder and the layouts it is exported to.
struct Case {
  std::string model;
  Variant variant;
  std::vector<Export> exports;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.model + "_" + info.param.variant.label();
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

// gtest prints the parameter in test names; say what it is rather than its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << c.variant.label(); }

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, ReadBackGivesTheFolderLogits) {
  const Case& c = GetParam();
  const fs::path dir = temp_dir();
  const fs::path& folder = quantized_folder(c.model, c.variant);
  for (const Export& e : c.exports) {
    SCOPED_TRACE(fmt::format("{} {} as {}{}{}", c.model, c.variant.label(), hf_layout_name(e.layout),
                             e.f32 ? " --dtype f32" : "", e.gptq_v2 ? " --gptq-v2" : ""));
    HfExportOptions o;
    if (e.f32) o.float_dtype = DType::F32;
    o.gptq_v2 = e.gptq_v2;
    const fs::path out = dir / fmt::format("{}-{}-{}", hf_layout_name(e.layout), e.f32, e.gptq_v2);
    expect_round_trip(folder, e.layout, out, eval_ids(c.model), o);
  }
}

using L = HfLayout;
const Variant kAwq{"w4a16-awq"}, kGptq{"w4a16-gptq"}, kRtn{"w4a16-rtn"}, kRtnAsym{"w4a16-rtn", true}, kFp8{"fp8"},
    kFp8Kv{"fp8", false, true}, kSq{"w8a8-sq"}, kSqStatic{"w8a8-sq", false, false, true}, kW8a8{"w8a8"},
    kW4a8{"w4a8-awq"}, kW8a16{"w8a16"};

std::vector<Case> kjv_cases() {
  return {{"kjv", kAwq, {{L::Awq, false}, {L::Awq}, {L::Gptq}, {L::ModelOpt}}},
          {"kjv", kGptq, {{L::Gptq, false}, {L::Gptq}, {L::Awq}}},
          {"kjv", kRtnAsym, {{L::Awq}, {L::Gptq, true, true}}},
          {"kjv", kFp8, {{L::CompressedTensors}, {L::Fp8}, {L::ModelOpt}}},
          {"kjv", kFp8Kv, {{L::CompressedTensors}, {L::ModelOpt}}},
          {"kjv", kSq, {{L::CompressedTensors}, {L::ModelOpt}}},
          {"kjv", kSqStatic, {{L::CompressedTensors}, {L::ModelOpt}}},
          {"kjv", kW4a8, {{L::ModelOpt}}},
          {"kjv", kW8a16, {{L::Gptq}, {L::ModelOpt}}}};
}

std::vector<Case> fixture_cases() {
  std::vector<Case> cases;
  for (const std::string m : {"llama", "qwen2", "mistral", "opt", "gpt_neox"}) {
    cases.push_back({m, kRtn, {{L::Awq, false}, {L::Gptq}, {L::ModelOpt}}});
    cases.push_back({m, kRtnAsym, {{L::Awq}, {L::Gptq, true, true}}});
    cases.push_back({m, kFp8, {{L::CompressedTensors}, {L::Fp8}, {L::ModelOpt}}});
    cases.push_back({m, kFp8Kv, {{L::CompressedTensors}, {L::ModelOpt}}});
    cases.push_back({m, kW8a8, {{L::CompressedTensors}, {L::ModelOpt}}});
    cases.push_back({m, kW8a16, {{L::Gptq}, {L::ModelOpt}}});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Kjv, RoundTrip, ::testing::ValuesIn(kjv_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Fixtures, RoundTrip, ::testing::ValuesIn(fixture_cases()), case_name);

// The exports' perplexity on ~1000 held-out kjv tokens against the folder's:
// identical up to the values the layout changed (f16 scales: within 0.05 %;
// one KV scale per tensor instead of per kv head: within 0.5 %).
TEST(RoundTripPerplexity, KjvExportsMatchTheFolder) {
  const fs::path dir = temp_dir();
  const PerplexityOptions po = eval_options();
  const auto& tokens = kjv_tokens().eval;
  for (const auto& [variant, layout, f32, tolerance] : std::vector<std::tuple<Variant, HfLayout, bool, double>>{
           {kAwq, L::Awq, false, 5e-4}, {kGptq, L::Gptq, false, 5e-4}, {kFp8Kv, L::ModelOpt, true, 5e-3}}) {
    const fs::path& folder = quantized_folder("kjv", variant);
    const fs::path out = dir / (variant.label() + "-" + std::string(hf_layout_name(layout)));
    HfExportOptions o;
    o.layout = layout;
    if (f32) o.float_dtype = DType::F32;
    export_hf_checkpoint(folder, out, o);
    const double a = perplexity(*load_model(folder), tokens, po).perplexity;
    const double b = perplexity(*load_model(out), tokens, po).perplexity;
    std::printf("  %-14s %-10s folder %.5f  export %.5f  (%+.4f %%)\n", variant.label().c_str(),
                std::string(hf_layout_name(layout)).c_str(), a, b, 100 * (b - a) / a);
    EXPECT_NEAR(b, a, tolerance * a) << variant.label();
  }
}

// An encoder's static int8 activations, symmetric and affine (an input zero
// point), through compressed-tensors and Model Optimizer: every output equal.
TEST(RoundTripEncoder, StaticInt8ActivationsWithZeroPoints) {
  const fs::path dir = temp_dir();
  for (const bool affine : {false, true}) {
    auto model = load_model(bert_fixture());
    QuantizeOptions o;
    o.recipe = recipe_preset("int8");
    o.recipe.calibrator = "minmax";
    o.recipe.activation_scheme = affine ? QuantScheme::Affine : QuantScheme::Symmetric;
    o.progress = false;
    const QuantizationConfig c = quantize_model(*model, fixture_calibration(bert_fixture()), o);
    const fs::path folder = dir / (affine ? "affine" : "sym");
    save_quantized_model(*model, c, bert_fixture(), folder);
    std::vector<HfLayout> layouts{HfLayout::CompressedTensors};
    if (!affine) layouts.push_back(HfLayout::ModelOpt);
    EXPECT_EQ(hf_layouts_for(c), layouts);
    for (const HfLayout layout : layouts) {
      HfExportOptions e;
      e.layout = layout;
      const fs::path out = folder.string() + "-" + std::string(hf_layout_name(layout));
      export_hf_checkpoint(folder, out, e);
      ModelInputs in;
      in.input_ids = Tensor::from_vector(random_windows(512, 1, 12).front(), {1, 12});
      const NamedTensors a = load_model(folder)->forward(in), b = load_model(out)->forward(in);
      ASSERT_EQ(a.size(), b.size());
      for (const auto& [name, t] : a)
        EXPECT_TRUE(bit_equal(t.contiguous(), b.at(name).contiguous())) << name << " " << hf_layout_name(layout);
    }
  }
}

}  // namespace
}  // namespace octet::testing
