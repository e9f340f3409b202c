// Native INT8 execution of a QdqPlan on the int8 GEMM (include/octet/gemm_int8.h).
#include "octet/bench.h"
#include "octet/error.h"

namespace octet {

void install_native_int8(Model& model, const QdqPlan& plan) {
  (void)model;
  (void)plan;
  fail("bench", "native int8 needs the int8 GEMM (octet/gemm_int8.h), which is not in this build yet");
}

}  // namespace octet
