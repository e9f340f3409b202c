// Locating ../shared test data. Tests never skip silently when data is
// missing: shared_path() throws, failing the test with the path it looked for.
#pragma once

#include <filesystem>
#include <string>

namespace octet::testing {

// $OCTET_SHARED, or the repo's ../shared.
std::filesystem::path shared_root();
// shared_root() / relative; throws std::runtime_error naming the path if absent.
std::filesystem::path shared_path(const std::string& relative);
// The kjv-llama model folder, shared_path("models/kjv-llama").
std::filesystem::path kjv_llama_dir();
// The repository root (for models/ and data/ copied into the repo).
std::filesystem::path source_root();
// A fresh, empty temporary directory unique to the calling test, under process_temp_root().
std::filesystem::path temp_dir();
// This test process's folder under the temp dir ($TMPDIR/octet-test-<pid>), removed when the
// process exits unless a test failed or OCTET_KEEP_TEST_FILES is set.
std::filesystem::path process_temp_root();

}  // namespace octet::testing
