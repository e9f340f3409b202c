// libFuzzer target: octet::fuzz::tokenizer_folder (tests/fuzz/fuzz_entries.h). Built only with
// -DOCTET_FUZZ=ON and clang; scripts/fuzz.sh tokenizer_folder runs it.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    octet::fuzz::tokenizer_folder(data, size);
  } catch (const octet::Error&) {
    // rejected input: the contract
  }
  return 0;
}
