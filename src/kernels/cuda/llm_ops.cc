// Public wrappers of the LLM kernels (octet/cuda_llm_ops.h): argument checks,
// then the launchers of llm_kernels.cu.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "kernels/cuda/llm_launch.h"
#include "octet/cuda_llm_ops.h"

namespace octet::cuda {
namespace {

using detail::LlmAttn;
using detail::LlmCache;

void check_dtype(const DeviceTensor& t, DType dtype, std::string_view op, std::string_view name) {
  check(t.defined(), "cuda", "{}: {} is undefined", op, name);
  check(t.dtype() == dtype, "cuda", "{}: {} is {}, expected {}", op, name, dtype_name(t.dtype()), dtype_name(dtype));
}

void check_device(const Stream& stream, std::string_view op, std::initializer_list<const DeviceTensor*> tensors) {
  for (const DeviceTensor* t : tensors)
    if (t->defined())
      check(t->device() == stream.device(), "cuda", "{}: {} is not on the stream's device cuda:{}", op, t->describe(),
            stream.device());
}

detail::W4Args w4_args(const W4Weight& w) {
  detail::W4Args a;
  a.packed = w.packed.raw_data();
  a.scales = w.scales.raw_data();
  a.zeros = static_cast<const uint8_t*>(w.zeros.raw_data());
  a.n = static_cast<int>(w.n), a.k = static_cast<int>(w.k), a.kp = static_cast<int>((w.k + 255) / 256 * 256);
  return a;
}

void check_w4(const W4Weight& w, std::string_view op) {
  check_dtype(w.packed, DType::U8, op, "packed weight");
  check_dtype(w.scales, DType::F16, op, "scales");
  check_dtype(w.zeros, DType::U8, op, "zero points");
  const int64_t kp = (w.k + 255) / 256 * 256;
  check(w.k > 0 && w.k % 128 == 0 && w.n > 0, "cuda", "{}: weight [{}, {}]: K must be a positive multiple of 128", op,
        w.n, w.k);
  check(w.packed.numel() == w.n * kp / 2 && w.scales.numel() == w.n * kp / 128 && w.zeros.numel() == w.n * kp / 128,
        "cuda", "{}: packed weight buffers do not match [{}, {}]", op, w.n, w.k);
  check(w.n <= INT32_MAX && kp <= INT32_MAX, "cuda", "{}: weight [{}, {}] too large", op, w.n, w.k);
}

LlmCache cache_args(const KvCacheView& cache, int64_t layer, std::string_view op) {
  const bool fp8 = cache.k.defined() && cache.k.dtype() == DType::F8_E4M3;
  check_dtype(cache.k, fp8 ? DType::F8_E4M3 : DType::F16, op, "key cache");
  check_dtype(cache.v, cache.k.dtype(), op, "value cache");
  const int64_t n = cache.layers * cache.batch * cache.kv_heads * cache.max_seq * cache.head_dim;
  check(cache.k.numel() == n && cache.v.numel() == n, "cuda", "{}: cache tensors do not hold [{}, {}, {}, {}, {}]", op,
        cache.layers, cache.batch, cache.kv_heads, cache.max_seq, cache.head_dim);
  check(layer >= 0 && layer < cache.layers, "cuda", "{}: layer {} out of range", op, layer);
  check(cache.head_dim % 32 == 0 && cache.head_dim <= 256 && cache.head_dim > 0, "cuda",
        "{}: head_dim {} must be a multiple of 32 and at most 256", op, cache.head_dim);
  if (fp8) {
    check_dtype(cache.k_scale, DType::F32, op, "k_scale");
    check_dtype(cache.v_scale, DType::F32, op, "v_scale");
    check(cache.k_scale.numel() == cache.layers * cache.kv_heads && cache.v_scale.numel() == cache.k_scale.numel(),
          "cuda", "{}: fp8 cache scales must hold layers * kv_heads values", op);
  }
  LlmCache c;
  c.k = cache.k.raw_data();
  c.v = cache.v.raw_data();
  c.fp8 = fp8 ? 1 : 0;
  if (fp8) c.k_scale = cache.k_scale.data<float>(), c.v_scale = cache.v_scale.data<float>();
  c.batch = cache.batch, c.kv_heads = cache.kv_heads, c.max_seq = cache.max_seq, c.head_dim = cache.head_dim;
  c.layer = layer;
  return c;
}

void check_qkv(const DeviceTensor& qkv, int64_t q_heads, int64_t seq, const KvCacheView& cache, std::string_view op) {
  check_dtype(qkv, DType::F16, op, "qkv");
  check(q_heads > 0 && q_heads % cache.kv_heads == 0, "cuda", "{}: {} query heads are not a multiple of {} kv heads",
        op, q_heads, cache.kv_heads);
  check(seq > 0 && qkv.numel() == cache.batch * seq * (q_heads + 2 * cache.kv_heads) * cache.head_dim, "cuda",
        "{}: qkv {} is not [{} * {}, ({} + 2 * {}) * {}]", op, shape_str(qkv.shape()), cache.batch, seq, q_heads,
        cache.kv_heads, cache.head_dim);
}

}  // namespace

// ---- public wrappers ----------------------------------------------------------------------

void rms_norm(const DeviceTensor& x, const DeviceTensor& weight, float eps, DeviceTensor& y, const Stream& stream) {
  constexpr std::string_view op = "rms_norm";
  require_gpu(op);
  check_dtype(x, DType::F16, op, "x");
  check_dtype(weight, DType::F16, op, "weight");
  check_dtype(y, DType::F16, op, "y");
  const int64_t cols = weight.numel(), rows = cols > 0 ? x.numel() / cols : 0;
  check(cols > 0 && x.dim(-1) == cols && y.numel() == x.numel(), "cuda", "{}: x {} / y {} do not match weight [{}]",
        op, shape_str(x.shape()), shape_str(y.shape()), cols);
  check(rows > 0 && rows <= INT32_MAX, "cuda", "{}: {} rows", op, rows);
  check_device(stream, op, {&x, &weight, &y});
  DeviceGuard guard(stream.device());
  detail::launch_rms_norm(x.raw_data(), weight.raw_data(), eps, y.raw_data(), rows, cols, stream.handle());
  check_launch(op);
}

void add_rms_norm(DeviceTensor& x, const DeviceTensor& residual, const DeviceTensor& weight, float eps,
                  DeviceTensor& y, const Stream& stream) {
  constexpr std::string_view op = "add_rms_norm";
  require_gpu(op);
  check_dtype(x, DType::F16, op, "x");
  check_dtype(residual, DType::F16, op, "residual");
  check_dtype(weight, DType::F16, op, "weight");
  check_dtype(y, DType::F16, op, "y");
  const int64_t cols = weight.numel(), rows = cols > 0 ? x.numel() / cols : 0;
  check(cols > 0 && x.dim(-1) == cols && y.numel() == x.numel() && residual.numel() == x.numel(), "cuda",
        "{}: x {} / residual {} / y {} do not match weight [{}]", op, shape_str(x.shape()),
        shape_str(residual.shape()), shape_str(y.shape()), cols);
  check(rows > 0 && rows <= INT32_MAX, "cuda", "{}: {} rows", op, rows);
  check(y.raw_data() != x.raw_data() && y.raw_data() != residual.raw_data(), "cuda", "{}: y must not alias x or residual",
        op);
  check_device(stream, op, {&x, &residual, &weight, &y});
  DeviceGuard guard(stream.device());
  detail::launch_add_rms_norm(x.raw_data(), residual.raw_data(), weight.raw_data(), eps, y.raw_data(), rows, cols,
                              stream.handle());
  check_launch(op);
}

void add_inplace(DeviceTensor& x, const DeviceTensor& y, const Stream& stream) {
  constexpr std::string_view op = "add_inplace";
  require_gpu(op);
  check_dtype(x, DType::F16, op, "x");
  check_dtype(y, DType::F16, op, "y");
  check(x.numel() == y.numel(), "cuda", "{}: {} vs {} elements", op, x.numel(), y.numel());
  check_device(stream, op, {&x, &y});
  DeviceGuard guard(stream.device());
  detail::launch_add(x.raw_data(), y.raw_data(), x.numel(), stream.handle());
  check_launch(op);
}

void silu_mul(const DeviceTensor& gate_up, DeviceTensor& out, const Stream& stream) {
  constexpr std::string_view op = "silu_mul";
  require_gpu(op);
  check_dtype(gate_up, DType::F16, op, "gate_up");
  check_dtype(out, DType::F16, op, "out");
  const int64_t inter = out.dim(-1), rows = inter > 0 ? out.numel() / inter : 0;
  check(inter > 0 && gate_up.numel() == 2 * out.numel() && gate_up.dim(-1) == 2 * inter, "cuda",
        "{}: gate_up {} is not out {} with a doubled last dim", op, shape_str(gate_up.shape()), shape_str(out.shape()));
  check_device(stream, op, {&gate_up, &out});
  DeviceGuard guard(stream.device());
  detail::launch_silu_mul(gate_up.raw_data(), out.raw_data(), rows, inter, stream.handle());
  check_launch(op);
}

void embedding_gather(const DeviceTensor& ids, const DeviceTensor& table, DeviceTensor& out, const Stream& stream) {
  constexpr std::string_view op = "embedding_gather";
  require_gpu(op);
  check_dtype(ids, DType::I32, op, "ids");
  check_dtype(table, DType::F16, op, "table");
  check_dtype(out, DType::F16, op, "out");
  check(table.rank() == 2 && out.numel() == ids.numel() * table.dim(1) && ids.numel() > 0 && ids.numel() <= INT32_MAX,
        "cuda", "{}: out {} is not [{}, {}]", op, shape_str(out.shape()), ids.numel(), table.rank() == 2 ? table.dim(1) : 0);
  check_device(stream, op, {&ids, &table, &out});
  DeviceGuard guard(stream.device());
  detail::launch_embedding(ids.data<int32_t>(), ids.numel(), table.raw_data(), table.dim(0), table.dim(1),
                           out.raw_data(), stream.handle());
  check_launch(op);
}

void rotary_inplace(DeviceTensor& qkv, const RotaryArgs& a, const Stream& stream) {
  constexpr std::string_view op = "rotary_inplace";
  require_gpu(op);
  check_dtype(qkv, DType::F16, op, "qkv");
  check_dtype(a.inv_freq, DType::F32, op, "inv_freq");
  check_dtype(a.past_len, DType::I32, op, "past_len");
  check(a.head_dim > 0 && a.head_dim % 2 == 0 && a.inv_freq.numel() == a.head_dim / 2, "cuda",
        "{}: inv_freq must hold head_dim / 2 = {} values", op, a.head_dim / 2);
  const int64_t tokens = a.batch * a.seq;
  check(tokens > 0 && tokens <= INT32_MAX && qkv.numel() % tokens == 0 &&
            qkv.numel() / tokens >= (a.q_heads + a.k_heads) * a.head_dim,
        "cuda", "{}: qkv {} has too few columns for {} + {} heads of {}", op, shape_str(qkv.shape()), a.q_heads,
        a.k_heads, a.head_dim);
  check(std::isfinite(a.position_divisor) && a.position_divisor > 0, "cuda", "{}: bad position divisor", op);
  check_device(stream, op, {&qkv, &a.inv_freq, &a.past_len});
  DeviceGuard guard(stream.device());
  detail::launch_rotary(qkv.raw_data(), tokens, qkv.numel() / tokens, a.seq, static_cast<int>(a.q_heads + a.k_heads),
                        static_cast<int>(a.head_dim), a.inv_freq.data<float>(), a.past_len.data<int32_t>(),
                        a.position_divisor, stream.handle());
  check_launch(op);
}

void kv_append(const DeviceTensor& qkv, int64_t q_heads, int64_t seq, const DeviceTensor& past_len,
               KvCacheView& cache, int64_t layer, const Stream& stream) {
  constexpr std::string_view op = "kv_append";
  require_gpu(op);
  const LlmCache c = cache_args(cache, layer, op);
  check_qkv(qkv, q_heads, seq, cache, op);
  check_dtype(past_len, DType::I32, op, "past_len");
  check_device(stream, op, {&qkv, &past_len, &cache.k, &cache.v, &cache.k_scale, &cache.v_scale});
  DeviceGuard guard(stream.device());
  detail::launch_kv_append(qkv.raw_data(), cache.batch * seq, (q_heads + 2 * cache.kv_heads) * cache.head_dim,
                           static_cast<int>(q_heads), seq, past_len.data<int32_t>(), c, stream.handle());
  check_launch(op);
}

void cached_attention(const DeviceTensor& qkv, int64_t q_heads, int64_t seq, const DeviceTensor& past_len,
                      const KvCacheView& cache, int64_t layer, float scale, DeviceTensor& out, const Stream& stream) {
  constexpr std::string_view op = "cached_attention";
  require_gpu(op);
  const LlmCache c = cache_args(cache, layer, op);
  check_qkv(qkv, q_heads, seq, cache, op);
  check_dtype(past_len, DType::I32, op, "past_len");
  check_dtype(out, DType::F16, op, "out");
  check(out.numel() == cache.batch * seq * q_heads * cache.head_dim, "cuda", "{}: out {} is not [{}, {}]", op,
        shape_str(out.shape()), cache.batch * seq, q_heads * cache.head_dim);
  check(cache.batch <= 65535 && q_heads <= 65535 && seq <= 65535 * 8, "cuda", "{}: grid too large", op);
  check_device(stream, op, {&qkv, &past_len, &out, &cache.k, &cache.v, &cache.k_scale, &cache.v_scale});
  LlmAttn a;
  a.qkv = qkv.raw_data();
  a.row_elems = (q_heads + 2 * cache.kv_heads) * cache.head_dim;
  a.seq = seq;
  a.q_heads = static_cast<int>(q_heads);
  a.group = static_cast<int>(q_heads / cache.kv_heads);
  a.past_len = past_len.data<int32_t>();
  a.scale = scale > 0 ? scale : 1.0f / std::sqrt(static_cast<float>(cache.head_dim));
  a.out = out.raw_data();
  DeviceGuard guard(stream.device());
  detail::launch_cached_attention(a, c, stream.handle());
  check_launch(op);
}

void dequantize_w4_device(const W4Weight& w, DeviceTensor& out, const Stream& stream) {
  constexpr std::string_view op = "dequantize_w4";
  require_gpu(op);
  check_w4(w, op);
  check_dtype(out, DType::F16, op, "out");
  check(out.numel() == w.n * w.k, "cuda", "{}: out {} is not [{}, {}]", op, shape_str(out.shape()), w.n, w.k);
  check_device(stream, op, {&w.packed, &w.scales, &w.zeros, &out});
  DeviceGuard guard(stream.device());
  detail::launch_w4_dequant(w4_args(w), out.raw_data(), stream.handle());
  check_launch(op);
}

void linear_w4a16(const DeviceTensor& x, const W4Weight& w, const DeviceTensor& bias, DeviceTensor& y,
                  const Stream& stream) {
  constexpr std::string_view op = "linear_w4a16";
  require_gpu(op);
  check_w4(w, op);
  check_dtype(x, DType::F16, op, "x");
  check_dtype(y, DType::F16, op, "y");
  check(x.dim(-1) == w.k, "cuda", "{}: x {} does not end in K = {}", op, shape_str(x.shape()), w.k);
  const int64_t m = x.numel() / w.k;
  check(y.numel() == m * w.n && y.dim(-1) == w.n, "cuda", "{}: y {} is not [{}, {}]", op, shape_str(y.shape()), m, w.n);
  if (bias.defined()) {
    check_dtype(bias, DType::F16, op, "bias");
    check(bias.numel() == w.n, "cuda", "{}: bias has {} values, expected {}", op, bias.numel(), w.n);
  }
  check_device(stream, op, {&x, &y, &bias, &w.packed, &w.scales, &w.zeros});
  if (m > 16) {  // prefill: dequantize to f16 once, then cuBLASLt
    DeviceTensor full = DeviceTensor::empty({w.n, w.k}, DType::F16, stream);
    dequantize_w4_device(w, full, stream);
    GemmWeight gw;
    gw.w = full;
    linear(x, {}, gw, bias, bias.defined() ? GemmEpilogue::Bias : GemmEpilogue::None, y, stream);
    return;
  }
  DeviceGuard guard(stream.device());
  check_cuda(detail::launch_w4_gemv(x.raw_data(), static_cast<int>(m), w4_args(w),
                                    bias.defined() ? bias.raw_data() : nullptr, y.raw_data(), stream.handle()),
             "linear_w4a16: shared memory attribute");
  check_launch(op);
}

double measure_copy_bandwidth(size_t bytes, int repeats, const Stream& stream) {
  constexpr std::string_view op = "measure_copy_bandwidth";
  require_gpu(op);
  check(bytes > 0 && repeats > 0, "cuda", "{}: bytes and repeats must be positive", op);
  DeviceGuard guard(stream.device());
  DeviceBuffer src(bytes, stream), dst(bytes, stream);
  fill_zero(src.data(), bytes, stream);
  cudaEvent_t start = nullptr, stop = nullptr;
  check_cuda(cudaEventCreate(&start), "cudaEventCreate");
  check_cuda(cudaEventCreate(&stop), "cudaEventCreate");
  float best_ms = 0;
  try {
    copy_on_device(dst.data(), src.data(), bytes, stream);  // warm-up
    for (int r = 0; r < repeats; ++r) {
      check_cuda(cudaEventRecord(start, stream.handle()), "cudaEventRecord");
      copy_on_device(dst.data(), src.data(), bytes, stream);
      check_cuda(cudaEventRecord(stop, stream.handle()), "cudaEventRecord");
      check_cuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float ms = 0;
      check_cuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      if (r == 0 || ms < best_ms) best_ms = ms;
    }
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best_ms > 0 ? 2.0 * double(bytes) / (double(best_ms) * 1e-3) : 0.0;
}

}  // namespace octet::cuda
