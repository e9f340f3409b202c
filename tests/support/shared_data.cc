#include "support/shared_data.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
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

std::filesystem::path kjv_llama_dir() { return shared_path("models/kjv-llama"); }

// $OCTET_SOURCE_DIR overrides the build's path (a checkout on another machine).
std::filesystem::path source_root() {
  if (const char* env = std::getenv("OCTET_SOURCE_DIR"); env && *env) return env;
  return OCTET_SOURCE_DIR;
}

namespace {

// Set once, never destroyed: the atexit handler below may run after static destructors.
const std::filesystem::path* process_root = nullptr;
pid_t process_root_owner = 0;

// At exit: the process's folder goes unless a test failed (then it stays, for a look) or
// OCTET_KEEP_TEST_FILES is set. Only the process that made it removes it (not a forked child).
void remove_process_root() {
  if (!process_root || ::getpid() != process_root_owner) return;
  if (const char* keep = std::getenv("OCTET_KEEP_TEST_FILES"); keep && *keep) return;
  if (::testing::UnitTest::GetInstance()->Failed()) {
    std::fprintf(stderr, "test files kept in %s (a test failed)\n", process_root->c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(*process_root, ignored);
}

}  // namespace

std::filesystem::path process_temp_root() {
  if (!process_root) {
    process_root_owner = ::getpid();
    process_root = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                             ("octet-test-" + std::to_string(process_root_owner)));
    std::atexit(remove_process_root);
  }
  return *process_root;
}

std::filesystem::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "octet";
  for (auto& c : name)
    if (c == '/') c = '_';
  auto dir = process_temp_root() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace octet::testing
