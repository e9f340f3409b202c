// Driver of the batched small fp32 GEMM (see gemm_backend.h): edge cases,
// B packing per item, and the split of (item, row tile) tasks over the pool.
//
// Why not OpenBLAS: attention runs ~100 GEMMs of [128 x 64] x [64 x 128] per
// layer; OpenBLAS re-packs B (and A) for each call and, on this build, uses
// AVX2 kernels. Here every thread packs op(B) of an item once into panels in
// L1/L2, then runs register tiles over all the item's rows it owns.
#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/cpu/small_gemm_internal.h"
#include "kernels/gemm_backend.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

using small_gemm::IsaKernels;

// Below this much work per thread a pool hand-off (microseconds) costs more
// than it saves: the chunk of tasks a thread gets is at least this many flops.
constexpr double kMinChunkFlops = 1e6;

// The calling thread's packed-B buffer, 64-byte aligned, grown as needed and
// kept (pool threads live for the process, so repeated calls do not allocate).
float* pack_buffer(size_t floats) {
  thread_local std::vector<float> storage;
  constexpr size_t kAlignFloats = 16;
  if (storage.size() < floats + kAlignFloats) storage.resize(floats + kAlignFloats);
  const auto misalignment = reinterpret_cast<uintptr_t>(storage.data()) % (kAlignFloats * sizeof(float));
  return storage.data() + (misalignment == 0 ? 0 : (kAlignFloats * sizeof(float) - misalignment) / sizeof(float));
}

// k == 0: the product is empty, so C = beta C (+ bias); beta == 0 does not read C.
void scale_only(const GemmProblem& p) {
  for (int64_t i = 0; i < p.batch; ++i) {
    float* c = p.c + i * p.stride_c;
    for (int64_t r = 0; r < p.m; ++r)
      for (int64_t j = 0; j < p.n; ++j) {
        const float prior = p.beta == 0.0f ? 0.0f : p.beta * c[r * p.ldc + j];
        c[r * p.ldc + j] = prior + (p.bias ? p.bias[j] : 0.0f);
      }
  }
}

void run_small_gemm(const IsaKernels& isa, const GemmProblem& p) {
  if (p.batch <= 0 || p.m <= 0 || p.n <= 0) return;
  if (p.k == 0) {
    scale_only(p);
    return;
  }
  const int64_t tile_rows = isa.tile_rows;
  const int64_t tiles_per_item = (p.m + tile_rows - 1) / tile_rows;
  const int64_t panels = (p.n + isa.panel_width - 1) / isa.panel_width;
  const size_t packed_floats = static_cast<size_t>(panels * isa.panel_width * p.k);
  const small_gemm::Epilogue epilogue{p.alpha, p.beta, p.bias};

  // Tasks [begin, end) in (item, row tile) order: consecutive tasks of one
  // item share its packed B, so a thread packs each item it touches once
  // (items with the same B, as with stride_b == 0, are packed once in all).
  auto run_tasks = [&](int64_t begin, int64_t end) {
    float* packed = pack_buffer(packed_floats);
    const float* packed_from = nullptr;
    for (int64_t t = begin; t < end;) {
      const int64_t item = t / tiles_per_item;
      const int64_t first_tile = t % tiles_per_item;
      const int64_t last_tile = std::min(tiles_per_item, first_tile + (end - t));
      const float* b = p.b + item * p.stride_b;
      if (b != packed_from) {
        isa.pack_b(b, p.ldb, p.trans_b, p.k, p.n, packed);
        packed_from = b;
      }
      const int64_t r0 = first_tile * tile_rows, r1 = std::min(p.m, last_tile * tile_rows);
      isa.compute_rows(r1 - r0, p.n, p.k, p.a + item * p.stride_a + r0 * p.lda, p.lda, packed, p.k * isa.panel_width,
                       p.c + item * p.stride_c + r0 * p.ldc, p.ldc, epilogue);
      t += last_tile - first_tile;
    }
  };

  const int64_t tasks = p.batch * tiles_per_item;
  const double task_flops = 2.0 * static_cast<double>(tile_rows * panels * isa.panel_width) * static_cast<double>(p.k);
  const auto grain = static_cast<int64_t>(std::max(1.0, kMinChunkFlops / task_flops));
  if (num_threads() <= 1 || tasks < 2 * grain) {
    run_tasks(0, tasks);
  } else {
    parallel_for(tasks, run_tasks, grain);
  }
}

