// The CUDA backend's stand-in, compiled only when octet is built without CUDA
// (cmake/OctetCuda.cmake drops this file otherwise): status says so, and every
// CUDA entry point (octet/device.h, octet/cuda.h, octet/cuda_ops.h) throws a
// clear Error "cuda" instead of failing to link.
#include "octet/cuda.h"
#include "octet/cuda_llm_ops.h"
#include "octet/cuda_ops.h"
#include "octet/device.h"
#include "octet/error.h"

namespace octet {
namespace {
constexpr const char* kNotBuilt = "octet was built without CUDA support (configure with -DOCTET_CUDA=ON)";
[[noreturn]] void not_built() { throw Error("cuda", kNotBuilt); }
}  // namespace

CudaStatus cuda_status() {
  CudaStatus status;
  status.detail = kNotBuilt;
  return status;
}

void cuda_set_device(int /*index*/) { not_built(); }

namespace cuda {

bool gpu_available() { return false; }
int compute_capability(int) { not_built(); }
int current_device() { not_built(); }

Stream::Stream(int) { not_built(); }
Stream Stream::legacy(int) { not_built(); }
Stream::~Stream() = default;
Stream::Stream(Stream&& other) noexcept : handle_(other.handle_), device_(other.device_), owned_(other.owned_) {}
Stream& Stream::operator=(Stream&&) noexcept { return *this; }
void Stream::synchronize() const { not_built(); }

PoolStats pool_stats(int) { not_built(); }
void pool_empty_cache(int) { not_built(); }

DeviceBuffer::DeviceBuffer(size_t, const Stream&) { not_built(); }
DeviceBuffer::~DeviceBuffer() = default;
DeviceBuffer::DeviceBuffer(DeviceBuffer&&) noexcept {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&&) noexcept { return *this; }
void DeviceBuffer::release() noexcept {}

void copy_to_device(void*, const void*, size_t, const Stream&) { not_built(); }
void copy_to_host(void*, const void*, size_t, const Stream&) { not_built(); }
void copy_on_device(void*, const void*, size_t, const Stream&) { not_built(); }
void fill_zero(void*, size_t, const Stream&) { not_built(); }

DeviceTensor DeviceTensor::empty(Shape, DType, const Stream&) { not_built(); }
DeviceTensor DeviceTensor::zeros(Shape, DType, const Stream&) { not_built(); }
DeviceTensor DeviceTensor::upload(const Tensor&, const Stream&) { not_built(); }
DeviceTensor DeviceTensor::upload(const Tensor&, DType, const Stream&) { not_built(); }
Tensor DeviceTensor::download(const Stream&) const { not_built(); }
int64_t DeviceTensor::dim(int) const { not_built(); }
int DeviceTensor::device() const { not_built(); }
void* DeviceTensor::raw_data() const { not_built(); }
DeviceTensor DeviceTensor::reshape(Shape) const { not_built(); }
std::string DeviceTensor::describe() const { return "undefined device tensor"; }

Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept {}
Graph& Graph::operator=(Graph&&) noexcept { return *this; }
void Graph::reset() noexcept {}
void Graph::capture(const Stream&, const std::function<void()>&) { not_built(); }
void Graph::launch(const Stream&) const { not_built(); }

void add_layer_norm(const DeviceTensor&, const DeviceTensor&, const DeviceTensor&, const DeviceTensor&, float,
                    DeviceTensor&, const Stream&, const OutputQuant&) {
  not_built();
}
void embedding_layer_norm(const DeviceTensor&, const DeviceTensor&, const DeviceTensor&, const EmbeddingTables&,
                          DeviceTensor&, const Stream&, const OutputQuant&, bool) {
  not_built();
}
void bias_activation(const DeviceTensor&, const DeviceTensor&, Activation, DeviceTensor&, const Stream&,
                     const OutputQuant&) {
  not_built();
}
void quantize(const DeviceTensor&, DeviceTensor&, const Stream&, const OutputQuant&) { not_built(); }
void attention(const AttentionInputs&, DeviceTensor&, const Stream&) { not_built(); }
void classification_head(const DeviceTensor&, const ClassifierWeights&, DeviceTensor&, const Stream&) { not_built(); }
GemmWeight upload_weight(const Tensor&, DType, const Stream&) { not_built(); }
GemmWeight upload_quantized_weight(const Tensor&, const Tensor&, const Stream&) { not_built(); }
void linear(const DeviceTensor&, const DeviceTensor&, const GemmWeight&, const DeviceTensor&, GemmEpilogue,
            DeviceTensor&, const Stream&, const OutputQuant&) {
  not_built();
}
size_t gemm_plan_count(int) { not_built(); }

// octet/cuda_llm_ops.h (pack_w4 / dequantize_w4 / upload_w4 are host code in src/models/cuda/w4_pack.cc).
void rms_norm(const DeviceTensor&, const DeviceTensor&, float, DeviceTensor&, const Stream&) { not_built(); }
void add_rms_norm(DeviceTensor&, const DeviceTensor&, const DeviceTensor&, float, DeviceTensor&, const Stream&) {
  not_built();
}
void add_inplace(DeviceTensor&, const DeviceTensor&, const Stream&) { not_built(); }
void silu_mul(const DeviceTensor&, DeviceTensor&, const Stream&) { not_built(); }
void embedding_gather(const DeviceTensor&, const DeviceTensor&, DeviceTensor&, const Stream&) { not_built(); }
void rotary_inplace(DeviceTensor&, const RotaryArgs&, const Stream&) { not_built(); }
void kv_append(const DeviceTensor&, int64_t, int64_t, const DeviceTensor&, KvCacheView&, int64_t, const Stream&) {
  not_built();
}
void cached_attention(const DeviceTensor&, int64_t, int64_t, const DeviceTensor&, const KvCacheView&, int64_t, float,
                      DeviceTensor&, const Stream&) {
  not_built();
}
void dequantize_w4_device(const W4Weight&, DeviceTensor&, const Stream&) { not_built(); }
void linear_w4a16(const DeviceTensor&, const W4Weight&, const DeviceTensor&, DeviceTensor&, const Stream&) {
  not_built();
}
double measure_copy_bandwidth(size_t, int, const Stream&) { not_built(); }

}  // namespace cuda
}  // namespace octet
