#include "octet/tensor.h"

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(Tensor, OwningContiguous) {
  Tensor t = Tensor::zeros({2, 3}, DType::F32);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(t.owns_memory());
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.data<float>()[5], 0.0f);
  EXPECT_THROW(t.data<int8_t>(), Error);
}

TEST(Tensor, ViewsShareMemory) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_FALSE(tt.is_contiguous());
  Tensor c = tt.contiguous();
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  const float expected[] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(c.data<float>()[i], expected[i]);
  Tensor row = t.select(1);
  EXPECT_EQ(row.shape(), (Shape{3}));
  EXPECT_EQ(row.data<float>()[0], 3.0f);
  row.data<float>()[0] = 42;
  EXPECT_EQ(t.data<float>()[3], 42.0f);
  Tensor col = t.slice(1, 1, 3);
  EXPECT_EQ(col.contiguous().span<float>()[2], 4.0f);
  EXPECT_EQ(t.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_THROW(t.reshape({4, -1}), Error);
  EXPECT_THROW(tt.reshape({6}), Error);
  EXPECT_THROW(t.slice(0, 1, 3), Error);
}

TEST(Tensor, BorrowKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<int32_t>>(std::vector<int32_t>{7, 8, 9});
  Tensor t = Tensor::borrow(owner->data(), {3}, DType::I32, owner);
  std::weak_ptr<std::vector<int32_t>> weak = owner;
  owner.reset();
  EXPECT_FALSE(weak.expired());
  EXPECT_FALSE(t.owns_memory());
  EXPECT_EQ(t.data<int32_t>()[2], 9);
  t = Tensor();
  EXPECT_TRUE(weak.expired());
}

TEST(Tensor, PackedInt4) {
  Tensor t = Tensor::zeros({4, 3}, DType::I4);
  EXPECT_EQ(t.nbytes(), 6u);
  EXPECT_THROW(t.transpose(0, 1), Error);
  EXPECT_NO_THROW(t.slice(0, 2, 4));
  EXPECT_THROW(t.slice(0, 1, 2), Error);  // starts mid-byte
}

TEST(Tensor, ConvertsFloatTypes) {
  Tensor t = Tensor::from_vector<float>({1.0f, -2.5f, 65504.0f, 1e-8f}, {4});
  Tensor h = t.to(DType::F16).to(DType::F32);
  EXPECT_EQ(h.data<float>()[1], -2.5f);
  EXPECT_EQ(h.data<float>()[2], 65504.0f);
  EXPECT_EQ(h.data<float>()[3], 0.0f);  // below half the smallest f16 subnormal
  Tensor i = Tensor::from_vector<int8_t>({-127, 5}, {2});
  EXPECT_EQ(i.to(DType::F32).data<float>()[0], -127.0f);
  EXPECT_THROW(t.to(DType::I8), Error);
}

TEST(DTypeTable, NamesRoundTrip) {
  for (int i = 0; i < kDTypeCount; ++i) {
    const auto d = static_cast<DType>(i);
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  }
  EXPECT_EQ(parse_dtype("F8_E4M3"), DType::F8_E4M3);
  EXPECT_EQ(parse_dtype("BOOL"), DType::Bool);
  EXPECT_THROW(parse_dtype("F13"), Error);
  EXPECT_EQ(storage_bytes(DType::I4, 5), 3u);
}

// A Tensor formats as describe(), so checks can name it without building the string when they pass.
TEST(TensorFormat, FormatsAsItsDescription) {
  const Tensor t = Tensor::zeros({2, 3}, DType::F32);
  EXPECT_EQ(fmt::format("{}", t), t.describe());
  EXPECT_EQ(fmt::format("{}", Tensor()), "undefined");
  const Tensor codes = Tensor::zeros({4}, DType::I8);
  EXPECT_EQ(fmt::format("[{:>12}]", codes), "[" + fmt::format("{:>12}", codes.describe()) + "]");  // specs apply
  try {
    check(false, "test", "got {}", t);
    FAIL() << "check(false) returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.detail(), "got " + t.describe());
  }
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// A zero dimension makes a tensor empty, but its strides are the products of the other
// dimensions: shape_numel multiplied {2^30, 2^34, 0} past int64 (UBSan in fuzz_gguf, a GGUF
// tensor with dims {0, 2^34, 2^30}). Now every product is checked, zero or not.
TEST(TensorShapes, ElementCountsPastInt64AreErrors) {
  EXPECT_EQ(shape_numel({0, 5}), 0);
  EXPECT_EQ(shape_numel({int64_t{1} << 31, int64_t{1} << 31}), int64_t{1} << 62);
  for (const Shape& shape : {Shape{int64_t{1} << 32, int64_t{1} << 32}, Shape{int64_t{1} << 30, int64_t{1} << 34, 0},
                             Shape{0, int64_t{1} << 34, int64_t{1} << 30}}) {
    try {
      (void)shape_numel(shape);
      ADD_FAILURE() << shape_str(shape) << " was counted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("more elements than a 64-bit count holds"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)contiguous_strides(shape), Error) << shape_str(shape);
    EXPECT_THROW((void)Tensor::empty(shape, DType::F32), Error) << shape_str(shape);
  }
  EXPECT_EQ(contiguous_strides({0, 3, 2}), (Shape{6, 2, 1}));
}

// storage_bytes multiplied elements by bits without a check: 2^62 f32 values wrapped to 0 bytes,
// and Tensor::empty handed back a 64-byte buffer for them.
TEST(TensorShapes, ByteCountsPastSizeTAreErrors) {
  EXPECT_EQ(storage_bytes(DType::F32, int64_t{1} << 40), size_t{1} << 42);
  EXPECT_THROW((void)storage_bytes(DType::F32, int64_t{1} << 62), Error);
  EXPECT_THROW((void)storage_bytes(DType::F64, int64_t{1} << 61), Error);
  EXPECT_THROW((void)Tensor::empty({int64_t{1} << 62}, DType::F32), Error);
}

}  // namespace
}  // namespace octet