// Large GEMMs (a Linear over many tokens: op(B) of megabytes) in cache
// blocks, as BLIS does: a task owns a block of NC columns of C (and, when
// there are too few such blocks for the pool, a block of rows); for each
// slice of kKc steps of k it packs op(B)[slice, block] (kKc x NC floats, in
// L2) and runs the register tiles over its rows, so a tile's A (MR x kKc, in
// L1) serves every panel of the block and C is updated once per slice.
// Column blocks first: op(B) is then packed exactly once in all; A, which is
// what rows re-read, is the small operand of a Linear (tokens x in).
// 384: 18 KB of A per 12-row tile, 3 passes over C for k = 3072. Measured on
// BERT-base Linears (bench_gemm_fp32, 2 threads): 375-413 GFLOP/s, against
// 359-380 at 192-256 (C re-read too often) and 345-418 at 768 (A leaves L1).
constexpr int64_t kKc = 384;
// op(B) past this many floats goes through the blocked driver (below it, the
// whole packed B of an item sits in L2 and run_small_gemm packs it once).
constexpr int64_t kBlockedMinPackedFloats = 64 * 1024;

// Rows of C computed between two rounds of prefetching (4 tiles of 12).
constexpr int64_t kPrefetchChunkRows = 48;

// Where op(B)[k0 : k0 + kc, n0 : n0 + n] of item `item` lies: `runs` runs of
// `run_floats` contiguous floats, `stride` floats apart.
struct BRegion {
  const float* first = nullptr;
  int64_t runs = 0, run_floats = 0, stride = 0;
};

BRegion b_region(const GemmProblem& p, int64_t item, int64_t k0, int64_t kc, int64_t n0, int64_t n) {
  const float* b = p.b + item * p.stride_b;
  return p.trans_b ? BRegion{b + n0 * p.ldb + k0, n, kc, p.ldb} : BRegion{b + k0 * p.ldb + n0, kc, n, p.ldb};
}

// Asks for part `part` of `parts` of a region to be brought into L2 (lines
// pushed out of L2 land in L3). A Linear's weights come from DRAM (a model is
// far larger than the caches): fetched while the tiles of the previous slice
// run, they are in cache when that slice is packed, instead of the packing
// waiting on memory (5-6 % of a BERT-base fp32 pass, perf, before this).
void prefetch_part(const BRegion& r, int64_t part, int64_t parts) {
  const int64_t begin = r.runs * part / parts, end = r.runs * (part + 1) / parts;
  for (int64_t run = begin; run < end; ++run) {
    const char* line = reinterpret_cast<const char*>(r.first + run * r.stride);
    for (int64_t off = 0; off < r.run_floats * static_cast<int64_t>(sizeof(float)); off += 64)
      _mm_prefetch(line + off, _MM_HINT_T1);
  }
}

// Up to this many rows a task packs whole rows of op(B)^T (all of k) at
// once: few rows do little arithmetic per packed value, so packing is what
// they wait on, and it streams from memory far better in long runs than in
// slices of kKc (a BERT-base layer at 16 tokens spent 56 % of its time packing).
constexpr int64_t kWholeKRows = 64;
// The op(B) block a whole-k task packs stays within this much (in L2).
constexpr int64_t kWholeKBlockBytes = 384 * 1024;

