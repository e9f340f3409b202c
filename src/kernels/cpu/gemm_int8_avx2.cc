// AVX2 INT8 GEMM microkernel with the sign trick, and its fused epilogue.
//
// Exactness: vpmaddubsw multiplies u8 x s8 and adds adjacent pairs with
// signed 16-bit saturation. We feed it |a| (as u8: |-128| = 128 fits) and
// w * sign(a) (vpsignb; |w| <= 127 so the negation fits in s8), so every
// product is a*w and a pair sum is at most 2 * 128 * 127 = 32512 < 32767:
// it never saturates. vpmaddwd with ones widens the pairs to int32 sums, and
// int32 adds wrap exactly (the driver bounds the true result below 2^31).
//
// Layout: panels of 8 columns; one 32-byte load covers 8 columns x 4 k. The
// tile is MR rows x NP panels (4 x 2 = 4 x 16 columns; 5..8 x 1 for small M
// so each weight is read once), A is broadcast 4 bytes at a time.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "kernels/gemm_int8_internal.h"

namespace octet::int8_detail {
namespace {

constexpr int kPw = 8;               // columns per panel
constexpr int kGroupBytes = 4 * kPw;  // one k-group of a panel
// Weights of one block of panels kept in L2 while all rows of A pass over them.
constexpr int64_t kChunkBytes = 256 * 1024;
// Software prefetch distance along each weight panel (32 groups of 4 k), for
// decode-sized M streaming weights from DRAM.
constexpr int64_t kPrefetch = 1024;

inline __m256i broadcast_a(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// The tile's int32 sums, written out once at the end of the k loop.
template <int MR, int NP>
struct Acc {
  alignas(32) int32_t v[MR][NP][kPw];
};

// acc += the 8 int32 column sums of one group of 4 k (see the exactness
// note): vpsignb, vpmaddubsw, vpmaddwd with ones, vpaddd. Inline asm ties the
// accumulator to its register: from intrinsics GCC 12 adds a register copy
// per add and spills three accumulators on every iteration.
inline void madd_signed(__m256i& acc, __m256i a_abs, __m256i a, __m256i b, __m256i ones) {
  __m256i t;
  __asm__(
      "vpsignb %[a], %[b], %[t]\n\t"
      "vpmaddubsw %[t], %[a_abs], %[t]\n\t"
      "vpmaddwd %[ones], %[t], %[t]\n\t"
      "vpaddd %[t], %[acc], %[acc]"
      : [acc] "+x"(acc), [t] "=&x"(t)
      : [a] "x"(a), [b] "x"(b), [a_abs] "x"(a_abs), [ones] "x"(ones));
}

// Accumulators are named variables c<row><panel>, not an array: GCC 12 keeps
// an array of vectors in memory (stored back on every iteration); the names a
// smaller tile does not use are dropped.
#define OCTET_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define OCTET_FOR_PANELS(X, r) X(r, 0) X(r, 1)

// out (+)= the sums over `groups` groups of 4 k.
template <int MR, int NP, bool kAdd>
inline void accumulate_groups(const int8_t* a, int64_t lda, int64_t groups, const int8_t* b, int64_t panel_stride,
                              Acc<MR, NP>& out) {
  static_assert(MR <= 8 && NP <= 2);
  const __m256i ones = _mm256_set1_epi16(1);
#define OCTET_DECLARE(r, j)                                  \
  [[maybe_unused]] __m256i c##r##j = _mm256_setzero_si256(); \
  if constexpr (kAdd && r < MR && j < NP) c##r##j = _mm256_load_si256(reinterpret_cast<const __m256i*>(out.v[r][j]));
#define OCTET_DECLARE_ROW(r) OCTET_FOR_PANELS(OCTET_DECLARE, r)
  OCTET_FOR_ROWS(OCTET_DECLARE_ROW)
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* bg = b + g * kGroupBytes;
    _mm_prefetch(reinterpret_cast<const char*>(bg + kPrefetch), _MM_HINT_T0);
    if constexpr (NP > 1) _mm_prefetch(reinterpret_cast<const char*>(bg + panel_stride + kPrefetch), _MM_HINT_T0);
    [[maybe_unused]] const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bg));
    [[maybe_unused]] const __m256i b1 =
        NP > 1 ? _mm256_load_si256(reinterpret_cast<const __m256i*>(bg + panel_stride)) : b0;
#define OCTET_MADD(r, j) \
  if constexpr (j < NP) madd_signed(c##r##j, a_abs, av, b##j, ones);
#define OCTET_MADD_ROW(r)                                   \
  if constexpr (r < MR) {                                   \
    const __m256i av = broadcast_a(a + r * lda + 4 * g);    \
    const __m256i a_abs = _mm256_abs_epi8(av);              \
    OCTET_FOR_PANELS(OCTET_MADD, r)                         \
  }
    OCTET_FOR_ROWS(OCTET_MADD_ROW)
  }
#define OCTET_STORE(r, j) \
  if constexpr (r < MR && j < NP) _mm256_store_si256(reinterpret_cast<__m256i*>(out.v[r][j]), c##r##j);
#define OCTET_STORE_ROW(r) OCTET_FOR_PANELS(OCTET_STORE, r)
  OCTET_FOR_ROWS(OCTET_STORE_ROW)
#undef OCTET_DECLARE
#undef OCTET_DECLARE_ROW
#undef OCTET_MADD
#undef OCTET_MADD_ROW
#undef OCTET_STORE
#undef OCTET_STORE_ROW
}
#undef OCTET_FOR_ROWS
#undef OCTET_FOR_PANELS

template <int MR, int NP>
inline void accumulate(const int8_t* a, int64_t lda, int64_t k, const int8_t* b, int64_t panel_stride,
                       Acc<MR, NP>& out) {
  const int64_t groups = k / 4;
  accumulate_groups<MR, NP, false>(a, lda, groups, b, panel_stride, out);
  if (const int64_t rest = k - 4 * groups; rest > 0) {
    // The last partial group from a zero-padded copy, never reading past a row.
    int8_t tail[MR][4] = {};
    for (int r = 0; r < MR; ++r) std::memcpy(tail[r], a + r * lda + 4 * groups, static_cast<size_t>(rest));
    accumulate_groups<MR, NP, true>(&tail[0][0], 4, 1, b + groups * kGroupBytes, panel_stride, out);
  }
}

// ---- epilogue ----------------------------------------------------------------

inline __m256 horner(__m256 x, std::initializer_list<float> coeffs) {
  auto it = coeffs.begin();
  __m256 p = _mm256_set1_ps(*it++);
  for (; it != coeffs.end(); ++it) p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(*it));
  return p;
}

// erf(x): Eigen's rational approximation on [-4, 4] (max abs error ~4.3e-7,
// checked by tests/int8), exactly +-1 beyond where erf rounds to +-1 in float.
inline __m256 erf_approx(__m256 x) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 limit = _mm256_set1_ps(4.0f);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), limit);
  const __m256 x2 = _mm256_mul_ps(xc, xc);
  const __m256 p = _mm256_mul_ps(xc, horner(x2, {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                                                 -5.69250639462346e-05f, -7.34990630326855e-04f,
                                                 -2.95459980854025e-03f, -1.60960333262415e-02f}));
  const __m256 q = horner(x2, {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                               -7.37332916720468e-03f, -1.42647390514189e-02f});
  const __m256 r = _mm256_div_ps(p, q);
  const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(sign_mask, x), limit, _CMP_GE_OQ);
  const __m256 one_signed = _mm256_or_ps(_mm256_and_ps(x, sign_mask), _mm256_set1_ps(1.0f));
  return _mm256_blendv_ps(r, one_signed, big);
}

