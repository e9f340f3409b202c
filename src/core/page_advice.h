// Hints about memory the process borrowed from a mapped file.
#pragma once

#include <cstddef>

#include "octet/tensor.h"

namespace octet {

// Tells the kernel that the whole pages inside [data, data + bytes) will not be
// read again soon, so it may reclaim them now (MADV_PAGEOUT). Nothing is lost:
// a later read faults the file's bytes back in, and a page the process wrote
// (copy-on-write) is swapped out, never dropped. A no-op where the hint is
// unsupported.
void page_out(const void* data, size_t bytes);

// page_out of t's bytes when t is borrowed (a view of a mapped file); octet's
// own allocations are left alone. Used when a quantized Linear has repacked
// its codes out of an mmapped checkpoint: the source pages would otherwise
// stay in the process's RSS next to the packed copy for the model's lifetime.
void page_out_if_borrowed(const Tensor& t);

}  // namespace octet
