// INT8 GEMM: weight packing, argument checks, variant dispatch and threading.
// The arithmetic lives in the per-ISA block functions (see gemm_int8_internal.h).
#include "octet/gemm_int8.h"

#include <emmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error_tags.h"
#include "kernels/gemm_int8_internal.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {
constexpr size_t kAlignment = 64;

template <typename T>
T* allocate_zeroed(int64_t count) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(T);
  const size_t rounded = std::max(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  void* p = std::aligned_alloc(kAlignment, rounded);
  check(p != nullptr, kGemmInt8Tag, "out of memory allocating {} bytes of packed weights", rounded);
  std::memset(p, 0, rounded);
  return static_cast<T*>(p);
}

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

int8_detail::BlockFn block_fn(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Avx2: return int8_detail::gemm_block_avx2;
    case Int8Isa::Avx512Vnni: return int8_detail::gemm_block_avx512;
    case Int8Isa::Scalar: break;
  }
  return int8_detail::gemm_block_scalar;
}

// Rows of one microkernel tile; threads split M in multiples of it.
int64_t tile_rows(Int8Isa isa) { return isa == Int8Isa::Avx512Vnni ? 8 : 4; }

void check_common(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
                  const void* c, int64_t ldc) {
  check(!w.empty(), kGemmInt8Tag, "weights are not packed");
  check(int8_isa_available(w.isa()), kGemmInt8Tag, "weights were packed for {}, which this CPU cannot run",
        int8_isa_name(w.isa()));
  check(m >= 0, kGemmInt8Tag, "m = {} is negative", m);
  check(lda >= w.k(), kGemmInt8Tag, "lda = {} is smaller than k = {}", lda, w.k());
  check(ldc >= w.n(), kGemmInt8Tag, "ldc = {} is smaller than n = {}", ldc, w.n());
  check(m == 0 || (a != nullptr && c != nullptr), kGemmInt8Tag, "null A or C pointer");
  // |sum_k (a - zp) * w| <= K * 127 * (128 + |zp|) must fit int32 for the
  // accumulation (wrapping int32 arithmetic) to give the exact result.
  const double bound = static_cast<double>(w.k()) * 127.0 * (128.0 + std::fabs(static_cast<double>(a_zero_point)));
  check(bound <= static_cast<double>(std::numeric_limits<int32_t>::max()), kGemmInt8Tag,
        "k = {} with a_zero_point = {} could overflow the int32 accumulator", w.k(), a_zero_point);
}

void check_epilogue(const Int8Epilogue& ep) {
  check(ep.a_row_scales != nullptr || std::isfinite(ep.a_scale), kGemmInt8Tag, "a_scale {} is not finite", ep.a_scale);
  const int act = static_cast<int>(ep.activation);
  check(act >= 0 && act <= static_cast<int>(Int8Activation::GeluTanh), kGemmInt8Tag, "unknown activation {}", act);
}

void run(const int8_detail::GemmCall& call) {
  if (call.m == 0) return;
  const PackedInt8Weights& w = *call.w;
  const int8_detail::BlockFn fn = block_fn(w.isa());
  const int64_t panels = w.n_padded() / w.panel_width();
  const int64_t threads = num_threads();
  const int64_t mr = tile_rows(w.isa());
  // Split columns when there are enough of them (each thread then streams only
  // its share of the weights, once); otherwise split rows. Small M (decode)
  // always splits columns: the weights are the traffic.
  const bool split_columns = call.m <= 8 || panels >= 4 * threads;
  const auto columns = [&](int64_t p0, int64_t p1) { fn(call, 0, call.m, p0, p1); };
  if (call.m <= 8) {
    // Decode: memory-bound, contiguous shares with their tails balanced over the threads (thread_pool.h),
    // in pieces of 48 columns (the AVX-512 tile's three panels).
    parallel_for_balanced(panels, columns, std::max<int64_t>(1, 48 / w.panel_width()));
  } else if (split_columns) {
    parallel_for(panels, columns, std::max<int64_t>(1, 16 / w.panel_width()));
  } else {
    const int64_t row_tiles = (call.m + mr - 1) / mr;
    parallel_for(row_tiles, [&](int64_t t0, int64_t t1) { fn(call, t0 * mr, std::min(call.m, t1 * mr), 0, panels); });
  }
}

// The call every entry point describes; the epilogue fields are set by the callers that have one.
int8_detail::GemmCall make_call(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point,
                                const PackedInt8Weights& w, int8_detail::OutKind out, void* c, int64_t ldc) {
  int8_detail::GemmCall call;
  call.a = a;
  call.m = m;
  call.lda = lda;
  call.a_zero_point = a_zero_point;
  call.w = &w;
  call.out = out;
  call.c = c;
  call.ldc = ldc;
  return call;
}

}  // namespace

void PackedInt8Weights::FreeDeleter::operator()(void* p) const { std::free(p); }

PackedInt8Weights::PackedInt8Weights() = default;
PackedInt8Weights::PackedInt8Weights(PackedInt8Weights&&) noexcept = default;
PackedInt8Weights& PackedInt8Weights::operator=(PackedInt8Weights&&) noexcept = default;
PackedInt8Weights::~PackedInt8Weights() = default;

