// Sentence-embedding pooling and probabilities against direct sums.
#include <gtest/gtest.h>

#include <cmath>

#include "octet/error.h"
#include "octet/eval.h"

namespace octet {
namespace {

TEST(Pooling, MaskedMeanAndCls) {
  // [2, 3, 2]: row 0 has all tokens, row 1 only its first two.
  const Tensor hidden = Tensor::from_floats(std::vector<float>{1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 1000, 1000}, {2, 3, 2});
  const Tensor mask = Tensor::from_vector<int64_t>({1, 1, 1, 1, 1, 0}, {2, 3});
  const Tensor mean = pool_embeddings(hidden, mask, Pooling::Mean);
  ASSERT_EQ(mean.shape(), (Shape{2, 2}));
  // (1+3+5)/3, (2+4+6)/3; (10+30)/2, (20+40)/2: the masked 1000s are left out.
  // Each is a short sum of small integers: exact in double, then one rounding to f32.
  EXPECT_EQ(mean.span<float>()[0], 3.0f);
  EXPECT_EQ(mean.span<float>()[1], 4.0f);
  EXPECT_EQ(mean.span<float>()[2], 20.0f);
  EXPECT_EQ(mean.span<float>()[3], 30.0f);
  const Tensor cls = pool_embeddings(hidden, mask, Pooling::Cls);
  EXPECT_EQ(cls.span<float>()[2], 10.0f);
  EXPECT_EQ(cls.span<float>()[3], 20.0f);
  // No mask: every position counts.
  EXPECT_EQ(pool_embeddings(hidden, {}, Pooling::Mean).span<float>()[2], float((10.0 + 30 + 1000) / 3));
  // A row without tokens pools to zeros, not NaN.
  const Tensor none = Tensor::zeros({2, 3}, DType::I64);
  EXPECT_EQ(pool_embeddings(hidden, none, Pooling::Mean).span<float>()[0], 0.0f);
}

TEST(Pooling, ParseAndShapeErrors) {
  EXPECT_EQ(parse_pooling("mean"), Pooling::Mean);
  EXPECT_EQ(parse_pooling("cls"), Pooling::Cls);
  EXPECT_THROW(parse_pooling("max"), Error);
  EXPECT_THROW(pool_embeddings(Tensor::zeros({2, 3}, DType::F32), {}, Pooling::Mean), Error);
  EXPECT_THROW(pool_embeddings(Tensor::zeros({2, 3, 4}, DType::F32), Tensor::zeros({2, 2}, DType::I64), Pooling::Mean),
               Error);
}

TEST(Softmax, RowsSumToOneAndOrderIsKept) {
  const Tensor p = softmax_rows(Tensor::from_floats(std::vector<float>{0, std::log(3.0f), 5, 5}, {2, 2}));
  // softmax(0, ln 3) = (1/4, 3/4); softmax of equal logits = (1/2, 1/2). Rounding:
  // a few ulp of f32 through exp and one division.
  EXPECT_NEAR(p.span<float>()[0], 0.25f, 1e-6);
  EXPECT_NEAR(p.span<float>()[1], 0.75f, 1e-6);
  EXPECT_NEAR(p.span<float>()[2], 0.5f, 1e-6);
  EXPECT_NEAR(p.span<float>()[3], 0.5f, 1e-6);
}

}  // namespace
}  // namespace octet