// prepacked: op(B) of the whole product (batch 1) already in the packed
// layout with k steps per panel, panels k * panel_width apart (PackedLinearB);
// the tiles then read it in place, with the same blocks and slices, so the
// results equal those of packing per call bit for bit.
void run_blocked_gemm(const IsaKernels& isa, const GemmProblem& p, const float* prepacked = nullptr) {
  const int64_t width = isa.panel_width;
  const int64_t threads = num_threads();
  const int64_t panels = (p.n + width - 1) / width;
  // Whole k also for products small enough for run_small_gemm, which sums
  // all of k in one pass: linear_prepacked then computes what kSmallGemm does.
  const bool whole_k = p.m <= kWholeKRows || p.k * p.n <= kBlockedMinPackedFloats;
  const int64_t slice = whole_k ? p.k : kKc;  // steps of k per packed block
  // Column block: about 4 tasks per thread over n, 2 to 16 panels wide (whole
  // k: as many panels as fit the block budget, at least one).
  const int64_t panels_per_block =
      whole_k ? std::clamp<int64_t>(kWholeKBlockBytes / (p.k * width * static_cast<int64_t>(sizeof(float))), 1, 16)
              : std::clamp<int64_t>(panels / std::max<int64_t>(1, 4 * threads), 2, 16);
  const int64_t nc = panels_per_block * width;
  const int64_t col_blocks = (p.n + nc - 1) / nc;
  // Row blocks only when columns alone leave threads idle (each one re-packs its op(B) block).
  const int64_t tiles = (p.m + isa.tile_rows - 1) / isa.tile_rows;
  const int64_t row_blocks =
      std::clamp<int64_t>((2 * threads + p.batch * col_blocks - 1) / (p.batch * col_blocks), 1, tiles);
  const int64_t mc = ((tiles + row_blocks - 1) / row_blocks) * isa.tile_rows;
  const int64_t tasks = p.batch * col_blocks * row_blocks;

  auto run_tasks = [&](int64_t begin, int64_t end) {
    float* packed = prepacked ? nullptr : pack_buffer(static_cast<size_t>(nc * slice));
    // Task t's item, first column and first row.
    auto task_origin = [&](int64_t t, int64_t& item, int64_t& n0, int64_t& r0) {
      item = t / (col_blocks * row_blocks);
      n0 = ((t / row_blocks) % col_blocks) * nc;
      r0 = (t % row_blocks) * mc;
    };
    for (int64_t t = begin; t < end; ++t) {
      int64_t item, n0, r0;
      task_origin(t, item, n0, r0);
      const int64_t n = std::min(nc, p.n - n0), rows = std::min(mc, p.m - r0);
      if (rows <= 0) continue;
      const float* a = p.a + item * p.stride_a + r0 * p.lda;
      float* c = p.c + item * p.stride_c + r0 * p.ldc + n0;
      for (int64_t k0 = 0; k0 < p.k; k0 += slice) {
        const int64_t kc = std::min(slice, p.k - k0);
        const float* block = packed;
        int64_t panel_stride = kc * width;
        if (prepacked) {
          block = prepacked + (n0 / width) * (p.k * width) + k0 * width;
          panel_stride = p.k * width;
        } else {
          isa.pack_b(b_region(p, item, k0, kc, n0, n).first, p.ldb, p.trans_b, kc, n, packed);
        }
        // What this thread packs next: the following slice, or the first of its next task.
        BRegion next;
        if (prepacked) {
          // The tiles stream the packed panels in order: the hardware prefetchers follow.
        } else if (k0 + slice < p.k) {
          next = b_region(p, item, k0 + slice, std::min(slice, p.k - k0 - slice), n0, n);
        } else if (t + 1 < end) {
          int64_t next_item, next_n0, next_r0;
          task_origin(t + 1, next_item, next_n0, next_r0);
          next = b_region(p, next_item, 0, std::min(slice, p.k), next_n0, std::min(nc, p.n - next_n0));
        }
        // The first slice applies alpha, beta and the bias; later ones add to C.
        const small_gemm::Epilogue epilogue = k0 == 0 ? small_gemm::Epilogue{p.alpha, p.beta, p.bias ? p.bias + n0 : nullptr}
                                                      : small_gemm::Epilogue{p.alpha, 1.0f, nullptr};
        const int64_t chunks = (rows + kPrefetchChunkRows - 1) / kPrefetchChunkRows;
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
          if (next.first) prefetch_part(next, chunk, chunks);
          const int64_t c0 = chunk * kPrefetchChunkRows, chunk_rows = std::min(kPrefetchChunkRows, rows - c0);
          isa.compute_rows(chunk_rows, n, kc, a + c0 * p.lda + k0, p.lda, block, panel_stride, c + c0 * p.ldc, p.ldc,
                           epilogue);
        }
      }
    }
  };
  if (threads <= 1 || tasks < 2) {
    run_tasks(0, tasks);
  } else {
    parallel_for(tasks, run_tasks, 1);
  }
}

void run_gemm(const IsaKernels& isa, const GemmProblem& p) {
  if (p.batch > 0 && p.m > 0 && p.n > 0 && p.k > 0 && p.k * p.n > kBlockedMinPackedFloats) {
    run_blocked_gemm(isa, p);
  } else {
    run_small_gemm(isa, p);
  }
}

bool avx2_fma(const CpuFeatures& f) { return f.avx2 && f.fma; }
// The AVX-512 kernels pack B with AVX2 code.
bool avx512_with_avx2(const CpuFeatures& f) { return f.avx512f && avx2_fma(f); }

void small_gemm_avx512(const GemmProblem& p) {
  check(small_gemm_avx512_supported(), "gemm", "octet-small-avx512 needs AVX-512F, which this CPU lacks");
  run_gemm(small_gemm::kAvx512Kernels, p);
}

void small_gemm_avx2(const GemmProblem& p) {
  check(small_gemm_avx2_supported(), "gemm", "octet-small-avx2 needs AVX2 and FMA, which this CPU lacks");
  run_gemm(small_gemm::kAvx2Kernels, p);
}

// The kernels cpu_features() allows (it honours OCTET_ISA), or null.
const IsaKernels* best_kernels() {
  static const IsaKernels* best = avx512_with_avx2(cpu_features()) ? &small_gemm::kAvx512Kernels
                                  : avx2_fma(cpu_features())       ? &small_gemm::kAvx2Kernels
                                                                   : nullptr;
  return best;
}