std::string_view int8_isa_name(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Scalar: return "scalar";
    case Int8Isa::Avx2: return "avx2";
    case Int8Isa::Avx512Vnni: return "avx512_vnni";
  }
  return "unknown";
}

bool int8_isa_available(Int8Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Int8Isa::Scalar: return true;
    case Int8Isa::Avx2: return f.avx2 && f.fma;
    case Int8Isa::Avx512Vnni: return f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
  }
  return false;
}

Int8Isa int8_default_isa() {
  static const Int8Isa best = int8_isa_available(Int8Isa::Avx512Vnni) ? Int8Isa::Avx512Vnni
                              : int8_isa_available(Int8Isa::Avx2)    ? Int8Isa::Avx2
                                                                      : Int8Isa::Scalar;
  return best;
}

PackedInt8Weights pack_int8_weights(const int8_t* w, int64_t n, int64_t k, const float* w_scales) {
  return pack_int8_weights(w, n, k, w_scales, int8_default_isa());
}

// The checks and allocation both packers share; the codes are filled in by the caller.
PackedInt8Weights PackedInt8Weights::allocate(int64_t n, int64_t k, const float* w_scales, Int8Isa isa) {
  check(n > 0 && k > 0, kGemmInt8Tag, "weight shape [{}, {}] must be positive", n, k);
  // Beyond this even a_zero_point = 0 could overflow the int32 accumulator.
  constexpr int64_t kMaxK = std::numeric_limits<int32_t>::max() / (127 * 128);
  check(k <= kMaxK, kGemmInt8Tag, "k = {} exceeds {}, the largest k whose int32 accumulation is exact", k, kMaxK);
  check(n <= std::numeric_limits<int32_t>::max(), kGemmInt8Tag, "n = {} too large", n);
  check(int8_isa_available(isa), kGemmInt8Tag, "cannot pack for {}: this CPU does not support it", int8_isa_name(isa));
  PackedInt8Weights p;
  p.n_ = n;
  p.k_ = k;
  p.isa_ = isa;
  p.panel_width_ = int8_detail::panel_width_for(isa);
  p.n_padded_ = round_up(n, p.panel_width_);
  p.k_padded_ = isa == Int8Isa::Scalar ? k : round_up(k, 4);
  p.data_.reset(allocate_zeroed<int8_t>(p.n_padded_ * p.k_padded_));
  p.scales_.reset(allocate_zeroed<float>(p.n_padded_));
  p.row_sums_.reset(allocate_zeroed<int32_t>(p.n_padded_));
  for (int64_t col = 0; col < n; ++col) {
    const float s = w_scales ? w_scales[col] : 1.0f;
    check(std::isfinite(s), kGemmInt8Tag, "weight scale [{}] = {} is not finite", col, s);
    p.scales_[col] = s;
  }
  return p;
}

namespace {

// -128 has no negation in int8: the sign trick (vpsignb) would leave it at
// -128 and break exactness, and the symmetric scheme never produces it.
[[noreturn]] void fail_minus_128(int64_t col, int64_t i) {
  fail(kGemmInt8Tag, "weight [{}, {}] is -128: symmetric int8 weights must lie in [-127, 127]", col, i);
}

// sums[c] += src[c] for c < n; returns min(0, src[c]). Restrict: the int8
// source could otherwise alias the sums, and the loop would not vectorize.
int add_row_and_min(const int8_t* __restrict src, int32_t* __restrict sums, int64_t n) {
  int lowest = 0;
  for (int64_t c = 0; c < n; ++c) {
    sums[c] += src[c];
    lowest = std::min<int>(lowest, src[c]);
  }
  return lowest;
}

}  // namespace

PackedInt8Weights pack_int8_weights(const int8_t* w, int64_t n, int64_t k, const float* w_scales, Int8Isa isa) {
  check(w != nullptr, kGemmInt8Tag, "null weight pointer");
  PackedInt8Weights p = PackedInt8Weights::allocate(n, k, w_scales, isa);
  const int64_t pw = p.panel_width_, kp = p.k_padded_;
  int8_t* dst = p.data_.get();
  for (int64_t col = 0; col < n; ++col) {
    const int8_t* row = w + col * k;
    int32_t sum = 0;  // |sum| <= 127 * kMaxK < 2^31
    int lowest = 0;   // a min reduction vectorizes; -128 is present iff it is the minimum
    for (int64_t i = 0; i < k; ++i) {
      sum += row[i];
      lowest = std::min<int>(lowest, row[i]);
    }
    if (lowest == -128) fail_minus_128(col, std::find(row, row + k, int8_t{-128}) - row);
    p.row_sums_[col] = sum;
    if (pw == 1) {
      std::memcpy(dst + col * kp, row, size_t(k));
      continue;
    }
    // Each group of 4 consecutive k is one 4-byte word of the panel; the last may be partial.
    int8_t* panel = dst + (col / pw) * (kp * pw) + (col % pw) * 4;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) std::memcpy(panel + (i / 4) * (4 * pw), row + i, 4);
    for (; i < k; ++i) panel[(i / 4) * (4 * pw) + i % 4] = row[i];
  }
  return p;
}

