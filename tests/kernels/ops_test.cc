// Broadcasting, embedding lookup, in-place use and argument errors of the
// row/elementwise ops.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>

#include "kernel_test_util.h"
#include "octet/cpu_features.h"
#include "octet/kernels.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

using testing::random_tensor;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Softmax, MaskBroadcastsLikeNumpy) {
  // Scores [B=2, H=3, Sq=4, Sk=5] with an HF-style mask [B, 1, 1, Sk].
  const Tensor x = random_tensor({2, 3, 4, 5}, 1, -3.0f, 3.0f);
  const Tensor mask = random_tensor({2, 1, 1, 5}, 2, -2.0f, 0.0f);
  const Tensor y = softmax(x, 0.5f, mask);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t i = 0; i < 4; ++i) {
        // The same row with its mask materialised.
        const Tensor row = x.select(b).select(h).select(i).contiguous();
        const Tensor mrow = mask.select(b).select(0).select(0).contiguous();
        const Tensor expected = softmax(row, 0.5f, mrow);
        const Tensor got = y.select(b).select(h).select(i).contiguous();
        for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(got.data<float>()[j], expected.data<float>()[j]);
      }
  // A mask without leading dims (one row for all) and one [Sq, Sk].
  EXPECT_NO_THROW(softmax(x, 1.0f, random_tensor({5}, 3)));
  EXPECT_NO_THROW(softmax(x, 1.0f, random_tensor({4, 5}, 4)));
  EXPECT_THROW(softmax(x, 1.0f, random_tensor({3, 5}, 5)), Error);     // 3 vs Sq 4
  EXPECT_THROW(softmax(x, 1.0f, random_tensor({2, 3, 4, 6}, 6)), Error);  // last dim
}

TEST(Softmax, InPlace) {
  Tensor x = random_tensor({7, 33}, 7);
  const Tensor expected = softmax(x);
  softmax(x, x);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(x.data<float>()[i], expected.data<float>()[i]);
}

TEST(Embedding, GathersRowsAndChecksBounds) {
  const Tensor table = random_tensor({10, 6}, 8);
  const Tensor ids = Tensor::from_vector<int64_t>({3, 0, 9, 3, 7, 1}, {2, 3});
  const Tensor out = embedding(table, ids);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 6}));
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(std::memcmp(out.data<float>() + i * 6, table.data<float>() + ids.data<int64_t>()[i] * 6, 24), 0) << i;
  const Tensor ids32 = Tensor::from_vector<int32_t>({9, 2}, {2});
  EXPECT_EQ(embedding(table, ids32).data<float>()[0], table.data<float>()[54]);
  const std::string msg = error_of([&] { embedding(table, Tensor::from_vector<int64_t>({1, 10}, {2})); });
  EXPECT_NE(msg.find("[embedding] id 10 at position 1 is out of range for a table of 10 rows"), std::string::npos)
      << msg;
  EXPECT_THROW(embedding(table, Tensor::from_vector<int64_t>({-1}, {1})), Error);
  EXPECT_THROW(embedding(table, Tensor::from_floats(std::vector<float>{1.0f}, {1})), Error);
}

TEST(Embedding, LargeLookupAcrossThreads) {
  set_num_threads(2);
  const Tensor table = random_tensor({1000, 768}, 9);
  std::vector<int64_t> id_values(4096);
  for (size_t i = 0; i < id_values.size(); ++i) id_values[i] = static_cast<int64_t>((i * 7919) % 1000);
  const Tensor out = embedding(table, Tensor::from_vector(id_values, {8, 512}));
  for (size_t i = 0; i < id_values.size(); i += 97)
    EXPECT_EQ(std::memcmp(out.data<float>() + i * 768, table.data<float>() + id_values[i] * 768, 768 * 4), 0) << i;
  set_num_threads(0);
}

TEST(Elementwise, TrailingBroadcastAndInPlace) {
  const Tensor a = random_tensor({3, 4, 5}, 10), row = random_tensor({5}, 11), plane = random_tensor({4, 5}, 12);
  const Tensor s = add(a, row), p = mul(a, plane);
  for (int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_EQ(s.data<float>()[i], a.data<float>()[i] + row.data<float>()[i % 5]);
    EXPECT_EQ(p.data<float>()[i], a.data<float>()[i] * plane.data<float>()[i % 20]);
  }
  Tensor inplace = a.clone();
  activation(Activation::Silu, inplace, inplace);
  const Tensor expected = activation(Activation::Silu, a);
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(inplace.data<float>()[i], expected.data<float>()[i]);
  EXPECT_THROW(add(a, random_tensor({4}, 13)), Error);
  EXPECT_THROW(add(a, random_tensor({3, 1, 5}, 14)), Error);  // only trailing broadcast
}

TEST(Dispatch, FollowsCpuFeaturesAndScopes) {
  // cpu_features() is capped by OCTET_ISA, so OCTET_ISA=scalar lands on the reference.
  const CpuFeatures& f = cpu_features();
  const bool avx2 = f.avx2 && f.fma;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl;
  EXPECT_EQ(&row_kernels(), avx512 ? &kAvx512RowKernels : avx2 ? &kAvx2RowKernels : &kRefRowKernels);
  if (avx512_rows_supported()) {
    ScopedKernels scope(&kAvx512RowKernels, nullptr);
    EXPECT_EQ(&row_kernels(), &kAvx512RowKernels);
  }
  // Linears: octet's blocked GEMM where it runs AVX-512, else OpenBLAS.
  const GemmBackend* linear_gemm = std::string(small_gemm_variant()) == "avx512" ? &kSmallGemm : &kOpenBlasGemm;
  EXPECT_EQ(&gemm_backend(), linear_gemm);
  {
    ScopedKernels scope(&kRefRowKernels, &kRefGemm);
    EXPECT_EQ(&row_kernels(), &kRefRowKernels);
    EXPECT_EQ(&gemm_backend(), &kRefGemm);
  }
  EXPECT_EQ(&gemm_backend(), linear_gemm);
}

TEST(NormErrors, NameTheOpAndTheSizes) {
  const Tensor x = random_tensor({2, 64}, 15);
  EXPECT_EQ(error_of([&] { layer_norm(x, random_tensor({63}, 1), random_tensor({64}, 2), 1e-5f); }),
            "[layer_norm] gamma has 63 elements, hidden size is 64");
  EXPECT_EQ(error_of([&] { rms_norm(x, random_tensor({2, 32}, 3), 1e-5f); }),
            "[rms_norm] weight has 64 elements (shape [2, 32]), hidden size is 64");
  Tensor wrong = Tensor::zeros({2, 63}, DType::F32);
  EXPECT_EQ(error_of([&] { layer_norm(x, random_tensor({64}, 1), random_tensor({64}, 2), 1e-5f, wrong); }),
            "[layer_norm] y is f32[2, 63], expected shape [2, 64]");
  EXPECT_THROW(add_layer_norm(x, random_tensor({2, 32}, 4), random_tensor({64}, 1), random_tensor({64}, 2), 1e-5f,
                              wrong),
               Error);
  EXPECT_THROW(layer_norm(x.to(DType::BF16), random_tensor({64}, 1), random_tensor({64}, 2), 1e-5f), Error);
  EXPECT_THROW(layer_norm(x.transpose(0, 1), random_tensor({2}, 1), random_tensor({2}, 2), 1e-5f), Error);
}

}  // namespace
}  // namespace octet::kernels
