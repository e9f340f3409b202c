// DeviceTensor (pool-backed device arrays) and CUDA graph capture.
#include <fmt/format.h>

#include <utility>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pool.h"

namespace octet::cuda {

DeviceTensor DeviceTensor::empty(Shape shape, DType dtype, const Stream& stream) {
  for (int64_t d : shape) check(d >= 0, "cuda", "device tensor shape {} has a negative dimension", shape_str(shape));
  DeviceTensor t;
  t.buffer_ = std::make_shared<DeviceBuffer>(storage_bytes(dtype, shape_numel(shape)), stream);
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  return t;
}

DeviceTensor DeviceTensor::zeros(Shape shape, DType dtype, const Stream& stream) {
  DeviceTensor t = empty(std::move(shape), dtype, stream);
  fill_zero(t.raw_data(), t.nbytes(), stream);
  return t;
}

DeviceTensor DeviceTensor::upload(const Tensor& host, const Stream& stream) {
  check(host.defined(), "cuda", "upload of an undefined tensor");
  const Tensor contiguous = host.contiguous();
  DeviceTensor t = empty(contiguous.shape(), contiguous.dtype(), stream);
  copy_to_device(t.raw_data(), contiguous.raw_data(), contiguous.nbytes(), stream);
  return t;
}

DeviceTensor DeviceTensor::upload(const Tensor& host, DType as, const Stream& stream) {
  check(host.defined(), "cuda", "upload of an undefined tensor");
  return upload(host.dtype() == as ? host : host.to(as), stream);
}

Tensor DeviceTensor::download(const Stream& stream) const {
  check(defined(), "cuda", "download of an undefined device tensor");
  Tensor host = Tensor::empty(shape_, dtype_);
  copy_to_host(host.raw_data(), raw_data(), nbytes(), stream);
  return host;
}

int64_t DeviceTensor::dim(int i) const {
  const int r = rank();
  check(i >= -r && i < r, "cuda", "dimension {} out of range for {}", i, describe());
  return shape_[i < 0 ? i + r : i];
}

int DeviceTensor::device() const {
  check(defined(), "cuda", "undefined device tensor");
  return buffer_->device();
}

void* DeviceTensor::raw_data() const {
  check(defined(), "cuda", "undefined device tensor");
  return buffer_->data();
}

DeviceTensor DeviceTensor::reshape(Shape shape) const {
  check(defined(), "cuda", "reshape of an undefined device tensor");
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(infer < 0, "cuda", "reshape {}: more than one -1", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      check(shape[i] >= 0, "cuda", "reshape {}: negative dimension", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    check(known > 0 && numel() % known == 0, "cuda", "cannot reshape {} to {}", describe(), shape_str(shape));
    shape[infer] = numel() / known;
  }
  check(shape_numel(shape) == numel(), "cuda", "cannot reshape {} to {}", describe(), shape_str(shape));
  DeviceTensor view = *this;
  view.shape_ = std::move(shape);
  return view;
}

std::string DeviceTensor::describe() const {
  if (!defined()) return "undefined device tensor";
  return fmt::format("{}{} on cuda:{}", dtype_name(dtype_), shape_str(shape_), buffer_->device());
}

// ---- graphs ---------------------------------------------------------------------

Graph::~Graph() { reset(); }

Graph::Graph(Graph&& other) noexcept
    : graph_(std::exchange(other.graph_, nullptr)),
      exec_(std::exchange(other.exec_, nullptr)),
      device_(other.device_),
      reserved_(std::move(other.reserved_)) {}

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    reset();
    graph_ = std::exchange(other.graph_, nullptr);
    exec_ = std::exchange(other.exec_, nullptr);
    device_ = other.device_;
    reserved_ = std::move(other.reserved_);
  }
  return *this;
}

void Graph::reset() noexcept {
  if (exec_ == nullptr && graph_ == nullptr && !reserved_) return;
  int previous = 0;
  cudaGetDevice(&previous);
  cudaSetDevice(device_);
  // A replay may still be running: its blocks go back to the pool only after it.
  if (reserved_) cudaDeviceSynchronize();
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  exec_ = graph_ = nullptr;
  reserved_.reset();
  cudaSetDevice(previous);
}

void Graph::capture(const Stream& stream, const std::function<void()>& body) {
  require_gpu("Graph::capture");
  check(stream.handle() != nullptr, "cuda", "CUDA graphs cannot capture the legacy default stream; use a Stream");
  reset();
  device_ = stream.device();
  DeviceGuard guard(device_);
  pool_begin_capture(device_, stream.handle());
  cudaGraph_t graph = nullptr;
  try {
    check_cuda(cudaStreamBeginCapture(stream.handle(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    try {
      body();
    } catch (...) {
      cudaStreamEndCapture(stream.handle(), &graph);  // ends the broken capture
      if (graph != nullptr) cudaGraphDestroy(graph);
      throw;
    }
    check_cuda(cudaStreamEndCapture(stream.handle(), &graph), "cudaStreamEndCapture");
  } catch (...) {
    reserved_ = pool_end_capture(device_, stream.handle());
    reset();
    throw;
  }
  reserved_ = pool_end_capture(device_, stream.handle());
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  check_cuda(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  exec_ = exec;
}

void Graph::launch(const Stream& stream) const {
  check(exec_ != nullptr, "cuda", "Graph::launch before capture");
  check(stream.device() == device_, "cuda", "graph captured on cuda:{} launched on cuda:{}", device_, stream.device());
  DeviceGuard guard(device_);
  check_cuda(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream.handle()), "cudaGraphLaunch");
}

}  // namespace octet::cuda
