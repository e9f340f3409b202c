// The tensors and config block of each Hugging Face layout, from octet's
// QuantizedLinear codes (never through f32): AutoAWQ gemm, GPTQ (v1 / v2),
// compressed-tensors, vLLM fp8 and Model Optimizer.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "io/hf_packing.h"
#include "export/hf_write.h"
#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet::hf {

using nlohmann::ordered_json;

Tensor scalar_tensor(float v) {
  Tensor t = Tensor::empty({}, DType::F32);
  t.data<float>()[0] = v;
  return t;
}

Tensor one_value_tensor(float v) { return Tensor::full({1}, v); }

std::string regex_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Tensor WriteContext::cast_scales(const Tensor& scales_in, const std::string& linear) {
  const Tensor scales = scales_in.contiguous();
  if (scale_dtype == DType::F32) return scales;
  const Tensor cast = scales.to(scale_dtype);
  const Tensor back = cast.to(DType::F32);
  const auto a = scales.span<float>(), b = back.span<float>();
  for (size_t i = 0; i < a.size(); ++i) {
    check(std::isfinite(b[i]) && b[i] > 0, kWriteTag,
          "{}: scale {} does not survive the cast to {} (it becomes {}); export with --dtype f32", linear, a[i],
          dtype_name(scale_dtype), b[i]);
    scale_rounding = std::max(scale_rounding, double(std::fabs(b[i] - a[i]) / a[i]));
  }
  return cast;
}

namespace {

int64_t group_of(const QuantizedLinear& q) {
  return q.weight_spec.granularity == Granularity::PerGroup ? q.weight_spec.group_size : q.weight.dim(1);
}

// Codes as unsigned values with their zero points [out, groups]: int4:sym
// (-7..7) gets +8 with zero point 8 (AutoAWQ / GPTQ hold only unsigned
// nibbles), int8:sym gets +128 with zero point 128 (GPTQ 8-bit).
struct UnsignedCodes {
  Tensor values;  // i32 [out, in]
  Tensor zeros;   // i32 [out, groups]
};

UnsignedCodes unsigned_codes(const QuantizedLinear& q) {
  UnsignedCodes u;
  u.values = io::codes_to_values(q.weight);
  const int64_t out = q.weight.dim(0), groups = q.weight.dim(1) / group_of(q);
  if (q.weight_spec.dtype == DType::U4) {
    u.zeros = q.weight_zero_point.contiguous();
    return u;
  }
  const int32_t offset = q.weight_spec.dtype == DType::I4 ? 8 : 128;
  for (int32_t& v : u.values.span<int32_t>()) v += offset;
  u.zeros = Tensor::empty({out, groups}, DType::I32);
  for (int32_t& z : u.zeros.span<int32_t>()) z = offset;
  return u;
}

ordered_json excluded_names(const QuantizationConfig& c) {
  ordered_json names = ordered_json::array();
  for (const ExcludedLayer& e : c.excluded) names.push_back(e.name);
  return names;
}

// Static KV scales by attention block, written under `name_of(attention, key)`.
template <typename NameFn, typename ValueFn>
void add_kv_tensors(WriteContext& ctx, NameFn name_of, ValueFn make) {
  for (const auto& [attention, scales] : kv_tensor_scales(ctx)) {
    ctx.tensors.emplace_back(name_of(attention, true), make(scales.first));
    ctx.tensors.emplace_back(name_of(attention, false), make(scales.second));
  }
}

}  // namespace

std::vector<std::pair<std::string, std::pair<float, float>>> kv_tensor_scales(WriteContext& ctx) {
  std::vector<std::pair<std::string, std::pair<float, float>>> out;
  int64_t changed = 0;
  for (const KvCacheConfig::Layer& l : ctx.config.kv_cache.layers) {
    const float k = *std::max_element(l.k_scale.begin(), l.k_scale.end());
    const float v = *std::max_element(l.v_scale.begin(), l.v_scale.end());
    const bool same = std::all_of(l.k_scale.begin(), l.k_scale.end(), [&](float s) { return s == k; }) &&
                      std::all_of(l.v_scale.begin(), l.v_scale.end(), [&](float s) { return s == v; });
    changed += !same;
    out.push_back({l.name, {k, v}});
  }
  if (changed > 0)
    ctx.notes.push_back(fmt::format(
        "KV-cache scales: the layout holds one per tensor, so the per-kv-head scales of {} of {} attention blocks "
        "were replaced by their maximum (the KV cache quantizes differently from the octet folder)",
        changed, out.size()));
  return out;
}

