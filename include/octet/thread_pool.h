// The one thread pool of the process.
//
// Sized from the hardware (or set_num_threads / OCTET_NUM_THREADS). Between
// jobs a worker polls for up to 100 microseconds (OCTET_SPIN_US; 0 = never),
// then blocks on a condition variable: back-to-back jobs (a decode step's
// hundreds of small GEMVs) skip the futex sleep and wake-up, and an idle pool
// does not spin against a BLAS library's own threads.
#pragma once

#include <cstdint>
#include <functional>

namespace octet {

// Threads used by parallel_for (including the calling thread).
int num_threads();
// Resizes the global pool; n <= 0 means "all hardware threads".
void set_num_threads(int n);

// Splits [0, n) into at most num_threads() contiguous chunks of at least
// `grain` items and runs fn(begin, end) on each, the caller taking one chunk.
// Exceptions thrown by fn are rethrown in the caller (the first one wins).
// Nested calls from inside fn run serially.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t grain = 1);

// parallel_for for streams whose threads run at uneven speeds (a decode
// step's GEMVs: memory-bound, and one thread may be interrupted or share its
// core): every thread first runs the front of its contiguous share (7/8 of
// it), then the threads take the shares' remaining tails in pieces of `piece`
// items, their own tail first. fn sees disjoint ranges covering [0, n) once,
// in no fixed order and on no fixed thread, so results must not depend on
// either. Exceptions and nesting as in parallel_for.
void parallel_for_balanced(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t piece);

// Whether the calling thread is running a chunk of a parallel_for (where a
// nested parallel_for runs serially, and work must not start other threads).
bool in_parallel_for();

}  // namespace octet
