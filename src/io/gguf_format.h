// Constants of the GGUF container that the reader and the writer share (ggml's gguf.c).
#pragma once

#include <cstddef>
#include <cstdint>

namespace octet::io {

inline constexpr uint32_t kGgufDefaultAlignment = 32;  // GGUF_DEFAULT_ALIGNMENT, when general.alignment is absent
inline constexpr size_t kGgufMaxDims = 4;              // GGML_MAX_DIMS

}  // namespace octet::io
