// AVX-512 VNNI INT8 GEMM microkernel (vpdpbusd) and its fused epilogue.
// Selected only when CPUID reports AVX-512 F/BW/VL + VNNI (see int8_isa_available).
//
// Exactness: vpdpbusd multiplies u8 x s8 and adds 4 products into an int32
// lane without intermediate saturation (the "s" variant, vpdpbusds, would
// saturate; we do not use it). A is made unsigned by a + 128 (xor 0x80), so
// acc = sum_k (a + 128) * w = sum_k a*w + 128 * rowsum(W); the epilogue
// subtracts (128 + a_zero_point) * rowsum(W). Everything wraps modulo 2^32 and
// the driver bounds the true result below 2^31, so the result is exact.
//
// Layout: panels of 16 columns; one 64-byte load covers 16 columns x 4 k.
// Tile: up to 8 rows x 3 panels (24 zmm accumulators + 3 weights + 2 temporaries).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "kernels/cpu/vec_math_avx512.h"
#include "kernels/gemm_int8_internal.h"

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_*),
// which -Wmaybe-uninitialized reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace octet::int8_detail {
namespace {

constexpr int kPw = 16;
constexpr int kGroupBytes = 4 * kPw;
constexpr int kMaxRows = 8;
constexpr int kMaxPanels = 3;
constexpr int64_t kChunkBytes = 384 * 1024;
// Software prefetch distance along each weight panel (32 groups of 4 k).
// Decode-sized M streams weights from DRAM: M = 8 went from ~14 to ~20 GB/s
// (one thread); large M (weights in L2) is unchanged.
constexpr int64_t kPrefetch = 2048;

inline __m512i broadcast_a_unsigned(int32_t four_bytes) {
  return _mm512_xor_si512(_mm512_set1_epi32(four_bytes), _mm512_set1_epi32(static_cast<int32_t>(0x80808080u)));
}

// The tile's int32 sums, written out once at the end of the k loop.
template <int MR, int NP>
struct Acc {
  alignas(64) int32_t v[MR][NP][kPw];
};

// acc += dot4(a_u8, b_s8) per int32 lane. Inline asm ties the accumulator to
// the destination register: with the intrinsic, GCC 12 copies the accumulator
// around every use.
inline void dpbusd(__m512i& acc, __m512i a_u8, __m512i b_s8) {
  __asm__("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a_u8), [b] "v"(b_s8));
}

inline __m512i load_a_u8(const int8_t* p) {
  int32_t four;
  std::memcpy(&four, p, 4);
  return broadcast_a_unsigned(four);
}

// Accumulators are named variables c<row><panel>, not an array: GCC 12 does
// not keep a 1.5 KB array of vectors in registers (it stores it back on every
// iteration, 3x slower); the names a smaller tile does not use are dropped.
#define OCTET_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define OCTET_FOR_PANELS(X, r) X(r, 0) X(r, 1) X(r, 2)

// out (+)= the sums over `groups` groups of 4 k.
template <int MR, int NP, bool kAdd>
inline void accumulate_groups(const int8_t* a, int64_t lda, int64_t groups, const int8_t* b, int64_t panel_stride,
                              Acc<MR, NP>& out) {
  static_assert(MR <= kMaxRows && NP <= kMaxPanels);
#define OCTET_DECLARE(r, j)                                                  \
  [[maybe_unused]] __m512i c##r##j = _mm512_setzero_si512();                 \
  if constexpr (kAdd && r < MR && j < NP) c##r##j = _mm512_load_si512(out.v[r][j]);
#define OCTET_DECLARE_ROW(r) OCTET_FOR_PANELS(OCTET_DECLARE, r)
  OCTET_FOR_ROWS(OCTET_DECLARE_ROW)
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* bg = b + g * kGroupBytes;
    {
      _mm_prefetch(reinterpret_cast<const char*>(bg + kPrefetch), _MM_HINT_T0);
      if constexpr (NP > 1) _mm_prefetch(reinterpret_cast<const char*>(bg + panel_stride + kPrefetch), _MM_HINT_T0);
      if constexpr (NP > 2) _mm_prefetch(reinterpret_cast<const char*>(bg + 2 * panel_stride + kPrefetch), _MM_HINT_T0);
    }
    [[maybe_unused]] const __m512i b0 = _mm512_load_si512(bg);
    [[maybe_unused]] const __m512i b1 = NP > 1 ? _mm512_load_si512(bg + panel_stride) : b0;
    [[maybe_unused]] const __m512i b2 = NP > 2 ? _mm512_load_si512(bg + 2 * panel_stride) : b0;
#define OCTET_DOT(r, j) \
  if constexpr (j < NP) dpbusd(c##r##j, av, b##j);
#define OCTET_DOT_ROW(r)                                   \
  if constexpr (r < MR) {                                  \
    const __m512i av = load_a_u8(a + r * lda + 4 * g);     \
    OCTET_FOR_PANELS(OCTET_DOT, r)                         \
  }
    OCTET_FOR_ROWS(OCTET_DOT_ROW)
  }
#define OCTET_STORE(r, j) \
  if constexpr (r < MR && j < NP) _mm512_store_si512(out.v[r][j], c##r##j);
#define OCTET_STORE_ROW(r) OCTET_FOR_PANELS(OCTET_STORE, r)
  OCTET_FOR_ROWS(OCTET_STORE_ROW)
#undef OCTET_DECLARE
#undef OCTET_DECLARE_ROW
#undef OCTET_DOT
#undef OCTET_DOT_ROW
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
    // The last partial group from a zero-padded copy (never reading past a
    // row): the padded weights are 0, so the padded a + 128 adds nothing.
    int8_t tail[MR][4] = {};
    for (int r = 0; r < MR; ++r) std::memcpy(tail[r], a + r * lda + 4 * groups, static_cast<size_t>(rest));
    accumulate_groups<MR, NP, true>(&tail[0][0], 4, 1, b + groups * kGroupBytes, panel_stride, out);
  }
}

// ---- epilogue (same operations and approximations as the AVX2 one, 16 lanes) ----
//
// Each step runs over a row's NP vectors before the next step starts: one
// vector's GELU + requantization is a ~100-cycle chain of dependent
// operations, and written vector by vector the out-of-order window overlapped
// too few of them (the GELU epilogue took ~25 % of an FFN-up GEMM's time;
// bench_gemm_int8 BM_GemmInt8Epilogue).

template <int N>
using Vecs = __m512[N];

template <int N>
inline void horner(const Vecs<N>& x, std::initializer_list<float> coeffs, Vecs<N>& p) {
  auto it = coeffs.begin();
  const __m512 first = _mm512_set1_ps(*it++);
#pragma GCC unroll 4
  for (int j = 0; j < N; ++j) p[j] = first;
  for (; it != coeffs.end(); ++it) {
    const __m512 c = _mm512_set1_ps(*it);
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) p[j] = _mm512_fmadd_ps(p[j], x[j], c);
  }
}

inline __m512 with_sign_of(__m512 magnitude, __m512 x) {
  return _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(magnitude), _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))));
}