// ---- AutoAWQ gemm -----------------------------------------------------------------------------

LayoutConfig write_awq(WriteContext& ctx) {
  const int64_t group = ctx.config.linears.front().weight_spec.group_size;
  for (const QuantizedLinear& q : ctx.config.linears) {
    const UnsignedCodes u = unsigned_codes(q);
    ctx.tensors.emplace_back(q.name + ".qweight", io::pack_awq_gemm(io::transposed(u.values), q.name + ".qweight"));
    ctx.tensors.emplace_back(q.name + ".qzeros", io::pack_awq_gemm(io::transposed(u.zeros), q.name + ".qzeros"));
    ctx.tensors.emplace_back(q.name + ".scales", ctx.cast_scales(io::transposed(q.weight_scale), q.name));
  }
  LayoutConfig lc;
  const ordered_json excluded = excluded_names(ctx.config);
  lc.block = {{"quant_method", "awq"},
              {"bits", 4},
              {"group_size", group},
              {"zero_point", true},
              {"version", "gemm"},
              {"modules_to_not_convert", excluded.empty() ? ordered_json(nullptr) : excluded}};
  lc.description = fmt::format("AutoAWQ gemm: 4-bit, group {}, zero points", group);
  return lc;
}

// ---- GPTQ -------------------------------------------------------------------------------------

LayoutConfig write_gptq(WriteContext& ctx) {
  const bool v2 = ctx.options.gptq_v2;
  // (bits, group_size) of each Linear; the most common one is the config's, the others go to "dynamic".
  std::map<std::pair<int, int64_t>, int64_t> counts;
  auto key_of = [](const QuantizedLinear& q) {
    const int bits = q.weight_spec.dtype == DType::I8 ? 8 : 4;
    const int64_t group = q.weight_spec.granularity == Granularity::PerGroup ? q.weight_spec.group_size : -1;
    return std::pair{bits, group};
  };
  bool sym = true, desc_act = false, lm_head = false;
  for (const QuantizedLinear& q : ctx.config.linears) {
    counts[key_of(q)] += 1;
    sym = sym && q.weight_spec.scheme == QuantScheme::Symmetric;
    desc_act = desc_act || q.group_index.defined();
    lm_head = lm_head || q.name == "lm_head";
  }
  const auto base = std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
                      return a.second < b.second;
                    })->first;

  ordered_json dynamic = ordered_json::object();
  for (const QuantizedLinear& q : ctx.config.linears) {
    const auto [bits, group] = key_of(q);
    if (std::pair{bits, group} != base)
      dynamic["+:" + regex_escape(q.name) + "$"] = {{"bits", bits}, {"group_size", group}};
    const UnsignedCodes u = unsigned_codes(q);
    const int64_t in = q.weight.dim(1), g = group_of(q);
    Tensor stored = u.zeros.clone();
    if (!v2)
      for (int32_t& z : stored.span<int32_t>()) {
        check(z > 0, kWriteTag,
              "{}: a zero point of 0 cannot be stored in GPTQ v1's minus-one qzeros; export with --gptq-v2 "
              "(GPTQModel's gptq_v2) or --format awq",
              q.name);
        z -= 1;
      }
    ctx.tensors.emplace_back(q.name + ".qweight",
                             io::pack_gptq_rows(io::transposed(u.values), bits, q.name + ".qweight"));
    ctx.tensors.emplace_back(q.name + ".qzeros",
                             io::pack_gptq_columns(io::transposed(stored), bits, q.name + ".qzeros"));
    const Tensor scales = q.weight_spec.granularity == Granularity::PerGroup
                              ? io::transposed(q.weight_scale)
                              : q.weight_scale.contiguous().reshape({1, q.weight.dim(0)});
    ctx.tensors.emplace_back(q.name + ".scales", ctx.cast_scales(scales, q.name));
    Tensor g_idx = q.group_index.defined() ? q.group_index.contiguous() : Tensor::empty({in}, DType::I32);
    if (!q.group_index.defined())
      for (int64_t k = 0; k < in; ++k) g_idx.data<int32_t>()[k] = int32_t(k / g);
    ctx.tensors.emplace_back(q.name + ".g_idx", g_idx);
  }
  for (const ExcludedLayer& e : ctx.config.excluded)
    if (e.name != "lm_head") dynamic["-:" + regex_escape(e.name) + "$"] = ordered_json::object();

  double damp = 0.01;
  for (const auto& [k, v] : ctx.config.recipe_options)
    if (k == "gptq_damp") damp = std::strtod(v.c_str(), nullptr);
  const std::string format = v2 ? "gptq_v2" : "gptq";
  LayoutConfig lc;
  lc.block = {{"quant_method", "gptq"}, {"bits", base.first},        {"group_size", base.second},
              {"desc_act", desc_act},   {"sym", sym},                 {"lm_head", lm_head},
              {"damp_percent", damp},   {"static_groups", false},     {"true_sequential", true},
              {"checkpoint_format", format}};
  if (!dynamic.empty()) lc.block["dynamic"] = dynamic;
  ordered_json file = {{"bits", base.first},
                       {"group_size", base.second},
                       {"damp_percent", damp},
                       {"desc_act", desc_act},
                       {"static_groups", false},
                       {"sym", sym},
                       {"true_sequential", true},
                       {"lm_head", lm_head},
                       {"model_name_or_path", nullptr},
                       {"model_file_base_name", "model"},
                       {"quant_method", "gptq"},
                       {"checkpoint_format", format}};
  if (!dynamic.empty()) file["dynamic"] = dynamic;
  lc.files.emplace_back("quantize_config.json", std::move(file));
  lc.description = fmt::format("GPTQ ({}): {}-bit, group {}, {}{}", format, base.first,
                               base.second == -1 ? std::string("per channel") : std::to_string(base.second),
                               sym ? "symmetric" : "asymmetric", desc_act ? ", act-order g_idx" : "");
  return lc;
}

