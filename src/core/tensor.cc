#include "octet/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "octet/number_formats.h"

namespace octet {
namespace {

constexpr size_t kAlignment = 64;

std::shared_ptr<uint8_t> allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (!p) fail("tensor", "out of memory allocating {} bytes", bytes);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

int normalize_axis(int axis, int rank, const char* what) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail("tensor", "{}: axis {} out of range for rank {}", what, axis, rank);
  return a;
}

size_t element_bytes(DType dtype) { return static_cast<size_t>(dtype_info(dtype).bits / 8); }

// Reads element i (in a contiguous buffer) of a non-packed dtype as double.
double load_as_double(const uint8_t* base, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::F32: return reinterpret_cast<const float*>(base)[i];
    case DType::F64: return reinterpret_cast<const double*>(base)[i];
    case DType::F16: return f16_to_float(reinterpret_cast<const uint16_t*>(base)[i]);
    case DType::BF16: return bf16_to_float(reinterpret_cast<const uint16_t*>(base)[i]);
    case DType::F8_E4M3: return fp8_e4m3_to_float(base[i]);
    case DType::F8_E5M2: return fp8_e5m2_to_float(base[i]);
    case DType::I8: return reinterpret_cast<const int8_t*>(base)[i];
    case DType::U8: return base[i];
    case DType::Bool: return base[i] != 0;
    case DType::I16: return reinterpret_cast<const int16_t*>(base)[i];
    case DType::I32: return reinterpret_cast<const int32_t*>(base)[i];
    case DType::I64: return static_cast<double>(reinterpret_cast<const int64_t*>(base)[i]);
    case DType::I4: {
      const uint8_t b = base[i / 2];
      return (i & 1) ? unpack_int4_hi(b) : unpack_int4_lo(b);
    }
    case DType::U4: {
      const uint8_t b = base[i / 2];
      return (i & 1) ? unpack_uint4_hi(b) : unpack_uint4_lo(b);
    }
  }
  fail("tensor", "unsupported dtype");
}

void store_float(uint8_t* base, DType dtype, int64_t i, double v) {
  const float f = static_cast<float>(v);
  switch (dtype) {
    case DType::F32: reinterpret_cast<float*>(base)[i] = f; return;
    case DType::F64: reinterpret_cast<double*>(base)[i] = v; return;
    case DType::F16: reinterpret_cast<uint16_t*>(base)[i] = float_to_f16(f); return;
    case DType::BF16: reinterpret_cast<uint16_t*>(base)[i] = float_to_bf16(f); return;
    case DType::F8_E4M3: base[i] = float_to_fp8_e4m3(f); return;
    case DType::F8_E5M2: base[i] = float_to_fp8_e5m2(f); return;
    default: fail("tensor", "to(): target dtype {} is not a float type", dtype_name(dtype));
  }
}

