// The integer packings of Hugging Face quantized checkpoints, in both
// directions. Values are plain integers (i32 tensors); packed words are the
// checkpoint's i32 (or u8) tensors. Errors are octet::Error tagged
// "hf_checkpoint" naming `what` (the tensor).
//
//   AutoAWQ "gemm" (WQLinear_GEMM): values [rows, cols] -> i32 [rows, cols / 8];
//     word c of a row holds columns 8c..8c+7, nibble i (bits 4i..4i+3) holding
//     column 8c + kAwqOrder[i], kAwqOrder = {0, 2, 4, 6, 1, 3, 5, 7}.
//     qweight packs codes [in, out], qzeros packs zero points [groups, out].
//   GPTQ qweight: values [rows, cols] -> i32 [rows * bits / 32, cols]: word r
//     of a column holds rows r * (32 / bits) + j in bits [j * bits, (j + 1) * bits).
//   GPTQ qzeros: values [rows, cols] -> i32 [rows, cols * bits / 32], packed
//     the same way along the columns (in order, no permutation).
//   Model Optimizer int4 (W4A16_AWQ / W4A8_AWQ): signed codes [out, in] ->
//     u8 [out / 2, in], byte (r, k) = (q[2r, k] & 0xF) | (q[2r + 1, k] << 4).
#pragma once

#include <array>
#include <string_view>

#include "octet/tensor.h"

namespace octet::io {

inline constexpr std::array<int, 8> kAwqOrder = {0, 2, 4, 6, 1, 3, 5, 7};

// Values must lie in [0, 15]; cols a multiple of 8.
Tensor pack_awq_gemm(const Tensor& values, std::string_view what);
Tensor unpack_awq_gemm(const Tensor& packed, std::string_view what);

// bits 4 or 8; values in [0, 2^bits); rows (pack_gptq_rows) or cols
// (pack_gptq_columns) a multiple of 32 / bits.
Tensor pack_gptq_rows(const Tensor& values, int bits, std::string_view what);
Tensor unpack_gptq_rows(const Tensor& packed, int bits, std::string_view what);
Tensor pack_gptq_columns(const Tensor& values, int bits, std::string_view what);
Tensor unpack_gptq_columns(const Tensor& packed, int bits, std::string_view what);

// Values in [-8, 7]; an even number of rows.
Tensor pack_int4_row_pairs(const Tensor& values, std::string_view what);
Tensor unpack_int4_row_pairs(const Tensor& packed, std::string_view what);

// int4 / uint4 / int8 codes of octet's QuantizedLinear (I4, U4 packed; I8) as
// i32 values, and back (dtype I4, U4 or I8; values must fit).
Tensor codes_to_values(const Tensor& codes);
Tensor values_to_codes(const Tensor& values, DType dtype, std::string_view what);

// [rows, cols] -> [cols, rows] for i32 / f32 tensors (a contiguous copy).
Tensor transposed(const Tensor& t);

}  // namespace octet::io