// tanh(x): Eigen's rational approximation on [-7.9053, 7.9053] (max abs error
// ~4e-7), exactly +-1 for |x| >= 9 (where 1 - |tanh x| < 3.1e-8).
inline __m256 tanh_approx(__m256 x) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 clamp = _mm256_set1_ps(7.90531110763549805f);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), clamp)), clamp);
  const __m256 x2 = _mm256_mul_ps(xc, xc);
  const __m256 p = _mm256_mul_ps(xc, horner(x2, {-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f,
                                                 5.12229709037114e-08f, 1.48572235717979e-05f, 6.37261928875436e-04f,
                                                 4.89352455891786e-03f}));
  const __m256 q = horner(x2, {1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f,
                               4.89352518554385e-03f});
  const __m256 r = _mm256_div_ps(p, q);
  const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(9.0f), _CMP_GE_OQ);
  const __m256 one_signed = _mm256_or_ps(_mm256_and_ps(x, sign_mask), _mm256_set1_ps(1.0f));
  return _mm256_blendv_ps(r, one_signed, big);
}

// Same operation order as gelu_erf_ref / gelu_tanh_ref.
inline __m256 activate(__m256 y, Int8Activation act) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 one = _mm256_set1_ps(1.0f);
  switch (act) {
    case Int8Activation::None: return y;
    case Int8Activation::Relu: return _mm256_max_ps(y, _mm256_setzero_ps());
    case Int8Activation::GeluErf: {
      const __m256 e = erf_approx(_mm256_mul_ps(y, _mm256_set1_ps(kInvSqrt2)));
      return _mm256_mul_ps(_mm256_mul_ps(half, y), _mm256_add_ps(one, e));
    }
    case Int8Activation::GeluTanh: {
      const __m256 cube = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(kGeluTanhCubic), y), y), y);
      const __m256 t = tanh_approx(_mm256_mul_ps(_mm256_set1_ps(kSqrt2OverPi), _mm256_add_ps(y, cube)));
      return _mm256_mul_ps(_mm256_mul_ps(half, y), _mm256_add_ps(one, t));
    }
  }
  return y;
}

// quantize_one() for 8 lanes, giving 8 int32 in [qmin, 127].
inline __m256i quantize8(__m256 y, const Int8OutputQuant& oq) {
  __m256 v = _mm256_div_ps(y, _mm256_set1_ps(oq.scale));
  v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));  // NaN -> 0
  v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                    _mm256_set1_ps(static_cast<float>(oq.zero_point)));
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(static_cast<float>(oq.qmin))), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(v);
}

