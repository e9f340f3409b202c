#include "io/hf_packing.h"

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet::io {
namespace {

void check_matrix(const Tensor& t, DType dtype, std::string_view what) {
  check(t.defined() && t.rank() == 2 && t.dtype() == dtype, kHfCheckpointTag,
        "tensor '{}' must be a 2-d {} tensor, got {}", what, dtype_name(dtype), t.defined() ? t.describe() : "nothing");
}

void check_range(int32_t v, int32_t lo, int32_t hi, std::string_view what) {
  check(v >= lo && v <= hi, kHfCheckpointTag, "tensor '{}': value {} does not fit [{}, {}]", what, v, lo, hi);
}

}  // namespace

Tensor pack_awq_gemm(const Tensor& values_in, std::string_view what) {
  const Tensor values = values_in.contiguous();
  check_matrix(values, DType::I32, what);
  const int64_t rows = values.dim(0), cols = values.dim(1);
  check(cols % 8 == 0, kHfCheckpointTag, "tensor '{}': {} columns is not a multiple of 8", what, cols);
  Tensor packed = Tensor::zeros({rows, cols / 8}, DType::I32);
  const int32_t* v = values.data<int32_t>();
  uint32_t* p = reinterpret_cast<uint32_t*>(packed.data<int32_t>());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols / 8; ++c) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i) {
        const int32_t x = v[r * cols + c * 8 + kAwqOrder[size_t(i)]];
        check_range(x, 0, 15, what);
        word |= uint32_t(x) << (4 * i);
      }
      p[r * (cols / 8) + c] = word;
    }
  return packed;
}

Tensor unpack_awq_gemm(const Tensor& packed_in, std::string_view what) {
  const Tensor packed = packed_in.contiguous();
  check_matrix(packed, DType::I32, what);
  const int64_t rows = packed.dim(0), words = packed.dim(1);
  Tensor values = Tensor::empty({rows, words * 8}, DType::I32);
  const uint32_t* p = reinterpret_cast<const uint32_t*>(packed.data<int32_t>());
  int32_t* v = values.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < words; ++c) {
      const uint32_t word = p[r * words + c];
      for (int i = 0; i < 8; ++i) v[r * words * 8 + c * 8 + kAwqOrder[size_t(i)]] = int32_t((word >> (4 * i)) & 0xF);
    }
  return values;
}

namespace {

int per_word(int bits, std::string_view what) {
  check(bits == 4 || bits == 8, kHfCheckpointTag, "tensor '{}': {} bits cannot be packed (4 or 8)", what, bits);
  return 32 / bits;
}

}  // namespace

Tensor pack_gptq_rows(const Tensor& values_in, int bits, std::string_view what) {
  const int n = per_word(bits, what);
  const Tensor values = values_in.contiguous();
  check_matrix(values, DType::I32, what);
  const int64_t rows = values.dim(0), cols = values.dim(1);
  check(rows % n == 0, kHfCheckpointTag, "tensor '{}': {} rows is not a multiple of {}", what, rows, n);
  Tensor packed = Tensor::zeros({rows / n, cols}, DType::I32);
  const int32_t* v = values.data<int32_t>();
  uint32_t* p = reinterpret_cast<uint32_t*>(packed.data<int32_t>());
  const int32_t max = (1 << bits) - 1;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int32_t x = v[r * cols + c];
      check_range(x, 0, max, what);
      p[(r / n) * cols + c] |= uint32_t(x) << (bits * (r % n));
    }
  return packed;
}

Tensor unpack_gptq_rows(const Tensor& packed_in, int bits, std::string_view what) {
  const int n = per_word(bits, what);
  const Tensor packed = packed_in.contiguous();
  check_matrix(packed, DType::I32, what);
  const int64_t words = packed.dim(0), cols = packed.dim(1);
  Tensor values = Tensor::empty({words * n, cols}, DType::I32);
  const uint32_t* p = reinterpret_cast<const uint32_t*>(packed.data<int32_t>());
  int32_t* v = values.data<int32_t>();
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t r = 0; r < words * n; ++r)
    for (int64_t c = 0; c < cols; ++c) v[r * cols + c] = int32_t((p[(r / n) * cols + c] >> (bits * (r % n))) & mask);
  return values;
}

Tensor pack_gptq_columns(const Tensor& values, int bits, std::string_view what) {
  return transposed(pack_gptq_rows(transposed(values), bits, what));
}

