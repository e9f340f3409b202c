#include "core/page_advice.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace octet {

void page_out(const void* data, size_t bytes) {
#ifdef MADV_PAGEOUT
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  // Whole pages only: the partial ones at the ends may belong to a neighbouring tensor still in use.
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#else
  (void)data;
  (void)bytes;
#endif
}

void page_out_if_borrowed(const Tensor& t) {
  if (t.defined() && !t.owns_memory() && t.numel() > 0) page_out(t.raw_data(), t.nbytes());
}

}  // namespace octet
