// Helpers of the encoder tests: fixture paths, reference tensors, masked comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "octet/error.h"
#include "octet/model.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet::testing {

inline std::filesystem::path fixture_dir(const std::string& name) { return shared_path("fixtures/hf/" + name); }

// Runs `f` and returns the octet::Error it throws (a test failure when none).
template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an octet::Error";
  return Error("none", "no error thrown");
}

// The reference inputs of a fixture (input_ids, attention_mask, position_ids / token_type_ids when given).
inline ModelInputs reference_inputs(const SafetensorsFile& ref) {
  ModelInputs in;
  in.input_ids = ref.get("input_ids").clone();
  in.attention_mask = ref.get("attention_mask").clone();
  if (ref.contains("position_ids")) in.position_ids = ref.get("position_ids").clone();
  if (ref.contains("token_type_ids")) in.token_type_ids = ref.get("token_type_ids").clone();
  return in;
}

// max |a - b| over all elements, or (for [batch, seq, ...] tensors) over the
// (batch, seq) positions where mask != 0.
inline double max_abs_diff(const Tensor& a, const Tensor& b, const Tensor& mask = {}) {
  EXPECT_EQ(shape_str(a.shape()), shape_str(b.shape()));
  if (a.shape() != b.shape()) return INFINITY;
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const auto x = ac.span<float>(), y = bc.span<float>();
  const int64_t positions = mask.defined() ? mask.numel() : 1;
  const int64_t width = a.numel() / positions;
  double worst = 0;
  for (int64_t p = 0; p < positions; ++p) {
    if (mask.defined() && mask.contiguous().span<int64_t>()[size_t(p)] == 0) continue;
    for (int64_t i = p * width; i < (p + 1) * width; ++i)
      worst = std::max(worst, std::fabs(double(x[size_t(i)]) - double(y[size_t(i)])));
  }
  return worst;
}

}  // namespace octet::testing
