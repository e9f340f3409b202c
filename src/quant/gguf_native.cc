// GGUF Q4_0 / Q8_0 Linears on octet's native weight-only kernels. A ggml
// block is 32 values with one f16 scale d: Q4_0 stores u in [0, 15] for the
// value (u - 8) * d, Q8_0 stores q in [-128, 127] for q * d. That is exactly
// int4:sym:group(32) with codes u - 8, and int8:sym:group(32), so each such
// tensor becomes a weight-only QuantizedLinear (f16 scales widened exactly)
// and gets the kernel the generic factory picks for that format: the weights
// stay packed, never dequantized to f32. The arithmetic (activations in int8
// blocks of 32, an exact integer dot per block) is llama.cpp's own for these
// types (its Q8_0 activations).
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/page_advice.h"
#include "io/gguf_llama_names.h"
#include "octet/error.h"
#include "octet/gguf_model.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"

namespace octet {
namespace {

constexpr int64_t kBlock = 32;

QuantizedLinear linear_from_blocks(const GgufResidentLinear& resident) {
  const bool four = resident.type == GgmlType::Q4_0;
  check(four || resident.type == GgmlType::Q8_0, "gguf", "tensor '{}' is not Q4_0 or Q8_0", resident.tensor);
  const int64_t n = resident.shape[0], k = resident.shape[1], blocks = k / kBlock;
  const int64_t block_bytes = four ? 2 + kBlock / 2 : 2 + kBlock;
  const Tensor& raw = resident.blocks;
  check(k % kBlock == 0 && raw.nbytes() == size_t(n * blocks * block_bytes), "gguf",
        "tensor '{}' holds {} bytes, not {} rows of {} blocks", resident.tensor, raw.nbytes(), n, blocks);
  QuantizedLinear q;
  q.name = resident.linear;
  q.input = std::nullopt;  // weight-only
  q.weight_spec = parse_quant_spec(four ? "int4:sym:group(32)" : "int8:sym:group(32)");
  q.weight = Tensor::empty({n, k}, four ? DType::I4 : DType::I8);
  q.weight_scale = Tensor::empty({n, blocks}, DType::F32);
  const uint8_t* bytes = raw.data<uint8_t>();
  auto* codes = static_cast<uint8_t*>(q.weight.raw_data());
  float* scales = q.weight_scale.data<float>();
  for (int64_t row = 0; row < n; ++row) {
    // Codes and scales of a q/k row come from the row llama.cpp moved it to (as the f32 path un-permutes).
    const int64_t src_row = gguf_names::gguf_row_of_hf_row(row, n, resident.permuted_heads);
    const uint8_t* src = bytes + src_row * blocks * block_bytes;
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = src + b * block_bytes;
      uint16_t d = 0;
      std::memcpy(&d, block, sizeof d);
      scales[row * blocks + b] = f16_to_float(d);
      if (!four) {
        std::memcpy(codes + row * k + b * kBlock, block + 2, kBlock);
        continue;
      }
      // Q4_0: byte j holds value j (low nibble) and value j + 16 (high); octet's int4 packs values 2m, 2m + 1.
      int values[kBlock];
      for (int64_t j = 0; j < kBlock / 2; ++j) {
        values[j] = (block[2 + j] & 0x0F) - 8;
        values[j + kBlock / 2] = (block[2 + j] >> 4) - 8;
      }
      uint8_t* out = codes + (row * k + b * kBlock) / 2;
      for (int64_t m = 0; m < kBlock / 2; ++m) out[m] = pack_int4(values[2 * m], values[2 * m + 1]);
    }
  }
  page_out_if_borrowed(raw);  // the codes are copied: the file's pages of them leave RSS
  return q;
}

}  // namespace

std::unique_ptr<Model> load_gguf_model_native(const std::filesystem::path& path, const LoadOptions& options) {
  if (options.float_weights) return load_gguf_model(path, options);
  std::vector<GgufResidentLinear> resident;
  auto model = load_gguf_model(path, options, {GgmlType::Q4_0, GgmlType::Q8_0}, &resident);
  std::map<std::string, GgufResidentLinear*> by_name;
  for (GgufResidentLinear& r : resident) by_name.emplace(r.linear, &r);
  // One Linear at a time: its unpacked blocks are freed once packed, so loading never holds two copies.
  model->visit_linears([&](nn::Linear& l) {
    const auto it = by_name.find(l.name());
    if (it == by_name.end()) return;
    GgufResidentLinear& r = *it->second;
    // The builder did not read a kernel-resident weight, so its shape is checked here.
    check(r.shape == Shape{l.out_features(), l.in_features()}, "gguf",
          "{}: tensor '{}' has shape {}, the hyper-parameters expect {}", path.string(), r.tensor, shape_str(r.shape),
          shape_str(Shape{l.out_features(), l.in_features()}));
    const QuantizedLinear q = linear_from_blocks(r);
    r.blocks = Tensor();  // the last view of this tensor's blocks
    l.set_kernel(make_quantized_linear_kernel(q, l.bias(), QuantExecution::Native));
  });
  return model;
}

}  // namespace octet
