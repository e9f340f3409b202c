// Deterministic synthetic data for the quant tests (the same on every platform:
// mt19937_64 is fully specified and the transforms are ours).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "octet/quant.h"

namespace octet::quant_testing {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }                   // [0, 1)
  double open_uniform() { return (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double gaussian() {
    const double r = std::sqrt(-2.0 * std::log(open_uniform()));
    return r * std::cos(2.0 * std::numbers::pi * uniform());
  }
  double laplace(double b) {
    const double u = open_uniform() - 0.5;
    return -b * std::copysign(1.0, u) * std::log(1.0 - 2.0 * std::fabs(u));
  }
  uint64_t below(uint64_t n) { return gen_() % n; }

 private:
  std::mt19937_64 gen_;
};

inline std::vector<float> gaussian_values(size_t n, uint64_t seed, double sigma = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(sigma * rng.gaussian());
  return v;
}

inline std::vector<float> laplace_values(size_t n, uint64_t seed, double b = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.laplace(b));
  return v;
}

// Gaussian N(0,1) with `outliers` values replaced by +-[lo, hi].
inline std::vector<float> gaussian_with_outliers(size_t n, size_t outliers, uint64_t seed, double lo = 30.0,
                                                 double hi = 60.0) {
  std::vector<float> v = gaussian_values(n, seed);
  Rng rng(seed + 1000);
  for (size_t k = 0; k < outliers; ++k) {
    const double m = rng.uniform(lo, hi);
    v[rng.below(n)] = static_cast<float>(rng.uniform() < 0.5 ? -m : m);
  }
  return v;
}

inline Tensor tensor_of(const std::vector<float>& v, Shape shape) { return Tensor::from_floats(v, std::move(shape)); }
inline Tensor tensor_of(const std::vector<float>& v) { return tensor_of(v, {static_cast<int64_t>(v.size())}); }

}  // namespace octet::quant_testing
