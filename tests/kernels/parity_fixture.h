// PyTorch parity fixture: tests/data/kernels_parity.json, written once by
// tests/data/gen_kernels_parity.py with torch in float64 (exact answers for
// exact f32 inputs). Tests read it with no Python around.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "octet/tensor.h"
#include "support/shared_data.h"

namespace octet::kernels::testing {

inline const nlohmann::json& parity_case(const std::string& name) {
  static const nlohmann::json all = [] {
    const auto path = octet::testing::source_root() / "tests" / "data" / "kernels_parity.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("missing parity fixture " + path.string());
    return nlohmann::json::parse(in);
  }();
  return all.at("cases").at(name);
}

// The named array as an f32 tensor (null, JSON's stand-in for -inf, becomes -inf).
inline Tensor parity_tensor(const nlohmann::json& c, const std::string& name) {
  const auto& entry = c.at(name);
  Tensor t = Tensor::empty(entry.at("shape").get<Shape>(), DType::F32);
  const auto& data = entry.at("data");
  if (static_cast<int64_t>(data.size()) != t.numel()) throw std::runtime_error("parity fixture: bad size for " + name);
  float* p = t.data<float>();
  for (size_t i = 0; i < data.size(); ++i)
    p[i] = data[i].is_null() ? -std::numeric_limits<float>::infinity() : static_cast<float>(data[i].get<double>());
  return t;
}

inline std::vector<double> parity_values(const nlohmann::json& c, const std::string& name) {
  std::vector<double> out;
  for (const auto& v : c.at(name).at("data"))
    out.push_back(v.is_null() ? -std::numeric_limits<double>::infinity() : v.get<double>());
  return out;
}

}  // namespace octet::kernels::testing
