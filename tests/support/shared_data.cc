#include "support/shared_data.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace octet::testing {

std::filesystem::path shared_root() {
  if (const char* env = std::getenv("OCTET_SHARED"); env && *env) return env;
  return OCTET_SHARED_DEFAULT;
}

std::filesystem::path shared_path(const std::string& relative) {
  auto p = shared_root() / relative;
  if (!std::filesystem::exists(p))
    throw std::runtime_error("test data missing: " + p.string() + " (set OCTET_SHARED to the shared/ folder)");
  return p;
}

// $OCTET_SOURCE_DIR overrides the build's path (a checkout on another machine).
std::filesystem::path source_root() {
  if (const char* env = std::getenv("OCTET_SOURCE_DIR"); env && *env) return env;
  return OCTET_SOURCE_DIR;
}

std::filesystem::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "octet";
  for (auto& c : name)
    if (c == '/') c = '_';
  auto dir = std::filesystem::temp_directory_path() / ("octet-test-" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace octet::testing
