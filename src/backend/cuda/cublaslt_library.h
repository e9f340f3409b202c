// Internal to the CUDA backend: cuBLASLt, loaded on first use.
//
// libcublasLt is a 540 MB library whose load (relocations, static
// constructors) costs ~0.3 s of CPU in every process that links it, GPU or
// not. Most processes never run a GPU GEMM (every CPU command, every test), so
// the backend opens it with dlopen the first time a GEMM plan or a status
// string needs it, and a CUDA build still starts where cuBLAS is not
// installed: the first GPU GEMM then fails with an octet::Error naming the
// library.
#pragma once

#include <cublasLt.h>

#include <string>
#include <vector>

namespace octet::cuda {

// The cuBLASLt entry points the backend calls, resolved from the library.
struct CublasLtLibrary {
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtDestroy) destroy = nullptr;
  decltype(&cublasLtGetStatusString) get_status_string = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) matmul_algo_get_heuristic = nullptr;
  decltype(&cublasLtMatmulDescCreate) matmul_desc_create = nullptr;
  decltype(&cublasLtMatmulDescDestroy) matmul_desc_destroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) matmul_desc_set_attribute = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) matmul_preference_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) matmul_preference_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) matmul_preference_set_attribute = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) matrix_layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) matrix_layout_destroy = nullptr;
};

// The library, opened once per process (thread-safe) from the first of
// cublaslt_candidates() that opens. Throws Error("cuda", ...) naming the files
// tried and dlerror() when none opens or an entry point is missing; later
// calls throw the same again.
const CublasLtLibrary& cublaslt();

// Where to look, in order: the soname of the cuBLAS major version the backend
// was compiled against (found through the loader's usual search), then that
// name in the folder libcudart was loaded from, then in the CUDA toolkit's
// library folder at build time.
std::vector<std::string> cublaslt_candidates();

// Opens the first of `paths` that dlopen accepts and resolves every entry
// point; the handle stays open for the process. What cublaslt() calls once.
CublasLtLibrary open_cublaslt(const std::vector<std::string>& paths);

}  // namespace octet::cuda
