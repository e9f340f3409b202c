// GEMMs through cuBLASLt: Y[M, N] = X[M, K] W[N, K]^T.
//
// Layout. cuBLASLt is column-major. Row-major W [N, K] is column-major K x N,
// row-major X [M, K] is column-major K x M, and row-major Y [M, N] is
// column-major N x M. So Y^T = W X^T is one "TN" matmul: A = W (transposed),
// B = X (not transposed), D = Y, with lda = ldb = K and ldd = N: the only
// form IMMA (int8) and FP8 kernels accept, with no copy of either operand.
//
// Plans (descriptors, layouts, the heuristic's algorithm and its workspace
// size) are cached per device by shape, types, epilogue and pointer
// alignment. The workspace is one pool buffer per stream.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "backend/cuda/cublaslt_library.h"
#include "backend/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/op_checks.h"

namespace octet::cuda {
namespace {

using detail::GemmDecision;
using detail::GemmKind;
using detail::TensorInfo;

// NVIDIA's recommendation for Hopper; enough for every Ampere/Ada algorithm.
constexpr size_t kWorkspaceBytes = 32u << 20;

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::I8: return CUDA_R_8I;
    case DType::I32: return CUDA_R_32I;
    case DType::F8_E4M3: return CUDA_R_8F_E4M3;
    default: fail("cuda", "no CUDA data type for {}", dtype_name(t));
  }
}

struct PlanKey {
  GemmKind kind;
  int64_t m, n, k;
  DType d_dtype;
  bool bias;
  DType bias_dtype;
  uint32_t align_a, align_b, align_d, align_bias;
  auto tie() const { return std::tie(kind, m, n, k, d_dtype, bias, bias_dtype, align_a, align_b, align_d, align_bias); }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
};

template <typename T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value, std::string_view what) {
  check_cublas(cublaslt().matmul_desc_set_attribute(desc, attr, &value, sizeof(value)), what);
}

// One per device; lives for the process (see pool.cc for why nothing CUDA is
// released at exit).
class LtContext {
 public:
  explicit LtContext(int device) : device_(device) {
    DeviceGuard guard(device);
    check_cublas(cublaslt().create(&handle_), "cublasLtCreate");
    capability_ = compute_capability(device);
  }

  int capability() const { return capability_; }

  size_t plan_count() {
    std::lock_guard lock(mutex_);
    return plans_.size();
  }

  // Queues D = op(A) op(B) (+ bias) on `stream`.
  void matmul(const GemmDecision& g, const void* a, const void* b, void* d, const void* bias, DType bias_dtype,
              const float* a_scale, const float* b_scale, const Stream& stream) {
    const PlanKey key{g.kind,
                      g.m,
                      g.n,
                      g.k,
                      g.d_dtype,
                      g.bias_in_matmul,
                      g.bias_in_matmul ? bias_dtype : DType::F32,
                      detail::pointer_alignment(reinterpret_cast<uintptr_t>(a)),
                      detail::pointer_alignment(reinterpret_cast<uintptr_t>(b)),
                      detail::pointer_alignment(reinterpret_cast<uintptr_t>(d)),
                      g.bias_in_matmul ? detail::pointer_alignment(reinterpret_cast<uintptr_t>(bias)) : 0u};
    std::lock_guard lock(mutex_);
    Plan& plan = plan_for(key, bias, a_scale, b_scale);
    // Pointers live in the cached descriptor: set them for this call (under the lock).
    if (key.bias) set_desc(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "setting the bias pointer");
    if (g.kind == GemmKind::F8) {
      set_desc(plan.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, a_scale, "setting the A scale pointer");
      set_desc(plan.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, b_scale, "setting the B scale pointer");
    }
    void* workspace = nullptr;
    if (plan.workspace > 0) {
      DeviceBuffer& ws = workspaces_[stream.handle()];
      if (ws.size() < plan.workspace) ws = DeviceBuffer(kWorkspaceBytes, stream);
      workspace = ws.data();
    }
    const float alpha_f = 1.0f, beta_f = 0.0f;
    const int32_t alpha_i = 1, beta_i = 0;
    const bool int_scale = g.kind == GemmKind::I8;
    DeviceGuard guard(device_);
    check_cublas(cublaslt().matmul(handle_, plan.desc, int_scale ? static_cast<const void*>(&alpha_i) : &alpha_f, a,
                                   plan.a, b, plan.b, int_scale ? static_cast<const void*>(&beta_i) : &beta_f, d,
                                   plan.c, d, plan.d, &plan.algo, workspace, plan.workspace, stream.handle()),
                 fmt::format("cublasLtMatmul ({} x {} x {})", g.m, g.n, g.k));
  }

