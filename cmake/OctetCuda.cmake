# CUDA backend selection. OCTET_CUDA=AUTO builds it when a CUDA compiler is found,
# ON requires it, OFF never builds it. Without it, src/backend/cuda_stub.cc is
# compiled so callers get a clear octet::Error, never a link error.
include(CheckLanguage)
set(OCTET_HAVE_CUDA OFF)
if(NOT OCTET_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # There is no GPU on the build machines to detect; Ampere, Ada and Hopper.
      set(CMAKE_CUDA_ARCHITECTURES 80;89;90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(OCTET_HAVE_CUDA ON)
  elseif(OCTET_CUDA STREQUAL "ON")
    message(FATAL_ERROR "OCTET_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "octet: CUDA backend ${OCTET_HAVE_CUDA}")

function(octet_add_cuda_backend target)
  if(OCTET_HAVE_CUDA)
    file(GLOB_RECURSE cuda_sources CONFIGURE_DEPENDS
         ${PROJECT_SOURCE_DIR}/src/kernels/cuda/*.cu ${PROJECT_SOURCE_DIR}/src/kernels/cuda/*.cc
         ${PROJECT_SOURCE_DIR}/src/backend/cuda/*.cu ${PROJECT_SOURCE_DIR}/src/backend/cuda/*.cc)
    # The stand-in backend would clash with the real one (same symbols).
    get_target_property(host_sources ${target} SOURCES)
    list(FILTER host_sources EXCLUDE REGEX "/src/backend/cuda_stub\\.cc$")
    set_property(TARGET ${target} PROPERTY SOURCES ${host_sources} ${cuda_sources})
    # CMake 3.25 has no C++20 flag for nvcc 13: the kernels are C++17 (they
    # include only C-like octet headers).
    set_target_properties(${target} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
    # The target's warning flags are GCC's; nvcc gets them through -Xcompiler
    # for host code, and its own warnings become errors too.
    get_target_property(options ${target} COMPILE_OPTIONS)
    if(options)
      set_property(TARGET ${target} PROPERTY COMPILE_OPTIONS "$<$<COMPILE_LANGUAGE:CXX>:${options}>")
      string(REPLACE ";" "," host_options "${options}")
      target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${host_options}>")
      if("-Werror" IN_LIST options)
        target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>")
      endif()
    endif()
    target_compile_definitions(${target} PUBLIC OCTET_WITH_CUDA=1)
    # cuBLASLt is opened with dlopen on first use, not linked: its load costs
    # ~0.3 s in every process, GPU or not (src/backend/cuda/cublaslt_library.h).
    target_link_libraries(${target} PUBLIC CUDA::cudart PRIVATE ${CMAKE_DL_LIBS})
    set_property(SOURCE ${PROJECT_SOURCE_DIR}/src/backend/cuda/cublaslt_library.cc APPEND PROPERTY COMPILE_DEFINITIONS
                 OCTET_CUDA_LIBRARY_DIR="${CUDAToolkit_LIBRARY_DIR}")
  endif()
endfunction()
