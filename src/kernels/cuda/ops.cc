// Public wrappers of the fused CUDA kernels: argument checks, then launches.
#include <fmt/format.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/op_checks.h"

namespace octet::cuda {
namespace {

using detail::TensorInfo;

detail::Operand operand(const DeviceTensor& t) {
  if (!t.defined()) return {};
  return {t.raw_data(), t.dtype()};
}

void check_on_device(const Stream& stream, std::string_view op, std::initializer_list<const DeviceTensor*> tensors) {
  for (const DeviceTensor* t : tensors)
    if (t->defined())
      check(t->device() == stream.device(), "cuda", "{}: {} is not on the stream's device cuda:{}", op, t->describe(),
            stream.device());
}

void check_vector(const DeviceTensor& t, int64_t n, std::string_view op, std::string_view name) {
  detail::check_float_operand(TensorInfo::of(t), op, name);
  check(t.numel() == n, "cuda", "{}: {} has {} elements, expected {}", op, name, t.numel(), n);
}

void check_rows(int64_t rows, int64_t cols, std::string_view op) {
  check(rows <= INT32_MAX, "cuda", "{}: {} rows exceed the grid limit", op, rows);
  check(cols <= detail::kMaxRowElements, "cuda", "{}: rows of {} elements exceed the kernel's limit of {}", op, cols,
        detail::kMaxRowElements);
}

// The kernel-side description of y, checked against `rows`.
detail::RowOut row_out(DeviceTensor& y, int64_t rows, const OutputQuant& quant, std::string_view op,
                       bool allow_dynamic_per_tensor = false) {
  detail::check_row_output(TensorInfo::of(y), rows, quant, TensorInfo::of(quant.scale), op, allow_dynamic_per_tensor);
  detail::RowOut out{y.raw_data(), y.dtype(), detail::OutMode::Float, nullptr, nullptr};
  if (detail::is_quantized_output(y.dtype())) {
    out.scale = quant.scale.data<float>();
    out.mode = quant.mode == QuantMode::Static            ? detail::OutMode::Static
               : quant.mode == QuantMode::DynamicPerToken ? detail::OutMode::PerToken
                                                          : detail::OutMode::FromAmax;
  }
  return out;
}

}  // namespace

void add_layer_norm(const DeviceTensor& x, const DeviceTensor& residual, const DeviceTensor& gamma,
                    const DeviceTensor& beta, float eps, DeviceTensor& y, const Stream& stream,
                    const OutputQuant& quant) {
  constexpr std::string_view op = "add_layer_norm";
  require_gpu(op);
  detail::check_float_operand(TensorInfo::of(x), op, "x");
  check(x.rank() >= 1 && x.dim(-1) > 0, "cuda", "{}: x {} has no last dimension", op, shape_str(x.shape()));
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  if (residual.defined()) {
    detail::check_float_operand(TensorInfo::of(residual), op, "residual");
    check(residual.shape() == x.shape(), "cuda", "{}: residual {} differs from x {}", op, shape_str(residual.shape()),
          shape_str(x.shape()));
  }
  check_vector(gamma, cols, op, "gamma");
  check_vector(beta, cols, op, "beta");
  check(std::isfinite(eps) && eps >= 0, "cuda", "{}: eps {} must be finite and >= 0", op, eps);
  check(y.defined() && y.shape() == x.shape(), "cuda", "{}: output must be allocated with x's shape {}", op,
        shape_str(x.shape()));
  check_rows(rows, cols, op);
  check_on_device(stream, op, {&x, &residual, &gamma, &beta, &y, &quant.scale});
  detail::check_no_partial_alias(TensorInfo::of(x), TensorInfo::of(y), op, "x");
  detail::check_no_partial_alias(TensorInfo::of(residual), TensorInfo::of(y), op, "residual");
  const detail::RowOut out = row_out(y, rows, quant, op);
  DeviceGuard guard(stream.device());
  detail::launch_add_layer_norm(operand(x), operand(residual), operand(gamma), operand(beta), eps, rows, cols, out,
                                stream.handle());
  check_launch(op);
}

void embedding_layer_norm(const DeviceTensor& input_ids, const DeviceTensor& token_type_ids,
                          const DeviceTensor& position_ids, const EmbeddingTables& tables, DeviceTensor& y,
                          const Stream& stream, const OutputQuant& quant, bool validate) {
  constexpr std::string_view op = "embedding_layer_norm";
  require_gpu(op);
  check(input_ids.defined() && input_ids.dtype() == DType::I32 && input_ids.rank() == 2, "cuda",
        "{}: input_ids must be i32 [batch, seq]", op);
  for (const DeviceTensor* ids : {&token_type_ids, &position_ids})
    if (ids->defined())
      check(ids->dtype() == DType::I32 && ids->shape() == input_ids.shape(), "cuda",
            "{}: token type and position ids must be i32 {} like input_ids", op, shape_str(input_ids.shape()));
  detail::check_float_operand(TensorInfo::of(tables.word), op, "word table");
  check(tables.word.rank() == 2, "cuda", "{}: the word table must be [vocab, hidden]", op);
  const int64_t hidden = tables.word.dim(1);
  for (auto [table, name] : {std::pair{&tables.position, "position table"}, {&tables.token_type, "token type table"}}) {
    if (!table->defined() && table == &tables.token_type) continue;
    detail::check_float_operand(TensorInfo::of(*table), op, name);
    check(table->rank() == 2 && table->dim(1) == hidden, "cuda", "{}: the {} must be [rows, {}]", op, name, hidden);
  }
  check_vector(tables.gamma, hidden, op, "gamma");
  check_vector(tables.beta, hidden, op, "beta");
  const int64_t tokens = input_ids.numel();
  check(y.defined() && y.numel() == tokens * hidden && y.dim(-1) == hidden, "cuda",
        "{}: output must be allocated as [{}, {}, {}]", op, input_ids.dim(0), input_ids.dim(1), hidden);
  check_rows(tokens, hidden, op);
  check_on_device(stream, op,
                  {&input_ids, &token_type_ids, &position_ids, &tables.word, &tables.position, &tables.token_type,
                   &tables.gamma, &tables.beta, &y, &quant.scale});
  const detail::RowOut out = row_out(y, tokens, quant, op);

  DeviceBuffer error_flag(sizeof(unsigned long long), stream);
  fill_zero(error_flag.data(), sizeof(unsigned long long), stream);
  detail::EmbeddingArgs a;
  a.input_ids = input_ids.data<int32_t>();
  a.token_type_ids = token_type_ids.defined() ? token_type_ids.data<int32_t>() : nullptr;
  a.position_ids = position_ids.defined() ? position_ids.data<int32_t>() : nullptr;
  a.word = operand(tables.word);
  a.position = operand(tables.position);
  a.token_type = operand(tables.token_type);
  a.gamma = operand(tables.gamma);
  a.beta = operand(tables.beta);
  a.word_rows = tables.word.dim(0);
  a.position_rows = tables.position.dim(0);
  a.token_type_rows = tables.token_type.defined() ? tables.token_type.dim(0) : 0;
  a.tokens = tokens;
  a.seq_len = input_ids.dim(1);
  a.hidden = hidden;
  a.eps = tables.eps;
  a.error = static_cast<unsigned long long*>(error_flag.data());
  DeviceGuard guard(stream.device());
  detail::launch_embedding_layer_norm(a, out, stream.handle());
  check_launch(op);
  if (!validate) return;

  unsigned long long code = 0;
  copy_to_host(&code, error_flag.data(), sizeof(code), stream);
  if (code == 0) return;
  const int64_t token = int64_t((code - 1) / 3), which = int64_t((code - 1) % 3);
  const DeviceTensor& ids = which == 0 ? input_ids : which == 1 ? position_ids : token_type_ids;
  const int64_t rows = which == 0 ? a.word_rows : which == 1 ? a.position_rows : a.token_type_rows;
  const char* name = which == 0 ? "input_ids" : which == 1 ? "position_ids" : "token_type_ids";
  int32_t value = 0;
  if (ids.defined()) copy_to_host(&value, ids.data<int32_t>() + token, sizeof(value), stream);
  else value = int32_t(token % a.seq_len);  // implicit positions
  fail("cuda", "{}: {}[{}, {}] = {} is outside [0, {})", op, name, token / a.seq_len, token % a.seq_len, value, rows);
}

void bias_activation(const DeviceTensor& x, const DeviceTensor& bias, Activation act, DeviceTensor& y,
                     const Stream& stream, const OutputQuant& quant) {
  constexpr std::string_view op = "bias_activation";
  require_gpu(op);
  detail::check_float_operand(TensorInfo::of(x), op, "x");
  check(x.rank() >= 1 && x.dim(-1) > 0, "cuda", "{}: x {} has no last dimension", op, shape_str(x.shape()));
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  if (bias.defined()) check_vector(bias, cols, op, "bias");
  check(y.defined() && y.shape() == x.shape(), "cuda", "{}: output must be allocated with x's shape {}", op,
        shape_str(x.shape()));
  check(rows <= INT32_MAX, "cuda", "{}: {} rows exceed the grid limit", op, rows);
  check_on_device(stream, op, {&x, &bias, &y, &quant.scale});
  detail::check_no_partial_alias(TensorInfo::of(x), TensorInfo::of(y), op, "x");
  const detail::RowOut out = row_out(y, rows, quant, op);
  DeviceGuard guard(stream.device());
  detail::launch_bias_activation(operand(x), operand(bias), static_cast<int>(act), rows, cols, out, stream.handle());
  check_launch(op);
}

void quantize(const DeviceTensor& x, DeviceTensor& y, const Stream& stream, const OutputQuant& quant) {
  constexpr std::string_view op = "quantize";
  require_gpu(op);
  detail::check_float_operand(TensorInfo::of(x), op, "x");
  check(x.rank() >= 1 && x.dim(-1) > 0, "cuda", "{}: x {} has no last dimension", op, shape_str(x.shape()));
  check(y.defined() && detail::is_quantized_output(y.dtype()) && y.shape() == x.shape(), "cuda",
        "{}: output must be int8 or fp8_e4m3 with x's shape {}", op, shape_str(x.shape()));
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  check(rows <= INT32_MAX, "cuda", "{}: {} rows exceed the grid limit", op, rows);
  check_on_device(stream, op, {&x, &y, &quant.scale});
  detail::check_no_partial_alias(TensorInfo::of(x), TensorInfo::of(y), op, "x");
  detail::RowOut out = row_out(y, rows, quant, op, true);
  DeviceGuard guard(stream.device());
  DeviceBuffer amax;
  if (quant.mode == QuantMode::DynamicPerTensor) {
    amax = DeviceBuffer(sizeof(float), stream);
    fill_zero(amax.data(), sizeof(float), stream);
    detail::launch_abs_max(operand(x), x.numel(), static_cast<float*>(amax.data()), stream.handle());
    check_launch("quantize's abs max");
    out.amax = static_cast<const float*>(amax.data());
  }
  detail::launch_bias_activation(operand(x), {}, 0, rows, cols, out, stream.handle());
  check_launch(op);
}

void attention(const AttentionInputs& in, DeviceTensor& out, const Stream& stream) {
  constexpr std::string_view op = "attention";
  require_gpu(op);
  check(in.q.defined() && in.k.defined() && in.v.defined(), "cuda", "{}: q, k and v must be defined", op);
  const bool quantized_qk = in.q.dtype() == DType::I8 || in.q.dtype() == DType::F8_E4M3;
  if (quantized_qk) {
    check(in.k.dtype() == in.q.dtype(), "cuda", "{}: a {} q needs a {} k", op, dtype_name(in.q.dtype()),
          dtype_name(in.q.dtype()));
    for (const DeviceTensor* s : {&in.q_scale, &in.k_scale})
      check(s->defined() && s->dtype() == DType::F32 && s->numel() == 1, "cuda",
            "{}: quantized q and k need f32 per-tensor scales q_scale and k_scale", op);
  } else {
    detail::check_float_operand(TensorInfo::of(in.q), op, "q");
    detail::check_float_operand(TensorInfo::of(in.k), op, "k");
  }
  detail::check_float_operand(TensorInfo::of(in.v), op, "v");
  check(in.heads > 0 && in.head_dim > 0, "cuda", "{}: heads and head_dim must be positive", op);
  check(in.head_dim <= 1024, "cuda", "{}: head_dim {} exceeds 1024", op, in.head_dim);
  const int64_t width = in.heads * in.head_dim;
  const int64_t row_stride = in.row_stride == 0 ? width : in.row_stride;
  check(row_stride >= width, "cuda", "{}: row_stride {} is less than heads * head_dim = {}", op, row_stride, width);
  check(out.defined() && detail::is_float_dtype(out.dtype()), "cuda", "{}: out must be f32, f16 or bf16", op);
  check(out.rank() == 3 && out.dim(2) == width, "cuda", "{}: out must be [batch, seq, {}], got {}", op, width,
        shape_str(out.shape()));
  const int64_t batch = out.dim(0), seq = out.dim(1);
  if (batch == 0 || seq == 0) return;
  // Every q/k/v view must fit inside its tensor.
  const int64_t span = (batch * seq - 1) * row_stride + width;
  for (auto [t, offset, name] : {std::tuple{&in.q, in.q_offset, "q"}, {&in.k, in.k_offset, "k"}, {&in.v, in.v_offset, "v"}}) {
    check(offset >= 0 && offset + span <= t->numel(), "cuda",
          "{}: {} ({} elements) is too small for batch {} x seq {} with row stride {} from offset {}", op, name,
          t->numel(), batch, seq, row_stride, offset);
  }
  if (in.key_mask.defined())
    check(in.key_mask.dtype() == DType::I32 && in.key_mask.shape() == Shape{batch, seq}, "cuda",
          "{}: key_mask must be i32 [{}, {}]", op, batch, seq);
  check(batch <= 65535 && in.heads <= 65535, "cuda", "{}: batch and heads must be at most 65535", op);
  check_on_device(stream, op, {&in.q, &in.k, &in.v, &in.key_mask, &in.q_scale, &in.k_scale, &out});

  const auto at = [](const DeviceTensor& t, int64_t offset) {
    return detail::Operand{static_cast<const char*>(t.raw_data()) + storage_bytes(t.dtype(), offset), t.dtype()};
  };
  detail::AttentionArgs a;
  a.q = at(in.q, in.q_offset);
  a.k = at(in.k, in.k_offset);
  a.v = at(in.v, in.v_offset);
  a.row_stride = row_stride;
  a.batch = batch;
  a.seq = seq;
  a.heads = in.heads;
  a.head_dim = in.head_dim;
  a.key_mask = in.key_mask.defined() ? in.key_mask.data<int32_t>() : nullptr;
  a.scale = in.scale != 0 ? in.scale : 1.0f / std::sqrt(static_cast<float>(in.head_dim));
  a.q_scale = quantized_qk ? in.q_scale.data<float>() : nullptr;
  a.k_scale = quantized_qk ? in.k_scale.data<float>() : nullptr;
  a.out = out.raw_data();
  a.out_dtype = out.dtype();
  if (!detail::attention_uses_tensor_cores(a)) {
    const int64_t shared = detail::attention_shared_bytes(seq, in.head_dim);
    check(shared <= 48 * 1024, "cuda", "{}: seq {} with head_dim {} needs {} bytes of shared memory (limit 48 KiB)",
          op, seq, in.head_dim, shared);
  }
  DeviceGuard guard(stream.device());
  detail::launch_attention(a, stream.handle());
  check_launch(op);
}

void classification_head(const DeviceTensor& hidden, const ClassifierWeights& weights, DeviceTensor& logits,
                         const Stream& stream) {
  constexpr std::string_view op = "classification_head";
  require_gpu(op);
  detail::check_float_operand(TensorInfo::of(hidden), op, "hidden");
  check(hidden.rank() == 3, "cuda", "{}: hidden must be [batch, seq, hidden]", op);
  const int64_t batch = hidden.dim(0), seq = hidden.dim(1), h = hidden.dim(2);
  check(seq > 0, "cuda", "{}: seq must be positive", op);
  check(h <= 6144, "cuda", "{}: hidden size {} exceeds the kernel's limit of 6144", op, h);
  if (weights.pooler_w.defined()) {
    detail::check_float_operand(TensorInfo::of(weights.pooler_w), op, "pooler_w");
    check(weights.pooler_w.shape() == Shape{h, h}, "cuda", "{}: pooler_w must be [{}, {}]", op, h, h);
    if (weights.pooler_b.defined()) check_vector(weights.pooler_b, h, op, "pooler_b");
  }
  detail::check_float_operand(TensorInfo::of(weights.classifier_w), op, "classifier_w");
  check(weights.classifier_w.rank() == 2 && weights.classifier_w.dim(1) == h, "cuda",
        "{}: classifier_w must be [classes, {}]", op, h);
  const int64_t classes = weights.classifier_w.dim(0);
  if (weights.classifier_b.defined()) check_vector(weights.classifier_b, classes, op, "classifier_b");
  check(logits.defined() && logits.dtype() == DType::F32 && logits.shape() == Shape{batch, classes}, "cuda",
        "{}: logits must be f32 [{}, {}]", op, batch, classes);
  check(batch <= INT32_MAX, "cuda", "{}: batch too large", op);
  check_on_device(stream, op,
                  {&hidden, &weights.pooler_w, &weights.pooler_b, &weights.classifier_w, &weights.classifier_b, &logits});
  detail::ClassifierArgs a;
  a.hidden = operand(hidden);
  a.pooler_w = operand(weights.pooler_w);
  a.pooler_b = operand(weights.pooler_b);
  a.classifier_w = operand(weights.classifier_w);
  a.classifier_b = operand(weights.classifier_b);
  a.batch = batch;
  a.seq = seq;
  a.hidden_size = h;
  a.classes = classes;
  a.logits = logits.data<float>();
  DeviceGuard guard(stream.device());
  detail::launch_classification_head(a, stream.handle());
  check_launch(op);
}

}  // namespace octet::cuda