// x[j] <- the odd rational approximation x p(x^2) / q(x^2) on x clamped to
// [-clamp, clamp], and sign(x) where |x| >= saturate (erf and tanh below).
template <int N>
inline void odd_rational(Vecs<N>& x, float clamp, float saturate, std::initializer_list<float> p_coeffs,
                         std::initializer_list<float> q_coeffs) {
  Vecs<N> xc, x2, p, q;
#pragma GCC unroll 4
  for (int j = 0; j < N; ++j) {
    xc[j] = _mm512_min_ps(_mm512_max_ps(x[j], _mm512_set1_ps(-clamp)), _mm512_set1_ps(clamp));
    x2[j] = _mm512_mul_ps(xc[j], xc[j]);
  }
  horner<N>(x2, p_coeffs, p);
  horner<N>(x2, q_coeffs, q);
#pragma GCC unroll 4
  for (int j = 0; j < N; ++j) {
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(x[j]), _mm512_set1_ps(saturate), _CMP_GE_OQ);
    x[j] = _mm512_mask_blend_ps(big, _mm512_div_ps(_mm512_mul_ps(xc[j], p[j]), q[j]),
                                with_sign_of(_mm512_set1_ps(1.0f), x[j]));
  }
}

template <int N>
inline void erf_approx(Vecs<N>& x) {
  odd_rational<N>(x, 4.0f, 4.0f,
                  {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f,
                   -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f},
                  {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f,
                   -1.42647390514189e-02f});
}

