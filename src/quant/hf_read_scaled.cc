// Checkpoints whose weights are stored as plain codes with scales beside
// them: compressed-tensors (float-quantized FP8, int-quantized INT8 W8A8),
// vLLM's quant_method "fp8" and Model Optimizer's unified checkpoint
// (FP8, W4A16_AWQ / W4A8_AWQ int4, W8A16, W8A8 SmoothQuant).
#include <algorithm>
#include <regex>

#include "io/hf_packing.h"
#include "octet/error.h"
#include "quant/hf_read.h"

namespace octet::hf {
namespace {

enum class ScaleKind { PerTensor, PerChannel };

QuantSpec weight_spec(DType dtype, bool per_tensor) {
  QuantSpec s;
  s.dtype = dtype;
  s.granularity = per_tensor ? Granularity::PerTensor : Granularity::PerChannel;
  s.axis = per_tensor ? -1 : 0;
  return s;
}

// "<m>.weight" (fp8 or int8 codes [out, in]) and "<m>.weight_scale": one value
// (per tensor) or [out] / [out, 1] (per channel).
QuantizedLinear scaled_weight(Reader& r, const std::string& m, DType dtype, ScaleKind kind) {
  const std::string weight = m + ".weight", scale_name = m + ".weight_scale";
  const Tensor codes = r.tensor(weight, {dtype}, std::nullopt, fmt::format("{} codes", dtype_name(dtype)));
  check(codes.rank() == 2, kTag, "{}: tensor '{}' has shape {}, a Linear weight is [out, in]", r.weights_file(), weight,
        shape_str(codes.shape()));
  const int64_t out = codes.dim(0);
  const Tensor scales = r.floats(scale_name, std::nullopt, "weight scale");
  const bool channel_shape = scales.shape() == Shape{out} || scales.shape() == Shape{out, 1};
  const bool per_tensor = kind == ScaleKind::PerTensor;
  check(per_tensor ? scales.numel() == 1 : channel_shape, kTag, "{}: tensor '{}' has shape {}, expected {} ({})",
        r.weights_file(), scale_name, shape_str(scales.shape()),
        per_tensor ? std::string("one value (per tensor)") : fmt::format("[{}, 1] (per channel)", out),
        r.config_file());
  r.check_scales(scales, scale_name);
  if (dtype == DType::F8_E4M3) check_fp8_codes(r, codes, weight);
  QuantizedLinear q;
  q.name = m;
  q.weight_spec = weight_spec(dtype, per_tensor);
  q.weight = codes;
  q.weight_scale = per_tensor ? repeat_scale(scales.data<float>()[0], out) : scales.reshape({out}).clone();
  q.input = std::nullopt;
  r.hide(scale_name);
  return q;
}

ActivationQuant static_input(Reader& r, const std::string& m, DType dtype, bool symmetric, std::string_view why) {
  ActivationQuant a;
  a.spec.dtype = dtype;
  a.spec.scheme = symmetric ? QuantScheme::Symmetric : QuantScheme::Affine;
  a.spec.granularity = Granularity::PerTensor;
  a.scale = r.scalar(m + ".input_scale", why);
  r.hide(m + ".input_scale");
  if (!symmetric) {
    const std::string zp = m + ".input_zero_point";
    const Tensor z = r.tensor(zp, {DType::I8, DType::I32}, std::nullopt, "static int8 input zero point");
    check(z.numel() == 1, kTag, "{}: tensor '{}' has shape {}, expected one value", r.weights_file(), zp,
          shape_str(z.shape()));
    a.zero_point = z.dtype() == DType::I8 ? z.data<int8_t>()[0] : z.data<int32_t>()[0];
    check(a.zero_point >= -128 && a.zero_point <= 127, kTag, "{}: tensor '{}' holds {}, outside [-128, 127]",
          r.weights_file(), zp, a.zero_point);
    r.hide(zp);
  }
  return a;
}

ActivationQuant dynamic_int8_input() {
  ActivationQuant a;
  a.dynamic = true;
  return a;
}

// ---- compressed-tensors -------------------------------------------------------------------

bool regex_prefix_match(const std::string& pattern, const std::string& name, const Reader& r) {
  try {
    return std::regex_search(name, std::regex(pattern), std::regex_constants::match_continuous);
  } catch (const std::regex_error&) {
    fail(kTag, "{}: '{}' is not a regular expression octet reads", r.config_file(), pattern);
  }
}

// compressed-tensors targets / ignore entries: a class name ("Linear": every
// quantized module here is one), "re:<regex>" (Python's re.match) or a module name.
bool ct_matches(const std::string& target, const std::string& module, const Reader& r) {
  if (target == "Linear") return true;
  if (target.starts_with("re:")) return regex_prefix_match(target.substr(3), module, r);
  return target == module;
}

struct CtArgs {
  int64_t num_bits = 8;
  std::string type = "int", strategy = "tensor";
  bool symmetric = true, dynamic = false;
};

CtArgs ct_args(const Reader& r, const nlohmann::json& j, const std::string& where) {
  check(j.is_object(), kTag, "{}: {} must be an object", r.config_file(), where);
  const JsonConfig c = JsonConfig::from_json(j, r.config_file() + ":" + where);
  CtArgs a;
  a.num_bits = c.get_or<int64_t>("num_bits", 8);
  a.type = c.get_or<std::string>("type", "int");
  a.strategy = c.get_or<std::string>("strategy", "tensor");
  a.symmetric = c.get_or<bool>("symmetric", true);
  if (c.has("dynamic")) {
    const auto& d = j["dynamic"];
    a.dynamic = d.is_boolean() ? d.get<bool>() : true;  // "local" is dynamic too
  }
  check(a.num_bits == 8, kTag, "{}: {}: num_bits {} is not supported (octet reads 8-bit float and int schemes)",
        r.config_file(), where, a.num_bits);
  check(a.type == "int" || a.type == "float", kTag, "{}: {}: type '{}' is not int or float", r.config_file(), where,
        a.type);
  return a;
}

}  // namespace

void read_compressed_tensors(Reader& r) {
  const JsonConfig& c = r.block();
  const auto& j = c.json();
  const std::string format = c.get_or<std::string>("format", "");
  auto check_format = [&](const std::string& f, const std::string& where) {
    check(f.empty() || f == "float-quantized" || f == "int-quantized" || f == "naive-quantized", kTag,
          "{}: {}format '{}' is not read (float-quantized, int-quantized, naive-quantized)", r.config_file(), where, f);
  };
  check_format(format, "");
  check(j.contains("config_groups") && j["config_groups"].is_object(), kTag, "{}: no 'config_groups' object",
        r.config_file());
  const std::vector<std::string> ignore = c.has("ignore") ? c.get_string_list("ignore") : std::vector<std::string>{};

  for (const std::string& m : r.modules_with(".weight_scale")) {
    for (const std::string& t : ignore)
      check(!ct_matches(t, m, r), kTag, "{}: '{}' has a weight_scale, but ignore entry '{}' says it is not quantized",
            r.weights_file(), m, t);
    const nlohmann::json* group = nullptr;
    std::string group_name;
    for (const auto& [name, g] : j["config_groups"].items()) {
      check(g.is_object() && g.contains("targets") && g["targets"].is_array(), kTag,
            "{}: config_groups.{} has no 'targets' list", r.config_file(), name);
      for (const auto& t : g["targets"])
        if (t.is_string() && ct_matches(t.get<std::string>(), m, r)) group = &g, group_name = name;
      if (group) break;
    }
    check(group != nullptr, kTag, "{}: '{}' has a weight_scale, but no config_groups entry targets it",
          r.weights_file(), m);
    const std::string where = "config_groups." + group_name;
    if (group->contains("format") && (*group)["format"].is_string())
      check_format((*group)["format"].get<std::string>(), where + " ");
    check(group->contains("weights") && (*group)["weights"].is_object(), kTag, "{}: {} has no 'weights'",
          r.config_file(), where);
    const CtArgs w = ct_args(r, (*group)["weights"], where + ".weights");
    check(w.strategy == "tensor" || w.strategy == "channel", kTag,
          "{}: {}.weights: strategy '{}' is not read (tensor, channel)", r.config_file(), where, w.strategy);
    check(w.symmetric, kTag, "{}: {}.weights: asymmetric weights are not supported (octet's int8 is symmetric)",
          r.config_file(), where);
    check(!w.dynamic, kTag, "{}: {}.weights: dynamic weights make no sense in a checkpoint", r.config_file(), where);
    const DType wdtype = w.type == "float" ? DType::F8_E4M3 : DType::I8;
    QuantizedLinear q =
        scaled_weight(r, m, wdtype, w.strategy == "tensor" ? ScaleKind::PerTensor : ScaleKind::PerChannel);
    if (r.has(m + ".weight_zero_point")) {
      const Tensor z = r.tensor(m + ".weight_zero_point", {DType::I8, DType::I32}, std::nullopt, "weight zero point")
                           .to(DType::F32);
      for (const float v : z.contiguous().span<float>())
        check(v == 0, kTag, "{}: tensor '{}.weight_zero_point' holds {}: symmetric weights have zero point 0",
              r.weights_file(), m, v);
      r.hide(m + ".weight_zero_point");
    }
    const auto in = group->find("input_activations");
    if (in != group->end() && !in->is_null()) {
      const CtArgs a = ct_args(r, *in, where + ".input_activations");
      const std::string why = fmt::format("{}.input_activations: static {}", where, a.type == "float" ? "fp8" : "int8");
      if (a.type == "float") {
        if (a.dynamic) {
          r.warn(fmt::format("{}.input_activations: fp8 dynamic activations are not simulated by octet; those "
                             "Linears run with f32 inputs (fp8 weights kept)",
                             where));
        } else {
          check(a.strategy == "tensor", kTag, "{}: {}.input_activations: static fp8 strategy '{}' is not read (tensor)",
                r.config_file(), where, a.strategy);
          check(a.symmetric, kTag, "{}: {}.input_activations: fp8 is symmetric", r.config_file(), where);
          q.input = static_input(r, m, DType::F8_E4M3, true, why);
        }
      } else if (a.dynamic) {
        check(a.strategy == "token" && a.symmetric, kTag,
              "{}: {}.input_activations: dynamic int8 is read per token and symmetric, got strategy '{}'{}",
              r.config_file(), where, a.strategy, a.symmetric ? "" : ", asymmetric");
        q.input = dynamic_int8_input();
      } else {
        check(a.strategy == "tensor", kTag, "{}: {}.input_activations: static int8 strategy '{}' is not read (tensor)",
              r.config_file(), where, a.strategy);
        q.input = static_input(r, m, DType::I8, a.symmetric, why);
      }
    }
    r.result.config.linears.push_back(std::move(q));
  }
  for (const std::string& m : r.modules_with(".input_scale"))
    check(r.has(m + ".weight_scale"), kTag, "{}: tensor '{}.input_scale' belongs to no quantized Linear",
          r.weights_file(), m);

  const auto kv = j.find("kv_cache_scheme");
  if (kv != j.end() && !kv->is_null()) {
    const CtArgs a = ct_args(r, *kv, "kv_cache_scheme");
    const DType dtype = a.type == "float" ? DType::F8_E4M3 : DType::I8;
    check(a.symmetric, kTag, "{}: kv_cache_scheme: octet's KV cache is symmetric", r.config_file());
    if (a.dynamic) {
      r.result.config.kv_cache.dtype = dtype;
      r.result.config.kv_cache.dynamic = true;
    } else {
      r.result.config.kv_cache = read_kv_scales(r, dtype);
    }
  }
  for (const std::string& name : ignore) r.result.config.excluded.push_back({name, "ignore"});
  QuantizationConfig& config = r.result.config;
  config.recipe = "compressed-tensors";
  config.recipe_options = {{"format", format}};
  std::string what = "no Linears";
  if (!config.linears.empty()) {
    const QuantizedLinear& f = config.linears.front();
    const std::string act = !f.input ? "f32" : f.input->dynamic ? "int8 per token" : to_string(f.input->spec);
    what = fmt::format("{} weights, {} activations", to_string(f.weight_spec), act);
  }
  r.result.description = fmt::format("compressed-tensors ({}): {}{}", format.empty() ? "naive" : format, what,
                                     config.kv_cache.enabled() ? fmt::format(", {} KV cache",
                                                                             dtype_name(config.kv_cache.dtype))
                                                               : "");
}

// ---- vLLM's quant_method "fp8" -------------------------------------------------------------

void read_fp8(Reader& r) {
  const JsonConfig& c = r.block();
  check(!c.has("weight_block_size"), kTag, "{}: block-wise fp8 (weight_block_size) is not read", r.config_file());
  const std::string scheme = c.get_or<std::string>("activation_scheme", "dynamic");
  check(scheme == "static" || scheme == "dynamic", kTag, "{}: activation_scheme '{}' is not static or dynamic",
        r.config_file(), scheme);
  for (const std::string& m : r.modules_with(".weight_scale")) {
    QuantizedLinear q = scaled_weight(r, m, DType::F8_E4M3, ScaleKind::PerTensor);
    if (scheme == "static")
      q.input = static_input(r, m, DType::F8_E4M3, true, "activation_scheme static: fp8 input scale");
    else
      r.warn("activation_scheme dynamic: fp8 dynamic activations are not simulated by octet; the Linears run with "
             "f32 inputs (fp8 weights kept)");
    r.result.config.linears.push_back(std::move(q));
  }
  if (scheme == "dynamic")
    for (const std::string& m : r.modules_with(".input_scale")) r.hide(m + ".input_scale");
  if (c.has("ignored_layers"))
    for (const std::string& name : c.get_string_list("ignored_layers"))
      r.result.config.excluded.push_back({name, "ignored_layers"});
  if (!r.modules_with(".k_scale").empty()) r.result.config.kv_cache = read_kv_scales(r, DType::F8_E4M3);
  r.result.config.recipe = "fp8";
  r.result.config.recipe_options = {{"activation_scheme", scheme}};
  r.result.description = fmt::format("vLLM fp8: fp8_e4m3 weights per tensor, {} fp8 activations", scheme);
}

// ---- Model Optimizer -----------------------------------------------------------------------

namespace {

struct ModelOptLayer {
  std::string algo;
  int64_t group_size = 128;
};

// int4 codes [out / 2, in] (two output rows per byte) and weight_scale [out, in / G].
QuantizedLinear modelopt_int4(Reader& r, const std::string& m, int64_t group) {
  const std::string weight = m + ".weight", scale_name = m + ".weight_scale";
  const Tensor packed = r.tensor(weight, {DType::U8, DType::I8}, std::nullopt, "int4 codes, two output rows a byte");
  check(packed.rank() == 2, kTag, "{}: tensor '{}' has shape {}, Model Optimizer int4 is [out / 2, in]",
        r.weights_file(), weight, shape_str(packed.shape()));
  const int64_t out = packed.dim(0) * 2, in = packed.dim(1);
  check(group > 0 && in % group == 0, kTag, "{}: tensor '{}' has {} input features, not a multiple of group_size {}",
        r.weights_file(), weight, in, group);
  const Tensor scales = r.floats(scale_name, Shape{out, in / group}, "int4 weight scale [out, in / group_size]");
  r.check_scales(scales, scale_name);
  const std::string pqs = m + ".pre_quant_scale";
  if (r.has(pqs)) {
    const Tensor s = r.floats(pqs, Shape{in}, "AWQ pre-quantization scale [in]");
    for (const float v : s.span<float>())
      check(v == 1.0f, kTag,
            "{}: tensor '{}' holds {}: octet reads Model Optimizer AWQ checkpoints whose pre_quant_scale is folded "
            "(all ones); it has no per-input-channel scaling",
            r.weights_file(), pqs, v);
    r.hide(pqs);
  }
  Tensor values = io::unpack_int4_row_pairs(packed, weight);  // [out, in] in [-8, 7]
  const auto vs = values.span<int32_t>();
  const bool has_minus_8 = std::find(vs.begin(), vs.end(), -8) != vs.end();
  QuantizedLinear q;
  q.name = m;
  q.weight_spec.granularity = Granularity::PerGroup;
  q.weight_spec.axis = -1;
  q.weight_spec.group_size = group;
  q.weight_scale = scales.clone();
  q.input = std::nullopt;
  if (!has_minus_8) {  // octet's symmetric grid [-7, 7]
    q.weight_spec.dtype = DType::I4;
    q.weight = io::values_to_codes(values, DType::I4, weight);
  } else {  // -8 needs the unsigned grid: q + 8 with zero point 8
    q.weight_spec.dtype = DType::U4;
    q.weight_spec.scheme = QuantScheme::Affine;
    for (int32_t& v : vs) v += 8;
    q.weight = io::values_to_codes(values, DType::U4, weight);
    q.weight_zero_point = Tensor::empty({out, in / group}, DType::I32);
    for (int32_t& z : q.weight_zero_point.span<int32_t>()) z = 8;
  }
  r.hide(scale_name);
  return q;
}

}  // namespace

void read_modelopt(Reader& r) {
  const JsonConfig& c = r.block();
  const std::string global = c.get_or<std::string>("quant_algo", "");
  const int64_t global_group = c.get_or<int64_t>("group_size", 128);
  const std::vector<std::string> exclude =
      c.has("exclude_modules") ? c.get_string_list("exclude_modules") : std::vector<std::string>{};
  check(!c.get_or<bool>("has_zero_point", false), kTag, "{}: has_zero_point true is not read", r.config_file());
  const auto& j = c.json();
  auto layer_config = [&](const std::string& m) {
    if (global != "MIXED_PRECISION") return ModelOptLayer{global, global_group};
    const auto layers = j.find("quantized_layers");
    check(layers != j.end() && layers->is_object() && layers->contains(m), kTag,
          "{}: quant_algo MIXED_PRECISION, but quantized_layers has no entry for '{}'", r.config_file(), m);
    const auto& e = (*layers)[m];
    check(e.is_object() && e.contains("quant_algo") && e["quant_algo"].is_string(), kTag,
          "{}: quantized_layers.{} has no quant_algo", r.config_file(), m);
    return ModelOptLayer{e["quant_algo"].get<std::string>(), e.value("group_size", global_group)};
  };

  std::set<std::string> algos;
  for (const std::string& m : r.modules_with(".weight_scale")) {
    for (const std::string& pattern : exclude)
      check(!glob_match(pattern, m), kTag,
            "{}: '{}' has a weight_scale, but exclude_modules entry '{}' says it is not quantized", r.weights_file(), m,
            pattern);
    const ModelOptLayer layer = layer_config(m);
    const std::string& a = layer.algo;
    algos.insert(a);
    QuantizedLinear q;
    if (a == "FP8") {
      q = scaled_weight(r, m, DType::F8_E4M3, ScaleKind::PerTensor);
      q.input = static_input(r, m, DType::F8_E4M3, true, "quant_algo FP8: static fp8 input scale");
    } else if (a == "FP8_PER_CHANNEL_PER_TOKEN") {
      q = scaled_weight(r, m, DType::F8_E4M3, ScaleKind::PerChannel);
      r.warn("FP8_PER_CHANNEL_PER_TOKEN: fp8 dynamic per-token activations are not simulated by octet; the Linears "
             "run with f32 inputs (fp8 weights kept)");
    } else if (a == "W4A16_AWQ" || a == "W4A8_AWQ") {
      q = modelopt_int4(r, m, layer.group_size);
      if (a == "W4A8_AWQ") {
        q.input = static_input(r, m, DType::F8_E4M3, true, "quant_algo W4A8_AWQ: static fp8 input scale");
        r.hide(m + ".weight_scale_2");  // the kernel's fp8 weight scale: a TensorRT-LLM kernel detail
      }
    } else if (a == "W8A16") {
      q = scaled_weight(r, m, DType::I8, ScaleKind::PerChannel);
    } else if (a == "W8A8_SQ_PER_CHANNEL" || a == "INT8_SQ" || a == "W8A8_SQ_PER_CHANNEL_PER_TENSOR_PLUGIN") {
      q = scaled_weight(r, m, DType::I8, ScaleKind::PerChannel);
      q.input = static_input(r, m, DType::I8, true, fmt::format("quant_algo {}: static int8 input scale", a));
    } else if (a == "W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN") {
      q = scaled_weight(r, m, DType::I8, ScaleKind::PerChannel);
      q.input = dynamic_int8_input();
    } else if (a == "W8A8_SQ_PER_TENSOR_PLUGIN") {
      q = scaled_weight(r, m, DType::I8, ScaleKind::PerTensor);
      q.input = static_input(r, m, DType::I8, true, fmt::format("quant_algo {}: static int8 input scale", a));
    } else {
      fail(kTag,
           "{}: quant_algo '{}' is not read (FP8, FP8_PER_CHANNEL_PER_TOKEN, W4A16_AWQ, W4A8_AWQ, W8A16, "
           "W8A8_SQ_PER_CHANNEL, W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN, W8A8_SQ_PER_TENSOR_PLUGIN, MIXED_PRECISION)",
           r.config_file(), a.empty() ? std::string("null") : a);
    }
    r.result.config.linears.push_back(std::move(q));
  }
  for (const std::string& m : r.modules_with(".input_scale"))
    check(r.has(m + ".weight_scale"), kTag, "{}: tensor '{}.input_scale' belongs to no quantized Linear",
          r.weights_file(), m);

  const auto kv = j.find("kv_cache_quant_algo");
  if (kv != j.end() && kv->is_string()) {
    const std::string k = kv->get<std::string>();
    check(k == "FP8" || k == "INT8", kTag, "{}: kv_cache_quant_algo '{}' is not read (FP8, INT8)", r.config_file(), k);
    r.result.config.kv_cache = read_kv_scales(r, k == "FP8" ? DType::F8_E4M3 : DType::I8);
  }
  for (const std::string& name : exclude) r.result.config.excluded.push_back({name, "exclude_modules"});
  r.result.config.recipe = "modelopt";
  r.result.config.recipe_options = {{"quant_algo", global}};
  if (global_group > 0 && (global.find("AWQ") != std::string::npos))
    r.result.config.recipe_options.emplace_back("group_size", std::to_string(global_group));
  r.result.description = fmt::format("Model Optimizer ({}): {}{}", r.config_file().ends_with(".json") ? "hf_quant_config.json" : "config.json",
                                     fmt::join(algos, ", "),
                                     r.result.config.kv_cache.enabled()
                                         ? fmt::format(", {} KV cache", kv->get<std::string>())
                                         : "");
}

}  // namespace octet::hf
