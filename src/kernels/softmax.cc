// softmax over the last dimension with an optional broadcast additive mask.
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/op_checks.h"
#include "octet/kernels.h"

namespace octet::kernels {
namespace {

// Maps a row of x (an index over x's leading dims) to the offset of the mask
// row that broadcasts onto it.
class MaskRows {
 public:
  MaskRows(const Tensor& x, const Tensor& mask) {
    const int lead = x.rank() - 1;
    const int offset = x.rank() - mask.rank();  // mask dims align to x's trailing dims
    const Shape mask_strides = contiguous_strides(mask.shape());
    dims_.resize(static_cast<size_t>(lead));
    strides_.assign(static_cast<size_t>(lead), 0);
    for (int d = 0; d < lead; ++d) {
      dims_[d] = x.dim(d);
      const int md = d - offset;
      if (md >= 0 && mask.dim(md) != 1) strides_[d] = mask_strides[md];
    }
  }

  int64_t offset(int64_t row) const {
    int64_t off = 0;
    for (size_t d = dims_.size(); d-- > 0;) {
      off += (row % dims_[d]) * strides_[d];
      row /= dims_[d];
    }
    return off;
  }

 private:
  Shape dims_, strides_;
};

}  // namespace

void softmax(const Tensor& x, Tensor& y, float scale, const Tensor& mask) {
  detail::require_f32("softmax", "x", x);
  check(x.rank() >= 1, "softmax", "x must have at least one dimension");
  const int64_t cols = x.dim(-1);
  if (mask.defined()) {
    detail::require_f32("softmax", "mask", mask);
    bool ok = mask.rank() >= 1 && mask.rank() <= x.rank() && mask.dim(-1) == cols;
    for (int d = 1; ok && d < mask.rank(); ++d) {
      const int64_t md = mask.dim(-1 - d), xd = x.dim(-1 - d);
      ok = md == 1 || md == xd;
    }
    check(ok, "softmax", "mask {} does not broadcast to x {} (its last dimension must be {})", mask, x, cols);
  }
  detail::prepare_output("softmax", "y", y, x.shape());
  if (cols == 0) return;
  const int64_t rows = x.numel() / cols;
  const RowKernels& k = row_kernels();
  const float* px = x.data<float>();
  const float* pm = mask.defined() ? mask.data<float>() : nullptr;
  float* py = y.data<float>();
  const MaskRows mask_rows = mask.defined() ? MaskRows(x, mask) : MaskRows(x, x);
  detail::parallel_rows(rows, cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      k.softmax(px + r * cols, pm ? pm + mask_rows.offset(r) : nullptr, scale, py + r * cols, cols);
  });
}

Tensor softmax(const Tensor& x, float scale, const Tensor& mask) {
  Tensor y;
  softmax(x, y, scale, mask);
  return y;
}

}  // namespace octet::kernels