// ---- compressed-tensors -----------------------------------------------------------------------

namespace {

ordered_json ct_args(int64_t bits, const char* type, const char* strategy, bool symmetric, bool dynamic) {
  return {{"num_bits", bits},      {"type", type},         {"strategy", strategy},
          {"symmetric", symmetric}, {"dynamic", dynamic},   {"group_size", nullptr},
          {"block_structure", nullptr}, {"actorder", nullptr}, {"observer", dynamic ? nullptr : ordered_json("minmax")},
          {"observer_kwargs", ordered_json::object()}};
}

}  // namespace

LayoutConfig write_compressed_tensors(WriteContext& ctx) {
  // One config group per distinct (weights, input_activations) scheme.
  std::vector<std::pair<ordered_json, std::vector<std::string>>> schemes;
  bool any_fp8 = false, any_int8 = false;
  for (const QuantizedLinear& q : ctx.config.linears) {
    const bool fp8 = q.weight_spec.dtype == DType::F8_E4M3;
    const bool per_tensor = q.weight_spec.granularity == Granularity::PerTensor;
    any_fp8 = any_fp8 || fp8;
    any_int8 = any_int8 || !fp8;
    const int64_t out = q.weight.dim(0);
    ctx.tensors.emplace_back(q.name + ".weight", q.weight);
    const Tensor scale = per_tensor ? one_value_tensor(q.weight_scale.contiguous().data<float>()[0])
                                    : q.weight_scale.contiguous().reshape({out, 1});
    ctx.tensors.emplace_back(q.name + ".weight_scale", ctx.cast_scales(scale, q.name));
    ordered_json input = nullptr;
    if (q.input && q.input->dynamic) {
      input = ct_args(8, "int", "token", true, true);
    } else if (q.input) {
      const bool sym = q.input->spec.scheme == QuantScheme::Symmetric;
      input = ct_args(8, q.input->spec.dtype == DType::F8_E4M3 ? "float" : "int", "tensor", sym, false);
      ctx.tensors.emplace_back(q.name + ".input_scale", ctx.cast_scales(one_value_tensor(q.input->scale), q.name));
      if (!sym) {
        Tensor zp = Tensor::empty({1}, DType::I8);
        zp.data<int8_t>()[0] = int8_t(q.input->zero_point);
        ctx.tensors.emplace_back(q.name + ".input_zero_point", zp);
      }
    }
    ordered_json scheme = {{"weights", ct_args(8, fp8 ? "float" : "int", per_tensor ? "tensor" : "channel", true, false)},
                           {"input_activations", input},
                           {"output_activations", nullptr}};
    const auto it = std::find_if(schemes.begin(), schemes.end(), [&](const auto& s) { return s.first == scheme; });
    if (it == schemes.end())
      schemes.push_back({scheme, {q.name}});
    else
      it->second.push_back(q.name);
  }
  const std::string format = any_fp8 && any_int8 ? "mixed-precision" : any_fp8 ? "float-quantized" : "int-quantized";
  ordered_json groups = ordered_json::object();
  for (size_t i = 0; i < schemes.size(); ++i) {
    ordered_json g = schemes[i].first;
    g["targets"] = schemes.size() == 1 ? ordered_json::array({"Linear"}) : ordered_json(schemes[i].second);
    if (schemes.size() > 1) g["format"] = g["weights"]["type"] == "float" ? "float-quantized" : "int-quantized";
    groups["group_" + std::to_string(i)] = std::move(g);
  }
  ordered_json kv = nullptr;
  if (ctx.config.kv_cache.enabled()) {
    kv = ct_args(8, ctx.config.kv_cache.dtype == DType::F8_E4M3 ? "float" : "int", "tensor", true, false);
    add_kv_tensors(
        ctx, [](const std::string& a, bool key) { return a + (key ? ".k_scale" : ".v_scale"); },
        [&](float v) { return one_value_tensor(v); });
  }
  LayoutConfig lc;
  lc.block = {{"quant_method", "compressed-tensors"},
              {"format", format},
              {"quantization_status", "compressed"},
              {"config_groups", std::move(groups)},
              {"ignore", excluded_names(ctx.config)},
              {"kv_cache_scheme", kv},
              {"global_compression_ratio", nullptr},
              {"sparsity_config", ordered_json::object()}};
  const QuantizedLinear& f = ctx.config.linears.front();
  lc.description = fmt::format("compressed-tensors ({}): {} weights{}{}", format, to_string(f.weight_spec),
                               schemes.size() > 1 ? fmt::format(", {} schemes", schemes.size()) : "",
                               ctx.config.kv_cache.enabled() ? ", static KV-cache scales" : "");
  return lc;
}

