// Small helpers shared by the io tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "octet/error.h"

namespace octet::testing {

// Runs `f` and returns the message of the octet::Error it throws ("" and a
// test failure when it throws nothing).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const octet::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an octet::Error";
  return "";
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A safetensors file from a header text and data bytes, exactly as given
// (no padding, no validation): for crafting malformed files.
inline std::string raw_safetensors(const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

// The bytes of a vector of quantized blocks (ggml's block structs), as a file stores them.
template <typename Block>
std::string bytes_of_blocks(const std::vector<Block>& blocks) {
  return std::string(reinterpret_cast<const char*>(blocks.data()), blocks.size() * sizeof(Block));
}

}  // namespace octet::testing
