// cuBLASLt opened with dlopen on first use (why: cublaslt_library.h).
#include "backend/cuda/cublaslt_library.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <variant>

#include "octet/error.h"

namespace octet::cuda {
namespace {

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// The folder of the libcudart this process runs with (cuBLAS ships beside it
// in every toolkit and in the pip wheels' layout), or "" when it is linked in
// statically or cannot be found.
std::string cudart_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&cudaGetDeviceCount), &info) == 0 || info.dli_fname == nullptr) return {};
  return folder_of(info.dli_fname);
}

template <typename Fn>
void resolve(void* handle, const char* symbol, const std::string& file, Fn& out) {
  dlerror();
  void* address = dlsym(handle, symbol);
  if (address == nullptr) {
    const char* why = dlerror();
    throw Error("cuda", fmt::format("{} has no {}: {}", file, symbol, why ? why : "null symbol"));
  }
  out = reinterpret_cast<Fn>(address);
}

}  // namespace

std::vector<std::string> cublaslt_candidates() {
  const std::string soname = fmt::format("libcublasLt.so.{}", CUBLAS_VER_MAJOR);
  std::vector<std::string> paths{soname};
  for (const std::string& folder : {cudart_folder(), std::string(OCTET_CUDA_LIBRARY_DIR)}) {
    if (folder.empty()) continue;
    std::string path = folder + "/" + soname;
    bool seen = false;
    for (const std::string& p : paths) seen = seen || p == path;
    if (!seen) paths.push_back(std::move(path));
  }
  return paths;
}

CublasLtLibrary open_cublaslt(const std::vector<std::string>& paths) {
  void* handle = nullptr;
  std::string file, tried;
  for (const std::string& path : paths) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
      file = path;
      break;
    }
    const char* why = dlerror();
    tried += fmt::format("\n  {}: {}", path, why ? why : "not loadable");
  }
  if (handle == nullptr) {
    throw Error("cuda", fmt::format("cannot load cuBLASLt (install the CUDA toolkit's libcublas or add its folder to "
                                    "LD_LIBRARY_PATH); tried:{}",
                                    tried));
  }
  CublasLtLibrary lib;
  resolve(handle, "cublasLtCreate", file, lib.create);
  resolve(handle, "cublasLtDestroy", file, lib.destroy);
  resolve(handle, "cublasLtGetStatusString", file, lib.get_status_string);
  resolve(handle, "cublasLtMatmul", file, lib.matmul);
  resolve(handle, "cublasLtMatmulAlgoGetHeuristic", file, lib.matmul_algo_get_heuristic);
  resolve(handle, "cublasLtMatmulDescCreate", file, lib.matmul_desc_create);
  resolve(handle, "cublasLtMatmulDescDestroy", file, lib.matmul_desc_destroy);
  resolve(handle, "cublasLtMatmulDescSetAttribute", file, lib.matmul_desc_set_attribute);
  resolve(handle, "cublasLtMatmulPreferenceCreate", file, lib.matmul_preference_create);
  resolve(handle, "cublasLtMatmulPreferenceDestroy", file, lib.matmul_preference_destroy);
  resolve(handle, "cublasLtMatmulPreferenceSetAttribute", file, lib.matmul_preference_set_attribute);
  resolve(handle, "cublasLtMatrixLayoutCreate", file, lib.matrix_layout_create);
  resolve(handle, "cublasLtMatrixLayoutDestroy", file, lib.matrix_layout_destroy);
  return lib;
}

const CublasLtLibrary& cublaslt() {
  // The outcome of the one attempt: the library, or the error to throw again.
  static const std::variant<CublasLtLibrary, Error> loaded = []() -> std::variant<CublasLtLibrary, Error> {
    try {
      return open_cublaslt(cublaslt_candidates());
    } catch (const Error& e) {
      return e;
    }
  }();
  if (const auto* error = std::get_if<Error>(&loaded)) throw *error;
  return std::get<CublasLtLibrary>(loaded);
}

}  // namespace octet::cuda