// ---- vLLM fp8 ---------------------------------------------------------------------------------

LayoutConfig write_fp8(WriteContext& ctx) {
  for (const QuantizedLinear& q : ctx.config.linears) {
    ctx.tensors.emplace_back(q.name + ".weight", q.weight);
    ctx.tensors.emplace_back(q.name + ".weight_scale",
                             ctx.cast_scales(scalar_tensor(q.weight_scale.contiguous().data<float>()[0]), q.name));
    ctx.tensors.emplace_back(q.name + ".input_scale", ctx.cast_scales(scalar_tensor(q.input->scale), q.name));
  }
  if (ctx.config.kv_cache.enabled())
    add_kv_tensors(
        ctx, [](const std::string& a, bool key) { return a + (key ? ".k_scale" : ".v_scale"); },
        [](float v) { return scalar_tensor(v); });
  LayoutConfig lc;
  lc.block = {{"quant_method", "fp8"}, {"activation_scheme", "static"}, {"ignored_layers", excluded_names(ctx.config)}};
  lc.description = "vLLM fp8: fp8_e4m3 per-tensor weights, static fp8 activations";
  return lc;
}

// ---- Model Optimizer --------------------------------------------------------------------------

std::string modelopt_algo(const QuantizedLinear& q) {
  const QuantSpec& w = q.weight_spec;
  const bool static_fp8 = q.input && !q.input->dynamic && q.input->spec.dtype == DType::F8_E4M3;
  const bool static_int8 = q.input && !q.input->dynamic && q.input->spec.dtype == DType::I8 &&
                           q.input->spec.scheme == QuantScheme::Symmetric;
  const bool dynamic_int8 = q.input && q.input->dynamic;
  if (w.dtype == DType::F8_E4M3 && w.granularity == Granularity::PerTensor && static_fp8) return "FP8";
  if (w.dtype == DType::I4 && w.granularity == Granularity::PerGroup && !q.group_index.defined()) {
    if (!q.input) return "W4A16_AWQ";
    if (static_fp8) return "W4A8_AWQ";
  }
  if (w.dtype == DType::I8 && w.granularity == Granularity::PerChannel) {
    if (!q.input) return "W8A16";
    if (static_int8) return "W8A8_SQ_PER_CHANNEL";
    if (dynamic_int8) return "W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN";
  }
  if (w.dtype == DType::I8 && w.granularity == Granularity::PerTensor && static_int8) return "W8A8_SQ_PER_TENSOR_PLUGIN";
  return "";
}