Tensor unpack_gptq_columns(const Tensor& packed, int bits, std::string_view what) {
  check_matrix(packed, DType::I32, what);
  return transposed(unpack_gptq_rows(transposed(packed), bits, what));
}

Tensor pack_int4_row_pairs(const Tensor& values_in, std::string_view what) {
  const Tensor values = values_in.contiguous();
  check_matrix(values, DType::I32, what);
  const int64_t rows = values.dim(0), cols = values.dim(1);
  check(rows % 2 == 0, kHfCheckpointTag, "tensor '{}': {} rows is not even", what, rows);
  Tensor packed = Tensor::empty({rows / 2, cols}, DType::U8);
  const int32_t* v = values.data<int32_t>();
  uint8_t* p = packed.data<uint8_t>();
  for (int64_t r = 0; r < rows / 2; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int32_t lo = v[2 * r * cols + c], hi = v[(2 * r + 1) * cols + c];
      check_range(lo, -8, 7, what);
      check_range(hi, -8, 7, what);
      p[r * cols + c] = pack_int4(lo, hi);
    }
  return packed;
}

Tensor unpack_int4_row_pairs(const Tensor& packed_in, std::string_view what) {
  const Tensor packed = packed_in.contiguous();
  check(packed.defined() && packed.rank() == 2 && (packed.dtype() == DType::U8 || packed.dtype() == DType::I8),
        kHfCheckpointTag, "tensor '{}' must be a 2-d u8 tensor of packed int4, got {}", what,
        packed.defined() ? packed.describe() : "nothing");
  const int64_t rows = packed.dim(0), cols = packed.dim(1);
  Tensor values = Tensor::empty({rows * 2, cols}, DType::I32);
  const auto* p = static_cast<const uint8_t*>(packed.raw_data());
  int32_t* v = values.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      v[2 * r * cols + c] = unpack_int4_lo(p[r * cols + c]);
      v[(2 * r + 1) * cols + c] = unpack_int4_hi(p[r * cols + c]);
    }
  return values;
}

Tensor codes_to_values(const Tensor& codes_in) {
  const Tensor codes = codes_in.contiguous();
  check(codes.defined() && codes.rank() == 2, kHfCheckpointTag, "codes must be a 2-d tensor");
  Tensor values = Tensor::empty(codes.shape(), DType::I32);
  int32_t* v = values.data<int32_t>();
  const int64_t n = codes.numel();
  const auto* bytes = static_cast<const uint8_t*>(codes.raw_data());
  switch (codes.dtype()) {
    case DType::I8:
      for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int8_t>(bytes[i]);
      break;
    case DType::I4:
      for (int64_t i = 0; i < n; ++i) v[i] = i % 2 ? unpack_int4_hi(bytes[i / 2]) : unpack_int4_lo(bytes[i / 2]);
      break;
    case DType::U4:
      for (int64_t i = 0; i < n; ++i) v[i] = i % 2 ? unpack_uint4_hi(bytes[i / 2]) : unpack_uint4_lo(bytes[i / 2]);
      break;
    default:
      fail(kHfCheckpointTag, "codes of type {} are not integers octet packs", dtype_name(codes.dtype()));
  }
  return values;
}

Tensor values_to_codes(const Tensor& values_in, DType dtype, std::string_view what) {
  const Tensor values = values_in.contiguous();
  check_matrix(values, DType::I32, what);
  const int64_t n = values.numel();
  const int32_t* v = values.data<int32_t>();
  Tensor codes = Tensor::empty(values.shape(), dtype);
  auto* bytes = static_cast<uint8_t*>(codes.raw_data());
  switch (dtype) {
    case DType::I8:
      for (int64_t i = 0; i < n; ++i) {
        check_range(v[i], -128, 127, what);
        bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(v[i]));
      }
      break;
    case DType::I4:
    case DType::U4: {
      const int32_t lo = dtype == DType::I4 ? -8 : 0, hi = dtype == DType::I4 ? 7 : 15;
      for (int64_t i = 0; i < n; ++i) check_range(v[i], lo, hi, what);
      for (int64_t i = 0; i < n; i += 2) bytes[i / 2] = pack_int4(v[i], i + 1 < n ? v[i + 1] : 0);
      break;
    }
    default:
      fail(kHfCheckpointTag, "cannot store codes as {}", dtype_name(dtype));
  }
  return codes;
}

Tensor transposed(const Tensor& t) {
  check(t.defined() && t.rank() == 2, kHfCheckpointTag, "transposed() takes a 2-d tensor");
  return t.transpose(0, 1).contiguous();
}

}  // namespace octet::io
