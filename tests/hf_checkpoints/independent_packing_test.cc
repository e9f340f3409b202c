// The packing checked against an independent implementation written from the
// published layouts (tests/hf_checkpoints/reference_packing.py, Python and
// Debian's numpy): octet unpacks the reference's AutoAWQ / GPTQ (v1 minus-one
// qzeros, act-order g_idx, 8-bit) / Model Optimizer int4 tensors to the very
// integers it packed, and the reference unpacks octet's exports to the octet
// folder's codes, zero points, scales and group index.
#include <gtest/gtest.h>

#include "hf_checkpoints/hf_test_util.h"
#include "io/hf_packing.h"

namespace octet::testing {
namespace {

void expect_same_ints(const Tensor& got, const Tensor& want, const std::string& what, int32_t offset = 0) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const auto g = got.contiguous().span<int32_t>(), w = want.contiguous().span<int32_t>();
  int64_t differ = 0;
  for (size_t i = 0; i < g.size(); ++i) differ += g[i] + offset != w[i];
  EXPECT_EQ(differ, 0) << what << ": " << differ << " of " << g.size() << " values differ";
}

TEST(IndependentPacker, OctetReadsTheIntegersThePublishedLayoutsHold) {
  const fs::path dir = temp_dir();
  const CommandResult r = run_reference_packer("pack " + dir.string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  const SafetensorsFile truth = SafetensorsFile::open(dir / "truth.safetensors");
  int64_t layers = 0;
  for (const std::string layout : {"awq", "gptq4", "gptq8", "modelopt"}) {
    const HfCheckpoint c = read_hf_checkpoint(dir / layout);
    for (const QuantizedLinear& q : c.config.linears) {
      SCOPED_TRACE(layout + " " + q.name);
      const std::string t = layout + "." + q.name;
      ++layers;
      const Tensor codes = io::codes_to_values(q.weight);
      const Tensor want_zeros = truth.get(t + ".zeros");
      if (layout == "gptq8") {
        // Unsigned codes around zero point 128 are octet's symmetric int8 (q - 128).
        EXPECT_EQ(q.weight_spec, kInt8PerChannelWeights);
        expect_same_ints(codes, truth.get(t + ".codes"), "codes", 128);
        for (const int32_t z : want_zeros.span<int32_t>()) EXPECT_EQ(z, 128);
      } else if (q.weight_spec.dtype == DType::I4) {  // modelopt's signed int4 without -8
        expect_same_ints(codes, truth.get(t + ".codes"), "codes");
      } else {
        EXPECT_EQ(q.weight_spec.dtype, DType::U4);
        const int32_t offset = layout == "modelopt" ? -8 : 0;  // -8 present: the unsigned grid, zero point 8
        expect_same_ints(codes, truth.get(t + ".codes"), "codes", offset);
        if (layout == "modelopt") {
          for (const int32_t z : q.weight_zero_point.contiguous().span<int32_t>()) EXPECT_EQ(z, 8);
        } else {
          expect_same_ints(q.weight_zero_point, want_zeros, "zero points");  // v1's minus one undone
        }
      }
      const auto scales = q.weight_scale.contiguous().span<float>();
      const Tensor want_scales = truth.get(t + ".scales").contiguous();
      ASSERT_EQ(q.weight_scale.numel(), want_scales.numel());
      for (size_t i = 0; i < scales.size(); ++i) EXPECT_EQ(scales[i], want_scales.span<float>()[i]);
      const Tensor g_idx = truth.get(t + ".g_idx");
      if (q.group_index.defined()) {
        expect_same_ints(q.group_index, g_idx, "g_idx");
      } else {
        const int64_t group = q.weight_spec.granularity == Granularity::PerGroup ? q.weight_spec.group_size
                                                                                  : q.weight.dim(1);
        for (int64_t k = 0; k < g_idx.numel(); ++k) EXPECT_EQ(g_idx.data<int32_t>()[k], k / group);
      }
    }
  }
  EXPECT_EQ(layers, 7);
  // The act-order layer keeps its g_idx; the trivial ones drop it.
  const HfCheckpoint gptq = read_hf_checkpoint(dir / "gptq4");
  EXPECT_FALSE(gptq.config.linears[0].group_index.defined());
  EXPECT_TRUE(gptq.config.linears[1].group_index.defined());
  EXPECT_NE(gptq.description.find("act-order"), std::string::npos) << gptq.description;
}

// octet folders of the llama fixture: int4:sym (AWQ, GPTQ v1, modelopt),
// uint4 (AWQ, GPTQ v2), int4 with an act-order group index (GPTQ), int8 (GPTQ 8-bit).
TEST(IndependentPacker, ThePublishedLayoutsReadWhatOctetWrites) {
  const fs::path dir = temp_dir();
  const auto windows = random_windows(512, 1, 16);
  LlmRecipe sym = llm_recipe("w4a16-rtn");
  sym.weight.group_size = 32;
  LlmRecipe asym = sym;
  asym.weight = parse_quant_spec("uint4:affine:group(32)");
  quantize_to_folder(fixture("llama"), sym, windows, dir / "sym");
  quantize_to_folder(fixture("llama"), asym, windows, dir / "asym");
  quantize_to_folder(fixture("llama"), llm_recipe("w8a16"), windows, dir / "int8");

  // An act-order folder: the sym one with every Linear's columns assigned to groups in a shuffled order.
  {
    QuantizationConfig c = read_quantization_config(dir / "sym");
    std::mt19937 rng(3);
    for (QuantizedLinear& q : c.linears) {
      const int64_t in = q.weight.dim(1);
      std::vector<int32_t> g(static_cast<size_t>(in));
      for (int64_t k = 0; k < in; ++k) g[size_t(k)] = int32_t(k / 32);
      std::shuffle(g.begin(), g.end(), rng);
      q.group_index = Tensor::from_vector(g, {in});
    }
    auto model = load_model(dir / "sym");
    save_quantized_model(*model, c, dir / "sym", dir / "actorder");
    EXPECT_EQ(read_json_file(dir / "actorder" / kQuantizationConfigFile).at("format_version"), 3);
  }

  struct Export {
    std::string folder;
    HfLayout layout;
    bool v2 = false;
  };
  for (const Export& e : std::vector<Export>{{"sym", HfLayout::Awq},
                                             {"sym", HfLayout::Gptq},
                                             {"sym", HfLayout::ModelOpt},
                                             {"asym", HfLayout::Awq},
                                             {"asym", HfLayout::Gptq, true},
                                             {"actorder", HfLayout::Gptq},
                                             {"int8", HfLayout::Gptq}}) {
    SCOPED_TRACE(e.folder + " as " + std::string(hf_layout_name(e.layout)));
    const fs::path out = dir / (e.folder + "-" + std::string(hf_layout_name(e.layout)));
    HfExportOptions o;
    o.layout = e.layout;
    o.gptq_v2 = e.v2;
    export_hf_checkpoint(dir / e.folder, out, o);
    const CommandResult r = run_reference_packer("verify " + (dir / e.folder).string() + " " + out.string(), dir);
    ASSERT_EQ(r.exit_code, 0) << r.errors;
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j.at("layers"), 14) << r.output;  // 2 layers x q, k, v, o, gate, up, down
    EXPECT_GT(j.at("values").get<int64_t>(), 0);
    EXPECT_TRUE(j.at("mismatches").empty()) << r.output;
  }
}

// The packers on their own: AutoAWQ's nibble order and GPTQ's row order on a tiny matrix.
TEST(IndependentPacker, NibbleOrderOnAKnownWord) {
  // Columns 0..7 hold 0..7: AWQ's word holds nibbles 0 2 4 6 1 3 5 7 from the lowest up.
  std::vector<int32_t> v{0, 1, 2, 3, 4, 5, 6, 7};
  const Tensor awq = io::pack_awq_gemm(Tensor::from_vector(v, {1, 8}), "t");
  EXPECT_EQ(uint32_t(awq.data<int32_t>()[0]), 0x75316420u);
  expect_same_ints(io::unpack_awq_gemm(awq, "t"), Tensor::from_vector(v, {1, 8}), "awq");
  // GPTQ packs 8 rows of one column in order.
  const Tensor gptq = io::pack_gptq_rows(Tensor::from_vector(v, {8, 1}), 4, "t");
  EXPECT_EQ(uint32_t(gptq.data<int32_t>()[0]), 0x76543210u);
  const Tensor z = io::pack_gptq_columns(Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}, {1, 4}), 8, "t");
  EXPECT_EQ(uint32_t(z.data<int32_t>()[0]), 0x04030201u);
  // Model Optimizer: rows 2r and 2r + 1 share a byte, even row low.
  const Tensor mo = io::pack_int4_row_pairs(Tensor::from_vector(std::vector<int32_t>{-8, 7}, {2, 1}), "t");
  EXPECT_EQ(mo.data<uint8_t>()[0], 0x78);
}

}  // namespace
}  // namespace octet::testing
