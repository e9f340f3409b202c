// Internal interface between the batched small fp32 GEMM driver
// (cpu/small_gemm.cc) and its per-ISA kernels (cpu/small_gemm_avx2.cc,
// cpu/small_gemm_avx512.cc). Each ISA's SIMD code stays in its own
// translation unit, compiled with its own flags; nothing here is inline SIMD.
//
// Packed B layout: op(B) (k x n) cut into ceil(n / panel_width) column
// panels; panel p holds, for kk = 0..k-1, the panel_width values
// op(B)[kk, p * panel_width + j] contiguously (zero past column n), i.e.
// packed[(p * k + kk) * panel_width + j]. One vector load per panel_width / lanes
// gives the microkernel a row of its tile's B.
#pragma once

#include <cstdint>

namespace octet::kernels::small_gemm {

// C = alpha * (A op(B)) + beta * C + bias; beta == 0 means C is not read.
struct Epilogue {
  float alpha = 1.0f;
  float beta = 0.0f;
  const float* bias = nullptr;  // [n] or null
};

struct IsaKernels {
  const char* name;
  int panel_width;  // columns per packed B panel (NR)
  int tile_rows;    // rows per register tile (MR): the unit of work split
  // Packs op(B) (k x n; B is [n, k] when trans_b) into the layout above.
  void (*pack_b)(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, float* packed);
  // Rows [0, m) of C (any m >= 1), all n columns, k >= 1, from packed B
  // whose panels start panel_stride floats apart (k * panel_width when packed
  // for this product alone; more for a slice of a longer packed B).
  void (*compute_rows)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* packed,
                       int64_t panel_stride, float* c, int64_t ldc, const Epilogue& epilogue);
};

// One register tile: C[0:rows, 0:nr] (nr <= panel width) of a panel, k steps.
using TileFn = void (*)(int64_t k, const float* a, int64_t lda, const float* packed_panel, float* c, int64_t ldc,
                        int nr, const Epilogue& epilogue);

// compute_rows in tiles: rows [0, m) in blocks of tile_rows (tiles[rows - 1]
// handles a block of `rows` rows), each over every panel. Defined in
// small_gemm.cc, built without ISA flags, so one copy serves every variant.
void compute_rows_tiled(const TileFn* tiles, int tile_rows, int panel_width, int64_t m, int64_t n, int64_t k,
                        const float* a, int64_t lda, const float* packed, int64_t panel_stride, float* c,
                        int64_t ldc, const Epilogue& epilogue);

// Asks for rows [row_begin, row_end) of a row-major matrix (`floats` values
// each, rows `ld` apart, from `first`) to be brought into L1 (SSE prefetch:
// no ISA flags needed, and a prefetch never faults).
void prefetch_rows(const float* first, int64_t ld, int64_t floats, int64_t row_begin, int64_t row_end);

// Packing with AVX2 (8 x 8 transposes for trans_b) for any panel_width that
// is a multiple of 8; the AVX-512 kernels use it too (every AVX-512F CPU has AVX2).
void pack_b_avx2(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, int panel_width, float* packed);

extern const IsaKernels kAvx2Kernels;    // 6 x 16 tiles of ymm (AVX2 + FMA)
extern const IsaKernels kAvx512Kernels;  // 12 x 32 tiles of zmm (AVX-512F)

}  // namespace octet::kernels::small_gemm
