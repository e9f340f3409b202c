// Encoder attention (float, int8 and fp8 Q.K^T) and the classification head
// against double references with derived bounds.
// Needs a GPU: skipped (visibly) without one.
#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "octet/cuda_ops.h"
#include "octet/number_formats.h"

namespace octet::cuda {
namespace {

using testing::CudaTest;
using testing::gamma_n;
using testing::kU32;
using testing::random_values;
using testing::Reference;

struct AttentionCase {
  int64_t batch = 2, seq = 19, heads = 4, head_dim = 32;
  std::vector<int32_t> mask;  // [batch, seq] or empty
};

// q, k, v as f32 [B, S, heads * head_dim] (the exact values the GPU reads,
// after dequantization: q = q_value * q_scale). Bound (u = 2^-24):
//   score error  e_j <= scale gamma_hd sum_d |q_d k_jd| + r u |s_j|   (r = 1 float,
//                       3 for quantized q, k: scale * q_scale * k_scale, then * dot;
//                       the integer dot itself is exact)
//   probabilities: rel(p_j) <= 2 E + (6 + max_j |s_j - max|) u + gamma_seq,
//                  E = max_j e_j (numerator and normaliser both shift; expf
//                  within 2 ulp; the subtraction; sum; reciprocal and product)
//   out_d error <= (gamma_seq + rel(p) + 2u) sum_j p_j |v_jd|
// `extra_out_rel` adds to the output's relative bound (the tensor-core kernel's
// f16 probabilities and online-softmax rescalings).
Reference attention_reference(const AttentionCase& c, const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                              int score_roundings, double dot_u = kU32, double extra_out_rel = 0) {
  const int64_t width = c.heads * c.head_dim;
  Reference ref{{c.batch, c.seq, width}, std::vector<double>(q.numel()), std::vector<double>(q.numel())};
  const float *pq = q.data<float>(), *pk = k.data<float>(), *pv = v.data<float>();
  std::vector<double> s(c.seq), e(c.seq), p(c.seq);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.seq; ++i) {
        const float* qi = pq + (b * c.seq + i) * width + h * c.head_dim;
        double m = -INFINITY, big_e = 0;
        for (int64_t j = 0; j < c.seq; ++j) {
          if (!c.mask.empty() && c.mask[b * c.seq + j] == 0) {
            s[j] = -INFINITY;
            continue;
          }
          const float* kj = pk + (b * c.seq + j) * width + h * c.head_dim;
          double dot = 0, abs_dot = 0;
          for (int64_t d = 0; d < c.head_dim; ++d) dot += double(qi[d]) * kj[d], abs_dot += std::fabs(double(qi[d]) * kj[d]);
          s[j] = scale * dot;
          e[j] = scale * gamma_n(double(c.head_dim), dot_u) * abs_dot + score_roundings * kU32 * std::fabs(s[j]);
          big_e = std::max(big_e, e[j]);
          m = std::max(m, s[j]);
        }
        const int64_t out = (b * c.seq + i) * width + h * c.head_dim;
        if (m == -INFINITY) {  // every key masked
          for (int64_t d = 0; d < c.head_dim; ++d) ref.value[out + d] = 0, ref.tol[out + d] = 0;
          continue;
        }
        double sum = 0, spread = 0;
        for (int64_t j = 0; j < c.seq; ++j) {
          p[j] = s[j] == -INFINITY ? 0.0 : std::exp(s[j] - m);
          sum += p[j];
          if (s[j] != -INFINITY) spread = std::max(spread, m - s[j]);
        }
        const double rel_p = 2 * big_e + (6 + spread) * kU32 + gamma_n(double(c.seq));
        for (int64_t d = 0; d < c.head_dim; ++d) {
          double o = 0, mass = 0;
          for (int64_t j = 0; j < c.seq; ++j) {
            const double vj = pv[(b * c.seq + j) * width + h * c.head_dim + d];
            o += p[j] / sum * vj;
            mass += p[j] / sum * std::fabs(vj);
          }
          ref.value[out + d] = o;
          ref.tol[out + d] = (gamma_n(double(c.seq)) + rel_p + 2 * kU32 + extra_out_rel) * mass;
        }
      }
  return ref;
}

AttentionCase padded_case() {
  AttentionCase c;
  c.mask.assign(c.batch * c.seq, 1);
  for (int64_t j = 13; j < c.seq; ++j) c.mask[c.seq + j] = 0;  // batch 1 is padded after 13 tokens
  return c;
}

class AttentionKernel : public CudaTest {};

TEST_F(AttentionKernel, FloatInputsWithPaddingMatchReference) {
  const AttentionCase c = padded_case();
  const int64_t width = c.heads * c.head_dim;
  for (DType in : {DType::F16, DType::BF16, DType::F32}) {
    for (DType out : {DType::F16, DType::F32}) {
      const std::string what = fmt::format("{} -> {}", dtype_name(in), dtype_name(out));
      SCOPED_TRACE(what);
      const Tensor q = random_values({c.batch, c.seq, width}, 1, in, -2.0f, 2.0f);
      const Tensor k = random_values({c.batch, c.seq, width}, 2, in, -2.0f, 2.0f);
      const Tensor v = random_values({c.batch, c.seq, width}, 3, in);
      AttentionInputs a;
      a.q = DeviceTensor::upload(q, in, stream());
      a.k = DeviceTensor::upload(k, in, stream());
      a.v = DeviceTensor::upload(v, in, stream());
      a.heads = c.heads;
      a.head_dim = c.head_dim;
      a.key_mask = DeviceTensor::upload(Tensor::from_vector(c.mask, {c.batch, c.seq}), stream());
      DeviceTensor o = DeviceTensor::empty({c.batch, c.seq, width}, out, stream());
      attention(a, o, stream());
      testing::expect_float_output(o, attention_reference(c, q, k, v, 1.0f / std::sqrt(32.0f), 1), stream(), what);
    }
  }
}

// The tensor-core kernel (f16 q/k/v, head_dim 64 or 128): several 64-key
// tiles with a ragged end, padding, a fully masked batch row, packed QKV.
// Bound: the f32 kernel's, with the products' f32 accumulation taken at
// u = 2^-23 (tensor cores may truncate instead of rounding), plus, for the
// output, 2^-11 (P stored as f16 before P V; the normaliser l sums the
// unrounded p) and 3u per 64-key tile (each rescaling of O and l by
// exp(m_old - m_new): the exp, the product, the sum).
TEST_F(AttentionKernel, TensorCoreKernelMatchesReferenceAcrossTiles) {
  for (int64_t head_dim : {64, 128}) {
    AttentionCase c;
    c.batch = 3;
    c.seq = 200;
    c.heads = 3;
    c.head_dim = head_dim;
    c.mask.assign(c.batch * c.seq, 1);
    for (int64_t j = 150; j < c.seq; ++j) c.mask[c.seq + j] = 0;  // batch 1 padded after 150 tokens
    for (int64_t j = 0; j < c.seq; ++j) c.mask[2 * c.seq + j] = 0;  // batch 2: nothing to attend to
    const int64_t width = c.heads * c.head_dim;
    const Tensor qkv = random_values({c.batch, c.seq, 3 * width}, 7, DType::F16, -2.0f, 2.0f);
    const Tensor q = qkv.slice(2, 0, width).contiguous(), k = qkv.slice(2, width, 2 * width).contiguous();
    const Tensor v = qkv.slice(2, 2 * width, 3 * width).contiguous();
    const DeviceTensor packed = DeviceTensor::upload(qkv, DType::F16, stream());
    AttentionInputs a;
    a.q = a.k = a.v = packed;
    a.k_offset = width;
    a.v_offset = 2 * width;
    a.row_stride = 3 * width;
    a.heads = c.heads;
    a.head_dim = c.head_dim;
    a.key_mask = DeviceTensor::upload(Tensor::from_vector(c.mask, {c.batch, c.seq}), stream());
    const float scale = 1.0f / std::sqrt(float(head_dim));
    const double tiles = double((c.seq + 63) / 64);
    const Reference ref = attention_reference(c, q, k, v, scale, 1, 0x1p-23, testing::kU16 + 3 * tiles * kU32);
    for (DType out : {DType::F16, DType::F32}) {
      const std::string what = fmt::format("head_dim {} -> {}", head_dim, dtype_name(out));
      SCOPED_TRACE(what);
      DeviceTensor o = DeviceTensor::empty({c.batch, c.seq, width}, out, stream());
      attention(a, o, stream());
      testing::expect_float_output(o, ref, stream(), what);
    }
  }
}

TEST_F(AttentionKernel, ReadsPackedQkvAndGivesZerosForFullyMaskedRows) {
  AttentionCase c;
  c.mask.assign(c.batch * c.seq, 1);
  for (int64_t j = 0; j < c.seq; ++j) c.mask[c.seq + j] = 0;  // batch 1: nothing to attend to
  const int64_t width = c.heads * c.head_dim;
  const Tensor qkv = random_values({c.batch, c.seq, 3 * width}, 4, DType::F16, -2.0f, 2.0f);
  const Tensor q = qkv.slice(2, 0, width).contiguous(), k = qkv.slice(2, width, 2 * width).contiguous();
  const Tensor v = qkv.slice(2, 2 * width, 3 * width).contiguous();
  const DeviceTensor packed = DeviceTensor::upload(qkv, DType::F16, stream());
  AttentionInputs a;
  a.q = a.k = a.v = packed;
  a.k_offset = width;
  a.v_offset = 2 * width;
  a.row_stride = 3 * width;
  a.heads = c.heads;
  a.head_dim = c.head_dim;
  a.scale = 0.2f;
  a.key_mask = DeviceTensor::upload(Tensor::from_vector(c.mask, {c.batch, c.seq}), stream());
  DeviceTensor o = DeviceTensor::empty({c.batch, c.seq, width}, DType::F32, stream());
  attention(a, o, stream());
  const Reference ref = attention_reference(c, q, k, v, 0.2f, 1);
  testing::expect_float_output(o, ref, stream(), "packed");
  const Tensor got = o.download(stream());
  for (int64_t i = c.seq * width; i < 2 * c.seq * width; ++i) ASSERT_EQ(got.data<float>()[i], 0.0f) << i;
}

TEST_F(AttentionKernel, Int8AndFp8QueryKeyProducts) {
  const AttentionCase c = padded_case();
  const int64_t width = c.heads * c.head_dim, n = c.batch * c.seq * width;
  const Tensor v = random_values({c.batch, c.seq, width}, 5, DType::F16);
  for (DType qk : {DType::I8, DType::F8_E4M3}) {
    SCOPED_TRACE(dtype_name(qk));
    // Powers of two, so the host's code * scale is exact and the reference sees the GPU's operands.
    const float q_scale = qk == DType::I8 ? 0x1p-6f : 0x1p-8f, k_scale = qk == DType::I8 ? 0x1p-5f : 0x1p-7f;
    Tensor q_codes = Tensor::empty({c.batch, c.seq, width}, qk), k_codes = Tensor::empty({c.batch, c.seq, width}, qk);
    Tensor q_values = Tensor::empty({c.batch, c.seq, width}, DType::F32), k_values = q_values.clone();
    std::mt19937 rng(6);
    for (int64_t i = 0; i < n; ++i) {
      for (auto [codes, values, scale] : {std::tuple{&q_codes, &q_values, q_scale}, {&k_codes, &k_values, k_scale}}) {
        auto* raw = static_cast<uint8_t*>(codes->raw_data());
        float decoded = 0;
        if (qk == DType::I8) {
          const int code = int(rng() % 255) - 127;
          raw[i] = static_cast<uint8_t>(static_cast<int8_t>(code));
          decoded = float(code);
        } else {
          raw[i] = float_to_fp8_e4m3(float(int(rng() % 897) - 448));
          decoded = fp8_e4m3_to_float(raw[i]);
        }
        values->data<float>()[i] = decoded * scale;  // exact (power-of-two scale)
      }
    }
    AttentionInputs a;
    a.q = DeviceTensor::upload(q_codes, stream());
    a.k = DeviceTensor::upload(k_codes, stream());
    a.v = DeviceTensor::upload(v, DType::F16, stream());
    a.q_scale = DeviceTensor::upload(Tensor::full({1}, q_scale), stream());
    a.k_scale = DeviceTensor::upload(Tensor::full({1}, k_scale), stream());
    a.heads = c.heads;
    a.head_dim = c.head_dim;
    a.key_mask = DeviceTensor::upload(Tensor::from_vector(c.mask, {c.batch, c.seq}), stream());
    DeviceTensor o = DeviceTensor::empty({c.batch, c.seq, width}, DType::F32, stream());
    attention(a, o, stream());
    // int8 dots are exact (|sum| <= 127^2 * 32 < 2^24); fp8 products are exact
    // in f32 but their sum rounds. Scores: scale * q_scale * k_scale * dot, 3 roundings.
    const double dot_u = qk == DType::I8 ? 0x1p-60 : kU32;
    testing::expect_float_output(o, attention_reference(c, q_values, k_values, v, 1.0f / std::sqrt(32.0f), 3, dot_u),
                                 stream(), std::string(dtype_name(qk)));
  }
}

TEST_F(AttentionKernel, RejectsBadShapes) {
  AttentionInputs a;
  a.q = a.k = a.v = DeviceTensor::zeros({1, 8, 64}, DType::F16, stream());
  a.heads = 2;
  a.head_dim = 32;
  DeviceTensor o = DeviceTensor::empty({1, 8, 64}, DType::F16, stream());
  EXPECT_NO_THROW(attention(a, o, stream()));
  a.row_stride = 192;  // views past the end of the tensor
  EXPECT_THROW(attention(a, o, stream()), Error);
  a.row_stride = 0;
  a.q = DeviceTensor::zeros({1, 8, 64}, DType::I8, stream());  // quantized q without scales or a matching k
  EXPECT_THROW(attention(a, o, stream()), Error);
  // The warp-per-query kernel (f32 here) holds a row of scores in shared
  // memory: seq 4000 is over its limit, named. The tensor-core kernel (f16,
  // head_dim 64) has no such limit: zeros in, zeros out.
  AttentionInputs long_seq;
  long_seq.q = long_seq.k = long_seq.v = DeviceTensor::zeros({1, 4000, 64}, DType::F32, stream());
  long_seq.heads = 1;
  long_seq.head_dim = 64;
  DeviceTensor lo = DeviceTensor::empty({1, 4000, 64}, DType::F16, stream());
  EXPECT_THROW(attention(long_seq, lo, stream()), Error);
  long_seq.q = long_seq.k = long_seq.v = DeviceTensor::zeros({1, 4000, 64}, DType::F16, stream());
  attention(long_seq, lo, stream());
  const Tensor zeros_out = lo.download(stream()).to(DType::F32);
  for (float v : zeros_out.span<float>()) ASSERT_EQ(v, 0.0f);
}

// ---- classification head -----------------------------------------------------------------
//
// pooled_j = tanh(sum_i pw_ji h_i + pb_j): error <= gamma_{H+1} (sum |pw h| + |pb|)
// (tanh' <= 1) + 4u |pooled_j| (tanhf within 2 ulp). logits_c = sum_i cw_ci
// pooled_i + cb_c: error <= gamma_{H+1} (sum |cw pooled| + |cb|) + sum_i |cw_ci| e_i.
TEST_F(AttentionKernel, ClassificationHeadMatchesReference) {
  const int64_t batch = 3, seq = 5, hidden = 256, classes = 3;
  const Tensor h = random_values({batch, seq, hidden}, 1, DType::F16, -2.0f, 2.0f);
  const Tensor pw = random_values({hidden, hidden}, 2, DType::F16, -0.1f, 0.1f), pb = random_values({hidden}, 3);
  const Tensor cw = random_values({classes, hidden}, 4, DType::F16, -0.3f, 0.3f), cb = random_values({classes}, 5);
  for (bool pooler : {true, false}) {
    SCOPED_TRACE(pooler ? "pooler" : "no pooler");
    Reference ref{{batch, classes}, std::vector<double>(batch * classes), std::vector<double>(batch * classes)};
    for (int64_t b = 0; b < batch; ++b) {
      const float* first = h.data<float>() + b * seq * hidden;
      std::vector<double> feat(hidden), err(hidden, 0.0);
      for (int64_t j = 0; j < hidden; ++j) {
        if (!pooler) {
          feat[j] = first[j];
          continue;
        }
        double dot = pb.data<float>()[j], abs_dot = std::fabs(dot);
        for (int64_t i = 0; i < hidden; ++i) {
          const double p = double(pw.data<float>()[j * hidden + i]) * first[i];
          dot += p;
          abs_dot += std::fabs(p);
        }
        feat[j] = std::tanh(dot);
        err[j] = gamma_n(double(hidden + 1)) * abs_dot + 4 * kU32 * std::fabs(feat[j]);
      }
      for (int64_t c = 0; c < classes; ++c) {
        double dot = cb.data<float>()[c], abs_dot = std::fabs(dot), propagated = 0;
        for (int64_t i = 0; i < hidden; ++i) {
          const double w = cw.data<float>()[c * hidden + i];
          dot += w * feat[i];
          abs_dot += std::fabs(w * feat[i]);
          propagated += std::fabs(w) * err[i];
        }
        ref.value[b * classes + c] = dot;
        ref.tol[b * classes + c] = gamma_n(double(hidden + 1)) * abs_dot + propagated;
      }
    }
    ClassifierWeights w;
    if (pooler) {
      w.pooler_w = DeviceTensor::upload(pw, DType::F16, stream());
      w.pooler_b = DeviceTensor::upload(pb, stream());
    }
    w.classifier_w = DeviceTensor::upload(cw, DType::F16, stream());
    w.classifier_b = DeviceTensor::upload(cb, stream());
    DeviceTensor logits = DeviceTensor::empty({batch, classes}, DType::F32, stream());
    classification_head(DeviceTensor::upload(h, DType::F16, stream()), w, logits, stream());
    testing::expect_float_output(logits, ref, stream(), "logits");
  }
}

}  // namespace
}  // namespace octet::cuda
