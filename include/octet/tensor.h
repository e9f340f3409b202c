// Tensor: a typed n-dimensional array, owning or borrowed.
//
// A Tensor is a cheap handle (shared storage + shape + strides + offset).
// Copies share memory; clone() copies data. Borrowed tensors view memory owned
// elsewhere (an mmapped file, a caller's buffer) and may hold a keep-alive
// reference to it. Strides are in elements; sub-byte types (int4) support only
// contiguous layouts, since an element there has no byte address.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "octet/dtype.h"
#include "octet/error.h"

namespace octet {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for a scalar shape {}).
int64_t shape_numel(const Shape& shape);
// "[2, 3, 4]".
std::string shape_str(const Shape& shape);
// Row-major strides (in elements) of a shape.
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  // Owning tensors. Memory is 64-byte aligned. empty() leaves it uninitialised.
  static Tensor empty(Shape shape, DType dtype);
  static Tensor zeros(Shape shape, DType dtype);
  static Tensor full(Shape shape, float value);  // f32
  // An f32 tensor holding a copy of `values` (numel must match).
  static Tensor from_floats(std::span<const float> values, Shape shape);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape);

  // A borrowed, contiguous view of `data`; `keepalive` (optional) is held as
  // long as any view of this tensor exists.
  static Tensor borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> keepalive = {});
  static Tensor borrow(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> keepalive = {});

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Size of dimension i; negative i counts from the end.
  int64_t dim(int i) const;
  int64_t numel() const { return shape_numel(shape_); }
  // Bytes spanned by the elements (numel * element size, packed types rounded up).
  size_t nbytes() const { return storage_bytes(dtype_, numel()); }
  bool is_contiguous() const;
  // Whether this tensor's memory was allocated by octet (vs borrowed).
  bool owns_memory() const { return owning_; }

  // Typed pointer to the first element; throws if T does not match dtype().
  template <typename T>
  T* data() {
    check_type(DTypeOf<T>::value);
    return reinterpret_cast<T*>(raw_data());
  }
  template <typename T>
  const T* data() const {
    check_type(DTypeOf<T>::value);
    return reinterpret_cast<const T*>(raw_data());
  }
  void* raw_data();
  const void* raw_data() const;
  // Contiguous element access as a span (throws when not contiguous).
  template <typename T>
  std::span<T> span() {
    require_contiguous("span");
    return {data<T>(), static_cast<size_t>(numel())};
  }
  template <typename T>
  std::span<const T> span() const {
    require_contiguous("span");
    return {data<T>(), static_cast<size_t>(numel())};
  }

  // Views (share memory). reshape needs a contiguous tensor; one dim may be -1.
  Tensor reshape(Shape shape) const;
  // Elements [begin, end) of `axis`.
  Tensor slice(int axis, int64_t begin, int64_t end) const;
  // Index `i` of axis 0, dropping that axis.
  Tensor select(int64_t i) const;
  Tensor transpose(int a, int b) const;

  // Copies.
  Tensor contiguous() const;  // self when already contiguous
  Tensor clone() const;
  // Converts between float types (f32/f64/f16/bf16/fp8, through float with
  // round-to-nearest-even) and from integer types to floats.
  Tensor to(DType dtype) const;
  // Copies the elements of `src` (same shape, same dtype) into this tensor.
  void copy_from(const Tensor& src);

  // "f32[2, 3]".
  std::string describe() const;

 private:
  void check_type(DType expected) const;
  void require_contiguous(const char* what) const;

  std::shared_ptr<uint8_t> storage_;
  size_t byte_offset_ = 0;
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
  bool owning_ = false;
};

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape) {
  Tensor t = empty(std::move(shape), DTypeOf<T>::value);
  check(static_cast<int64_t>(values.size()) == t.numel(), "tensor", "from_vector: {} values for shape {}",
        values.size(), shape_str(t.shape()));
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

}  // namespace octet

// A Tensor formats as its describe() ("f32[2, 3]", "undefined"): a check()
// naming a tensor builds that string only when the check fails (an argument
// written as t.describe() was formatted on every call, hundreds of times per
// decode step).
template <>
struct fmt::formatter<octet::Tensor> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const octet::Tensor& t, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(t.describe(), ctx);
  }
};