 private:
  Plan& plan_for(const PlanKey& key, const void* bias, const float* a_scale, const float* b_scale) {
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
    Plan p;
    const bool is_int = key.kind == GemmKind::I8;
    const DType ab = key.kind == GemmKind::F16 ? DType::F16
                     : key.kind == GemmKind::BF16 ? DType::BF16
                     : is_int                     ? DType::I8
                                                  : DType::F8_E4M3;
    check_cublas(cublaslt().matmul_desc_create(&p.desc, is_int ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                                               is_int ? CUDA_R_32I : CUDA_R_32F),
                 "cublasLtMatmulDescCreate");
    set_desc(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, int32_t(CUBLAS_OP_T), "setting TRANSA");
    set_desc(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, int32_t(CUBLAS_OP_N), "setting TRANSB");
    if (key.bias) {
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, uint32_t(CUBLASLT_EPILOGUE_BIAS), "setting the BIAS epilogue");
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(cuda_type(key.bias_dtype)), "setting the bias type");
      // The heuristic reads the pointer's alignment.
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "setting the bias pointer");
    }
    if (key.kind == GemmKind::F8) {
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, a_scale, "setting the A scale pointer");
      set_desc(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, b_scale, "setting the B scale pointer");
    }
    const uint64_t m = uint64_t(key.m), n = uint64_t(key.n), k = uint64_t(key.k);
    check_cublas(cublaslt().matrix_layout_create(&p.a, cuda_type(ab), k, n, int64_t(k)), "layout of A (weight)");
    check_cublas(cublaslt().matrix_layout_create(&p.b, cuda_type(ab), k, m, int64_t(k)), "layout of B (activations)");
    check_cublas(cublaslt().matrix_layout_create(&p.c, cuda_type(key.d_dtype), n, m, int64_t(n)), "layout of C");
    check_cublas(cublaslt().matrix_layout_create(&p.d, cuda_type(key.d_dtype), n, m, int64_t(n)), "layout of D");

    cublasLtMatmulPreference_t pref = nullptr;
    check_cublas(cublaslt().matmul_preference_create(&pref), "cublasLtMatmulPreferenceCreate");
    const auto set_pref = [&](cublasLtMatmulPreferenceAttributes_t attr, auto value) {
      check_cublas(cublaslt().matmul_preference_set_attribute(pref, attr, &value, sizeof(value)),
                   "setting a preference");
    };
    set_pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t(kWorkspaceBytes));
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_d);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status =
        cublaslt().matmul_algo_get_heuristic(handle_, p.desc, p.a, p.b, p.c, p.d, pref, 1, &result, &found);
    cublaslt().matmul_preference_destroy(pref);
    if (status != CUBLAS_STATUS_SUCCESS || found == 0) {
      destroy(p);
      check_cublas(status, "cublasLtMatmulAlgoGetHeuristic");
      fail("cuda", "cuBLASLt has no algorithm for a {} GEMM of {} x {} x {} (output {}) on sm_{}",
           dtype_name(ab), key.m, key.n, key.k, dtype_name(key.d_dtype), capability_);
    }
    p.algo = result.algo;
    p.workspace = result.workspaceSize;
    return plans_.emplace(key, p).first->second;
  }

  static void destroy(Plan& p) {
    if (p.a) cublaslt().matrix_layout_destroy(p.a);
    if (p.b) cublaslt().matrix_layout_destroy(p.b);
    if (p.c) cublaslt().matrix_layout_destroy(p.c);
    if (p.d) cublaslt().matrix_layout_destroy(p.d);
    if (p.desc) cublaslt().matmul_desc_destroy(p.desc);
  }

  const int device_;
  cublasLtHandle_t handle_ = nullptr;
  int capability_ = 0;
  std::mutex mutex_;
  std::map<PlanKey, Plan> plans_;
  std::map<StreamHandle, DeviceBuffer> workspaces_;
};

LtContext& context_for(int device) {
  static std::mutex mutex;
  static auto* contexts = new std::map<int, std::unique_ptr<LtContext>>();
  std::lock_guard lock(mutex);
  auto& slot = (*contexts)[device];
  if (!slot) slot = std::make_unique<LtContext>(device);
  return *slot;
}

detail::Operand lt_operand(const DeviceTensor& t) {
  if (!t.defined()) return {};
  return {t.raw_data(), t.dtype()};
}

detail::RowOut row_out(DeviceTensor& y, const OutputQuant& quant) {
  detail::RowOut out{y.raw_data(), y.dtype(), detail::OutMode::Float, nullptr, nullptr};
  if (detail::is_quantized_output(y.dtype())) {
    out.mode = quant.mode == QuantMode::Static ? detail::OutMode::Static : detail::OutMode::PerToken;
    out.scale = quant.scale.data<float>();
  }
  return out;
}

void check_same_device(const Stream& stream, std::initializer_list<const DeviceTensor*> tensors) {
  for (const DeviceTensor* t : tensors)
    if (t->defined())
      check(t->device() == stream.device(), "cuda", "linear: {} is not on the stream's device cuda:{}", t->describe(),
            stream.device());
}

}  // namespace

