// A native quantized Linear repacks its codes; when the codes were borrowed
// from an mmapped checkpoint, the source pages leave the process's resident
// memory (a 1.1 B-parameter w4a16 folder peaked at 1.51 GB RSS for 0.91 GB
// of weights because every checkpoint page of the codes stayed mapped next to
// the packed copy; 0.94 GB after).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "io/mapped_file.h"
#include "octet/quantized_model.h"
#include "support/shared_data.h"

namespace octet {
namespace {

// Pages of [data, data + bytes) present in this process's page table (/proc/self/pagemap bit 63).
int64_t resident_pages(const void* data, size_t bytes) {
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  const int fd = ::open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) return -1;
  int64_t present = 0;
  const uintptr_t first = reinterpret_cast<uintptr_t>(data) / page, last = (reinterpret_cast<uintptr_t>(data) + bytes - 1) / page;
  for (uintptr_t p = first; p <= last; ++p) {
    uint64_t entry = 0;
    if (::pread(fd, &entry, sizeof entry, static_cast<off_t>(p * sizeof entry)) != sizeof entry) break;
    present += (entry >> 63) & 1;
  }
  ::close(fd);
  return present;
}

TEST(NativeKernelPages, CheckpointPagesOfRepackedCodesLeaveResidentMemory) {
  const int64_t n = 512, k = 1024;  // 512 KiB of int8 codes: 128 pages
  const auto path = testing::temp_dir() / "codes.bin";
  {
    std::vector<char> codes(size_t(n * k));
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<char>(int(i % 255) - 127);
    // Written back before mapping (fsync), as a checkpoint on disk is: reclaim drops clean file pages at
    // once, while pages still dirty from a fresh write may stay until writeback (the test was flaky so).
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, codes.data(), codes.size()), ssize_t(codes.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  const auto file = io::MappedFile::open(path, "test");
  volatile int64_t sum = 0;
  const int64_t pages = int64_t(file->size()) / ::sysconf(_SC_PAGESIZE);
  if (resident_pages(file->data(), file->size()) < 0) GTEST_SKIP() << "/proc/self/pagemap is not readable here";
  // Faults every page in; true when (nearly) all are resident afterwards. The pages are clean page cache,
  // which the kernel may reclaim at any time under memory pressure from other processes (a parallel test
  // run), so a few tries are allowed before the precondition counts as failed.
  const auto fault_in = [&] {
    for (int tries = 0; tries < 5; ++tries) {
      for (size_t i = 0; i < file->size(); i += 64) sum = sum + file->data()[i];
      if (resident_pages(file->data(), file->size()) >= pages - 1) return true;
    }
    return false;
  };
  ASSERT_TRUE(fault_in()) << resident_pages(file->data(), file->size()) << " of " << pages << " pages resident";

  for (const bool weight_only : {true, false}) {
    QuantizedLinear q;
    q.name = "proj";
    q.weight_spec = kInt8PerChannelWeights;
    q.weight = Tensor::borrow(file->data(), {n, k}, DType::I8, file);
    q.weight_scale = Tensor::full({n}, 0.01f);
    if (weight_only) q.input = std::nullopt;  // W8A16: the weight-only kernel; else W8A8: the int8 GEMM
    ASSERT_TRUE(fault_in()) << resident_pages(file->data(), file->size()) << " of " << pages << " pages resident";
    const auto kernel = make_quantized_linear_kernel(q, Tensor(), QuantExecution::Native);
    ASSERT_NE(kernel->describe().find(weight_only ? "(native)" : "int8"), std::string::npos) << kernel->describe();
    // Whole pages only are released (the ends may be shared with a neighbouring tensor).
    EXPECT_LE(resident_pages(file->data(), file->size()), 2) << (weight_only ? "w8a16" : "w8a8");
    // Nothing was lost: the borrowed codes read back as written.
    EXPECT_EQ(q.weight.data<int8_t>()[12345], static_cast<int8_t>(12345 % 255 - 127));
  }
}

}  // namespace
}  // namespace octet
