// AutoAWQ "gemm" and GPTQ checkpoints: int32-packed codes and zero points,
// f16 scales, mapped onto octet's uint4:affine:group(G) (int8:sym for 8-bit
// GPTQ) with the codes and zero points exactly as stored.
#include <regex>

#include "io/hf_packing.h"
#include "octet/error.h"
#include "quant/hf_read.h"

namespace octet::hf {
namespace {

// int bits from "bits" (AutoAWQ also writes "w_bit"); only 4 and 8 exist in these layouts.
int read_bits(const Reader& r, std::string_view method) {
  const JsonConfig& c = r.block();
  check(c.has("bits") || c.has("w_bit"), kTag, "{}: no 'bits'", r.config_file());
  const int64_t bits = c.has("bits") ? c.get<int64_t>("bits") : c.get<int64_t>("w_bit");
  check(bits == 4 || bits == 8, kTag, "{}: bits {} is not supported ({} checkpoints octet reads have 4 or 8 bits)",
        r.config_file(), bits, method);
  return int(bits);
}

int64_t read_group_size(const Reader& r) {
  const JsonConfig& c = r.block();
  check(c.has("group_size") || c.has("q_group_size"), kTag, "{}: no 'group_size'", r.config_file());
  return c.has("group_size") ? c.get<int64_t>("group_size") : c.get<int64_t>("q_group_size");
}

QuantSpec group_spec(DType dtype, int64_t group) {
  QuantSpec s;
  s.dtype = dtype;
  s.scheme = dtype == DType::U4 ? QuantScheme::Affine : QuantScheme::Symmetric;
  s.granularity = Granularity::PerGroup;
  s.axis = -1;
  s.group_size = group;
  return s;
}

std::vector<std::string> string_list(const Reader& r, const char* key) {
  const JsonConfig& c = r.block();
  if (!c.has(key)) return {};
  return c.get_string_list(key);
}

}  // namespace

void read_awq(Reader& r) {
  const JsonConfig& c = r.block();
  const std::string version = c.get_or<std::string>("version", "gemm");
  std::string lower = version;
  for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  check(lower == "gemm", kTag, "{}: AWQ version '{}' is not read (octet reads the \"gemm\" packing)", r.config_file(),
        version);
  const int bits = read_bits(r, "AWQ");
  check(bits == 4, kTag, "{}: bits {}: AutoAWQ's gemm layout packs 4-bit weights only", r.config_file(), bits);
  const int64_t group = read_group_size(r);
  check(group > 0, kTag, "{}: group_size {} is not supported (AWQ gemm needs a positive group size)", r.config_file(),
        group);
  check(c.get_or<bool>("zero_point", true), kTag,
        "{}: zero_point false is not supported (AutoAWQ gemm checkpoints store zero points)", r.config_file());

  for (const std::string& m : r.modules_with(".qweight")) {
    const std::string qweight = m + ".qweight", qzeros = m + ".qzeros", scales_name = m + ".scales";
    const Tensor packed = r.tensor(qweight, {DType::I32}, std::nullopt, "AWQ packed codes");
    check(packed.rank() == 2, kTag, "{}: tensor '{}' has shape {}, AWQ qweight is [in, out / 8]", r.weights_file(),
          qweight, shape_str(packed.shape()));
    const int64_t in = packed.dim(0), out = packed.dim(1) * 8;
    check(in % group == 0, kTag, "{}: tensor '{}' has {} input rows, not a multiple of group_size {} ({})",
          r.weights_file(), qweight, in, group, r.config_file());
    const int64_t groups = in / group;
    const Tensor scales = r.floats(scales_name, Shape{groups, out}, "AWQ scales [in / group_size, out]");
    r.check_scales(scales, scales_name);
    const Tensor zeros = r.tensor(qzeros, {DType::I32}, Shape{groups, out / 8}, "AWQ packed zero points");

    QuantizedLinear q;
    q.name = m;
    q.weight_spec = group_spec(DType::U4, group);
    q.weight = io::values_to_codes(io::transposed(io::unpack_awq_gemm(packed, qweight)), DType::U4, qweight);
    q.weight_scale = io::transposed(scales);
    q.weight_zero_point = io::transposed(io::unpack_awq_gemm(zeros, qzeros));
    q.input = std::nullopt;
    r.result.config.linears.push_back(std::move(q));
    for (const std::string& t : {qweight, qzeros, scales_name}) r.hide(t);
  }
  for (const std::string& m : r.modules_with(".qzeros"))
    check(r.has(m + ".qweight"), kTag, "{}: tensor '{}.qzeros' has no '{}.qweight'", r.weights_file(), m, m);
  for (const std::string& name : string_list(r, "modules_to_not_convert"))
    r.result.config.excluded.push_back({name, "modules_to_not_convert"});
  r.result.config.recipe = "awq";
  r.result.config.recipe_options = {{"bits", "4"}, {"group_size", std::to_string(group)}, {"version", "gemm"}};
  r.result.description = fmt::format("AutoAWQ gemm: 4-bit, group {}, zero points", group);
}

namespace {

struct GptqModuleConfig {
  int bits = 4;
  int64_t group_size = 128;
};

// GPTQModel's "dynamic": {"+:regex" or "regex": overrides, "-:regex": skipped}; the first positive match wins.
GptqModuleConfig gptq_module_config(const Reader& r, const std::string& module, GptqModuleConfig base) {
  const auto& j = r.block().json();
  const auto it = j.find("dynamic");
  if (it == j.end() || !it->is_object()) return base;
  for (const auto& [key, value] : it->items()) {
    if (key.starts_with("-:")) continue;
    const std::string pattern = key.starts_with("+:") ? key.substr(2) : key;
    bool match = false;
    try {
      match = std::regex_search(module, std::regex(pattern), std::regex_constants::match_continuous);
    } catch (const std::regex_error&) {
      fail(kTag, "{}: dynamic pattern '{}' is not a regular expression octet reads", r.config_file(), key);
    }
    if (!match || !value.is_object()) continue;
    for (const char* k : {"bits", "group_size"})
      check(!value.contains(k) || value[k].is_number_integer(), kTag, "{}: dynamic '{}': '{}' must be an integer",
            r.config_file(), key, k);
    if (value.contains("bits")) {
      const int64_t bits = value["bits"].get<int64_t>();
      check(bits == 4 || bits == 8, kTag, "{}: dynamic '{}': bits {} is not supported (4 or 8)", r.config_file(), key,
            bits);
      base.bits = int(bits);
    }
    if (value.contains("group_size")) base.group_size = value["group_size"].get<int64_t>();
    return base;
  }
  return base;
}

}  // namespace

void read_gptq(Reader& r) {
  const JsonConfig& c = r.block();
  GptqModuleConfig base;
  base.bits = read_bits(r, "GPTQ");
  base.group_size = read_group_size(r);
  const std::string format = c.get_or<std::string>("checkpoint_format", "gptq");
  check(format == "gptq" || format == "gptq_v2", kTag,
        "{}: checkpoint_format '{}' is not read (gptq: zero points stored minus one; gptq_v2)", r.config_file(),
        format);
  const bool v1 = format == "gptq";
  bool any_group_index = false;

  for (const std::string& m : r.modules_with(".qweight")) {
    const GptqModuleConfig mc = gptq_module_config(r, m, base);
    const int per_word = 32 / mc.bits;
    const std::string qweight = m + ".qweight", qzeros = m + ".qzeros", scales_name = m + ".scales",
                      g_idx = m + ".g_idx";
    const Tensor packed = r.tensor(qweight, {DType::I32}, std::nullopt, "GPTQ packed codes");
    check(packed.rank() == 2, kTag, "{}: tensor '{}' has shape {}, GPTQ qweight is [in * bits / 32, out]",
          r.weights_file(), qweight, shape_str(packed.shape()));
    const int64_t in = packed.dim(0) * per_word, out = packed.dim(1);
    const int64_t group = mc.group_size == -1 ? in : mc.group_size;
    check(group > 0, kTag, "{}: group_size {} is not supported (positive, or -1 for one group)", r.config_file(),
          mc.group_size);
    check(in % group == 0, kTag, "{}: tensor '{}' has {} input features, not a multiple of group_size {} ({})",
          r.weights_file(), qweight, in, group, r.config_file());
    check(out % per_word == 0, kTag, "{}: tensor '{}' has {} outputs, which {}-bit qzeros cannot pack",
          r.weights_file(), qweight, out, mc.bits);
    const int64_t groups = in / group;
    const Tensor scales = r.floats(scales_name, Shape{groups, out}, "GPTQ scales [groups, out]");
    r.check_scales(scales, scales_name);
    const Tensor packed_zeros =
        r.tensor(qzeros, {DType::I32}, Shape{groups, out / per_word}, "GPTQ packed zero points [groups, out * bits / 32]");

    // Zero points [groups, out], v1 stores each minus one.
    Tensor zeros = io::unpack_gptq_columns(packed_zeros, mc.bits, qzeros);
    const int32_t max = (1 << mc.bits) - 1;
    if (v1)
      for (int32_t& z : zeros.span<int32_t>()) {
        check(z != max, kTag,
              "{}: tensor '{}' holds {} (zero point {} in the v1 convention), outside [0, {}]: a zero point of 0 "
              "cannot be stored minus one (use checkpoint_format gptq_v2)",
              r.weights_file(), qzeros, max, max + 1, max);
        z += 1;
      }

    // g_idx: column k's group; the contiguous k / group is the usual, anything else is act-order.
    Tensor group_index;
    if (r.has(g_idx)) {
      const Tensor g = r.tensor(g_idx, {DType::I32}, Shape{in}, "GPTQ group index [in]").contiguous();
      bool trivial = true;
      const auto gs = g.span<int32_t>();
      for (int64_t k = 0; k < in; ++k) {
        check(gs[size_t(k)] >= 0 && gs[size_t(k)] < groups, kTag,
              "{}: tensor '{}' holds group {} at column {}, outside [0, {})", r.weights_file(), g_idx, gs[size_t(k)], k,
              groups);
        trivial = trivial && gs[size_t(k)] == k / group;
      }
      if (!trivial) group_index = g.clone();
      r.hide(g_idx);
    }
    any_group_index = any_group_index || group_index.defined();

    QuantizedLinear q;
    q.name = m;
    q.input = std::nullopt;
    q.group_index = group_index;
    const Tensor values = io::transposed(io::unpack_gptq_rows(packed, mc.bits, qweight));  // [out, in]
    if (mc.bits == 4) {
      q.weight_spec = group_spec(DType::U4, group);
      q.weight = io::values_to_codes(values, DType::U4, qweight);
      q.weight_scale = io::transposed(scales);
      q.weight_zero_point = io::transposed(zeros);
    } else {
      // 8-bit: codes 0..255 around zero point 128 are octet's symmetric int8 (q - 128).
      for (const int32_t z : zeros.span<int32_t>())
        check(z == 128, kTag,
              "{}: tensor '{}' holds zero point {}: 8-bit GPTQ is read when symmetric (zero point 128), as octet's "
              "int8 weights are",
              r.weights_file(), qzeros, z);
      Tensor shifted = values.clone();
      for (int32_t& v : shifted.span<int32_t>()) v -= 128;
      q.weight = io::values_to_codes(shifted, DType::I8, qweight);
      if (groups == 1 && !group_index.defined()) {
        q.weight_spec = kInt8PerChannelWeights;
        q.weight_scale = scales.reshape({out}).clone();
      } else {
        q.weight_spec = group_spec(DType::I8, group);
        q.weight_scale = io::transposed(scales);
      }
    }
    r.result.config.linears.push_back(std::move(q));
    for (const std::string& t : {qweight, qzeros, scales_name}) r.hide(t);
  }
  for (const std::string& m : r.modules_with(".qzeros"))
    check(r.has(m + ".qweight"), kTag, "{}: tensor '{}.qzeros' has no '{}.qweight'", r.weights_file(), m, m);

  const bool sym = c.get_or<bool>("sym", true), desc_act = c.get_or<bool>("desc_act", false);
  r.result.config.recipe = "gptq";
  r.result.config.recipe_options = {{"bits", std::to_string(base.bits)},
                                    {"group_size", std::to_string(base.group_size)},
                                    {"sym", sym ? "true" : "false"},
                                    {"desc_act", desc_act ? "true" : "false"},
                                    {"checkpoint_format", format}};
  r.result.description =
      fmt::format("GPTQ ({}): {}-bit, group {}, {}{}", format, base.bits,
                  base.group_size == -1 ? std::string("per channel") : std::to_string(base.group_size),
                  sym ? "symmetric" : "asymmetric", any_group_index ? ", act-order g_idx" : "");
}

}  // namespace octet::hf
