// GPTQ and the Hessian accumulator (see gptq.h).
//
// The working weights are kept transposed, Wt [in, out] f32, so that a column
// of W is a contiguous row: the per-column error feedback is an axpy over the
// output rows (rows of W are independent: each only ever sees its own errors,
// so they are split over the thread pool), and the lazy update of the columns
// after a block is one kernels::gemm on a contiguous slice of Wt.
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "octet/kernels.h"
#include "octet/thread_pool.h"
#include "quant/cholesky.h"

namespace octet {

using namespace group_quant_detail;

namespace {

// Rows of x per f32 GEMM before the sum moves to double: short enough that
// f32 accumulation loses little, long enough that the GEMM dominates the adds.
constexpr int64_t kHessianChunkRows = 512;
// Output rows per pass of the in-block column loop: a block of 128 columns x
// 64 rows of double weights (64 KiB) stays in L2 while its columns are swept.
constexpr int64_t kRowSlice = 64;
constexpr int64_t kTransposeTile = 32;

// src [rows, cols] -> dst [cols, rows], in tiles so reads and writes both stay in cache.
template <typename T>
void transpose_into(const T* src, int64_t rows, int64_t cols, T* dst) {
  const int64_t col_tiles = (cols + kTransposeTile - 1) / kTransposeTile;
  parallel_for(col_tiles, [&](int64_t t0, int64_t t1) {
    for (int64_t c0 = t0 * kTransposeTile; c0 < std::min(cols, t1 * kTransposeTile); c0 += kTransposeTile) {
      const int64_t c1 = std::min(cols, c0 + kTransposeTile);
      for (int64_t r0 = 0; r0 < rows; r0 += kTransposeTile) {
        const int64_t r1 = std::min(rows, r0 + kTransposeTile);
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}

// Upper triangle := lower transposed, tile by tile so both sides stay in cache.
void mirror_lower_triangle(double* h, int64_t n) {
  for (int64_t i0 = 0; i0 < n; i0 += kTransposeTile)
    for (int64_t j0 = 0; j0 <= i0; j0 += kTransposeTile)
      for (int64_t i = i0; i < std::min(n, i0 + kTransposeTile); ++i)
        for (int64_t j = j0; j < std::min(i, j0 + kTransposeTile); ++j) h[j * n + i] = h[i * n + j];
}

// The Hessian as a symmetric double matrix built from its lower triangle.
std::vector<double> symmetric_hessian(const Tensor& hessian, int64_t in) {
  check(hessian.defined(), kTag, "gptq_quantize: undefined Hessian");
  check((hessian.dtype() == DType::F64 || hessian.dtype() == DType::F32) && hessian.shape() == Shape{in, in}, kTag,
        "gptq_quantize: the Hessian must be f64 (or f32) [{}, {}], got {}", in, in, hessian);
  const Tensor h64 = hessian.dtype() == DType::F64 ? hessian.contiguous() : hessian.to(DType::F64);
  const double* src = h64.data<double>();
  std::vector<double> h(src, src + in * in);
  double poison = 0.0;  // NaN iff some entry of the lower triangle is NaN or Inf
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j <= i; ++j) poison += h[i * in + j] * 0.0;
  check(poison == 0.0, kTag, "gptq_quantize: the Hessian contains NaN or Inf");
  mirror_lower_triangle(h.data(), in);
  return h;
}

// Everything the column loop reads, in the (possibly permuted) column order.
struct GptqProblem {
  int64_t out = 0, in = 0, group = 0;
  std::vector<int64_t> perm;    // processing position -> original column
  std::vector<double> u;        // upper Cholesky factor of H^-1 [in, in], permuted
  Tensor wt;                    // working weights [in, out], permuted rows
  std::vector<GroupParams> static_params;  // [out, in / group] when groups are fixed up front
};

// Per (row, group) params from the original weights wt [in, out] (act_order's static groups).
std::vector<GroupParams> static_group_params(const Tensor& wt, int64_t out, int64_t in, int64_t group,
                                             const QuantSpec& spec) {
  const int64_t groups = in / group;
  std::vector<GroupParams> params(static_cast<size_t>(out * groups));
  const float* w = wt.data<float>();
  parallel_for(out, [&](int64_t r0, int64_t r1) {
    std::vector<float> lo(static_cast<size_t>(r1 - r0)), hi(static_cast<size_t>(r1 - r0));
    for (int64_t g = 0; g < groups; ++g) {
      std::fill(lo.begin(), lo.end(), INFINITY);
      std::fill(hi.begin(), hi.end(), -INFINITY);
      for (int64_t c = g * group; c < (g + 1) * group; ++c)
        for (int64_t r = r0; r < r1; ++r) {
          lo[r - r0] = std::min(lo[r - r0], w[c * out + r]);
          hi[r - r0] = std::max(hi[r - r0], w[c * out + r]);
        }
      for (int64_t r = r0; r < r1; ++r) params[r * groups + g] = params_for_range(lo[r - r0], hi[r - r0], spec);
    }
  }, kRowSlice);
  return params;
}

// One lazy block [i1, i2) of columns for output rows [r0, r1): quantizes each
// column, writes codes (and group params when a group starts here), feeds the
// error into the block's later columns (w1, double, [width, out]) and records
// it in e1 ([width, out], f32) for the lazy update of the columns after the block.
struct BlockPass {
  const GptqProblem& p;
  const QuantSpec& spec;
  const Grid& grid;
  const CodeWriter& codes;
  float* scales;
  int32_t* zps;
  std::vector<GroupParams>& current;  // the active group's params per row
  int64_t i1, i2;
  double* w1;
  float* e1;

  // Params of the group starting at `col` from the current weights: in-block
  // columns are up to date; later ones (group > block) still owe this block's
  // errors so far, added here.
  void start_group(int64_t col, int64_t r0, int64_t r1) const {
    const int64_t out = p.out, in = p.in, groups = in / p.group;
    const float* wt = p.wt.data<float>();
    std::vector<float> lo(static_cast<size_t>(r1 - r0), INFINITY), hi(static_cast<size_t>(r1 - r0), -INFINITY);
    for (int64_t c = col; c < col + p.group; ++c)
      for (int64_t r = r0; r < r1; ++r) {
        double v;
        if (c < i2) {
          v = w1[(c - i1) * out + r];
        } else {
          v = wt[c * out + r];
          for (int64_t k = i1; k < col; ++k) v -= double(e1[(k - i1) * out + r]) * p.u[k * in + c];
        }
        lo[r - r0] = std::min(lo[r - r0], static_cast<float>(v));
        hi[r - r0] = std::max(hi[r - r0], static_cast<float>(v));
      }
    for (int64_t r = r0; r < r1; ++r) {
      current[r] = params_for_range(lo[r - r0], hi[r - r0], spec);
      scales[r * groups + col / p.group] = current[r].scale;
      zps[r * groups + col / p.group] = current[r].zero_point;
    }
  }

  void run(int64_t r0, int64_t r1) const {
    const int64_t out = p.out, in = p.in, groups = in / p.group, width = i2 - i1, rows = r1 - r0;
    std::vector<double> e(static_cast<size_t>(rows));
    for (int64_t i = 0; i < width; ++i) {
      const int64_t col = i1 + i, orig = p.perm[col];
      if (p.static_params.empty() && col % p.group == 0) start_group(col, r0, r1);
      const double* wi = w1 + i * out;
      const double d = p.u[col * in + col];
      for (int64_t r = r0; r < r1; ++r) {
        const GroupParams& gp = p.static_params.empty() ? current[r] : p.static_params[r * groups + orig / p.group];
        const int q = grid.code(static_cast<float>(wi[r]), gp.inv_scale, gp.zero_point);
        codes.put(r * in + orig, q);
        const double error = (wi[r] - double(dequantize_code(q, gp))) / d;
        e[r - r0] = error;
        e1[i * out + r] = static_cast<float>(error);
      }
      for (int64_t c = i + 1; c < width; ++c) {
        const double uc = p.u[col * in + i1 + c];
        double* wc = w1 + c * out + r0;
        for (int64_t r = 0; r < rows; ++r) wc[r] -= e[r] * uc;
      }
    }
  }
};

// Runs the lazy blocks over all columns, writing codes / scales / zero points.
void run_columns(GptqProblem& p, const QuantSpec& spec, int64_t block, GroupQuantizedWeight& result) {
  const int64_t out = p.out, in = p.in;
  const Grid grid = grid_for(spec);
  const CodeWriter codes(result.codes);
  float* wt = p.wt.data<float>();
  std::vector<GroupParams> current(static_cast<size_t>(out));
  for (int64_t i1 = 0; i1 < in; i1 += block) {
    const int64_t i2 = std::min(in, i1 + block), width = i2 - i1;
    std::vector<double> w1(wt + i1 * out, wt + i2 * out);
    Tensor err = Tensor::empty({width, out}, DType::F32);
    const BlockPass pass{p, spec, grid, codes, result.scales.data<float>(), result.zero_points.data<int32_t>(),
                         current, i1, i2, w1.data(), err.data<float>()};
    parallel_for(out, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r += kRowSlice) pass.run(r, std::min(r1, r + kRowSlice));
    }, kRowSlice);
    if (i2 == in) break;
    // Lazy update of the later columns: Wt[i2:] -= U[i1:i2, i2:]^T Err.
    Tensor ut = Tensor::empty({in - i2, width}, DType::F32);
    float* utd = ut.data<float>();
    for (int64_t k = 0; k < width; ++k)
      for (int64_t c = i2; c < in; ++c) utd[(c - i2) * width + k] = static_cast<float>(p.u[(i1 + k) * in + c]);
    Tensor tail = p.wt.slice(0, i2, in);
    kernels::GemmParams gp;
    gp.alpha = -1.0f;
    gp.beta = 1.0f;
    kernels::gemm(ut, err, tail, gp);
  }
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t in) : in_(in) {
  check(in > 0, kTag, "HessianAccumulator: in must be > 0, got {}", in);
  sum_.assign(static_cast<size_t>(in * in), 0.0);
}

void HessianAccumulator::add(const Tensor& x_in) {
  check(x_in.defined() && x_in.dtype() == DType::F32 && x_in.rank() >= 1 && x_in.dim(-1) == in_, kTag,
        "HessianAccumulator::add: inputs must be f32 [..., {}], got {}", in_,
        x_in.defined() ? x_in.describe() : std::string("undefined"));
  const Tensor x = x_in.contiguous();
  const int64_t n = x.numel() / in_;
  const float* xd = x.data<float>();
  if (!all_finite(x.span<float>())) fail(kTag, "HessianAccumulator::add: inputs {} contain NaN or Inf", x.describe());
  Tensor g;  // X^T X of one chunk, f32 [in, in]
  for (int64_t r0 = 0; r0 < n; r0 += kHessianChunkRows) {
    const int64_t rows = std::min(kHessianChunkRows, n - r0);
    Tensor xt = Tensor::empty({in_, rows}, DType::F32);
    transpose_into(xd + r0 * in_, rows, in_, xt.data<float>());
    kernels::GemmParams params;
    params.transpose_b = true;
    kernels::gemm(xt, xt, g, params);
    const float* gd = g.data<float>();
    parallel_for(in_, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = 0; j <= i; ++j) sum_[i * in_ + j] += gd[i * in_ + j];
    }, 16);
  }
  rows_ += n;
}

Tensor HessianAccumulator::hessian() const {
  check(rows_ > 0, kTag, "HessianAccumulator: no input rows were added");
  Tensor h = Tensor::empty({in_, in_}, DType::F64);
  double* hd = h.data<double>();
  const double factor = 2.0 / static_cast<double>(rows_);
  for (int64_t i = 0; i < in_; ++i)
    for (int64_t j = 0; j <= i; ++j) hd[i * in_ + j] = factor * sum_[i * in_ + j];
  mirror_lower_triangle(hd, in_);
  return h;
}

int64_t HessianAccumulator::rows() const { return rows_; }

GroupQuantizedWeight gptq_quantize(const Tensor& w_in, const Tensor& hessian, const QuantSpec& spec,
                                   const GptqOptions& options, GptqStats* stats) {
  const Tensor w = require_weight(w_in, "gptq_quantize: weight");
  const int64_t out = w.dim(0), in = w.dim(1);
  const int64_t group = group_size_for(spec, w.shape());
  check(std::isfinite(options.damp) && options.damp >= 0, kTag, "gptq_quantize: damp must be finite and >= 0, got {}",
        options.damp);
  check(options.block > 0, kTag, "gptq_quantize: block must be > 0, got {}", options.block);
  std::vector<double> h = symmetric_hessian(hessian, in);

  GptqProblem p;
  p.out = out, p.in = in, p.group = group;
  Tensor wt = Tensor::empty({in, out}, DType::F32);
  transpose_into(w.data<float>(), out, in, wt.data<float>());
  float* wtd = wt.data<float>();
  // Dead columns: an input that is always 0 says nothing about its weight; zero
  // both so the factorisation sees an identity row.
  GptqStats local;
  for (int64_t i = 0; i < in; ++i) {
    const double hii = h[i * in + i];
    check(hii >= 0, kTag, "gptq_quantize: Hessian diagonal entry {} is negative ({}); not a Hessian of inputs", i, hii);
    if (hii != 0) continue;
    ++local.dead_columns;
    for (int64_t j = 0; j < in; ++j) h[i * in + j] = h[j * in + i] = 0.0;
    h[i * in + i] = 1.0;
    std::fill(wtd + i * out, wtd + (i + 1) * out, 0.0f);
  }
  if (options.act_order) p.static_params = static_group_params(wt, out, in, group, spec);

  p.perm.resize(static_cast<size_t>(in));
  std::iota(p.perm.begin(), p.perm.end(), 0);
  if (options.act_order) {
    // Stable, so equal diagonals keep their order and the result is deterministic.
    std::stable_sort(p.perm.begin(), p.perm.end(),
                     [&](int64_t a, int64_t b) { return h[a * in + a] > h[b * in + b]; });
    std::vector<double> hp(h.size());
    Tensor wp = Tensor::empty({in, out}, DType::F32);
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t j = 0; j < in; ++j) hp[i * in + j] = h[p.perm[i] * in + p.perm[j]];
      std::copy(wtd + p.perm[i] * out, wtd + (p.perm[i] + 1) * out, wp.data<float>() + i * out);
    }
    h.swap(hp);
    wt = wp;
  }
  p.wt = wt;

  double mean_diag = 0;
  for (int64_t i = 0; i < in; ++i) mean_diag += h[i * in + i];
  mean_diag /= static_cast<double>(in);
  local.damp_added = options.damp * mean_diag;
  for (int64_t i = 0; i < in; ++i) h[i * in + i] += local.damp_added;
  const int64_t failed = cholesky_detail::inverse_upper_cholesky(h, in, p.u);
  if (failed >= 0)
    fail(kTag,
         "gptq_quantize: the Hessian plus damping {:g} ({:g} x mean diagonal) is not positive definite (pivot of "
         "column {}); raise GptqOptions::damp", local.damp_added, options.damp, p.perm[failed]);
  h = {};

  GroupQuantizedWeight result = make_group_weight(spec, group, out, in);
  if (!p.static_params.empty()) {
    float* scales = result.scales.data<float>();
    int32_t* zps = result.zero_points.data<int32_t>();
    for (size_t k = 0; k < p.static_params.size(); ++k) {
      scales[k] = p.static_params[k].scale;
      zps[k] = p.static_params[k].zero_point;
    }
  }
  run_columns(p, spec, options.block, result);
  if (stats) *stats = local;
  return result;
}

}  // namespace octet
