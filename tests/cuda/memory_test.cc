// Device memory, copies, device tensors, the caching pool and CUDA graphs.
// Needs a GPU: skipped (visibly) without one.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/cuda_test_util.h"
#include "octet/cuda_ops.h"

namespace octet::cuda {
namespace {

using testing::CudaTest;
using testing::random_values;

class DeviceMemory : public CudaTest {};

Tensor random_bytes(Shape shape, DType dtype, uint32_t seed) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  std::mt19937 rng(seed);
  auto* p = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>(rng());
  return t;
}

TEST_F(DeviceMemory, UploadDownloadRoundTripsEveryDtype) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::I8, DType::U8, DType::I32,
                      DType::I64, DType::I4}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor host = random_bytes({3, 37}, dtype, 5);
    const DeviceTensor d = DeviceTensor::upload(host, stream());
    EXPECT_EQ(d.shape(), host.shape());
    EXPECT_EQ(d.dtype(), dtype);
    EXPECT_EQ(d.device(), stream().device());
    const Tensor back = d.download(stream());
    ASSERT_EQ(back.nbytes(), host.nbytes());
    EXPECT_EQ(std::memcmp(back.raw_data(), host.raw_data(), host.nbytes()), 0);
  }
}

TEST_F(DeviceMemory, UploadConvertsAndMakesContiguous) {
  const Tensor host = random_values({4, 6}, 2);
  const Tensor back = DeviceTensor::upload(host, DType::F16, stream()).download(stream());
  const Tensor expected = host.to(DType::F16);
  EXPECT_EQ(std::memcmp(back.raw_data(), expected.raw_data(), expected.nbytes()), 0);
  // A transposed (strided) view uploads in its logical order.
  const Tensor t = host.transpose(0, 1);
  const Tensor t_back = DeviceTensor::upload(t, stream()).download(stream());
  const Tensor t_expected = t.contiguous();
  EXPECT_EQ(std::memcmp(t_back.raw_data(), t_expected.raw_data(), t_expected.nbytes()), 0);
}

TEST_F(DeviceMemory, ZerosReshapeAndDescribe) {
  const DeviceTensor z = DeviceTensor::zeros({2, 3, 4}, DType::F32, stream());
  const Tensor host = z.download(stream());  // a local: see QuantizeKernel.AllZeroRowsGetScaleOne
  for (float v : host.span<float>()) EXPECT_EQ(v, 0.0f);
  const DeviceTensor r = z.reshape({6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.raw_data(), z.raw_data());
  EXPECT_EQ(r.describe(), fmt::format("f32[6, 4] on cuda:{}", stream().device()));
  EXPECT_THROW(z.reshape({5, -1}), Error);
  EXPECT_THROW(z.data<int8_t>(), Error);
  EXPECT_THROW(DeviceTensor::empty({2, -1}, DType::F32, stream()), Error);
  EXPECT_THROW(DeviceTensor().download(stream()), Error);
}

TEST_F(DeviceMemory, PoolReusesABlockOfTheSameClassOnTheSameStream) {
  const int device = stream().device();
  pool_empty_cache(device);
  const PoolStats before = pool_stats(device);
  void* first = nullptr;
  {
    DeviceBuffer a(1000, stream());
    EXPECT_EQ(a.size(), 1000u);
    EXPECT_EQ(a.capacity(), pool_size_class(1000));
    first = a.data();
    const PoolStats during = pool_stats(device);
    EXPECT_EQ(during.device_allocations, before.device_allocations + 1);
    EXPECT_EQ(during.bytes_in_use, before.bytes_in_use + a.capacity());
  }
  const PoolStats freed = pool_stats(device);
  EXPECT_EQ(freed.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(freed.bytes_cached, before.bytes_cached + pool_size_class(1000));
  {
    DeviceBuffer b(900, stream());  // same class as 1000
    EXPECT_EQ(b.data(), first);
    const PoolStats reused = pool_stats(device);
    EXPECT_EQ(reused.cache_hits, before.cache_hits + 1);
    EXPECT_EQ(reused.device_allocations, before.device_allocations + 1);
    // Another stream never gets a block that queued work on this one may still use.
    Stream other(device);
    DeviceBuffer c(900, other);
    EXPECT_NE(c.data(), first);
  }
  pool_empty_cache(device);
  const PoolStats emptied = pool_stats(device);
  EXPECT_EQ(emptied.bytes_cached, 0u);
  EXPECT_GE(emptied.device_frees, before.device_frees + 2);
  EXPECT_GE(emptied.peak_bytes_in_use, 2 * pool_size_class(1000));
}

TEST_F(DeviceMemory, OutOfMemoryIsAnErrorNotANoGpuError) {
  try {
    DeviceBuffer huge(size_t(1) << 52, stream());
    ADD_FAILURE() << "allocated 4 PiB";
  } catch (const NoGpuError& e) {
    ADD_FAILURE() << "out of memory reported as no GPU: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "cuda");
    EXPECT_NE(e.detail().find("out of memory"), std::string::npos) << e.detail();
  }
  // The pool still works afterwards.
  EXPECT_NO_THROW(DeviceBuffer(4096, stream()));
}

TEST_F(DeviceMemory, GraphReplaysCapturedWorkOnNewInputs) {
  const Tensor x0 = random_values({8, 64}, 1), bias = random_values({64}, 2), x1 = random_values({8, 64}, 3);
  const DeviceTensor x = DeviceTensor::upload(x0, stream());
  const DeviceTensor b = DeviceTensor::upload(bias, stream());
  DeviceTensor y = DeviceTensor::empty({8, 64}, DType::F32, stream());
  const auto body = [&] { bias_activation(x, b, Activation::GeluErf, y, stream()); };
  body();  // warm-up: plans and pool blocks exist before capture
  Graph graph;
  graph.capture(stream(), body);
  EXPECT_TRUE(graph.captured());

  copy_to_device(x.raw_data(), x1.raw_data(), x1.nbytes(), stream());
  graph.launch(stream());
  const Tensor replayed = y.download(stream());

  DeviceTensor y_eager = DeviceTensor::empty({8, 64}, DType::F32, stream());
  bias_activation(x, b, Activation::GeluErf, y_eager, stream());
  const Tensor eager = y_eager.download(stream());
  EXPECT_EQ(std::memcmp(replayed.raw_data(), eager.raw_data(), eager.nbytes()), 0);
}

TEST_F(DeviceMemory, GraphRejectsTheLegacyStreamAndLaunchBeforeCapture) {
  Graph graph;
  EXPECT_THROW(graph.launch(stream()), Error);
  EXPECT_THROW(graph.capture(Stream::legacy(), [] {}), Error);
}

}  // namespace
}  // namespace octet::cuda