template <int N>
inline void tanh_approx(Vecs<N>& x) {
  odd_rational<N>(x, 7.90531110763549805f, 9.0f,
                  {-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f, 5.12229709037114e-08f,
                   1.48572235717979e-05f, 6.37261928875436e-04f, 4.89352455891786e-03f},
                  {1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f, 4.89352518554385e-03f});
}

template <int N>
inline void activate(Vecs<N>& y, Int8Activation act) {
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 one = _mm512_set1_ps(1.0f);
  Vecs<N> t;
  switch (act) {
    case Int8Activation::None:
      return;
    case Int8Activation::Relu:
#pragma GCC unroll 4
      for (int j = 0; j < N; ++j) y[j] = _mm512_max_ps(y[j], _mm512_setzero_ps());
      return;
    case Int8Activation::GeluErf:
#pragma GCC unroll 4
      for (int j = 0; j < N; ++j) t[j] = _mm512_mul_ps(y[j], _mm512_set1_ps(kInvSqrt2));
      erf_approx<N>(t);
      break;
    case Int8Activation::GeluTanh:
#pragma GCC unroll 4
      for (int j = 0; j < N; ++j) {
        const __m512 cube =
            _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(kGeluTanhCubic), y[j]), y[j]), y[j]);
        t[j] = _mm512_mul_ps(_mm512_set1_ps(kSqrt2OverPi), _mm512_add_ps(y[j], cube));
      }
      tanh_approx<N>(t);
      break;
  }
#pragma GCC unroll 4
  for (int j = 0; j < N; ++j) y[j] = _mm512_mul_ps(_mm512_mul_ps(half, y[j]), _mm512_add_ps(one, t[j]));
}

// q[j] = the int8 codes of y[j] (16 lanes each).
template <int N>
inline void quantize16(const Vecs<N>& y, const Int8OutputQuant& oq, float inverse_scale, __m128i (&q)[N]) {
  const __m512 scale = _mm512_set1_ps(oq.scale), inverse = _mm512_set1_ps(inverse_scale);
  const __m512i zero_point = _mm512_set1_epi32(oq.zero_point);
  // Clamping to the integer bounds less the zero point before rounding equals
  // clamping after it (rounding is monotonic and keeps integers), and leaves
  // the conversion in range.
  const __m512 low = _mm512_set1_ps(static_cast<float>(oq.qmin - oq.zero_point));
  const __m512 high = _mm512_set1_ps(static_cast<float>(127 - oq.zero_point));
#pragma GCC unroll 4
  for (int j = 0; j < N; ++j) {
    // Rounds as y / scale does (vec_math_avx512.h), dividing only next to a rounding boundary.
    const __m512 v = kernels::avx512::quotient_to_round(y[j], scale, inverse);
    const __mmask16 number = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);  // NaN -> the zero point
    // max / min return their second operand for NaN; those lanes are zeroed by the mask.
    const __m512 clamped = _mm512_min_ps(_mm512_max_ps(v, low), high);
    // Round half to even (the default rounding mode) as the conversion's own rounding.
    const __m512i codes = _mm512_add_epi32(
        _mm512_maskz_cvt_roundps_epi32(number, clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zero_point);
    q[j] = _mm512_cvtepi32_epi8(codes);
  }
}

// GCC contracts mul + add into FMA even in ISO mode; this empty asm keeps the
// product rounded, as in the scalar reference (no FMA there).
inline __m512 rounded(__m512 x) {
  __asm__("" : "+v"(x));
  return x;
}