PackedInt8Weights pack_int8_weights_transposed(const int8_t* wt, int64_t k, int64_t n, int64_t ldwt,
                                               const float* w_scales, Int8Isa isa) {
  check(wt != nullptr, kGemmInt8Tag, "null weight pointer");
  check(ldwt >= n, kGemmInt8Tag, "leading dimension {} of the transposed weight is below n = {}", ldwt, n);
  PackedInt8Weights p = PackedInt8Weights::allocate(n, k, w_scales, isa);
  const int64_t pw = p.panel_width_, kp = p.k_padded_;
  int8_t* dst = p.data_.get();
  int32_t* sums = p.row_sums_.get();
  for (int64_t i = 0; i < k; ++i) {
    const int8_t* src = wt + i * ldwt;  // W[:, i]
    if (add_row_and_min(src, sums, n) == -128) fail_minus_128(std::find(src, src + n, int8_t{-128}) - src, i);
  }
  if (pw == 1) {
    for (int64_t i = 0; i < k; ++i)
      for (int64_t col = 0; col < n; ++col) dst[col * kp + i] = wt[i * ldwt + col];
    return p;
  }
  static_assert(int8_detail::panel_width_for(Int8Isa::Avx2) % 4 == 0 &&
                int8_detail::panel_width_for(Int8Isa::Avx512Vnni) % 4 == 0);
  // Per group of 4 k (rows of wt) and 16 columns: interleaving the 4 rows'
  // bytes gives the 16 columns' 4-byte words in order (SSE2, every x86-64).
  const __m128i zero = _mm_setzero_si128();
  for (int64_t i = 0; i < k; i += 4) {
    const int8_t* rows[4];
    for (int r = 0; r < 4; ++r) rows[r] = i + r < k ? wt + (i + r) * ldwt : nullptr;  // past k: zeros
    int64_t col = 0;
    const auto word_of = [&](int64_t c) { return dst + (c / pw) * (kp * pw) + (i / 4) * (4 * pw) + (c % pw) * 4; };
    for (; col + 16 <= n; col += 16) {
      __m128i v[4];
      for (int r = 0; r < 4; ++r)
        v[r] = rows[r] ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + col)) : zero;
      const __m128i ab_lo = _mm_unpacklo_epi8(v[0], v[1]), ab_hi = _mm_unpackhi_epi8(v[0], v[1]);
      const __m128i cd_lo = _mm_unpacklo_epi8(v[2], v[3]), cd_hi = _mm_unpackhi_epi8(v[2], v[3]);
      const __m128i words[4] = {_mm_unpacklo_epi16(ab_lo, cd_lo), _mm_unpackhi_epi16(ab_lo, cd_lo),
                                _mm_unpacklo_epi16(ab_hi, cd_hi), _mm_unpackhi_epi16(ab_hi, cd_hi)};
      // Columns col + 4w .. col + 4w + 3 lie in one panel (pw is a multiple of 4).
      for (int w = 0; w < 4; ++w) _mm_storeu_si128(reinterpret_cast<__m128i*>(word_of(col + 4 * w)), words[w]);
    }
    for (; col < n; ++col)
      for (int r = 0; r < 4; ++r) word_of(col)[r] = rows[r] ? rows[r][col] : 0;
  }
  return p;
}

void gemm_int8_s32(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
                   int32_t* c, int64_t ldc) {
  check_common(a, m, lda, a_zero_point, w, c, ldc);
  run(make_call(a, m, lda, a_zero_point, w, int8_detail::OutKind::S32, c, ldc));
}

void gemm_int8(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
               const Int8Epilogue& ep, float* c, int64_t ldc) {
  check_common(a, m, lda, a_zero_point, w, c, ldc);
  check_epilogue(ep);
  int8_detail::GemmCall call = make_call(a, m, lda, a_zero_point, w, int8_detail::OutKind::F32, c, ldc);
  call.ep = ep;
  run(call);
}

void gemm_int8_requantize(const int8_t* a, int64_t m, int64_t lda, int32_t a_zero_point, const PackedInt8Weights& w,
                          const Int8Epilogue& ep, const Int8OutputQuant& out, int8_t* c, int64_t ldc) {
  check_common(a, m, lda, a_zero_point, w, c, ldc);
  check_epilogue(ep);
  check(std::isfinite(out.scale) && out.scale > 0.0f, kGemmInt8Tag, "output scale {} must be positive and finite",
        out.scale);
  check(out.zero_point >= -128 && out.zero_point <= 127, kGemmInt8Tag, "output zero point {} outside [-128, 127]",
        out.zero_point);
  check(out.qmin >= -128 && out.qmin <= 127, kGemmInt8Tag, "output lower clamp {} outside [-128, 127]", out.qmin);
  int8_detail::GemmCall call = make_call(a, m, lda, a_zero_point, w, int8_detail::OutKind::S8, c, ldc);
  call.ep = ep;
  call.oq = out;
  run(call);
}

}  // namespace octet