// One row (the last dimension) at a time: the offsets are computed once per row, and the row is
// a loop of fixed-size copies (plain moves), not a variable-size memcpy call per element. A
// per-element loop made GPT-2's Conv1D transposes (every weight) slow enough to pass the fuzzers'
// 2 s budget under ASan.
template <size_t kBytes>
void copy_strided(Tensor& dst_tensor, const Tensor& src) {
  const Shape &shape = dst_tensor.shape(), &dst_strides = dst_tensor.strides(), &src_strides = src.strides();
  const int r = dst_tensor.rank();
  const int64_t row = shape[r - 1], src_step = src_strides[r - 1], dst_step = dst_strides[r - 1];
  const int64_t rows = dst_tensor.numel() / row;
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  auto* dst_base = static_cast<uint8_t*>(dst_tensor.raw_data());
  const auto* src_base = static_cast<const uint8_t*>(src.raw_data());
  const int64_t bytes = static_cast<int64_t>(kBytes);
  for (int64_t k = 0; k < rows; ++k) {
    int64_t so = 0, dof = 0;
    for (int d = 0; d < r - 1; ++d) {
      so += idx[d] * src_strides[d];
      dof += idx[d] * dst_strides[d];
    }
    uint8_t* dst = dst_base + dof * bytes;
    const uint8_t* from = src_base + so * bytes;
    for (int64_t j = 0; j < row; ++j) std::memcpy(dst + j * dst_step * bytes, from + j * src_step * bytes, kBytes);
    for (int d = r - 2; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

int64_t shape_numel(const Shape& shape) {
  // The product of the non-zero dimensions must fit in int64 even when a zero makes the tensor
  // empty: the strides of the other dimensions are those products (a GGUF tensor with dims
  // {0, 2^34, 2^30} overflowed here, found by fuzz_gguf).
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) fail("tensor", "negative dimension in shape {}", shape_str(shape));
    if (d == 0) {
      empty = true;
    } else if (__builtin_mul_overflow(n, d, &n)) {
      fail("tensor", "shape {} has more elements than a 64-bit count holds", shape_str(shape));
    }
  }
  return empty ? 0 : n;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Shape contiguous_strides(const Shape& shape) {
  (void)shape_numel(shape);  // the checks: no negative dimension, no product past int64
  Shape s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

Tensor Tensor::empty(Shape shape, DType dtype) {
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  t.storage_ = allocate(t.nbytes());
  t.owning_ = true;
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  std::memset(t.storage_.get(), 0, t.nbytes());
  return t;
}

Tensor Tensor::full(Shape shape, float value) {
  Tensor t = empty(std::move(shape), DType::F32);
  std::fill_n(t.data<float>(), t.numel(), value);
  return t;
}

Tensor Tensor::from_floats(std::span<const float> values, Shape shape) {
  Tensor t = empty(std::move(shape), DType::F32);
  check(static_cast<int64_t>(values.size()) == t.numel(), "tensor", "from_floats: {} values for shape {}",
        values.size(), shape_str(t.shape()));
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Tensor::borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> keepalive) {
  check(data != nullptr || shape_numel(shape) == 0, "tensor", "borrow: null data for shape {}", shape_str(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  // Aliasing constructor: shares ownership of keepalive, points at data.
  t.storage_ = std::shared_ptr<uint8_t>(std::move(keepalive), static_cast<uint8_t*>(data));
  if (!t.storage_) {
    // No keep-alive and a null-owner aliasing pointer compares equal to nullptr
    // only when data is null; give empty borrowed tensors a valid handle.
    static uint8_t empty_byte = 0;
    t.storage_ = std::shared_ptr<uint8_t>(std::shared_ptr<uint8_t>{}, data ? static_cast<uint8_t*>(data) : &empty_byte);
  }
  t.owning_ = false;
  return t;
}

Tensor Tensor::borrow(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> keepalive) {
  return borrow(const_cast<void*>(data), std::move(shape), dtype, std::move(keepalive));
}

int64_t Tensor::dim(int i) const { return shape_[normalize_axis(i, rank(), "dim")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() {
  check(defined(), "tensor", "access to an undefined tensor");
  return storage_.get() + byte_offset_;
}

const void* Tensor::raw_data() const {
  check(defined(), "tensor", "access to an undefined tensor");
  return storage_.get() + byte_offset_;
}

void Tensor::check_type(DType expected) const {
  if (dtype_ != expected)
    fail("tensor", "element type mismatch: tensor is {} but {} was requested", dtype_name(dtype_),
         dtype_name(expected));
}

void Tensor::require_contiguous(const char* what) const {
  if (!is_contiguous()) fail("tensor", "{} needs a contiguous tensor, got strides {}", what, shape_str(strides_));
}

Tensor Tensor::reshape(Shape shape) const {
  require_contiguous("reshape");
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail("tensor", "reshape: more than one -1 in {}", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      fail("tensor", "reshape: cannot infer -1 for {} from {}", shape_str(shape), shape_str(shape_));
    shape[infer] = numel() / known;
  }
  if (shape_numel(shape) != numel())
    fail("tensor", "reshape: {} has {} elements, {} has {}", shape_str(shape_), numel(), shape_str(shape),
         shape_numel(shape));
  Tensor t = *this;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(int axis, int64_t begin, int64_t end) const {
  const int a = normalize_axis(axis, rank(), "slice");
  if (begin < 0 || end < begin || end > shape_[a])
    fail("tensor", "slice [{}, {}) out of range for axis {} of size {}", begin, end, a, shape_[a]);
  Tensor t = *this;
  const int64_t elem_offset = begin * strides_[a];
  if (dtype_info(dtype_).is_packed) {
    if (!is_contiguous() || (a != 0 && begin != 0) || elem_offset % 2 != 0)
      fail("tensor", "slice of packed {} must start on a whole byte of a contiguous tensor", dtype_name(dtype_));
    t.byte_offset_ += static_cast<size_t>(elem_offset / 2);
  } else {
    t.byte_offset_ += static_cast<size_t>(elem_offset) * element_bytes(dtype_);
  }
  t.shape_[a] = end - begin;
  return t;
}

Tensor Tensor::select(int64_t i) const {
  check(rank() >= 1, "tensor", "select on a scalar");
  Tensor t = slice(0, i, i + 1);
  t.shape_.erase(t.shape_.begin());
  t.strides_.erase(t.strides_.begin());
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  check(!dtype_info(dtype_).is_packed, "tensor", "transpose of packed {}", dtype_name(dtype_));
  const int x = normalize_axis(a, rank(), "transpose");
  const int y = normalize_axis(b, rank(), "transpose");
  Tensor t = *this;
  std::swap(t.shape_[x], t.shape_[y]);
  std::swap(t.strides_[x], t.strides_[y]);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  check(src.shape_ == shape_, "tensor", "copy_from: shape {} into {}", shape_str(src.shape_), shape_str(shape_));
  check(src.dtype_ == dtype_, "tensor", "copy_from: dtype {} into {}", dtype_name(src.dtype_), dtype_name(dtype_));
  if (is_contiguous() && src.is_contiguous()) {
    std::memmove(raw_data(), src.raw_data(), nbytes());
    return;
  }
  check(!dtype_info(dtype_).is_packed, "tensor", "strided copy of packed {}", dtype_name(dtype_));
  const int64_t n = numel();
  if (n == 0) return;
  const size_t bytes = element_bytes(dtype_);
  if (bytes == 1) return copy_strided<1>(*this, src);
  if (bytes == 2) return copy_strided<2>(*this, src);
  if (bytes == 4) return copy_strided<4>(*this, src);
  if (bytes == 8) return copy_strided<8>(*this, src);
  fail("tensor", "copy_from: no strided copy of {}-byte elements", bytes);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return clone();
  check(dtype_info(dtype).is_float, "tensor", "to(): conversion from {} to {} is not supported", dtype_name(dtype_),
        dtype_name(dtype));
  const Tensor src = contiguous();
  Tensor out = empty(shape_, dtype);
  const auto* sb = static_cast<const uint8_t*>(src.raw_data());
  auto* db = static_cast<uint8_t*>(out.raw_data());
  const int64_t n = numel();
  if (dtype_ == DType::F32 && dtype == DType::F16) {
    convert_f32_to_f16({reinterpret_cast<const float*>(sb), size_t(n)}, {reinterpret_cast<uint16_t*>(db), size_t(n)});
  } else if (dtype_ == DType::F16 && dtype == DType::F32) {
    convert_f16_to_f32({reinterpret_cast<const uint16_t*>(sb), size_t(n)}, {reinterpret_cast<float*>(db), size_t(n)});
  } else if (dtype_ == DType::F32 && dtype == DType::BF16) {
    convert_f32_to_bf16({reinterpret_cast<const float*>(sb), size_t(n)}, {reinterpret_cast<uint16_t*>(db), size_t(n)});
  } else if (dtype_ == DType::BF16 && dtype == DType::F32) {
    convert_bf16_to_f32({reinterpret_cast<const uint16_t*>(sb), size_t(n)}, {reinterpret_cast<float*>(db), size_t(n)});
  } else {
    for (int64_t i = 0; i < n; ++i) store_float(db, dtype, i, load_as_double(sb, dtype_, i));
  }
  return out;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return fmt::format("{}{}", dtype_name(dtype_), shape_str(shape_));
}

}  // namespace octet
