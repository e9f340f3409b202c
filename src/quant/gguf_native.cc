// GGUF Linears on octet's native weight-only kernels (kernels/wo_gemv.h),
// the weights kept packed, never dequantized to f32.
//
// Q4_0 / Q8_0: a ggml block is 32 values with one f16 scale d: Q4_0 stores u
// in [0, 15] for the value (u - 8) * d, Q8_0 stores q in [-128, 127] for
// q * d. That is exactly int4:sym:group(32) with codes u - 8, and
// int8:sym:group(32), so each such tensor becomes a weight-only
// QuantizedLinear (f16 scales widened exactly) and gets the kernel the
// generic factory picks for that format. The arithmetic (activations in int8
// blocks of 32, an exact integer dot per block) is llama.cpp's own for these
// types (its Q8_0 activations).
//
// Q4_K / Q6_K (super-blocks of 256) have no QuantizedLinear spelling, so they
// are packed here for the kernel's two k-quant forms:
//   Q4_K: 8 sub-blocks of 32, value d * sc * u - dmin * m (6-bit sc and m):
//     the scale-min form, which keeps sc and m per 32 inputs and d, dmin per
//     256 as the file does (4.75 bits per weight with the codes);
//   Q6_K: 16 sub-blocks of 16, value d * sc * (q - 32) (int8 sc): 8-bit codes
//     q - 32 with scale d * sc per 16 inputs.
// Both products of an f16 and a 6 / 8-bit integer are exact in f32, so the
// kernel's weights are ggml's dequantized values (dequantize_wo_panel equals
// dequantize_row_q4_K / _q6_K). llama.cpp quantizes the activations per 256
// (Q8_K) for these types; octet keeps its blocks of 32 (a finer grid).
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/page_advice.h"
#include "io/ggml_quants.h"
#include "io/gguf_llama_names.h"
#include "octet/error.h"
#include "octet/gguf_model.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"
#include "quant/weight_only_kernel.h"

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
  return q;
}

// Checks that `resident` holds its n rows of k / block_values blocks of block_bytes.
void check_block_bytes(const GgufResidentLinear& resident, int64_t block_values, size_t block_bytes) {
  const int64_t n = resident.shape[0], k = resident.shape[1];
  check(k % block_values == 0 && resident.blocks.nbytes() == size_t(n * (k / block_values)) * block_bytes, "gguf",
        "tensor '{}' holds {} bytes, not {} rows of {} values in blocks of {}", resident.tensor,
        resident.blocks.nbytes(), n, k, block_values);
}

// The stored super-block `b` of output `row` (q / k rows come from where llama.cpp moved them).
template <class Block>
Block super_block(const GgufResidentLinear& resident, int64_t row, int64_t b) {
  const int64_t n = resident.shape[0], blocks = resident.shape[1] / io::kQK_K;
  const int64_t src_row = gguf_names::gguf_row_of_hf_row(row, n, resident.permuted_heads);
  Block block;
  std::memcpy(&block, resident.blocks.data<uint8_t>() + (src_row * blocks + b) * sizeof(Block), sizeof block);
  return block;
}

kernels::PackedWoWeights pack_q4_k(const GgufResidentLinear& resident) {
  check_block_bytes(resident, io::kQK_K, sizeof(io::BlockQ4_K));
  const int64_t n = resident.shape[0], k = resident.shape[1], blocks = k / io::kQK_K, subs = k / kBlock;
  std::vector<uint8_t> codes(size_t(n * k)), sc(size_t(n * subs)), mn(sc.size());
  std::vector<float> d(size_t(n * blocks)), dmin(d.size());
  for (int64_t row = 0; row < n; ++row)
    for (int64_t b = 0; b < blocks; ++b) {
      const auto block = super_block<io::BlockQ4_K>(resident, row, b);
      d[size_t(row * blocks + b)] = f16_to_float(block.d);
      dmin[size_t(row * blocks + b)] = f16_to_float(block.dmin);
      for (int j = 0; j < 8; ++j) {
        const int64_t sub = row * subs + b * 8 + j;
        io::get_scale_min_k4(j, block.scales, &sc[size_t(sub)], &mn[size_t(sub)]);
        // Sub-blocks 2p and 2p + 1 are the low and high nibbles of qs[32p .. 32p + 31].
        const uint8_t* qs = block.qs + (j / 2) * 32;
        uint8_t* out = codes.data() + row * k + b * io::kQK_K + j * 32;
        for (int l = 0; l < 32; ++l) out[l] = j % 2 == 0 ? qs[l] & 0x0F : qs[l] >> 4;
      }
    }
  return kernels::pack_wo_weights_scale_min(codes.data(), n, k, sc.data(), mn.data(), d.data(), dmin.data());
}