LayoutConfig write_modelopt(WriteContext& ctx) {
  std::map<std::string, ordered_json> layers;  // name -> per-layer config
  std::set<std::string> distinct;
  for (const QuantizedLinear& q : ctx.config.linears) {
    const std::string algo = modelopt_algo(q);
    const float first_scale = q.weight_scale.contiguous().data<float>()[0];
    ordered_json layer = {{"quant_algo", algo}};
    if (algo == "FP8") {
      ctx.tensors.emplace_back(q.name + ".weight", q.weight);
      ctx.tensors.emplace_back(q.name + ".weight_scale", ctx.cast_scales(scalar_tensor(first_scale), q.name));
    } else if (algo == "W4A16_AWQ" || algo == "W4A8_AWQ") {
      const int64_t group = q.weight_spec.group_size;
      ctx.tensors.emplace_back(q.name + ".weight",
                               io::pack_int4_row_pairs(io::codes_to_values(q.weight), q.name + ".weight"));
      ctx.tensors.emplace_back(q.name + ".weight_scale", ctx.cast_scales(q.weight_scale, q.name));
      layer = {{"quant_algo", algo}, {"group_size", group}, {"has_zero_point", false}, {"pre_quant_scale", false}};
      if (algo == "W4A8_AWQ") {
        // TensorRT-LLM's kernel turns the int4 weights into fp8 with one more per-tensor scale (amax / 448).
        const auto s = q.weight_scale.contiguous().span<float>();
        const float amax = 7.0f * *std::max_element(s.begin(), s.end());
        ctx.tensors.emplace_back(q.name + ".weight_scale_2", scalar_tensor(amax / kFp8E4M3Max));
      }
    } else if (algo == "W8A8_SQ_PER_TENSOR_PLUGIN") {
      ctx.tensors.emplace_back(q.name + ".weight", q.weight);
      ctx.tensors.emplace_back(q.name + ".weight_scale", ctx.cast_scales(scalar_tensor(first_scale), q.name));
    } else {  // W8A16, W8A8_SQ_PER_CHANNEL(_PER_TOKEN_PLUGIN)
      ctx.tensors.emplace_back(q.name + ".weight", q.weight);
      ctx.tensors.emplace_back(q.name + ".weight_scale", ctx.cast_scales(q.weight_scale, q.name));
    }
    if (q.input && !q.input->dynamic)
      ctx.tensors.emplace_back(q.name + ".input_scale", ctx.cast_scales(scalar_tensor(q.input->scale), q.name));
    distinct.insert(layer.dump());
    layers[q.name] = std::move(layer);
  }
  ordered_json quantization = ordered_json::object();
  if (distinct.size() == 1) {
    quantization = layers.begin()->second;
  } else {
    quantization["quant_algo"] = "MIXED_PRECISION";
    ordered_json per_layer = ordered_json::object();
    for (const auto& [name, l] : layers) per_layer[name] = l;
    quantization["quantized_layers"] = std::move(per_layer);
  }
  const bool kv = ctx.config.kv_cache.enabled();
  const std::string kv_algo = !kv ? "" : ctx.config.kv_cache.dtype == DType::F8_E4M3 ? "FP8" : "INT8";
  quantization["kv_cache_quant_algo"] = kv ? ordered_json(kv_algo) : ordered_json(nullptr);
  quantization["exclude_modules"] = excluded_names(ctx.config);
  if (kv) {
    // Model Optimizer names them after the projection (<A>.k_proj.k_scale) where there is one.
    const Checkpoint& w = ctx.folder_weights;
    add_kv_tensors(
        ctx,
        [&](const std::string& a, bool key) {
          const std::string proj = a + (key ? ".k_proj" : ".v_proj");
          return (w.contains(proj + ".weight") ? proj : a) + (key ? ".k_scale" : ".v_scale");
        },
        [](float v) { return scalar_tensor(v); });
  }
  const ordered_json producer = {{"name", "octet"}, {"version", OCTET_VERSION}};
  LayoutConfig lc;
  lc.files.emplace_back("hf_quant_config.json", ordered_json{{"producer", producer}, {"quantization", quantization}});
  lc.block = {{"quant_method", "modelopt"}, {"quant_algo", quantization["quant_algo"]}};
  if (quantization.contains("group_size")) lc.block["group_size"] = quantization["group_size"];
  if (quantization.contains("quantized_layers")) lc.block["quantized_layers"] = quantization["quantized_layers"];
  lc.block["ignore"] = quantization["exclude_modules"];
  lc.block["kv_cache_scheme"] =
      kv ? ordered_json{{"dynamic", false}, {"num_bits", 8}, {"type", kv_algo == "FP8" ? "float" : "int"}}
         : ordered_json(nullptr);
  lc.block["producer"] = producer;
  lc.description = fmt::format("Model Optimizer: {}{}", quantization["quant_algo"].get<std::string>(),
                               kv ? ", " + kv_algo + " KV cache" : "");
  return lc;
}

}  // namespace octet::hf