// GCC contracts mul + add into FMA even in ISO mode; this empty asm keeps the
// product rounded, as in the scalar reference (no FMA there).
inline __m256 rounded(__m256 x) {
  __asm__("" : "+x"(x));
  return x;
}

inline __m256i lane_mask(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int MR, int NP>
void store_tile(const GemmCall& call, int64_t m, int64_t n0, const Acc<MR, NP>& acc) {
  const PackedInt8Weights& w = *call.w;
  const int64_t valid = w.n() - n0;  // > 0: tiles start inside [0, N)
  // Remove zp * rowsum(W) (int32 wrap-around is exact modulo 2^32).
  __m256i comp[NP];
  const __m256i zp = _mm256_set1_epi32(call.a_zero_point);
  for (int j = 0; j < NP; ++j)
    comp[j] = _mm256_mullo_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(w.row_sums().data() + n0 + j * kPw)), zp);
  for (int r = 0; r < MR; ++r) {
    const int64_t row = m + r;
    const float a_scale = call.ep.a_row_scales ? call.ep.a_row_scales[row] : call.ep.a_scale;
    for (int j = 0; j < NP; ++j) {
      const int64_t cols = std::min<int64_t>(kPw, valid - j * kPw);
      if (cols <= 0) break;
      const int64_t col = n0 + j * kPw;
      const __m256i mask = lane_mask(cols);
      const __m256i v = _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc.v[r][j])), comp[j]);
      if (call.out == OutKind::S32) {
        int32_t* dst = static_cast<int32_t*>(call.c) + row * call.ldc + col;
        if (cols == kPw) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v);
        else _mm256_maskstore_epi32(dst, mask, v);
        continue;
      }
      __m256 y = _mm256_cvtepi32_ps(v);
      y = _mm256_mul_ps(y, _mm256_set1_ps(a_scale));
      y = rounded(_mm256_mul_ps(y, _mm256_load_ps(w.scales().data() + col)));
      if (call.ep.bias) y = _mm256_add_ps(y, _mm256_maskload_ps(call.ep.bias + col, mask));
      y = activate(y, call.ep.activation);
      if (call.out == OutKind::F32) {
        float* dst = static_cast<float*>(call.c) + row * call.ldc + col;
        if (cols == kPw) _mm256_storeu_ps(dst, y);
        else _mm256_maskstore_ps(dst, mask, y);
      } else {
        const __m256i q = quantize8(y, call.oq);
        const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        const __m128i q8 = _mm_packs_epi16(q16, q16);
        int8_t bytes[16];
        _mm_storeu_si128(reinterpret_cast<__m128i*>(bytes), q8);
        std::memcpy(static_cast<int8_t*>(call.c) + row * call.ldc + col, bytes, static_cast<size_t>(cols));
      }
    }
  }
}

template <int MR, int NP>
void tile(const GemmCall& call, int64_t m, int64_t panel) {
  const PackedInt8Weights& w = *call.w;
  const int64_t panel_stride = w.k_padded() * kPw;
  Acc<MR, NP> acc;
  accumulate<MR, NP>(call.a + m * call.lda, call.lda, w.k(), w.data() + panel * panel_stride, panel_stride, acc);
  store_tile<MR, NP>(call, m, panel * kPw, acc);
}

using TileFn = void (*)(const GemmCall&, int64_t, int64_t);

// kTiles[rows - 1][panels - 1]; 5..8 rows only with one panel (register budget:
// MR * NP accumulators + NP weights + 4 temporaries <= 16 ymm).
constexpr TileFn kTiles[8][2] = {
    {tile<1, 1>, tile<1, 2>}, {tile<2, 1>, tile<2, 2>}, {tile<3, 1>, tile<3, 2>}, {tile<4, 1>, tile<4, 2>},
    {tile<5, 1>, nullptr},    {tile<6, 1>, nullptr},    {tile<7, 1>, nullptr},    {tile<8, 1>, nullptr},
};

}  // namespace

void gemm_block_avx2(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end) {
  const int64_t panel_bytes = call.w->k_padded() * kPw;
  const int64_t chunk = std::max<int64_t>(2, kChunkBytes / panel_bytes / 2 * 2);
  const int64_t rows = m_end - m_begin;
  for (int64_t pc = p_begin; pc < p_end; pc += chunk) {
    const int64_t pc_end = std::min(p_end, pc + chunk);
    if (rows > 4 && rows <= 8) {
      // Decode-sized M: all rows in one tile so each weight is loaded once.
      for (int64_t p = pc; p < pc_end; ++p) kTiles[rows - 1][0](call, m_begin, p);
      continue;
    }
    for (int64_t m = m_begin; m < m_end; m += 4) {
      const int64_t mr = std::min<int64_t>(4, m_end - m);
      for (int64_t p = pc; p < pc_end; p += 2) kTiles[mr - 1][std::min<int64_t>(2, pc_end - p) - 1](call, m, p);
    }
  }
}

}  // namespace octet::int8_detail