void small_gemm_auto(const GemmProblem& p) {
  if (const IsaKernels* isa = best_kernels()) {
    run_gemm(*isa, p);
  } else {
    kOpenBlasGemm.run(p);
  }
}

}  // namespace

PackedLinearB pack_linear_b(const float* w, int64_t n, int64_t k) {
  check(small_gemm_avx512_supported() && std::string_view(small_gemm_variant()) == "avx512", "gemm",
        "packed Linear weights are for octet's AVX-512 GEMM, which does not run here");
  check(w != nullptr && n > 0 && k > 0, "gemm", "packed Linear weights need [n, k] > 0, got [{}, {}]", n, k);
  PackedLinearB b;
  b.n = n, b.k = k;
  const int64_t width = small_gemm::kAvx512Kernels.panel_width;
  b.data.resize(static_cast<size_t>((n + width - 1) / width * width * k));
  small_gemm::kAvx512Kernels.pack_b(w, k, /*trans_b=*/true, k, n, b.data.data());
  return b;
}

void linear_prepacked(const float* x, int64_t m, int64_t ldx, const PackedLinearB& w, const float* bias, float* y,
                      int64_t ldy) {
  check(!w.data.empty(), "gemm", "the packed Linear weights are empty");
  check(m >= 0 && ldx >= w.k && ldy >= w.n && (m == 0 || (x && y)), "gemm",
        "linear_prepacked: bad arguments (m {}, ldx {}, ldy {} for [{}, {}] weights)", m, ldx, ldy, w.n, w.k);
  if (m == 0) return;
  GemmProblem p;
  p.m = m, p.n = w.n, p.k = w.k, p.trans_b = true;
  p.a = x, p.lda = ldx, p.ldb = w.k, p.c = y, p.ldc = ldy, p.bias = bias;
  run_blocked_gemm(small_gemm::kAvx512Kernels, p, w.data.data());
}

bool small_gemm_avx512_supported() { return avx512_with_avx2(cpu_features_detected()); }
bool small_gemm_avx2_supported() { return avx2_fma(cpu_features_detected()); }
const char* small_gemm_variant() { return best_kernels() ? best_kernels()->name : "openblas"; }

const GemmBackend kSmallGemm = {"octet-small", &small_gemm_auto};
const GemmBackend kSmallGemmAvx512 = {"octet-small-avx512", &small_gemm_avx512};
const GemmBackend kSmallGemmAvx2 = {"octet-small-avx2", &small_gemm_avx2};

}  // namespace octet::kernels

namespace octet::kernels::small_gemm {

void prefetch_rows(const float* first, int64_t ld, int64_t floats, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const char* row = reinterpret_cast<const char*>(first + r * ld);
    for (int64_t off = 0; off < floats * static_cast<int64_t>(sizeof(float)); off += 64) _mm_prefetch(row + off, _MM_HINT_T0);
  }
}

void compute_rows_tiled(const TileFn* tiles, int tile_rows, int panel_width, int64_t m, int64_t n, int64_t k,
                        const float* a, int64_t lda, const float* packed, int64_t panel_stride, float* c,
                        int64_t ldc, const Epilogue& epilogue) {
  const int64_t panels = (n + panel_width - 1) / panel_width;
  for (int64_t r0 = 0; r0 < m; r0 += tile_rows) {
    const TileFn fn = tiles[std::min<int64_t>(tile_rows, m - r0) - 1];
    const int64_t next_rows = std::clamp<int64_t>(m - r0 - tile_rows, 0, tile_rows);
    for (int64_t p = 0; p < panels; ++p) {
      const int nr = static_cast<int>(std::min<int64_t>(panel_width, n - p * panel_width));
      Epilogue panel_ep = epilogue;
      if (epilogue.bias) panel_ep.bias = epilogue.bias + p * panel_width;
      // The next tile's rows of A and this panel's C (read by the epilogue
      // when beta != 0): with many rows they come from DRAM in short strided
      // runs the hardware prefetchers miss, and the tiles waited on them
      // (a Linear over 8192 tokens ran at 320 GFLOP/s against 400 over 1024).
      if (next_rows > 0)
        prefetch_rows(a + (r0 + tile_rows) * lda, lda, k, next_rows * p / panels, next_rows * (p + 1) / panels);
      if (epilogue.beta != 0.0f) prefetch_rows(c + r0 * ldc + p * panel_width, ldc, nr, 0, std::min<int64_t>(tile_rows, m - r0));
      fn(k, a + r0 * lda, lda, packed + p * panel_stride, c + r0 * ldc + p * panel_width, ldc, nr, panel_ep);
    }
  }
}

}  // namespace octet::kernels::small_gemm