GemmWeight upload_weight(const Tensor& w, DType dtype, const Stream& stream) {
  check(dtype == DType::F16 || dtype == DType::BF16, "cuda", "upload_weight: dtype must be f16 or bf16, got {}",
        dtype_name(dtype));
  check(w.defined() && w.rank() == 2, "cuda", "upload_weight: the weight must be [out, in]");
  check(dtype_info(w.dtype()).is_float, "cuda", "upload_weight: {} is not a float tensor", w);
  return {DeviceTensor::upload(w, dtype, stream), {}};
}

GemmWeight upload_quantized_weight(const Tensor& w, const Tensor& scale, const Stream& stream) {
  check(w.defined() && w.rank() == 2, "cuda", "upload_quantized_weight: the weight must be [out, in]");
  check(w.dtype() == DType::I8 || w.dtype() == DType::F8_E4M3, "cuda",
        "upload_quantized_weight: the weight must be int8 or fp8_e4m3, got {}", dtype_name(w.dtype()));
  const int64_t n = w.dim(0), k = w.dim(1);
  detail::check_weight_shape(w.dtype(), n, k);
  const int64_t want = w.dtype() == DType::I8 ? n : 1;
  check(scale.defined() && scale.dtype() == DType::F32 && scale.numel() == want, "cuda",
        "upload_quantized_weight: {} weights need {} f32 scale(s), got {}", dtype_name(w.dtype()), want,
        scale.defined() ? scale.describe() : std::string("none"));
  const Tensor s = scale.contiguous();
  for (float v : s.span<float>())
    check(std::isfinite(v) && v > 0, "cuda", "upload_quantized_weight: scale {} is not finite and positive", v);
  return {DeviceTensor::upload(w, stream), DeviceTensor::upload(s.reshape({want}), stream)};
}

void linear(const DeviceTensor& x, const DeviceTensor& x_scale, const GemmWeight& w, const DeviceTensor& bias,
            GemmEpilogue epilogue, DeviceTensor& y, const Stream& stream, const OutputQuant& quant) {
  require_gpu("linear");
  const GemmDecision g =
      detail::decide_gemm(TensorInfo::of(x), TensorInfo::of(x_scale), TensorInfo::of(w.w), TensorInfo::of(w.scale),
                          TensorInfo::of(bias), epilogue, TensorInfo::of(y), quant, TensorInfo::of(quant.scale));
  check_same_device(stream, {&x, &x_scale, &w.w, &w.scale, &bias, &y, &quant.scale});
  LtContext& lt = context_for(stream.device());
  if (g.kind == GemmKind::F8) {
    check(lt.capability() >= 89, "cuda",
          "fp8 e4m3 GEMM needs compute capability 8.9 or newer (Ada, Hopper); cuda:{} is sm_{}", stream.device(),
          lt.capability());
  }
  DeviceGuard guard(stream.device());

  if (g.kind == GemmKind::I8) {
    DeviceBuffer acc(size_t(g.m * g.n) * sizeof(int32_t), stream);
    lt.matmul(g, w.w.raw_data(), x.raw_data(), acc.data(), nullptr, DType::F32, nullptr, nullptr, stream);
    detail::launch_int8_dequant(static_cast<const int32_t*>(acc.data()), x_scale.data<float>(), g.x_scale_per_row,
                                w.scale.data<float>(), lt_operand(bias), g.activation, g.m, g.n, row_out(y, quant),
                                stream.handle());
    check_cuda(cudaGetLastError(), "launching the int8 dequant epilogue");
    return;  // acc goes back to the pool; reuse on this stream is ordered after the kernel
  }

  DeviceBuffer temp;
  void* d = y.raw_data();
  if (!g.d_is_y) {
    temp = DeviceBuffer(size_t(g.m * g.n) * sizeof(float), stream);
    d = temp.data();
  }
  const bool f8 = g.kind == GemmKind::F8;
  lt.matmul(g, w.w.raw_data(), x.raw_data(), d, g.bias_in_matmul ? bias.raw_data() : nullptr,
            bias.defined() ? bias.dtype() : DType::F32, f8 ? w.scale.data<float>() : nullptr,
            f8 ? x_scale.data<float>() : nullptr, stream);
  if (g.post_kernel) {
    const detail::Operand d_operand{d, g.d_dtype};
    const detail::Operand bias_operand = g.bias_in_matmul ? detail::Operand{} : lt_operand(bias);
    detail::launch_bias_activation(d_operand, bias_operand, g.activation, g.m, g.n, row_out(y, quant),
                                   stream.handle());
    check_cuda(cudaGetLastError(), "launching the GEMM epilogue kernel");
  }
}

size_t gemm_plan_count(int device) {
  require_gpu("gemm_plan_count");
  return context_for(device).plan_count();
}

}  // namespace octet::cuda
