// Shared by the Hugging Face checkpoint tests: quantizing a model into an
// octet folder, exporting it, comparing logits bit for bit, running the CLI
// and the independent Python packer.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/generate.h"
#include "octet/hf_checkpoint.h"
#include "octet/llm_quantize.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {

namespace fs = std::filesystem;

inline fs::path fixture(const std::string& name) { return shared_path("fixtures/hf/" + name); }

// Deterministic token windows for calibrating a model with `vocab` tokens.
inline std::vector<std::vector<int64_t>> random_windows(int64_t vocab, int64_t count, int64_t length,
                                                        uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> token(0, vocab - 1);
  std::vector<std::vector<int64_t>> windows(static_cast<size_t>(count));
  for (auto& w : windows)
    for (int64_t i = 0; i < length; ++i) w.push_back(token(rng));
  return windows;
}

// Quantizes `source` with `recipe` and saves the octet folder `out`.
inline QuantizationConfig quantize_to_folder(const fs::path& source, const LlmRecipe& recipe,
                                             const std::vector<std::vector<int64_t>>& windows, const fs::path& out) {
  auto model = load_causal_lm(source);
  LlmQuantizeOptions o;
  o.recipe = recipe;
  o.progress = false;
  o.report_windows = 0;
  const QuantizationConfig c = quantize_llm(*model, recipe.needs_calibration() ? windows : decltype(windows){}, o);
  save_quantized_model(*model, c, source, out);
  return c;
}

inline Tensor logits_of(const Model& model, const std::vector<int64_t>& ids) {
  ModelInputs in;
  in.input_ids = Tensor::from_vector(ids, {1, int64_t(ids.size())});
  return model.forward(in).at("logits").contiguous();
}

// Same shape and the same bits.
inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

inline float max_abs_difference(const Tensor& a, const Tensor& b) {
  float worst = 0;
  const auto x = a.span<float>(), y = b.span<float>();
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
}

// The octet folder's config as the export stores it: scales through f16 and
// per-kv-head KV scales replaced by their maximum (what a default awq / gptq
// export, and any per-tensor KV layout, holds).
inline QuantizationConfig as_exported(QuantizationConfig c, bool f16_scales) {
  for (QuantizedLinear& q : c.linears) {
    if (!f16_scales) break;
    Tensor s = q.weight_scale.contiguous().clone();
    for (float& v : s.span<float>()) v = f16_to_float(float_to_f16(v));
    q.weight_scale = s;
  }
  for (KvCacheConfig::Layer& l : c.kv_cache.layers) {
    const float k = *std::max_element(l.k_scale.begin(), l.k_scale.end());
    const float v = *std::max_element(l.v_scale.begin(), l.v_scale.end());
    std::fill(l.k_scale.begin(), l.k_scale.end(), k);
    std::fill(l.v_scale.begin(), l.v_scale.end(), v);
  }
  return c;
}

// Exports `folder` as `layout` into `out` and checks that the checkpoint, read
// back by octet, gives the folder's logits bit for bit (against `as_exported`
// of the folder when scales go through f16 or KV scales through their max).
inline void expect_round_trip(const fs::path& folder, HfLayout layout, const fs::path& out,
                              const std::vector<int64_t>& ids, HfExportOptions options = {}) {
  options.layout = layout;
  const HfExportResult r = export_hf_checkpoint(folder, out, options);
  const bool f16_scales = !options.float_dtype && (layout == HfLayout::Awq || layout == HfLayout::Gptq);
  auto reference = load_model(folder);
  const QuantizationConfig folder_config = read_quantization_config(folder);
  apply_quantization(*reference, as_exported(folder_config, f16_scales), QuantExecution::Native);
  auto exported = load_model(out);
  const Tensor a = logits_of(*reference, ids), b = logits_of(*exported, ids);
  EXPECT_TRUE(bit_equal(a, b)) << folder << " as " << hf_layout_name(layout) << ": max |difference| "
                               << max_abs_difference(a, b);
  // Without rounding (f32 scales, no KV cache) the export is the folder itself.
  if (!f16_scales && !folder_config.kv_cache.enabled()) {
    const Tensor c = logits_of(*load_model(folder), ids);
    EXPECT_TRUE(bit_equal(c, b)) << folder << " as " << hf_layout_name(layout);
  }
  const HfCheckpoint read = read_hf_checkpoint(out);
  EXPECT_EQ(read.layout, layout);
  EXPECT_EQ(read.config.linears.size(), folder_config.linears.size());
  EXPECT_EQ(r.quantized_linears, int64_t(folder_config.linears.size()));
}

// ---- subprocesses -------------------------------------------------------------------------------

// The independent packer written from the published layouts (Python + numpy).
inline CommandResult run_reference_packer(const std::string& args, const fs::path& dir) {
  const fs::path script = source_root() / "tests" / "hf_checkpoints" / "reference_packing.py";
  return run_shell("/usr/bin/python3 " + script.string() + " " + args, dir / "stderr.txt");
}

inline void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

inline nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline void write_json_file(const fs::path& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(2); }

}  // namespace octet::testing
