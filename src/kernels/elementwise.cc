// Activations, add / mul with trailing broadcast, and embedding lookup.
#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/op_checks.h"
#include "octet/kernels.h"

namespace octet::kernels {
namespace {

UnaryRunFn activation_fn(const RowKernels& k, Activation act) {
  switch (act) {
    case Activation::Gelu: return k.gelu;
    case Activation::GeluTanh: return k.gelu_tanh;
    case Activation::QuickGelu: return k.quick_gelu;
    case Activation::Relu: return k.relu;
    case Activation::Silu: return k.silu;
  }
  fail("activation", "unknown activation {}", static_cast<int>(act));
}

// y = fn(a, b) where b repeats every b.numel() elements of a.
void binary_op(std::string_view op, BinaryRunFn RowKernels::*member, const Tensor& a, const Tensor& b, Tensor& y) {
  detail::require_f32(op, "a", a);
  detail::require_f32(op, "b", b);
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const bool suffix = bs.size() <= as.size() && std::equal(bs.begin(), bs.end(), as.end() - bs.size());
  check(suffix, op, "b {} must have a's shape {} or its trailing dimensions", shape_str(bs), shape_str(as));
  detail::prepare_output(op, "y", y, as);
  const int64_t n = a.numel(), inner = b.numel();
  if (n == 0) return;
  const BinaryRunFn fn = row_kernels().*member;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = y.data<float>();
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        // Walk [begin, end) in pieces that do not cross a repeat of b.
        for (int64_t p = begin; p < end;) {
          const int64_t offset = p % inner;
          const int64_t len = std::min(end - p, inner - offset);
          fn(pa + p, pb + offset, py + p, len);
          p += len;
        }
      },
      detail::kMinElementsPerTask);
}

template <typename Id>
void gather_rows(const Tensor& table, const Id* ids, int64_t count, float* out) {
  const int64_t vocab = table.dim(0), hidden = table.dim(1);
  for (int64_t i = 0; i < count; ++i)
    check(ids[i] >= 0 && ids[i] < vocab, "embedding", "id {} at position {} is out of range for a table of {} rows",
          static_cast<int64_t>(ids[i]), i, vocab);
  const float* src = table.data<float>();
  detail::parallel_rows(count, hidden, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      std::memcpy(out + i * hidden, src + static_cast<int64_t>(ids[i]) * hidden, sizeof(float) * hidden);
  });
}

}  // namespace

Activation parse_activation(std::string_view name) {
  if (name == "gelu") return Activation::Gelu;
  // HF's NewGELU, PytorchGELUTanh and FastGELU all compute the tanh approximation.
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "quick_gelu") return Activation::QuickGelu;
  if (name == "relu") return Activation::Relu;
  if (name == "silu" || name == "swish") return Activation::Silu;
  fail("activation", "unknown activation '{}' (known: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, "
                     "relu, silu, swish)", name);
}

std::string_view activation_name(Activation act) {
  switch (act) {
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_pytorch_tanh";
    case Activation::QuickGelu: return "quick_gelu";
    case Activation::Relu: return "relu";
    case Activation::Silu: return "silu";
  }
  return "unknown";
}

void activation(Activation act, const Tensor& x, Tensor& y) {
  detail::require_f32("activation", "x", x);
  detail::prepare_output("activation", "y", y, x.shape());
  const UnaryRunFn fn = activation_fn(row_kernels(), act);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      x.numel(), [&](int64_t begin, int64_t end) { fn(px + begin, py + begin, end - begin); },
      detail::kMinElementsPerTask);
}

Tensor activation(Activation act, const Tensor& x) {
  Tensor y;
  activation(act, x, y);
  return y;
}

void add(const Tensor& a, const Tensor& b, Tensor& y) { binary_op("add", &RowKernels::add, a, b, y); }
void mul(const Tensor& a, const Tensor& b, Tensor& y) { binary_op("mul", &RowKernels::mul, a, b, y); }

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y;
  add(a, b, y);
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y;
  mul(a, b, y);
  return y;
}

void embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  detail::require_f32("embedding", "table", table);
  check(table.rank() == 2, "embedding", "table must be [vocab, hidden], got {}", table);
  check(ids.defined() && (ids.dtype() == DType::I64 || ids.dtype() == DType::I32), "embedding",
        "ids must be i64 or i32, got {}", ids);
  check(ids.is_contiguous(), "embedding", "ids {} must be contiguous", ids);
  Shape shape = ids.shape();
  shape.push_back(table.dim(1));
  detail::prepare_output("embedding", "out", out, shape);
  if (ids.dtype() == DType::I64)
    gather_rows(table, ids.data<int64_t>(), ids.numel(), out.data<float>());
  else
    gather_rows(table, ids.data<int32_t>(), ids.numel(), out.data<float>());
}

Tensor embedding(const Tensor& table, const Tensor& ids) {
  Tensor out;
  embedding(table, ids, out);
  return out;
}

}  // namespace octet::kernels
