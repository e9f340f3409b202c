// BF16 GEMM (octet/gemm_bf16.h): argument checks, weight packing, the
// conversion of activations to bf16 pairs, the split of cache blocks over the
// pool, and the choice of kernel. The SIMD tiles are in cpu/gemm_bf16_avx512bf16.cc,
// the reference in ref/gemm_bf16_ref.cc.
#include "octet/gemm_bf16.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error_tags.h"
#include "kernels/cpu/gemm_bf16_internal.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {
constexpr int64_t kPanel = PackedBf16Weights::kPanelWidth;
constexpr int64_t kTileRows = 12;
// Pairs of k per cache slice: 384 values of k, as the fp32 blocked GEMM
// (a 12-row tile's activations, 9 KB, stay in L1; C is updated once a slice).
constexpr int64_t kSlicePairs = 192;
// Up to this many rows (two tiles) a task goes panel by panel (below).
constexpr int64_t kPanelMajorRows = 2 * kTileRows;

bool has_bf16_kernels(const CpuFeatures& f) { return f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16; }

}  // namespace

void kernels::bf16::check_gemm_args(const float* x, int64_t m, int64_t ldx, const PackedBf16Weights& w, const float* y,
                                    int64_t ldy) {
  check(!w.empty(), kGemmBf16Tag, "the weights are empty (not packed)");
  check(m >= 0, kGemmBf16Tag, "m is {}", m);
  check(m == 0 || (x && y), kGemmBf16Tag, "null activations or output");
  check(ldx >= w.k(), kGemmBf16Tag, "ldx {} is below k {}", ldx, w.k());
  check(ldy >= w.n(), kGemmBf16Tag, "ldy {} is below n {}", ldy, w.n());
}

void PackedBf16Weights::FreeDeleter::operator()(void* p) const { std::free(p); }
PackedBf16Weights::PackedBf16Weights() = default;
PackedBf16Weights::PackedBf16Weights(PackedBf16Weights&&) noexcept = default;
PackedBf16Weights& PackedBf16Weights::operator=(PackedBf16Weights&&) noexcept = default;
PackedBf16Weights::~PackedBf16Weights() = default;

PackedBf16Weights pack_bf16_weights(const float* w, int64_t n, int64_t k) {
  check(n > 0 && k > 0, kGemmBf16Tag, "weights must be non-empty, got [{}, {}]", n, k);
  check(w != nullptr, kGemmBf16Tag, "null weights");
  PackedBf16Weights p;
  p.n_ = n, p.k_ = k;
  p.n_padded_ = (n + kPanel - 1) / kPanel * kPanel;
  p.k_padded_ = (k + 1) / 2 * 2;
  const size_t bytes = (p.bytes() + 63) / 64 * 64;
  p.data_.reset(static_cast<uint16_t*>(std::aligned_alloc(64, bytes)));
  check(p.data_ != nullptr, kGemmBf16Tag, "out of memory packing [{}, {}] weights", n, k);
  std::memset(p.data_.get(), 0, bytes);
  uint16_t* out = p.data_.get();
  std::vector<uint16_t> row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    convert_f32_to_bf16({w + j * k, static_cast<size_t>(k)}, row);
    uint16_t* panel = out + (j / kPanel) * (p.k_padded_ * kPanel) + (j % kPanel) * 2;
    for (int64_t t = 0; t < k; ++t) panel[(t / 2) * 2 * kPanel + t % 2] = row[static_cast<size_t>(t)];
  }
  return p;
}

bool bf16_gemm_supported() { return has_bf16_kernels(cpu_features()); }

void require_bf16_gemm(std::string_view tag) {
  check(bf16_gemm_supported(), tag,
        "bf16 needs AVX-512 BF16 (vdpbf16ps), which this CPU lacks{}; use fp32 or an int8 recipe",
        has_bf16_kernels(cpu_features_detected()) ? " as OCTET_ISA caps it" : "");
}

void gemm_bf16(const float* x, int64_t m, int64_t ldx, const PackedBf16Weights& w, const float* bias, float* y,
               int64_t ldy) {
  kernels::bf16::check_gemm_args(x, m, ldx, w, y, ldy);
  require_bf16_gemm(kGemmBf16Tag);
  if (m == 0) return;
  const int64_t n = w.n(), k = w.k(), kp = w.k_padded(), pairs = kp / 2;

  // Activations as bf16 pairs, rows of kp (a zero past an odd k), in the
  // calling thread's buffer: kept between calls, since a fresh one of tens
  // of MB (8192 tokens x 3072) comes from mmap and faults in every page
  // (a third of the time of such a product, measured).
  thread_local std::vector<uint16_t> buffer;
  if (buffer.size() < static_cast<size_t>(m * kp)) buffer.resize(static_cast<size_t>(m * kp));
  uint16_t* const xb_data = buffer.data();
  const int64_t convert_grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(k, 1));
  parallel_for(
      m,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          convert_f32_to_bf16({x + r * ldx, static_cast<size_t>(k)}, {xb_data + r * kp, static_cast<size_t>(k)});
          if (kp > k) xb_data[r * kp + k] = 0;
        }
      },
      convert_grain);

  // Tasks as the fp32 blocked GEMM: column blocks of 2-16 panels (about 4
  // per thread), row blocks only when columns leave threads idle.
  const int64_t threads = num_threads();
  const int64_t panels = (n + kPanel - 1) / kPanel;
  const int64_t nc = std::clamp<int64_t>(panels / std::max<int64_t>(1, 4 * threads), 2, 16) * kPanel;
  const int64_t col_blocks = (n + nc - 1) / nc;
  const int64_t tiles = (m + kTileRows - 1) / kTileRows;
  const int64_t row_blocks = std::clamp<int64_t>((2 * threads + col_blocks - 1) / col_blocks, 1, tiles);
  const int64_t mc = (tiles + row_blocks - 1) / row_blocks * kTileRows;
  const int64_t panel_stride = kp * kPanel;
  // Up to kPanelMajorRows rows, a task runs all slices of one panel before the
  // next panel: the weights then stream in one run per panel (96 KB at k =
  // 3072) instead of a 24 KB run per slice, each starting with a miss no
  // prefetch covered (BM_LinearStackCold at 16 tokens 7.2 -> 5.6 ms; at 64
  // tokens, compute-bound, no gain, so more rows keep the slice order). The
  // slices and their order per output stay the same, so every row's result
  // is the same bits whatever the row count.
  const int64_t panel_width = m <= kPanelMajorRows ? kPanel : std::numeric_limits<int64_t>::max();
  parallel_for(
      col_blocks * row_blocks,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n0 = (t / row_blocks) * nc, block_cols = std::min(nc, n - n0);
          const int64_t r0 = (t % row_blocks) * mc, rows = std::min(mc, m - r0);
          if (rows <= 0) continue;
          for (int64_t c0 = 0; c0 < block_cols; c0 += panel_width) {
            const int64_t cols = std::min(panel_width, block_cols - c0), col = n0 + c0;
            for (int64_t p0 = 0; p0 < pairs; p0 += kSlicePairs) {
              kernels::bf16::compute_rows_avx512bf16(
                  rows, cols, std::min(kSlicePairs, pairs - p0), xb_data + r0 * kp + 2 * p0, kp,
                  w.data() + (col / kPanel) * panel_stride + p0 * 2 * kPanel, panel_stride, y + r0 * ldy + col, ldy,
                  bias ? bias + col : nullptr, /*accumulate=*/p0 > 0);
            }
          }
        }
      },
      1);
}

}  // namespace octet