kernels::PackedWoWeights pack_q6_k(const GgufResidentLinear& resident) {
  check_block_bytes(resident, io::kQK_K, sizeof(io::BlockQ6_K));
  constexpr int64_t kSub = 16;
  const int64_t n = resident.shape[0], k = resident.shape[1], blocks = k / io::kQK_K, subs = k / kSub;
  std::vector<int8_t> codes(size_t(n * k));
  std::vector<float> scales(size_t(n * subs));
  for (int64_t row = 0; row < n; ++row)
    for (int64_t b = 0; b < blocks; ++b) {
      const auto block = super_block<io::BlockQ6_K>(resident, row, b);
      const float d = f16_to_float(block.d);
      for (int j = 0; j < io::kQK_K / kSub; ++j) scales[size_t(row * subs + b * 16 + j)] = d * float(block.scales[j]);
      // Each half (128 values): value l + 32 c takes nibble c / 2 of ql[l + 32 (c % 2)] and bits 2c, 2c + 1 of qh[l].
      int8_t* out = codes.data() + row * k + b * io::kQK_K;
      for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = block.ql + half * 64;
        const uint8_t* qh = block.qh + half * 32;
        for (int c = 0; c < 4; ++c)
          for (int l = 0; l < 32; ++l) {
            const int low = (ql[l + 32 * (c % 2)] >> (4 * (c / 2))) & 0x0F;
            const int high = (qh[l] >> (2 * c)) & 3;
            out[half * 128 + c * 32 + l] = static_cast<int8_t>((low | high << 4) - 32);
          }
      }
    }
  return kernels::pack_wo_weights(codes.data(), n, k, kSub, 8, false, scales.data(), nullptr);
}

// The native kernel of one resident Linear, by its block type.
std::shared_ptr<const nn::LinearKernel> kernel_from_blocks(const GgufResidentLinear& resident, const Tensor& bias) {
  switch (resident.type) {
    case GgmlType::Q4_0:
    case GgmlType::Q8_0:
      return make_quantized_linear_kernel(linear_from_blocks(resident), bias, QuantExecution::Native);
    case GgmlType::Q4_K:
      return make_packed_weight_only_kernel(pack_q4_k(resident), bias,
                                            "GGUF Q4_K (scale-min, groups of 32) packed, int8 per-32 activations (native)");
    case GgmlType::Q6_K:
      return make_packed_weight_only_kernel(pack_q6_k(resident), bias,
                                            "GGUF Q6_K (int8 codes, groups of 16) packed, int8 per-32 activations (native)");
    default: break;
  }
  fail("gguf", "tensor '{}': no native kernel for its block type", resident.tensor);
}

}  // namespace

std::unique_ptr<Model> load_gguf_model_native(const std::filesystem::path& path, const LoadOptions& options) {
  if (options.float_weights) return load_gguf_model(path, options);
  std::vector<GgufResidentLinear> resident;
  auto model = load_gguf_model(path, options, {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K},
                               &resident);
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
    auto kernel = kernel_from_blocks(r, l.bias());
    page_out_if_borrowed(r.blocks);  // the codes are copied: the file's pages of them leave RSS
    r.blocks = Tensor();              // the last view of this tensor's blocks
    l.set_kernel(std::move(kernel));
  });
  return model;
}

}  // namespace octet