template <int MR, int NP>
void store_tile(const GemmCall& call, int64_t m, int64_t n0, const Acc<MR, NP>& acc) {
  const PackedInt8Weights& w = *call.w;
  const int64_t valid = w.n() - n0;
  // The call's fields, read once (the stores below could alias them as far as the compiler knows).
  const OutKind out = call.out;
  const Int8Activation activation = call.ep.activation;
  const float* const bias = call.ep.bias;
  const float* const row_scales = call.ep.a_row_scales;
  const float a_scale_all = call.ep.a_scale;
  const int64_t ldc = call.ldc;
  const Int8OutputQuant oq = call.oq;
  const float inverse_scale = 1.0f / oq.scale;  // requantization
  const __m512i offset = _mm512_set1_epi32(128 + call.a_zero_point);
  __m512i comp[NP];
  __mmask16 mask[NP];
  __m512 scale[NP], add[NP];
#pragma GCC unroll 4
  for (int j = 0; j < NP; ++j) {
    const int64_t cols = std::clamp<int64_t>(valid - j * kPw, 0, kPw);
    mask[j] = static_cast<__mmask16>((1u << cols) - 1u);
    comp[j] = _mm512_mullo_epi32(_mm512_load_si512(w.row_sums().data() + n0 + j * kPw), offset);
    scale[j] = _mm512_load_ps(w.scales().data() + n0 + j * kPw);
    add[j] = bias ? _mm512_maskz_loadu_ps(mask[j], bias + n0 + j * kPw) : _mm512_setzero_ps();
  }
  for (int r = 0; r < MR; ++r) {
    const int64_t row = m + r;
    if (out == OutKind::S32) {
#pragma GCC unroll 4
      for (int j = 0; j < NP; ++j)
        _mm512_mask_storeu_epi32(static_cast<int32_t*>(call.c) + row * ldc + n0 + j * kPw, mask[j],
                                 _mm512_sub_epi32(_mm512_load_si512(acc.v[r][j]), comp[j]));
      continue;
    }
    const __m512 a_scale = _mm512_set1_ps(row_scales ? row_scales[row] : a_scale_all);
    Vecs<NP> y;
#pragma GCC unroll 4
    for (int j = 0; j < NP; ++j) {
      const __m512i v = _mm512_sub_epi32(_mm512_load_si512(acc.v[r][j]), comp[j]);
      y[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(v), a_scale);
      y[j] = rounded(_mm512_mul_ps(y[j], scale[j]));
      if (bias) y[j] = _mm512_add_ps(y[j], add[j]);
    }
    activate<NP>(y, activation);
    if (out == OutKind::F32) {
#pragma GCC unroll 4
      for (int j = 0; j < NP; ++j)
        _mm512_mask_storeu_ps(static_cast<float*>(call.c) + row * ldc + n0 + j * kPw, mask[j], y[j]);
    } else {
      __m128i q[NP];
      quantize16<NP>(y, oq, inverse_scale, q);
#pragma GCC unroll 4
      for (int j = 0; j < NP; ++j)
        _mm_mask_storeu_epi8(static_cast<int8_t*>(call.c) + row * ldc + n0 + j * kPw, mask[j], q[j]);
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

template <int MR>
constexpr TileFn kRow[kMaxPanels] = {tile<MR, 1>, tile<MR, 2>, tile<MR, 3>};
constexpr const TileFn* kTiles[kMaxRows] = {kRow<1>, kRow<2>, kRow<3>, kRow<4>, kRow<5>, kRow<6>, kRow<7>, kRow<8>};

}  // namespace

void gemm_block_avx512(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end) {
  const int64_t panel_bytes = call.w->k_padded() * kPw;
  const int64_t chunk = std::max<int64_t>(kMaxPanels, kChunkBytes / panel_bytes / kMaxPanels * kMaxPanels);
  for (int64_t pc = p_begin; pc < p_end; pc += chunk) {
    const int64_t pc_end = std::min(p_end, pc + chunk);
    for (int64_t m = m_begin; m < m_end; m += kMaxRows) {
      const int64_t mr = std::min<int64_t>(kMaxRows, m_end - m);
      for (int64_t p = pc; p < pc_end; p += kMaxPanels)
        kTiles[mr - 1][std::min<int64_t>(kMaxPanels, pc_end - p) - 1](call, m, p);
    }
  }
}

}  // namespace octet::int8_detail
