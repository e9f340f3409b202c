// cuBLASLt is opened on first use, not at process start (its load cost ~0.3 s
// in every process that linked it): checked on any machine with a CUDA build,
// GPU or not, since opening the library needs no device.
#include <gtest/gtest.h>

#ifdef OCTET_WITH_CUDA
#include <cuda_runtime_api.h>
#include <link.h>

#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cublaslt_library.h"
#include "octet/error.h"

namespace octet::cuda {
namespace {

bool library_mapped(const char* name_part) {
  struct Search {
    const char* name_part;
    bool found;
  } search{name_part, false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, s->name_part) != nullptr) s->found = true;
        return 0;
      },
      &search);
  return search.found;
}

// Read during static initialisation: every linked library is loaded by then,
// and no test has run yet.
const bool kCublasLtMappedAtStart = library_mapped("libcublasLt");

TEST(CublasLtLibrary, NotLoadedUntilFirstUse) {
  EXPECT_FALSE(kCublasLtMappedAtStart) << "libcublasLt was loaded with the process: it is linked again";
}

TEST(CublasLtLibrary, OpensFromTheCandidatesWithEveryEntryPoint) {
  const std::vector<std::string> candidates = cublaslt_candidates();
  ASSERT_FALSE(candidates.empty());
  EXPECT_EQ(candidates.front(), "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR));
  const CublasLtLibrary& lib = cublaslt();
  EXPECT_TRUE(library_mapped("libcublasLt"));
  EXPECT_NE(lib.create, nullptr);
  EXPECT_NE(lib.destroy, nullptr);
  EXPECT_NE(lib.matmul, nullptr);
  EXPECT_NE(lib.matmul_algo_get_heuristic, nullptr);
  EXPECT_NE(lib.matrix_layout_destroy, nullptr);
  ASSERT_NE(lib.get_status_string, nullptr);
  // The text differs between versions ("success" in cuBLAS 13); that it comes back shows a resolved call works.
  const char* success = lib.get_status_string(CUBLAS_STATUS_SUCCESS);
  ASSERT_NE(success, nullptr);
  EXPECT_GT(std::strlen(success), 0u);
}

TEST(CublasLtLibrary, MissingLibraryIsAnErrorNamingEveryFileTried) {
  try {
    open_cublaslt({"/nonexistent/libcublasLt.so.99", "libcublasLt-missing.so"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot load cuBLASLt"), std::string::npos) << what;
    EXPECT_NE(what.find("/nonexistent/libcublasLt.so.99"), std::string::npos) << what;
    EXPECT_NE(what.find("libcublasLt-missing.so"), std::string::npos) << what;
  }
}

TEST(CublasLtLibrary, LibraryWithoutTheEntryPointsIsAnErrorNamingTheSymbol) {
  // libcudart opens but has no cuBLASLt symbol.
  try {
    open_cublaslt({"libcudart.so." + std::to_string(CUDART_VERSION / 1000)});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no cublasLtCreate"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet::cuda
#endif  // OCTET_WITH_CUDA
