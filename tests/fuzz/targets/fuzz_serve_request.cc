// libFuzzer target: octet::fuzz::serve_request (tests/fuzz/fuzz_entries.h). Built only with
// -DOCTET_FUZZ=ON and clang; scripts/fuzz.sh serve_request runs it.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    octet::fuzz::serve_request(data, size);
  } catch (const octet::Error&) {
    // rejected input: the contract
  }
  return 0;
}
